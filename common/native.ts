import { createRequire } from 'node:module';

/**
 * The native module (native/swiftlet.c), built by `npm run build` where gcc is
 * (scripts/build-native.mjs), or an empty object: every user has a portable fallback.
 * `SWIFTLET_NATIVE=off` leaves it unloaded (for comparisons and for testing the fallbacks).
 */
export interface NativeModule {
  crc32c?: (data: Uint8Array, previous: number) => number;
  md5Lanes?: (states: Uint32Array, blocks: number, ...lanes: Uint8Array[]) => void;
  syncfs?: (fd: number) => Promise<void>;
  /** glibc's malloc_trim(0) on the thread pool: true if free pages went back to the kernel. */
  mallocTrim?: () => Promise<boolean>;
  /** glibc's mallinfo2(): [heap bytes, allocated, free and kept, in separate mmaps]. */
  mallocInfo?: () => [number, number, number, number];
  /** Linux ioprio_set(2) on one thread (0 = the calling one): class 1 real-time, 2 best-effort, 3 idle; level 0-7. Throws (code EIOPRIO). */
  ioprioSet?: (tid: number, ioClass: number, level: number) => void;
  /** Linux ioprio_get(2) of one thread: [class, level] (class 0: none set, the kernel derives best-effort from the nice value). */
  ioprioGet?: (tid: number) => [number, number];
  /** Linux lseek(2) SEEK_DATA (3) / SEEK_HOLE (4): the next data or hole offset at or after `offset`, -1 if no data follows. Throws (code ESEEK). */
  seekData?: (fd: number, offset: number, whence: 3 | 4) => number;
  /** Linux fallocate(2) PUNCH_HOLE|KEEP_SIZE on the thread pool. Rejects (code EPUNCH). */
  punchHole?: (fd: number, offset: number, length: number) => Promise<void>;
}

function loadNative(): NativeModule {
  if (process.env.SWIFTLET_NATIVE === 'off') return {};
  try {
    // dist/common/native.js → dist/native/swiftlet.node
    return createRequire(import.meta.url)('../native/swiftlet.node') as NativeModule;
  } catch {
    return {};
  }
}

export const native: NativeModule = loadNative();
