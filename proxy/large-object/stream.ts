import { createHash, type Hash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { SwiftletError } from '../../common/errors.js';
import type { Body, ProxyResponse } from '../pipeline.js';
import { SLO_DEFAULTS, parseStoredManifest, type StoredSegment } from './manifest.js';
import { mapSloRange, type Piece } from './segment-map.js';

/**
 * A large object's body, segment after segment (Swift's SegmentedIterable): each segment is a GET
 * of its own (a pipeline sub-request, authorized as the user), read with backpressure chunk by
 * chunk and never held whole; what the manifest recorded (ETag, size) is checked before its first
 * byte is used, a whole segment's MD5 and length after its last, and the total length at the end.
 *
 * A problem with the first segment is found before any byte is sent, so the caller can answer it
 * with a status (409 for a segment that is missing or changed, 503 when the cluster failed). A
 * problem later throws from the body: the edge then cuts the connection, so a client never takes
 * a short body for the whole object.
 */

/** Where segments come from: the S3 layer and the Swift middleware each give their own. */
export interface SegmentSource {
  /** GET of the stored object `name` ("/container/object"), bytes first..last inclusive, or whole. */
  segment(name: string, range: [number, number] | undefined): Promise<ProxyResponse>;
  /** The stored manifest of the nested SLO `name` (as its `?multipart-manifest=get` returns it). */
  manifest(name: string): Promise<ProxyResponse>;
}

/** An object piece to read, or inline bytes. `verify`: check the manifest's ETag and size (SLO), or not (DLO). */
export type ReadPiece = (Extract<Piece, { kind: 'object' }> & { verify: boolean }) | Extract<Piece, { kind: 'data' }>;

export interface StreamOptions {
  /** The bytes the client was promised: more or fewer is an error (the connection is cut). Undefined: not known. */
  length: number | undefined;
  /** For messages: the large object's path. */
  name: string;
  /** Swift's max_get_time: a GET that takes longer is cut. */
  deadlineMs: number;
  now: () => number;
}

/** A segment problem: 409 before the first byte (Swift's SegmentError / ListingIterError). */
export function segmentError(message: string): SwiftletError {
  return new SwiftletError('CONFLICT', message);
}

/**
 * The pieces of an SLO's bytes first..last, nested SLOs expanded as they are reached (their
 * manifests fetched through `source`), at most Swift's recursion depth deep.
 */
export async function* sloPieces(source: SegmentSource, segments: readonly StoredSegment[], first: number, last: number, depth = 1): AsyncGenerator<ReadPiece> {
  for (const p of mapSloRange(segments, first, last)) {
    if (p.kind === 'data') {
      yield p;
    } else if (p.kind === 'object') {
      yield { ...p, verify: true };
    } else {
      if (depth >= SLO_DEFAULTS.maxRecursionDepth) throw segmentError(`max recursion depth was exceeded at ${p.name}`);
      const sub = await fetchManifest(source, p.name);
      yield* sloPieces(source, sub, p.first, p.last, depth + 1);
    }
  }
}

async function fetchManifest(source: SegmentSource, name: string): Promise<StoredSegment[]> {
  const res = await source.manifest(name);
  if (res.status < 200 || res.status >= 300) {
    dropBody(res.body);
    throw res.status >= 500 ? new SwiftletError('QUORUM_FAILED', `GET of submanifest ${name} failed with ${res.status}`) : segmentError(`GET of submanifest ${name} failed with status ${res.status}`);
  }
  const text = await readSmallBody(res.body, SLO_DEFAULTS.maxManifestSize * 2);
  const segs = text === undefined ? undefined : parseStoredManifest(text);
  if (!segs) throw segmentError(`submanifest ${name} is not a manifest`);
  return segs;
}

/**
 * Opens the stream: fetches and checks the first segment, then returns the body that streams it
 * and the rest. Throws a SwiftletError (CONFLICT: 409, QUORUM_FAILED: 503) when the first fails.
 */
export async function openSegmentStream(source: SegmentSource, pieces: AsyncIterator<ReadPiece>, opts: StreamOptions): Promise<AsyncIterable<Buffer>> {
  const started = opts.now();
  const firstPiece = await pieces.next();
  const first = firstPiece.done ? undefined : await openPiece(source, firstPiece.value);
  return body(source, first, pieces, opts, started);
}

/** An opened piece: its chunks, and the checks to run once they are read. */
interface OpenedPiece {
  name: string;
  chunks: AsyncIterable<Buffer>;
  /** Set for a whole segment read: its MD5 and length are checked at its end. */
  whole?: { etag: string; length: number; md5: Hash };
  close(): void;
}

async function openPiece(source: SegmentSource, p: ReadPiece): Promise<OpenedPiece> {
  if (p.kind === 'data') return { name: 'data segment', chunks: once(p.bytes), close: () => undefined };
  const whole = p.first === 0 && p.last === p.size - 1;
  const res = await source.segment(p.name, whole ? undefined : [p.first, p.last]);
  if (res.status < 200 || res.status >= 300) {
    dropBody(res.body);
    const msg = `got ${res.status} while retrieving ${p.name}`;
    throw res.status >= 500 ? new SwiftletError('QUORUM_FAILED', msg) : segmentError(msg);
  }
  const etag = (headerOf(res, 'etag') ?? '').replace(/^"(.*)"$/, '$1');
  const length = Number(headerOf(res, 'content-length'));
  if (p.verify && ((p.etag && etag !== p.etag) || (whole && p.size >= 0 && length !== p.size))) {
    dropBody(res.body);
    throw segmentError(`Object segment no longer valid: ${p.name} etag: ${etag} != ${p.etag} or ${length} != ${p.size}.`);
  }
  const opened: OpenedPiece = { name: p.name, chunks: chunksOf(res.body), close: () => dropBody(res.body) };
  if (whole && etag) opened.whole = { etag, length, md5: createHash('md5') };
  return opened;
}

async function* body(source: SegmentSource, first: OpenedPiece | undefined, pieces: AsyncIterator<ReadPiece>, opts: StreamOptions, started: number): AsyncGenerator<Buffer> {
  let left = opts.length ?? Number.POSITIVE_INFINITY;
  let current = first;
  try {
    while (current) {
      const seg = current;
      let read = 0;
      for await (const chunk of seg.chunks) {
        read += chunk.length;
        seg.whole?.md5.update(chunk);
        if (chunk.length > left) {
          yield chunk.subarray(0, left);
          throw segmentError(`Too many bytes for ${opts.name}; truncating in ${seg.name}`);
        }
        left -= chunk.length;
        yield chunk;
        if (opts.now() - started > opts.deadlineMs) throw segmentError(`While processing manifest ${opts.name}, max LO GET time exceeded`);
      }
      if (seg.whole) {
        if (read !== seg.whole.length) throw segmentError(`Bad response length for ${seg.name} as part of ${opts.name}: headers had ${seg.whole.length}, but response length was actually ${read}`);
        const md5 = seg.whole.md5.digest('hex');
        if (md5 !== seg.whole.etag) throw segmentError(`Bad MD5 checksum for ${seg.name} as part of ${opts.name}: headers had ${seg.whole.etag}, but object MD5 was actually ${md5}`);
      }
      current = undefined;
      const next = await pieces.next();
      if (!next.done) current = await openPiece(source, next.value);
    }
    if (left > 0 && opts.length !== undefined) throw segmentError(`Expected another ${left} bytes for ${opts.name}; closing connection`);
  } finally {
    current?.close();
    await pieces.return?.();
  }
}

function headerOf(res: ProxyResponse, name: string): string | undefined {
  for (const [k, v] of Object.entries(res.headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

async function* once(b: Buffer): AsyncGenerator<Buffer> {
  if (b.length > 0) yield b;
}

/** A response body as Buffers, whatever its form. */
export async function* chunksOf(b: Body | undefined): AsyncGenerator<Buffer> {
  if (b === undefined) return;
  if (typeof b === 'string') {
    if (b.length > 0) yield Buffer.from(b);
    return;
  }
  if (Buffer.isBuffer(b)) {
    if (b.length > 0) yield b;
    return;
  }
  for await (const c of b as AsyncIterable<Buffer | string>) yield typeof c === 'string' ? Buffer.from(c) : c;
}

/** Drops a response body unread (a stream is destroyed, its connection closed). */
export function dropBody(b: Body | undefined): void {
  if (b === undefined || typeof b === 'string' || Buffer.isBuffer(b)) return;
  const r = b as Readable;
  if (typeof r.destroy === 'function') {
    r.on('error', () => undefined);
    r.destroy();
  } else {
    void (b as AsyncGenerator<Buffer>).return?.(undefined);
  }
}

/** A small body read whole (a manifest, a listing page): undefined when it is longer than `max`. */
export async function readSmallBody(b: Body | undefined, max: number): Promise<string | undefined> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of chunksOf(b)) {
    n += c.length;
    if (n > max) {
      dropBody(b);
      return undefined;
    }
    parts.push(c);
  }
  return Buffer.concat(parts).toString('utf8');
}
