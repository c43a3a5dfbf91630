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
  /** Segments opened while the one before streams (default DEFAULT_AHEAD; 0: each after the last byte of the one before). */
  ahead?: number;
  /** A segment is opened ahead once fewer than this many bytes are left before it (default DEFAULT_AHEAD_BYTES). */
  aheadBytes?: number;
}

/**
 * Off by default: on the 2-core bench machine (load 20–50) opening the next segment ahead measured
 * no gain with 100 MiB segments and 0.66× the MB/s with 2 MiB ones (bench/RESULTS.md, "SLO
 * download: what was tried"); the profile puts a large object GET's cost in the MD5 and the
 * socket writes, not in the round trip between segments. Measure again on a quiet machine.
 */
export const DEFAULT_AHEAD = 0;
/** 8 MiB: the next segment's GET goes out a few dozen milliseconds before it is needed at full speed, and waits at most seconds for a slow client. */
export const DEFAULT_AHEAD_BYTES = 8 * 1024 * 1024;

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
  /** The bytes it should bring. */
  length: number;
  chunks: AsyncIterable<Buffer>;
  /** Set for a whole segment read: its MD5 and length are checked at its end. */
  whole?: { etag: string; length: number; md5: Hash };
  close(): void;
}

async function openPiece(source: SegmentSource, p: ReadPiece): Promise<OpenedPiece> {
  if (p.kind === 'data') return { name: 'data segment', length: p.bytes.length, chunks: once(p.bytes), close: () => undefined };
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
  const opened: OpenedPiece = { name: p.name, length: p.last - p.first + 1, chunks: chunksOf(res.body), close: () => dropBody(res.body) };
  if (whole && etag) opened.whole = { etag, length, md5: createHash('md5') };
  return opened;
}

/**
 * The segments after the streaming one, opened ahead of time (their GET sent, headers checked,
 * the body left unread: its node holds it back, so no more than a socket's buffers is read ahead)
 * so that no round trip sits between one segment's last byte and the next one's first. At most
 * `ahead` are open at once, and one is opened only once fewer than `aheadBytes` bytes are left to
 * stream before it: a slow client never keeps a node's answer waiting for long. A piece that
 * fails to open fails when it is reached, after every byte before it went out, as without
 * prefetching; nothing after it is opened.
 */
class Prefetch {
  private readonly queue: Array<{ piece: Promise<OpenedPiece | undefined>; length: number | undefined }> = [];
  private opening = false;
  private exhausted = false;
  private closed = false;
  /** Bytes of the streaming piece not yet streamed. */
  private left = Number.POSITIVE_INFINITY;

  constructor(
    private readonly source: SegmentSource,
    private readonly pieces: AsyncIterator<ReadPiece>,
    private readonly ahead: number,
    private readonly aheadBytes: number,
  ) {}

  /** The streaming piece has `left` bytes to go: opens what may be opened now. */
  progress(left: number): void {
    this.left = left;
    this.fill(false);
  }

  /** The piece after the streaming one (opened now if it was not yet); undefined after the last. */
  async next(): Promise<OpenedPiece | undefined> {
    if (this.queue.length === 0) this.fill(true);
    const e = this.queue.shift();
    // Until the caller tells how long that one is, nothing more is opened.
    this.left = Number.POSITIVE_INFINITY;
    return e ? e.piece : undefined;
  }

  /** The stream ended (or failed): whatever was opened ahead is dropped. */
  close(): void {
    this.closed = true;
    for (const e of this.queue.splice(0)) e.piece.then((p) => p?.close(), () => undefined);
  }

  private fill(force: boolean): void {
    if (this.opening || this.exhausted || this.closed) return;
    if (!force) {
      if (this.queue.length >= this.ahead) return;
      let before = this.left;
      for (const e of this.queue) before += e.length ?? 0;
      if (before > this.aheadBytes) return;
    }
    this.opening = true;
    const entry: { piece: Promise<OpenedPiece | undefined>; length: number | undefined } = { piece: Promise.resolve(undefined), length: undefined };
    entry.piece = this.open().then(
      (p) => {
        this.opening = false;
        entry.length = p?.length ?? 0;
        if (!p) this.exhausted = true;
        else this.fill(false);
        return p;
      },
      (err: unknown) => {
        this.opening = false;
        this.exhausted = true;
        throw err;
      },
    );
    entry.piece.catch(() => undefined); // reported when the piece is reached
    this.queue.push(entry);
  }

  private async open(): Promise<OpenedPiece | undefined> {
    const n = await this.pieces.next();
    if (n.done) return undefined;
    if (this.closed) return undefined;
    return openPiece(this.source, n.value);
  }
}

async function* body(source: SegmentSource, first: OpenedPiece | undefined, pieces: AsyncIterator<ReadPiece>, opts: StreamOptions, started: number): AsyncGenerator<Buffer> {
  let left = opts.length ?? Number.POSITIVE_INFINITY;
  let current = first;
  const ahead = new Prefetch(source, pieces, opts.ahead ?? DEFAULT_AHEAD, opts.aheadBytes ?? DEFAULT_AHEAD_BYTES);
  try {
    while (current) {
      const seg = current;
      let read = 0;
      ahead.progress(seg.length);
      for await (const chunk of seg.chunks) {
        read += chunk.length;
        seg.whole?.md5.update(chunk);
        if (chunk.length > left) {
          yield chunk.subarray(0, left);
          throw segmentError(`Too many bytes for ${opts.name}; truncating in ${seg.name}`);
        }
        left -= chunk.length;
        yield chunk;
        ahead.progress(seg.length - read);
        if (opts.now() - started > opts.deadlineMs) throw segmentError(`While processing manifest ${opts.name}, max LO GET time exceeded`);
      }
      if (seg.whole) {
        if (read !== seg.whole.length) throw segmentError(`Bad response length for ${seg.name} as part of ${opts.name}: headers had ${seg.whole.length}, but response length was actually ${read}`);
        const md5 = seg.whole.md5.digest('hex');
        if (md5 !== seg.whole.etag) throw segmentError(`Bad MD5 checksum for ${seg.name} as part of ${opts.name}: headers had ${seg.whole.etag}, but object MD5 was actually ${md5}`);
      }
      current = undefined;
      current = await ahead.next();
    }
    if (left > 0 && opts.length !== undefined) throw segmentError(`Expected another ${left} bytes for ${opts.name}; closing connection`);
  } finally {
    current?.close();
    ahead.close();
    // (after a pieces.next() still in flight, if any: an async generator queues its calls)
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
