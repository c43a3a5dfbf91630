import { randomBytes } from 'node:crypto';
import { appendFileSync, closeSync, fsyncSync, mkdirSync, openSync, renameSync, unlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { isDiskFullErrno, SwiftletError } from '../../common/errors.js';
import { fdatasync, fsyncFd, writevAt, writevAtSync } from './fd.js';
import { groupSyncOf, type GroupSync } from '../group-sync.js';
import { HASHES_INVALID, tmpDirOf } from './layout.js';

/**
 * The durable-write toolbox (Swift's _finalize_put): temp file → write → fsync → rename →
 * fsync the directory. `fsync: false` skips every fsync (throwaway tests only).
 *
 * Metadata calls (open, close, mkdir, rename, unlink, a line appended) are made synchronously:
 * on a local filesystem they take microseconds, while a trip through libuv's threadpool costs two
 * thread wake-ups (~30 µs of CPU, up to half a millisecond of latency on a busy machine) for each.
 * What waits for the disk stays asynchronous: fsync/fdatasync and the body's writes. Swift's
 * object server makes the same calls synchronously in its event loop.
 */

export function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** ENOSPC/EDQUOT become DISK_FULL (→ 507, the proxy tries a handoff); anything else passes through. */
export function asDiskError(e: unknown, what: string): unknown {
  if (isDiskFullErrno(e)) return new SwiftletError('DISK_FULL', `disk full: ${what}`, { cause: e });
  return e;
}

export async function fsyncDir(dir: string): Promise<void> {
  const fd = openSync(dir, 'r');
  try {
    await fsyncFd(fd);
  } finally {
    closeQuietlySync(fd);
  }
}

/** close, ignoring errors: for cleanup paths. */
export function closeQuietlySync(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    /* cleanup path */
  }
}

/**
 * mkdir -p: creates `dir` and any missing parents up to `root`, and returns the folders whose
 * entries changed, for the caller to fsync (fsyncDirs) before it relies on them. Never climbs
 * above `root` (the device folder), so a vanished device is an error, not recreated.
 * A folder someone else just created counts too: its creator may not have fsynced its parent yet.
 * The object write path makes its hash dir first and fsyncs these after the file's own data sync,
 * which on a journalling filesystem usually commits the mkdir already (the dir fsync is then cheap).
 */
export function makeDirs(dir: string, root: string): string[] {
  try {
    mkdirSync(dir);
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'EEXIST') return [dirname(dir)];
    if (code !== 'ENOENT' || dir === root || dirname(dir) === dir) throw e;
    const made = makeDirs(dirname(dir), root);
    try {
      mkdirSync(dir);
    } catch (e2) {
      if (errnoOf(e2) !== 'EEXIST') throw e2;
    }
    made.push(dirname(dir));
    return made;
  }
  return [dirname(dir)];
}

/** fsyncs each folder once, all at once. */
export async function fsyncDirs(dirs: readonly string[]): Promise<void> {
  await Promise.all([...new Set(dirs)].map((d) => fsyncDir(d)));
}

/**
 * fsyncDirs made synchronously, for folders whose new entries a later sync on the same filesystem
 * has just committed (a file's data sync after mkdirs, a container row's LevelDB sync after a
 * rename): on a journalling filesystem (XFS, ext4) that sync forced the journal past them, so each
 * fsync here returns without I/O, and a thread-pool round trip (two thread wake-ups) would cost
 * more than the call itself. Swift's fsync_dir is likewise a blocking call in its event loop.
 */
export function fsyncDirsSync(dirs: readonly string[]): void {
  for (const d of new Set(dirs)) {
    const fd = openSync(d, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeQuietlySync(fd);
    }
  }
}

// Temp names: one random prefix per process plus a counter, so naming costs no syscall or entropy per file.
const tmpPrefix = randomBytes(6).toString('hex');
let tmpCounter = 0;

/**
 * The temp files this process has made and not yet renamed or removed: writes in progress,
 * whatever their age (a slow upload fills a 1 MiB staging slot before its file's mtime moves).
 * The tmp/ sweeper (tmp-sweep.ts) never removes one of these.
 */
const openTempPaths = new Set<string>();

export function isOpenTempFile(path: string): boolean {
  return openTempPaths.has(path);
}

/** How many temp files are open in this process (tests). */
export function openTempFileCount(): number {
  return openTempPaths.size;
}

export interface TempFile {
  path: string;
  fd: number;
}

/** Opens a new file in `<device>/tmp`, creating the folder on demand. */
export async function openTempFile(devicePath: string): Promise<TempFile> {
  const dir = tmpDirOf(devicePath);
  const path = join(dir, `${tmpPrefix}-${(tmpCounter++).toString(36)}`);
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o644);
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw asDiskError(e, path);
    try {
      mkdirSync(dir, { recursive: true });
      fd = openSync(path, 'wx', 0o644);
    } catch (e2) {
      throw asDiskError(e2, path);
    }
  }
  openTempPaths.add(path);
  return { path, fd };
}

/** Closes and removes a temp file after a failed write; never throws. */
export async function discardTempFile(t: TempFile): Promise<void> {
  closeQuietlySync(t.fd);
  unlinkQuietly(t.path);
  openTempPaths.delete(t.path);
}

/** unlink, ignoring errors: for cleanup paths. */
export function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    /* already gone */
  }
}

/** Writes all of `bufs` at `position` (one writev per call; loops on a short write). Returns bytes written. */
export async function writeAllAt(fd: number, bufs: Buffer[], position: number): Promise<number> {
  const total = totalLength(bufs);
  let done = 0;
  let pending = bufs;
  while (done < total) {
    const bytesWritten = await writevAt(fd, pending, position + done);
    if (bytesWritten <= 0) throw new SwiftletError('INTERNAL', 'write made no progress');
    done += bytesWritten;
    if (done < total) pending = sliceBuffers(pending, bytesWritten);
  }
  return total;
}

export function totalLength(bufs: readonly Buffer[]): number {
  let n = 0;
  for (const b of bufs) n += b.length;
  return n;
}

/**
 * A write of at most this many bytes is made synchronously (writeAllAtSync): it only fills the page
 * cache, in microseconds, where a thread-pool round trip (two thread wake-ups) costs more.
 */
export const SYNC_WRITE_BYTES = 128 * 1024;

/** writeAllAt made synchronously: for a small write that only fills the page cache. */
export function writeAllAtSync(fd: number, bufs: Buffer[], position: number): number {
  let done = 0;
  for (let pending = bufs; pending.length; ) {
    const n = writevAtSync(fd, pending, position + done);
    if (n <= 0) throw new SwiftletError('INTERNAL', 'write made no progress');
    done += n;
    pending = sliceBuffers(pending, n);
  }
  return done;
}

function sliceBuffers(bufs: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  let s = skip;
  for (const b of bufs) {
    if (s >= b.length) {
      s -= b.length;
      continue;
    }
    out.push(s > 0 ? b.subarray(s) : b);
    s = 0;
  }
  return out;
}

/** Tries of mkdir + rename when the folder keeps vanishing (another process removing it empty). */
const RENAME_TRIES = 3;

/**
 * Moves a finished, fsynced temp file to `dir/name` and makes the rename durable. `dir` (and
 * its parents up to `root`) is created when missing. `syncDir: false` leaves `dir`'s fsync to the
 * caller, who must make it before anyone is told the file is there. With `group` (the device's
 * group commit, entered by the caller) a shared syncfs stands for the directory fsyncs.
 *
 * The folders are made and the file renamed into them with no await in between, and the new
 * entries fsynced after the rename (still before anyone is told): an empty hash dir is removed by
 * whoever cleans up the suffix meanwhile (a REPLICATE rehashing it, a replicator reverting the
 * partition), so one made and then left empty during an fsync could vanish before the rename
 * (ENOENT, seen with two replication passes pushing to one node at once).
 */
export async function renameIntoDir(tmpPath: string, dir: string, name: string, root: string, fsync: boolean, syncDir = true, group?: GroupSync): Promise<void> {
  const target = join(dir, name);
  try {
    const made: string[] = [];
    for (let tries = 1; ; tries++) {
      try {
        renameSync(tmpPath, target);
        break;
      } catch (e) {
        if (errnoOf(e) !== 'ENOENT' || tries >= RENAME_TRIES) throw e;
        made.push(...makeDirs(dir, root));
      }
    }
    openTempPaths.delete(tmpPath);
    if (fsync && group && (syncDir || made.length > 0)) await group.sync();
    else if (fsync) await fsyncDirs(syncDir ? [...made, dir] : made);
  } catch (e) {
    unlinkQuietly(tmpPath);
    openTempPaths.delete(tmpPath);
    throw asDiskError(e, target);
  }
}

/**
 * A whole small file, written durably (temp + fsync + rename + fsync dir): .ts, .meta, async
 * pendings, small replicated files. Both syncs are the device's group commit where it is on
 * (storage-node/group-sync.ts). `syncDir`: see renameIntoDir.
 */
export async function writeFileDurable(devicePath: string, dir: string, name: string, data: Buffer, fsync: boolean, syncDir = true): Promise<void> {
  const group = fsync ? groupSyncOf(devicePath) : undefined;
  group?.enter();
  try {
    const t = await openTempFile(devicePath);
    try {
      if (data.length <= SYNC_WRITE_BYTES) writeAllAtSync(t.fd, [data], 0);
      else await writeAllAt(t.fd, [data], 0);
      if (fsync) await (group ? group.sync() : fdatasync(t.fd));
      closeSync(t.fd);
    } catch (e) {
      await discardTempFile(t);
      throw asDiskError(e, t.path);
    }
    await renameIntoDir(t.path, dir, name, devicePath, fsync, syncDir, group);
  } finally {
    group?.leave();
  }
}

/**
 * Records that a suffix changed since the replicator last hashed it (Swift's invalidate_hash):
 * one line appended to hashes.invalid. O_APPEND keeps concurrent lines whole.
 */
export async function invalidateSuffix(partitionDir: string, suffix: string): Promise<void> {
  try {
    appendFileSync(join(partitionDir, HASHES_INVALID), `${suffix}\n`);
  } catch (e) {
    throw asDiskError(e, partitionDir);
  }
}
