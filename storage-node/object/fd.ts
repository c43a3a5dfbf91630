import * as fs from 'node:fs';

/**
 * Promise wrappers over plain file descriptors. The object path opens a few files per request;
 * fs/promises FileHandles cost about twice the CPU of an fd per open+close (measured on Node 20),
 * so the hot path uses these. Every opener must close in a finally: an fd is not closed on GC.
 */

export function openFd(path: string, flags: string | number, mode = 0o644): Promise<number> {
  return new Promise((resolve, reject) => fs.open(path, flags, mode, (e, fd) => (e ? reject(e) : resolve(fd))));
}

export function closeFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.close(fd, (e) => (e ? reject(e) : resolve())));
}

/** Closes and ignores errors: for cleanup paths. */
export function closeQuietly(fd: number): Promise<void> {
  return new Promise((resolve) => fs.close(fd, () => resolve()));
}

/** pread: resolves with the bytes read (short only at end of file). */
export function readAt(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.read(fd, buf, offset, length, position, (e, n) => (e ? reject(e) : resolve(n))));
}

/** pwrite of buf[offset, offset + length): resolves with the bytes written. */
export function writeAt(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number> {
  return new Promise((resolve, reject) => fs.write(fd, buf, offset, length, position, (e, n) => (e ? reject(e) : resolve(n))));
}

/** pwritev (pwrite for one buffer): resolves with the bytes written. */
export function writevAt(fd: number, bufs: Buffer[], position: number): Promise<number> {
  if (bufs.length === 1) {
    const b = bufs[0] as Buffer;
    return new Promise((resolve, reject) => fs.write(fd, b, 0, b.length, position, (e, n) => (e ? reject(e) : resolve(n))));
  }
  return new Promise((resolve, reject) => fs.writev(fd, bufs, position, (e, n) => (e ? reject(e) : resolve(n))));
}

/** pwritev made synchronously: for a small write that only fills the page cache. */
export function writevAtSync(fd: number, bufs: Buffer[], position: number): number {
  return fs.writevSync(fd, bufs, position);
}

export function fdatasync(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fdatasync(fd, (e) => (e ? reject(e) : resolve())));
}

export function fsyncFd(fd: number): Promise<void> {
  return new Promise((resolve, reject) => fs.fsync(fd, (e) => (e ? reject(e) : resolve())));
}

export function ftruncateFd(fd: number, length: number): Promise<void> {
  return new Promise((resolve, reject) => fs.ftruncate(fd, length, (e) => (e ? reject(e) : resolve())));
}

export function fstatSize(fd: number): Promise<number> {
  return new Promise((resolve, reject) => fs.fstat(fd, (e, st) => (e ? reject(e) : resolve(st.size))));
}

/** One line appended with O_APPEND (open, write, close). */
export function appendLine(path: string, line: string): Promise<void> {
  return new Promise((resolve, reject) => fs.appendFile(path, line, (e) => (e ? reject(e) : resolve())));
}
