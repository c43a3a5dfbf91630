import { closeSync, fsyncSync, openSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join } from 'node:path';

/**
 * Writes a file so that readers see either the old or the new contents, never a torn one:
 * temp file in the same folder → write → fsync → rename → fsync the folder.
 * Services poll ring files while the CLI rewrites them, so this matters.
 */
export function writeFileAtomicSync(file: string, data: Uint8Array): void {
  const dir = dirname(file);
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', 0o644);
  try {
    let off = 0;
    while (off < data.length) off += writeSync(fd, data, off, data.length - off);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    unlinkSync(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, file);
  fsyncDir(dir);
}

function fsyncDir(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return; // some platforms cannot open folders; the rename is still atomic
  }
  try {
    fsyncSync(fd);
  } catch {
    /* fsync on a folder is unsupported on some filesystems */
  } finally {
    closeSync(fd);
  }
}
