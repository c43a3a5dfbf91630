import type { ServerResponse } from 'node:http';
import { crc32c } from '@node-rs/crc32';
import { multipartChunks, type MultipartPlan } from '../../common/range.js';
import { readAt } from './fd.js';
import { crcHex } from './metadata.js';

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

/** Writes one chunk; resolves false when the client is gone. */
export function writeChunk(res: ServerResponse, buf: Buffer): Promise<boolean> | boolean {
  if (res.destroyed) return false;
  if (res.write(buf)) return true;
  return new Promise<boolean>((resolve) => {
    const done = (ok: boolean): void => {
      res.off('drain', onDrain);
      res.off('close', onClose);
      resolve(ok);
    };
    const onDrain = (): void => done(true);
    const onClose = (): void => done(false);
    res.on('drain', onDrain);
    res.on('close', onClose);
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
export async function sendVerified(res: ServerResponse, fd: number, bodyLength: number, expectedCrc: string): Promise<SendOutcome> {
  let crc = 0;
  let pos = 0;
  try {
    for await (const buf of fileChunks(fd, 0, bodyLength)) {
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
