import { lstat, readdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { errnoOf, isOpenTempFile } from './fs-durable.js';
import { tmpDirOf } from './layout.js';

/**
 * Removes the dead files of a device's tmp/ (Swift's replicator does `unlink_older_than(tmp,
 * now - reclaim_age)`). Every temp file is made by the storage-node process (fs-durable.ts
 * openTempFile: object PUTs, raw and O_DIRECT bodies included, replication pushes, tombstones,
 * .meta files, async pendings) and is renamed away or removed when its write ends, so one still
 * there is either being written right now or was left by a process that died mid-write.
 *
 * A file goes when it was last modified before `before` and this process does not have it open
 * (`isOpen`): an open one may be a slow upload that has not filled its next 1 MiB staging slot
 * yet, whatever its mtime says. Anything but a regular file is left alone.
 */
export interface TmpSweepResult {
  /** Files removed, and their bytes. */
  removed: number;
  bytesRemoved: number;
  /** Files left because this process is writing them (their age did not matter). */
  open: number;
  /** Files left because they are younger than the cut-off. */
  young: number;
}

export async function sweepTempDir(devicePath: string, opts: { before: number; isOpen?: (path: string) => boolean }): Promise<TmpSweepResult> {
  const isOpen = opts.isOpen ?? isOpenTempFile;
  const out: TmpSweepResult = { removed: 0, bytesRemoved: 0, open: 0, young: 0 };
  const dir = tmpDirOf(devicePath);
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return out;
    throw e;
  }
  for (const name of names) {
    const path = join(dir, name);
    let st;
    try {
      st = await lstat(path);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') continue; // renamed into place meanwhile
      throw e;
    }
    if (!st.isFile()) continue;
    // Checked last, right before the unlink: temp names are never reused, so a file that is not
    // open now will not be opened again.
    if (isOpen(path)) {
      out.open++;
      continue;
    }
    if (st.mtimeMs >= opts.before) {
      out.young++;
      continue;
    }
    try {
      await unlink(path);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') continue;
      throw e;
    }
    out.removed++;
    out.bytesRemoved += st.size;
  }
  return out;
}
