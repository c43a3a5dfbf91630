import type { ServerResponse } from 'node:http';
import { crc32c } from '../../common/native-sums.js';
import { multipartChunks, type MultipartPlan } from '../../common/range.js';
import { DirectReader, wantsDirect } from './direct-io.js';
import { readAt } from './fd.js';
import { crcHex } from '../../common/checksum.js';

/**
 * Streaming an object's bytes from its .data file to the response with backpressure: one read
 * ahead while the socket drains, never more.
 */

/** Read size for streamed bodies: big enough to keep reads, socket writes and promises few (a 64 MiB body is 64 of each), small enough to hold two per stream. */
export const READ_CHUNK = 1024 * 1024;

export type SendOutcome = 'ok' | 'client-gone' | 'corrupt';

/**
 * The bytes [start, end) of a file as chunks, reading the next chunk while the current one is
 * consumed. Stopping early waits for that read-ahead, so the caller may close the fd right after.
 */
export async function* fileChunks(fd: number, start: number, end: number, chunkSize = READ_CHUNK): AsyncGenerator<Buffer> {
  const readChunk = async (pos: number): Promise<Buffer> => {
    const n = Math.min(chunkSize, end - pos);
    const buf = Buffer.allocUnsafe(n);
    const got = await readAt(fd, buf, 0, n, pos);
    if (got === 0) throw new Error(`unexpected end of file at ${pos}`);
    return got === n ? buf : buf.subarray(0, got);
  };
  let pos = start;
  let next = pos < end ? readChunk(pos) : undefined;
  try {
    while (next) {
      const buf = await next;
      pos += buf.length;
      next = pos < end ? readChunk(pos) : undefined;
      yield buf;
    }
  } finally {
    if (next) await next.catch(() => undefined);
  }
}

/** What the body of a GET is read from: the open .data and where it lives. */
export interface BodySource {
  fd: number;
  dataPath: string;
  devicePath: string;
  /** Ranges larger than this are read O_DIRECT (0: never; undefined: the default). */
  directIoAboveBytes: number | undefined;
}

/**
 * The bytes [start, end) of an object's body: a large range O_DIRECT (direct-io.ts: past the
 * page cache, its chunks valid only until the next is asked for), others through the page cache.
 */
export async function* bodyChunks(src: BodySource, start: number, end: number): AsyncGenerator<Buffer> {
  const reader = wantsDirect(end - start, src.directIoAboveBytes) ? await DirectReader.open(src.devicePath, src.dataPath, src.fd) : undefined;
  if (!reader) return yield* fileChunks(src.fd, start, end);
  try {
    yield* reader.chunks(start, end);
  } finally {
    reader.close();
  }
}

/**
 * Writes one chunk; resolves once the socket has taken all of it (its memory may be reused:
 * O_DIRECT chunks live in staging slots), false when the client is gone.
 */
export function writeChunk(res: ServerResponse, buf: Buffer): Promise<boolean> | boolean {
  if (res.destroyed) return false;
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean): void => {
      res.off('close', onClose);
      resolve(ok);
    };
    const onClose = (): void => done(false);
    res.on('close', onClose);
    res.write(buf, (err) => done(!err));
  });
}

/** Sends chunks then ends the response. A read error destroys the response (the client sees a short body). */
export async function sendChunks(res: ServerResponse, chunks: AsyncIterable<Buffer>): Promise<SendOutcome> {
  try {
    for await (const buf of chunks) {
      if (!(await writeChunk(res, buf))) return 'client-gone';
    }
  } catch (e) {
    res.destroy(e as Error);
    throw e;
  }
  res.end();
  return 'ok';
}

/**
 * Streams a whole body while computing its CRC32C, holding back the last chunk until the CRC
 * checks out: on a mismatch the response is destroyed, so the proxy sees a short body and never a
 * complete bad one.
 */
export async function sendVerified(res: ServerResponse, chunks: AsyncIterable<Buffer>, bodyLength: number, expectedCrc: string): Promise<SendOutcome> {
  let crc = 0;
  let pos = 0;
  try {
    for await (const buf of chunks) {
      crc = crc32c(buf, crc);
      pos += buf.length;
      if (pos === bodyLength && crcHex(crc) !== expectedCrc) {
        res.destroy();
        return 'corrupt';
      }
      if (!(await writeChunk(res, buf))) return 'client-gone';
    }
  } catch (e) {
    res.destroy(e as Error);
    throw e;
  }
  res.end();
  return 'ok';
}

/** A multipart/byteranges body straight from the file. */
export function sendMultipart(res: ServerResponse, fd: number, plan: MultipartPlan): Promise<SendOutcome> {
  return sendChunks(
    res,
    multipartChunks(plan, (start, end) => fileChunks(fd, start, end)),
  );
}

/** Same, from a body already in memory (small objects read whole). */
export function sendMultipartFromBuffer(res: ServerResponse, body: Buffer, plan: MultipartPlan): Promise<SendOutcome> {
  return sendChunks(
    res,
    multipartChunks(plan, async function* (start, end) {
      yield body.subarray(start, end);
    }),
  );
}
