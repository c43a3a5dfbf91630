import { Dicer } from '@fastify/busboy';
import type { Readable } from 'node:stream';

/**
 * A multipart/form-data body read as Swift's formpost reads it (swift/common/utils.py
 * iter_multipart_mime_documents, parse_mime_headers, parse_content_disposition), streamed: parts
 * come one at a time, in order, and the next is parsed only once the caller has read the one
 * before (backpressure reaches the client's socket). The MIME framing is @fastify/busboy's Dicer
 * (the maintained parser under busboy): busboy's own API normalizes away what Swift reads raw
 * (whether a part had a Content-Type, a filename's slashes, the exact disposition).
 */

/** Why a form could not be read: a bad start (Swift's MimeInvalid) or a body that breaks off or does not parse. */
export class FormReadError extends Error {
  constructor(
    readonly kind: 'boundary' | 'malformed',
    message: string,
  ) {
    super(message);
  }
}

export interface FormPart {
  /** Header names lower-cased; a repeated header's first value (HeaderKeyDict keeps one). */
  headers: Record<string, string>;
  /** "form-data" for a form's parts (parseContentDisposition of Content-Disposition). */
  disposition: string;
  attrs: Record<string, string>;
  /** The part's data; the caller must read it to the end (or resume it) before asking for the next part. */
  body: Readable;
  /** Set when the body broke off (the multipart data ended inside it): nothing of it may be kept. */
  broken(): boolean;
}

/** Swift's ATTRIBUTES_RE (Python's \w is Unicode-aware). */
const ATTRIBUTE = /^([\p{L}\p{N}_]+)=(".*?"|[^";]+)(; ?|$)/u;

/**
 * Swift's parse_content_disposition (also how it reads Content-Type): the value before the first
 * ";" and its name=value attributes, quotes stripped.
 */
export function parseContentDisposition(header: string): [string, Record<string, string>] {
  const attributes: Record<string, string> = {};
  let value = header;
  let attrs = '';
  const semi = header.indexOf(';');
  if (semi !== -1) {
    value = header.slice(0, semi).trim();
    attrs = header.slice(semi + 1).trim();
  }
  for (let m = ATTRIBUTE.exec(attrs); m; m = ATTRIBUTE.exec(attrs)) {
    attrs = attrs.slice(m[0].length);
    attributes[m[1] as string] = (m[2] as string).replace(/^"+|"+$/g, '');
    if (m[0].length === 0) break;
  }
  return [value, attributes];
}

/** Python's bytes.strip(): ASCII whitespace off both ends. */
function pyStrip(b: Buffer): Buffer {
  let s = 0;
  let e = b.length;
  const ws = (c: number) => c === 0x20 || (c >= 0x09 && c <= 0x0d);
  while (s < e && ws(b[s] as number)) s++;
  while (e > s && ws(b[e - 1] as number)) e--;
  return b.subarray(s, e);
}

/**
 * The start of the body as Swift checks it: blank lines ("\r\n") skipped, then the first line (at
 * most len("--" + boundary) + 2 bytes) stripped must be "--" + boundary. Returns how many bytes
 * the check needs (undefined: more data), or false when the start is wrong.
 */
export function checkStart(buf: Buffer, boundary: string): number | false | undefined {
  const want = Buffer.from(`--${boundary}`, 'utf8');
  const blen = want.length + 2;
  let at = 0;
  for (;;) {
    const nl = buf.indexOf(0x0a, at);
    const end = nl === -1 || nl - at + 1 > blen ? at + blen : nl + 1;
    if (end > buf.length) return undefined;
    const line = buf.subarray(at, end);
    if (line.length === 2 && line[0] === 0x0d && line[1] === 0x0a) {
      at = end;
      continue;
    }
    return pyStrip(line).equals(want) ? at : false;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A header value Dicer read as latin-1, as Swift's parse_mime_headers reads it: UTF-8 when it is, else latin-1. */
function headerText(latin1: string): string {
  try {
    return utf8.decode(Buffer.from(latin1, 'latin1'));
  } catch {
    return latin1;
  }
}

/** A FIFO the parser's events fill and the reader awaits. */
class PartQueue {
  private readonly items: FormPart[] = [];
  private waiting: { resolve: (p: FormPart | undefined) => void; reject: (e: Error) => void } | undefined;
  private error: Error | undefined;
  private done = false;

  push(p: FormPart): void {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve(p);
    } else this.items.push(p);
  }

  fail(e: Error): void {
    if (this.error || this.done) return;
    this.error = e;
    const w = this.waiting;
    this.waiting = undefined;
    w?.reject(e);
  }

  end(): void {
    this.done = true;
    const w = this.waiting;
    this.waiting = undefined;
    w?.resolve(undefined);
  }

  next(): Promise<FormPart | undefined> {
    const p = this.items.shift();
    if (p) return Promise.resolve(p);
    if (this.error) return Promise.reject(this.error);
    if (this.done) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }
}

/** Limits of one form's framing (header block of a part; Dicer's defaults are 80 KiB and 2000). */
const HEADER_BYTES = 81_920;
const HEADER_PAIRS = 200;

/**
 * The parts of a multipart body, in order. Throws FormReadError('boundary') when the body does
 * not start with the boundary, ('malformed') when it breaks off or its framing fails. Returning
 * early (break) stops the parser; the caller discards the rest of the input.
 */
export async function* formParts(input: Readable, boundary: string, partHwm = 64 * 1024): AsyncGenerator<FormPart, void, undefined> {
  const queue = new PartQueue();
  const dicer = new Dicer({ boundary, partHwm, maxHeaderPairs: HEADER_PAIRS, maxHeaderSize: HEADER_BYTES } as ConstructorParameters<typeof Dicer>[0]);
  dicer.on('error', (err: Error) => queue.fail(new FormReadError('malformed', err.message)));
  dicer.on('finish', () => queue.end());
  dicer.on('part', (part: Readable) => {
    let broken = false;
    // Dicer signals a part that broke off by an 'error' on it; unheard, it would throw.
    part.on('error', () => (broken = true));
    part.once('header', (raw: Record<string, string[]>) => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(raw)) headers[k.toLowerCase()] = headerText(v[0] ?? '');
      const [disposition, attrs] = parseContentDisposition(headers['content-disposition'] ?? '');
      queue.push({ headers, disposition, attrs, body: part, broken: () => broken });
    });
  });

  // The start check, then everything (the checked bytes too) to the parser, with backpressure.
  let head: Buffer | undefined = Buffer.alloc(0);
  const onData = (chunk: Buffer) => {
    if (head !== undefined) {
      head = Buffer.concat([head, chunk]);
      const ok = checkStart(head, boundary);
      if (ok === undefined) return;
      if (ok === false) {
        head = undefined;
        input.off('data', onData);
        queue.fail(new FormReadError('boundary', 'invalid starting boundary'));
        return;
      }
      chunk = head.subarray(ok);
      head = undefined;
    }
    if (!dicer.write(chunk)) input.pause();
  };
  const onEnd = () => {
    if (head !== undefined) queue.fail(new FormReadError('boundary', 'invalid starting boundary'));
    else dicer.end();
  };
  const onAbort = () => queue.fail(new FormReadError('malformed', 'the client went away'));
  dicer.on('drain', () => input.resume());
  input.on('data', onData);
  input.on('end', onEnd);
  input.on('error', onAbort);
  input.on('aborted', onAbort);
  try {
    for (let p = await queue.next(); p; p = await queue.next()) yield p;
  } finally {
    input.off('data', onData);
    input.off('end', onEnd);
    dicer.removeAllListeners('part');
    dicer.destroy();
  }
}

/** Reads a part's first `max` bytes as text (Swift's MAX_VALUE_LENGTH) and discards the rest. */
export async function readValue(body: Readable, max: number): Promise<string> {
  const kept: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (size < max) {
        const piece = chunk.subarray(0, max - size);
        kept.push(piece);
        size += piece.length;
      }
    }
  } catch (err) {
    throw new FormReadError('malformed', (err as Error).message);
  }
  return new TextDecoder('utf-8').decode(Buffer.concat(kept));
}
