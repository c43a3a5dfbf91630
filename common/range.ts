import { randomBytes } from 'node:crypto';

/**
 * HTTP Range handling the way Swift's swob does it (RFC 7233 plus swob's quirks), pure so the
 * proxy and the object server share it.
 *
 * Ranges are half-open here: `[start, end)`. Headers print them inclusive.
 */

/** One byte-range-spec as written: `a-b` → {start:a,end:b}, `a-` → {start:a}, `-n` → {suffix:n}. */
export type RangeSpec = { start: number; end?: number } | { suffix: number };

/** swob's limits on "egregious" multi-range requests (RFC 7233 §6.1). */
export const MAX_RANGES = 50;
export const MAX_RANGE_OVERLAPS = 2;
export const MAX_NONASCENDING_RANGES = 8;

const DIGITS = /^\d+$/;

/**
 * Parses a Range header; undefined when absent or syntactically invalid, in which case the
 * header must be ignored (RFC 7233: a set with one invalid spec is ignored as a whole).
 */
export function parseRangeHeader(header: string | undefined): RangeSpec[] | undefined {
  if (!header) return undefined;
  const v = header.replaceAll(' ', '');
  if (v.length < 6 || v.slice(0, 6).toLowerCase() !== 'bytes=') return undefined;
  const specs: RangeSpec[] = [];
  for (const rng of v.slice(6).split(',')) {
    const dash = rng.indexOf('-');
    if (dash === -1) return undefined;
    const a = rng.slice(0, dash);
    const b = rng.slice(dash + 1);
    if (a === '') {
      if (!DIGITS.test(b)) return undefined; // "-" alone, "--5", "-x"
      specs.push({ suffix: Number(b) });
      continue;
    }
    if (!DIGITS.test(a)) return undefined;
    const start = Number(a);
    if (b === '') {
      specs.push({ start });
      continue;
    }
    if (!DIGITS.test(b)) return undefined;
    const end = Number(b);
    if (end < start) return undefined;
    specs.push({ start, end });
  }
  return specs;
}

export type RangeOutcome =
  /** Serve the whole object with 200 (no Range, an ignored one, or a zero-length object). */
  | { kind: 'full' }
  /** 416 with `Content-Range: bytes *\/<length>`. */
  | { kind: 'unsatisfiable' }
  /** 206; one range → Content-Range, several → multipart/byteranges. Half-open, in request order. */
  | { kind: 'partial'; ranges: Array<[number, number]> };

/**
 * Resolves a Range header against an object length, like swob's Range.ranges_for_length plus
 * Response's 416/empty-object rules. Unsatisfiable specs are dropped; if none is left → 416.
 * Egregious requests (more than 50 ranges, more than 2 overlapping pairs, or 8+ ranges out of
 * order) are ignored and the whole object is served: RFC 7233 §6.1 lets a server ignore them,
 * and a 200 never makes a legitimate client fail.
 */
export function resolveRange(header: string | undefined, length: number): RangeOutcome {
  const specs = parseRangeHeader(header);
  if (!specs) return { kind: 'full' };
  const ranges: Array<[number, number]> = [];
  for (const s of specs) {
    if ('suffix' in s) {
      if (s.suffix === 0) continue; // bytes=-0 asks for nothing
      ranges.push([Math.max(0, length - s.suffix), length]);
    } else if (s.start < length) {
      ranges.push([s.start, s.end === undefined ? length : Math.min(s.end + 1, length)]);
    }
  }
  if (ranges.length === 0) return { kind: 'unsatisfiable' };
  // A suffix range of an empty object: there is no byte to point a Content-Range at; swob, Apache
  // and nginx answer 200 with the (empty) whole object.
  if (length === 0) return { kind: 'full' };
  if (isEgregious(ranges)) return { kind: 'full' };
  return { kind: 'partial', ranges };
}

function isEgregious(ranges: Array<[number, number]>): boolean {
  if (ranges.length > MAX_RANGES) return true;
  let overlaps = 0;
  for (let i = 0; i < ranges.length; i++) {
    const [s1, e1] = ranges[i] as [number, number];
    for (let j = i + 1; j < ranges.length; j++) {
      const [s2, e2] = ranges[j] as [number, number];
      if ((s1 < s2 && s2 < e1) || (s1 < e2 && e2 < e1) || (s2 < s1 && s1 < e2) || (s2 < e1 && e1 < e2)) {
        if (++overlaps > MAX_RANGE_OVERLAPS) return true;
      }
    }
  }
  if (ranges.length >= MAX_NONASCENDING_RANGES) {
    for (let i = 1; i < ranges.length; i++) {
      const a = ranges[i - 1] as [number, number];
      const b = ranges[i] as [number, number];
      if (a[0] > b[0] || (a[0] === b[0] && a[1] > b[1])) return true;
    }
  }
  return false;
}

/** `bytes a-b/len` for a half-open range. */
export function contentRangeValue(start: number, end: number, length: number): string {
  return `bytes ${start}-${end - 1}/${length}`;
}

/** The Content-Range of a 416. */
export function unsatisfiedContentRange(length: number): string {
  return `bytes */${length}`;
}

/** A fresh multipart boundary: 32 hex digits like swob's. */
export function newBoundary(): string {
  return randomBytes(16).toString('hex');
}

/** What a multipart/byteranges response is made of, computed before the first byte is sent. */
export interface MultipartPlan {
  contentType: string;
  /** Exact body length, so the response carries Content-Length. */
  contentLength: number;
  parts: Array<{ head: Buffer; start: number; end: number }>;
  /** Written after the last part's bytes. */
  tail: Buffer;
}

/**
 * Lays out a multipart/byteranges body byte for byte as swob's multi_range_iterator:
 * `--B\r\nContent-Type: T\r\nContent-Range: bytes a-b/L\r\n\r\n<bytes>\r\n` per part, then `--B--`.
 */
export function planMultipart(ranges: Array<[number, number]>, partContentType: string, length: number, boundary = newBoundary()): MultipartPlan {
  let contentLength = 0;
  const parts = ranges.map(([start, end]) => {
    const head = Buffer.from(`--${boundary}\r\nContent-Type: ${partContentType}\r\nContent-Range: ${contentRangeValue(start, end, length)}\r\n\r\n`, 'latin1');
    contentLength += head.length + (end - start) + 2;
    return { head, start, end };
  });
  const tail = Buffer.from(`--${boundary}--`, 'latin1');
  contentLength += tail.length;
  return { contentType: `multipart/byteranges;boundary=${boundary}`, contentLength, parts, tail };
}

const CRLF = Buffer.from('\r\n', 'latin1');

/**
 * Streams a multipart body part by part: `readRange(start, end)` yields the object's bytes of one
 * range (from disk, or from a backend response in the proxy). Nothing is buffered beyond a chunk.
 */
export async function* multipartChunks(
  plan: MultipartPlan,
  readRange: (start: number, end: number) => AsyncIterable<Buffer>,
): AsyncGenerator<Buffer> {
  for (const part of plan.parts) {
    yield part.head;
    yield* readRange(part.start, part.end);
    yield CRLF;
  }
  yield plan.tail;
}
