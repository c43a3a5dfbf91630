import { Readable } from 'node:stream';
import { planMultipart, resolveRange, type MultipartPlan } from '../common/range.js';

/**
 * A multi-range GET (multipart/byteranges) resumed from another replica, as Swift's proxy does
 * (it parses the parts and re-frames them itself). The body keeps the first node's framing byte
 * for byte: that layout is swob's (common/range.ts planMultipart), so knowing the boundary, the
 * ranges (the client's Range against the object's length), the parts' content type and the
 * length locates every byte. After a break at body offset `off` the next node is asked only for
 * the object bytes not yet sent (`remaining`), and what it sends (one range, or its own
 * multipart) is framed again as the first node framed it, from `off` on. Pure but for streams.
 */

/** What the first part's head says: the object's content type and length. */
export interface FirstHead {
  contentType: string;
  length: number;
}

/** Reads `--B\r\nContent-Type: T\r\nContent-Range: bytes a-b/L\r\n\r\n` at the start of a body; undefined until whole. */
export function parseFirstHead(prefix: Buffer): FirstHead | undefined {
  const end = prefix.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const lines = prefix.subarray(0, end).toString('latin1').split('\r\n');
  let contentType: string | undefined;
  let length: number | undefined;
  for (const l of lines.slice(1)) {
    const colon = l.indexOf(':');
    const name = l.slice(0, colon).trim().toLowerCase();
    const value = l.slice(colon + 1).trim();
    if (name === 'content-type') contentType = value;
    const m = name === 'content-range' ? /^bytes \d+-\d+\/(\d+)$/.exec(value) : null;
    if (m) length = Number(m[1]);
  }
  return contentType !== undefined && length !== undefined ? { contentType, length } : undefined;
}

/** The boundary of a multipart/byteranges Content-Type. */
export function boundaryOf(contentType: string | undefined): string | undefined {
  const m = /^multipart\/byteranges;\s*boundary=("?)([^";]+)\1\s*$/i.exec(contentType ?? '');
  return m?.[2];
}

/**
 * The layout of the first node's body: the plan for the client's Range over an object of
 * `head.length` bytes, undefined when it does not give exactly `bodyLength` bytes (then the body
 * is not one we can locate bytes in, and is not resumed).
 */
export function layoutOf(range: string | undefined, boundary: string, head: FirstHead, bodyLength: number): MultipartPlan | undefined {
  const outcome = resolveRange(range, head.length);
  if (outcome.kind !== 'partial' || outcome.ranges.length < 2) return undefined;
  const plan = planMultipart(outcome.ranges, head.contentType, head.length, boundary);
  return plan.contentLength === bodyLength ? plan : undefined;
}

/** The object ranges whose bytes (or part of them) come at or after body offset `off`. */
export function remainingRanges(plan: MultipartPlan, off: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let pos = 0;
  for (const p of plan.parts) {
    const dataAt = pos + p.head.length;
    const dataEnd = dataAt + (p.end - p.start);
    if (off < dataEnd) out.push([p.start + Math.max(0, off - dataAt), p.end]);
    pos = dataEnd + 2;
  }
  return out;
}

/** A Range header for half-open ranges. */
export function rangeHeader(ranges: Array<[number, number]>): string {
  return `bytes=${ranges.map(([s, e]) => `${s}-${e - 1}`).join(',')}`;
}

/** Reads exactly `n` bytes at a time from an async iterator of Buffers (a node's body). */
class Taker {
  private rest: Buffer = Buffer.alloc(0);
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  /** Yields the next `n` bytes in chunks; throws when the source ends first. */
  async *take(n: number): AsyncGenerator<Buffer> {
    while (n > 0) {
      if (this.rest.length === 0) {
        const r = await this.it.next();
        if (r.done) throw new Error('a node body ended before its multipart layout did');
        this.rest = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
        continue;
      }
      const piece = this.rest.subarray(0, n);
      this.rest = this.rest.subarray(piece.length);
      n -= piece.length;
      yield piece;
    }
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.take(n)) void _;
  }
}

/**
 * The object bytes of `ranges`, in order, from a node's answer to a Range of them: a 206 of one
 * range is those bytes; a multipart one is unframed by its own layout (`theirs`).
 */
async function* dataOf(body: AsyncIterable<Buffer>, theirs: MultipartPlan | undefined): AsyncGenerator<Buffer> {
  const take = new Taker(body[Symbol.asyncIterator]());
  if (!theirs) {
    yield* body;
    return;
  }
  for (const p of theirs.parts) {
    await take.skip(p.head.length);
    yield* take.take(p.end - p.start);
    await take.skip(2);
  }
}

/**
 * The first node's body from offset `off` on: its framing made again from `ours`, its data taken
 * from `data` (the object bytes of remainingRanges(ours, off), in order).
 */
async function* reframed(ours: MultipartPlan, off: number, data: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const take = new Taker(data[Symbol.asyncIterator]());
  let pos = 0;
  const constant = function* (b: Buffer): Generator<Buffer> {
    const from = Math.max(0, off - pos);
    if (from < b.length) yield b.subarray(from);
    pos += b.length;
  };
  const crlf = Buffer.from('\r\n', 'latin1');
  for (const p of ours.parts) {
    yield* constant(p.head);
    const len = p.end - p.start;
    const from = Math.max(0, off - pos);
    if (from < len) yield* take.take(len - from);
    pos += len;
    yield* constant(crlf);
  }
  yield* constant(ours.tail);
}

/** The rest of the first body from `off` when no object byte is left to send (only framing). */
export function framingFrom(ours: MultipartPlan, off: number): Readable {
  return Readable.from(reframed(ours, off, (async function* () {})()), { objectMode: false });
}

/**
 * The rest of the first body from `off`, given a node's answer to rangeHeader(remaining): a 206
 * whose Content-Range (one range) or Content-Type (multipart, checked against its own layout)
 * is exactly what was asked. Undefined when the answer is not that.
 */
export function resumedBody(
  ours: MultipartPlan,
  off: number,
  remaining: Array<[number, number]>,
  head: FirstHead,
  answer: { status: number; headers: Record<string, string>; body: AsyncIterable<Buffer> },
): Readable | undefined {
  if (answer.status !== 206) return undefined;
  const h = answer.headers;
  let theirs: MultipartPlan | undefined;
  if (remaining.length === 1) {
    const [s, e] = remaining[0] as [number, number];
    if (h['content-range'] !== `bytes ${s}-${e - 1}/${head.length}` || Number(h['content-length']) !== e - s) return undefined;
  } else {
    const boundary = boundaryOf(h['content-type']);
    if (!boundary) return undefined;
    theirs = planMultipart(remaining, head.contentType, head.length, boundary);
    if (theirs.contentLength !== Number(h['content-length'])) return undefined;
  }
  return Readable.from(reframed(ours, off, dataOf(answer.body, theirs)), { objectMode: false });
}
