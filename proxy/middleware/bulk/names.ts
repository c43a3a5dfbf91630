import { percentDecode } from '../../swift-request.js';
import { LIMITS } from '../../constraints.js';

/**
 * The names a bulk request deals in (Swift's bulk.py), pure: the newline list of a bulk delete,
 * and where an archive member lands. Names are bytes until they are checked as UTF-8, so a
 * name that is not UTF-8 is reported (412) rather than mangled.
 */

/** Swift's max_path_length: a container and an object name and two slashes. */
export const MAX_PATH_LENGTH = LIMITS.maxObjectNameLength + LIMITS.maxContainerNameLength + 2;

/** A refusal of the whole bulk request: it becomes the report's Response Status and Body. */
export class BulkRefusal extends Error {
  constructor(
    readonly status: number,
    readonly body = '',
  ) {
    super(body || String(status));
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The name as a string when it is UTF-8 without NUL (Swift's check_utf8), else undefined. */
export function utf8Name(bytes: Buffer): string | undefined {
  try {
    const s = utf8.decode(bytes);
    return s.includes('\u0000') ? undefined : s;
  } catch {
    return undefined;
  }
}

/** Python's bytes.strip(): ASCII whitespace off both ends. */
function pyStrip(b: Buffer): Buffer {
  const ws = (c: number | undefined) => c === 0x20 || (c !== undefined && c >= 0x09 && c <= 0x0d);
  let i = 0;
  let j = b.length;
  while (i < j && ws(b[i])) i++;
  while (j > i && ws(b[j - 1])) j--;
  return b.subarray(i, j);
}

/**
 * The bulk delete list, fed chunk by chunk (Swift's get_objs_to_delete): one URL-encoded
 * name a line, blank lines skipped; more than `max` names is 413, a line longer than twice
 * MAX_PATH_LENGTH is 400. Names come out percent-decoded, as bytes.
 */
export class DeleteList {
  readonly names: Buffer[] = [];
  private partial: Buffer = Buffer.alloc(0);

  constructor(private readonly max: number) {}

  push(chunk: Buffer): void {
    let buf = this.partial.length ? Buffer.concat([this.partial, chunk]) : chunk;
    let nl: number;
    while ((nl = buf.indexOf(0x0a)) !== -1) {
      this.add(buf.subarray(0, nl));
      buf = buf.subarray(nl + 1);
    }
    this.partial = Buffer.from(buf);
    if (this.partial.length > MAX_PATH_LENGTH * 2) throw new BulkRefusal(400, 'Invalid File Name');
  }

  end(): Buffer[] {
    this.add(this.partial);
    this.partial = Buffer.alloc(0);
    return this.names;
  }

  private add(line: Buffer): void {
    const stripped = pyStrip(line);
    if (stripped.length === 0) return;
    this.names.push(percentDecode(stripped.toString('latin1')));
    if (this.names.length > this.max) throw new BulkRefusal(413, `Maximum Bulk Deletes: ${this.max} per request`);
  }
}

/** Whether a listed name is a container alone ("c" or "/c/"): those are deleted after the objects. */
export function isContainerName(name: Buffer): boolean {
  const s = name.toString('latin1').replace(/^\/+|\/+$/g, '');
  return !s.includes('/');
}

/**
 * Where an archive member lands (Swift's handle_extract_iter): its name without one leading
 * "./" and any leading "/", under the base path the PUT named; undefined for a member that maps
 * to no container (a file at the top of an archive extracted into the account), which is skipped.
 * Members are never written outside the account: a name is an object name, not a file path, so
 * ".." is a name like any other (as in Swift).
 */
export function memberPath(name: Buffer, base: Buffer): Buffer | undefined {
  let p = name;
  if (p[0] === 0x2e && p[1] === 0x2f) p = p.subarray(2);
  let i = 0;
  while (p[i] === 0x2f) i++;
  p = p.subarray(i);
  if (base.length) p = Buffer.concat([base, Buffer.from('/'), p]);
  if (!p.includes(0x2f)) return undefined;
  return p;
}

/** The base path of an extraction: what follows /v1/<account>/ in the request's path, without trailing slashes. */
export function extractBase(rest: Buffer): Buffer {
  let j = rest.length;
  while (j > 0 && rest[j - 1] === 0x2f) j--;
  return rest.subarray(0, j);
}

/** Python's urllib quote (safe "/") of raw bytes: how Swift names a path in the report. */
export function quoteBytes(b: Buffer): string {
  let out = '';
  for (const c of b) {
    const ch = String.fromCharCode(c);
    out += /[A-Za-z0-9_.~/-]/.test(ch) ? ch : `%${c.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
