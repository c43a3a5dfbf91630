import type { Logger } from './log.js';
import { native } from './native.js';

/**
 * Gives the C heap's free memory back to the kernel now and then (glibc's malloc_trim(0), through
 * the native module, on the thread pool), for the proxy and the storage nodes.
 *
 * glibc keeps what a process frees for reuse, and its main heap only shrinks from the top: a burst
 * of buffers (request bodies, socket reads, LevelDB batches) leaves it at its high-water mark for
 * good. Under the bench's 10-minute memory soak a storage node's main heap rose in steps from 17 to
 * 40 MiB while 15 MiB of it was in use, and its RSS climbed as a leak would; one malloc_trim(0)
 * took 30 MiB of RSS back. A check every `intervalMs` trims only when more than `minFreeBytes`
 * lies free: a little slack is cheaper to reuse than to fault in again.
 *
 * Without the native module, or on a C library other than glibc, this does nothing.
 */
export interface MallocTrimOptions {
  intervalMs: number;
  minFreeBytes?: number;
  log?: Logger;
}

export const DEFAULT_MIN_FREE_BYTES = 8 * 1024 * 1024;

/** Starts the checks; returns the function that stops them. */
export function startMallocTrim(opts: MallocTrimOptions): () => void {
  const { mallocTrim, mallocInfo } = native;
  if (!mallocTrim || !mallocInfo || !(opts.intervalMs > 0)) return () => undefined;
  const minFree = opts.minFreeBytes ?? DEFAULT_MIN_FREE_BYTES;
  let running = false;
  const timer = setInterval(() => {
    if (running || mallocInfo()[2] < minFree) return;
    running = true;
    mallocTrim()
      .catch((err: unknown) => opts.log?.warn({ err }, 'malloc_trim failed'))
      .finally(() => (running = false));
  }, opts.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
