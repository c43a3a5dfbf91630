import { createHash } from 'node:crypto';
import { parseRangeHeader, type RangeSpec } from '../../common/range.js';
import { pyQuote } from '../copy-headers.js';
import { pyJson } from '../py-json.js';

/**
 * Static large object manifests, as Swift's SLO middleware reads and writes them
 * (swift/common/middleware/slo.py), pure: the client's manifest (`?multipart-manifest=put`) parsed
 * and validated with Swift's error lines, each segment checked against what a HEAD of it found,
 * the manifest stored (Python's json.dumps layout), and its ETag and size.
 *
 * The S3 API's multipart uploads reuse this: a completed upload is a stored manifest of its parts.
 */

/** Swift's defaults (slo.py DEFAULT_MAX_MANIFEST_SEGMENTS, DEFAULT_MAX_MANIFEST_SIZE, max_slo_recursion_depth). */
export const SLO_DEFAULTS = {
  maxManifestSegments: 1000,
  maxManifestSize: 8 * 1024 * 1024,
  /** Swift no longer enforces it, but still reports it as 1 for old clients. */
  minSegmentSize: 1,
  yieldFrequencyS: 10,
  maxRecursionDepth: 10,
} as const;

/** A segment of the client's manifest: an object (its path, optional etag, size and range) or inline data. */
export type InputSegment =
  | { kind: 'object'; index: number; path: string; etag?: string; sizeBytes?: number; range?: RangeSpec }
  | { kind: 'data'; index: number; data: Buffer };

/** A refusal of the client's manifest: Swift's status and body. */
export interface ManifestRefusal {
  status: number;
  body: string;
  contentType?: string;
}

export type ParsedInput = { ok: true; segments: InputSegment[] } | ({ ok: false } & ManifestRefusal);

/** A segment of a stored manifest (what `?multipart-manifest=get` returns). */
export type StoredSegment =
  | { name: string; bytes: number; hash: string; content_type: string; last_modified: string; range?: string; sub_slo?: true }
  | { data: string };

export function isDataSegment(s: StoredSegment): s is { data: string } {
  return 'data' in s;
}

const SLO_KEYS: Record<'data' | 'path', string[]> = { data: [], path: ['range', 'etag', 'size_bytes'] };

/**
 * Swift's parse_and_validate_input: the body of a manifest PUT to `selfPath` ("container/object",
 * unquoted). Every segment's problems are reported at once, one "Index N: ..." line each (400,
 * text/plain); a body that is not a JSON list is refused before that.
 */
export function parseManifestInput(body: string, selfPath: string): ParsedInput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    return { ok: false, status: 400, body: 'Manifest must be valid JSON.\n' };
  }
  if (!Array.isArray(parsed)) return { ok: false, status: 400, body: 'Manifest must be a list.\n' };
  const errors: string[] = [];
  const segments: InputSegment[] = [];
  const last = parsed.length - 1;
  parsed.forEach((raw: unknown, i: number) => {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return void errors.push(`Index ${i}: not a JSON object`);
    const seg = raw as Record<string, unknown>;
    const type = 'data' in seg ? 'data' : 'path' in seg ? 'path' : undefined;
    if (!type) return void errors.push(`Index ${i}: expected keys to include one of 'data' or 'path'`);
    const allowed = new Set([type, ...SLO_KEYS[type]]);
    const extra = Object.keys(seg).filter((k) => !allowed.has(k));
    if (extra.length > 0) return void errors.push(`Index ${i}: extraneous keys ${extra.sort().map((k) => pyJson(k)).join(', ')}`);
    if (type === 'data') {
      const data = strictB64decode(seg['data']);
      if (!data) return void errors.push(`Index ${i}: data must be valid base64`);
      if (data.length < 1) return void errors.push(`Index ${i}: too small; each segment must be at least 1 byte.`);
      return void segments.push({ kind: 'data', index: i, data });
    }
    const path = seg['path'];
    if (typeof path !== 'string') return void errors.push(`Index ${i}: "path" must be a string`);
    const etag = seg['etag'];
    if (etag !== undefined && etag !== null && typeof etag !== 'string') return void errors.push(`Index ${i}: "etag" must be a string or null (if provided)`);
    if (!stripChar(path, '/').includes('/')) {
      return void errors.push(`Index ${i}: path does not refer to an object. Path must be of the form /container/object.`);
    }
    const out: InputSegment = { kind: 'object', index: i, path };
    if (typeof etag === 'string') out.etag = etag;
    let size: number | undefined;
    if (seg['size_bytes'] !== undefined && seg['size_bytes'] !== null) {
      size = pyInt(seg['size_bytes']);
      if (size === undefined) return void errors.push(`Index ${i}: invalid size_bytes`);
      if (size < 1 && i !== last) return void errors.push(`Index ${i}: too small; each segment must be at least 1 byte.`);
      out.sizeBytes = size;
    }
    if (path.replace(/^\/+/, '') === selfPath) return void errors.push(`Index ${i}: manifest must not include itself as a segment`);
    const range = seg['range'];
    if (range !== undefined && range !== null && range !== '' && range !== 0 && range !== false) {
      const specs = typeof range === 'string' ? parseRangeHeader(`bytes=${range}`) : undefined;
      if (!specs) return void errors.push(`Index ${i}: invalid range`);
      if (specs.length > 1) return void errors.push(`Index ${i}: multiple ranges (only one allowed)`);
      const spec = specs[0] as RangeSpec;
      if (size !== undefined && rangeForLength(spec, size) === undefined) return void errors.push(`Index ${i}: unsatisfiable range`);
      out.range = spec;
    }
    segments.push(out);
  });
  if (parsed.length > 0 && parsed.every((s: unknown) => typeof s === 'object' && s !== null && !Array.isArray(s) && 'data' in s)) {
    errors.push('Inline data segments require at least one object-backed segment.');
  }
  if (errors.length > 0) return { ok: false, status: 400, body: errors.map((e) => `${e}\n`).join(''), contentType: 'text/plain' };
  return { ok: true, segments };
}

/** swob's ranges_for_length for one spec: half-open [start, end), undefined when unsatisfiable. */
export function rangeForLength(spec: RangeSpec, length: number): [number, number] | undefined {
  if ('suffix' in spec) {
    if (spec.suffix === 0) return undefined;
    return [Math.max(0, length - spec.suffix), length];
  }
  if (spec.start >= length) return undefined;
  return [spec.start, spec.end === undefined ? length : Math.min(spec.end + 1, length)];
}

/** What a HEAD of a segment found (through the pipeline: a large object answers as itself). */
export interface SegmentHead {
  status: number;
  /** Swift's status line for a problem report, e.g. "404 Not Found". */
  statusLine: string;
  contentLength: number;
  /** Without quotes. */
  etag: string;
  contentType: string;
  /** An HTTP-date, or undefined. */
  lastModified?: string;
  isSlo: boolean;
}

/**
 * Swift's validate_seg_dict: a segment against its HEAD. Returns the stored form, the bytes it
 * contributes, and its problems ([quoted path, reason] rows of the error report).
 */
export function checkSegment(seg: Extract<InputSegment, { kind: 'object' }>, head: SegmentHead, isLast: boolean): { stored?: StoredSegment; length: number; problems: Array<[string, string]> } {
  const quoted = pyQuote(seg.path);
  if (head.status < 200 || head.status >= 300) return { length: 0, problems: [[quoted, head.statusLine]] };
  const problems: Array<[string, string]> = [];
  let length = head.contentLength;
  let range: string | undefined;
  if (seg.range) {
    const r = rangeForLength(seg.range, head.contentLength);
    if (!r) problems.push([quoted, 'Unsatisfiable Range']);
    else if (!(r[0] === 0 && r[1] === head.contentLength)) {
      range = `${r[0]}-${r[1] - 1}`;
      length = r[1] - r[0];
    }
  }
  if (length < 1 && !isLast) problems.push([quoted, 'Too small; each segment must be at least 1 byte.']);
  if (seg.sizeBytes !== undefined && seg.sizeBytes !== head.contentLength) problems.push([quoted, 'Size Mismatch']);
  if (seg.etag !== undefined && seg.etag !== head.etag) problems.push([quoted, 'Etag Mismatch']);
  const stored: StoredSegment = {
    name: `/${seg.path.replace(/^\/+/, '')}`,
    bytes: head.contentLength,
    hash: head.etag,
    content_type: head.contentType,
    last_modified: isoMicros(head.lastModified),
  };
  if (range !== undefined) stored.range = range;
  if (head.isSlo) stored.sub_slo = true;
  return { stored, length, problems };
}

/** The bytes a segment contributes to its large object (Swift's _segment_length). */
export function segmentLength(s: StoredSegment): number {
  if (isDataSegment(s)) return Buffer.from(s.data, 'base64').length;
  if (s.range !== undefined) {
    const [a, b] = s.range.split('-').map(Number) as [number, number];
    return b - a + 1;
  }
  return s.bytes;
}

/**
 * The SLO's ETag (unquoted): md5 of each segment's part in order — its etag, `etag:range;` for a
 * ranged one, the md5 of its bytes for inline data — as Swift computes it on PUT and GET.
 */
export function sloEtag(segments: readonly StoredSegment[]): string {
  const h = createHash('md5');
  for (const s of segments) {
    if (isDataSegment(s)) h.update(createHash('md5').update(Buffer.from(s.data, 'base64')).digest('hex'));
    else if (s.range !== undefined) h.update(`${s.hash}:${s.range};`);
    else h.update(s.hash);
  }
  return h.digest('hex');
}

/** The SLO's size: what its segments contribute. */
export function sloSize(segments: readonly StoredSegment[]): number {
  let n = 0;
  for (const s of segments) n += segmentLength(s);
  return n;
}

/** A DLO's ETag: md5 of its segments' ETags (quotes removed) in listing order, quoted, as Swift's dlo.py. */
export function dloEtag(etags: Iterable<string>): string {
  const h = createHash('md5');
  for (const e of etags) h.update(e.replace(/^"(.*)"$/, '$1'));
  return `"${h.digest('hex')}"`;
}

/** The stored manifest's bytes: Python's json.dumps of the segments (", " and ": ", ASCII only), as Swift stores it. */
export function storedManifestBody(segments: readonly StoredSegment[]): string {
  return pyJson(segments);
}

/**
 * A stored manifest read back (a GET of the manifest object). Undefined when it is not a list of
 * segments (Swift treats a manifest that does not parse as empty; we refuse to serve it).
 */
export function parseStoredManifest(body: string): StoredSegment[] | undefined {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch {
    return undefined;
  }
  if (!Array.isArray(v)) return undefined;
  const out: StoredSegment[] = [];
  for (const s of v) {
    if (typeof s !== 'object' || s === null) return undefined;
    const r = s as Record<string, unknown>;
    if (typeof r['data'] === 'string') {
      out.push({ data: r['data'] });
      continue;
    }
    if (typeof r['name'] !== 'string' || typeof r['bytes'] !== 'number' || !Number.isSafeInteger(r['bytes']) || (r['bytes'] as number) < 0) return undefined;
    const seg: StoredSegment = {
      name: r['name'],
      bytes: r['bytes'] as number,
      hash: typeof r['hash'] === 'string' ? r['hash'] : '',
      content_type: typeof r['content_type'] === 'string' ? r['content_type'] : '',
      last_modified: typeof r['last_modified'] === 'string' ? r['last_modified'] : '',
    };
    if (typeof r['range'] === 'string') {
      if (!/^\d+-\d+$/.test(r['range'])) return undefined;
      const [a, b] = r['range'].split('-').map(Number) as [number, number];
      if (b < a) return undefined;
      seg.range = r['range'];
    }
    if (r['sub_slo'] === true) seg.sub_slo = true;
    out.push(seg);
  }
  return out;
}

/**
 * `?multipart-manifest=get&format=raw`: the manifest as a client would PUT it (path, etag,
 * size_bytes, range; data kept), keys sorted, as Swift's convert_segment_listing.
 */
export function rawManifestBody(segments: readonly StoredSegment[]): string {
  return pyJson(
    segments.map((s) => {
      if (isDataSegment(s)) return s;
      const o: Record<string, unknown> = { etag: s.hash, path: s.name, size_bytes: s.bytes };
      if (s.range !== undefined) o['range'] = s.range;
      return o;
    }),
    true,
  );
}

/** Python's int() of a JSON value: integers, truncated floats, decimal strings (spaces and a sign allowed), booleans. */
function pyInt(v: unknown): number | undefined {
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'number') return Number.isFinite(v) ? Math.trunc(v) : undefined;
  if (typeof v === 'string' && /^\s*[+-]?\d+\s*$/.test(v)) {
    const n = Number(v.trim());
    return Number.isSafeInteger(n) ? n : undefined;
  }
  return undefined;
}

/** Swift's strict_b64decode: only the base64 alphabet (padding at the ends), padding sufficient. */
function strictB64decode(v: unknown): Buffer | undefined {
  if (typeof v !== 'string') return undefined;
  const core = stripChar(v, '=');
  if (!/^[A-Za-z0-9+/]*$/.test(core)) return undefined;
  const trailingPad = v.length - v.replace(/=+$/, '').length;
  if (core.length % 4 === 1) return undefined;
  if ((core.length % 4 === 2 && trailingPad < 2) || (core.length % 4 === 3 && trailingPad < 1)) return undefined;
  return Buffer.from(core, 'base64');
}

function stripChar(s: string, c: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && s[a] === c) a++;
  while (b > a && s[b - 1] === c) b--;
  return s.slice(a, b);
}

/** Last-Modified as Swift stores it in a manifest: '%Y-%m-%dT%H:%M:%S.%f'. */
function isoMicros(httpDate: string | undefined): string {
  const ms = httpDate ? Date.parse(httpDate) : NaN;
  const d = Number.isFinite(ms) ? new Date(ms) : new Date(0);
  return `${d.toISOString().slice(0, 19)}.000000`;
}

/** A content type without the `;swift_bytes=N` an SLO manifest's carries for listings (Swift's clean_content_type). */
export function cleanContentType(ct: string): string {
  return ct.replace(/;\s*swift_bytes=[^;]*$/, '');
}
