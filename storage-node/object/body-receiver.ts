import type { IncomingMessage } from 'node:http';
import { SwiftletError } from '../../common/errors.js';

/** Where received chunks go: called with everything queued since the last call, one at a time. */
export interface ChunkSink {
  write(bufs: Buffer[]): Promise<void>;
}

export interface ReceiveOptions {
  /** Content-Length, or undefined for a chunked body. */
  expectedLength: number | undefined;
  /** The client may not go quiet for longer than this (time we spend writing does not count). */
  idleTimeoutMs: number;
  /** Pause the socket when this many received bytes are waiting for the disk. */
  highWaterBytes?: number;
}

const DEFAULT_HIGH_WATER = 1 << 20;

/**
 * Reads a request body into a sink with backpressure: chunks queue while a write is in flight and
 * go out together in the next one (one writev), and the socket is paused when the queue is full.
 * Resolves with the byte count once everything is written. Rejects with CLIENT_DISCONNECT when
 * the body ends short or the client goes away, CLIENT_TIMEOUT when it stalls, or the sink's error;
 * by then no write is in flight, so the caller may discard its temp file at once.
 */
export function receiveBody(req: IncomingMessage, sink: ChunkSink, opts: ReceiveOptions): Promise<number> {
  const highWater = opts.highWaterBytes ?? DEFAULT_HIGH_WATER;
  return new Promise<number>((resolve, reject) => {
    let received = 0;
    let queue: Buffer[] = [];
    let queued = 0;
    let inflight: Promise<void> | undefined;
    let ended = false;
    let settled = false;
    let pausedByUs = false;
    let timer: NodeJS.Timeout | undefined;

    const arm = (): void => {
      // Called per chunk: refresh() re-arms the same timer instead of making a new one.
      if (timer) timer.refresh();
      else timer = setTimeout(() => fail(new SwiftletError('CLIENT_TIMEOUT', `client sent nothing for ${opts.idleTimeoutMs} ms`)), opts.idleTimeoutMs);
    };
    const disarm = (): void => {
      if (timer) clearTimeout(timer);
      timer = undefined;
    };
    const cleanup = (): void => {
      disarm();
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      // keep a no-op error listener: a late socket error must not crash the process
      req.on('error', () => undefined);
    };
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      cleanup();
      if (!req.readableEnded) req.pause();
      // never reject while a write is in flight: the caller removes the temp file next
      void (inflight ?? Promise.resolve()).catch(() => undefined).then(() => reject(err));
    };
    const pump = (): void => {
      if (settled || inflight) return;
      if (queue.length === 0) {
        if (ended) {
          settled = true;
          cleanup();
          resolve(received);
        }
        return;
      }
      const bufs = queue;
      queue = [];
      queued = 0;
      inflight = sink.write(bufs).then(
        () => {
          inflight = undefined;
          if (pausedByUs && !settled) {
            pausedByUs = false;
            if (!ended) arm(); // the body may have ended while we were paused: nothing left to wait for
            req.resume();
          }
          pump();
        },
        (e: unknown) => {
          inflight = undefined;
          fail(e);
        },
      );
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (opts.expectedLength !== undefined && received > opts.expectedLength) {
        fail(new SwiftletError('BAD_REQUEST', 'body longer than Content-Length'));
        return;
      }
      queue.push(chunk);
      queued += chunk.length;
      arm();
      if (inflight && queued >= highWater && !pausedByUs) {
        // the disk is behind: stop reading (and stop the idle clock, the wait is ours)
        pausedByUs = true;
        disarm();
        req.pause();
      }
      pump();
    };
    const onEnd = (): void => {
      ended = true;
      disarm();
      if (opts.expectedLength !== undefined && received !== opts.expectedLength) {
        fail(new SwiftletError('CLIENT_DISCONNECT', `body ended after ${received} of ${opts.expectedLength} bytes`));
        return;
      }
      pump();
    };
    const onError = (e: unknown): void => fail(new SwiftletError('CLIENT_DISCONNECT', 'client connection failed mid-body', { cause: e }));
    const onClose = (): void => {
      if (!ended) fail(new SwiftletError('CLIENT_DISCONNECT', `client went away after ${received} bytes`));
    };

    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
    // The router awaited a stat before calling us: the client may already be gone.
    if (req.destroyed && !req.readableEnded) onClose();
    else if (req.readableEnded) onEnd();
    else arm();
  });
}
