import { readdirSync, rmdirSync, unlinkSync } from 'node:fs';
import { readdir, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Timestamp } from '../../common/timestamp.js';
import { errnoOf } from './fs-durable.js';
import { parseOnDiskName, type OnDiskFile } from './layout.js';

/**
 * What the files of one hash dir mean (Swift's get_ondisk_files / hash_cleanup_listdir for the
 * replication policy). Pure: the replicator and auditor use it on their own listings.
 */
export interface HashDirFiles {
  /** The newest .data, when it is newer than every .ts: the object exists. */
  data?: OnDiskFile;
  /** The newest .ts, when it is at least as new as every .data: the object is deleted. */
  tombstone?: OnDiskFile;
  /** The newest .meta newer than `data`: its metadata replaces the .data's user metadata. */
  meta?: OnDiskFile;
  /** Files superseded by the ones above; safe to delete. */
  obsolete: OnDiskFile[];
}

const EXT_ORDER = { ts: 0, data: 1, meta: 2 } as const;

/** Newest first; at one timestamp a .ts sorts before a .data (a delete and a write tied: deleted wins). */
function newestFirst(a: OnDiskFile, b: OnDiskFile): number {
  return b.timestamp.compare(a.timestamp) || EXT_ORDER[a.ext] - EXT_ORDER[b.ext];
}

export function classifyHashDirFiles(names: readonly string[]): HashDirFiles {
  const files: OnDiskFile[] = [];
  for (const n of names) {
    const f = parseOnDiskName(n);
    if (f) files.push(f);
  }
  files.sort(newestFirst);
  const out: HashDirFiles = { obsolete: [] };
  const winner = files.find((f) => f.ext !== 'meta');
  if (!winner) return out; // only .meta files (or nothing): no object; orphans wait for the replicator
  if (winner.ext === 'data') out.data = winner;
  else out.tombstone = winner;
  for (const f of files) {
    if (f === winner) continue;
    if (f.ext === 'meta' && f.timestamp.compare(winner.timestamp) > 0) {
      // Newer than the winner: the newest applies to a .data; a .meta newer than a tombstone
      // waits (a delayed .data may still arrive), so it is neither used nor removed.
      if (winner.ext === 'data') {
        if (!out.meta) out.meta = f;
        else out.obsolete.push(f);
      }
      continue;
    }
    out.obsolete.push(f);
  }
  return out;
}

/** Lists a hash dir; undefined when it does not exist. */
export async function listHashDir(hashDir: string): Promise<string[] | undefined> {
  try {
    return await readdir(hashDir);
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/** Lists and classifies a hash dir; a missing dir is an empty one. */
export async function readHashDir(hashDir: string): Promise<HashDirFiles & { exists: boolean }> {
  const names = await listHashDir(hashDir);
  return { ...classifyHashDirFiles(names ?? []), exists: names !== undefined };
}

/**
 * listHashDir, synchronously: the write path lists the one small hash dir it writes into (a few
 * entries, its parents just looked up), where a threadpool round trip costs more than the call.
 */
export function listHashDirSync(hashDir: string): string[] | undefined {
  try {
    return readdirSync(hashDir);
  } catch (e) {
    const code = errnoOf(e);
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/** readHashDir, synchronously (the write path). */
export function readHashDirSync(hashDir: string): HashDirFiles & { exists: boolean } {
  const names = listHashDirSync(hashDir);
  return { ...classifyHashDirFiles(names ?? []), exists: names !== undefined };
}

/** cleanupHashDir after a write (no reclaim), synchronously: a listing and an unlink or two. */
export function cleanupHashDirSync(hashDir: string): void {
  const names = listHashDirSync(hashDir);
  if (!names) return;
  const doomed = classifyHashDirFiles(names).obsolete;
  for (const f of doomed) {
    try {
      unlinkSync(join(hashDir, f.name));
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw e;
    }
  }
  if (doomed.length === names.length) {
    try {
      rmdirSync(hashDir);
    } catch {
      /* not empty any more, or gone */
    }
  }
}

/**
 * Removes superseded files after a write (Swift's hash_cleanup_listdir), from a fresh listing so a
 * concurrent newer write is never mistaken for an older one. With `reclaimBefore`, a tombstone
 * older than it goes too (and the empty dir): that is the replicator's reclaim_age pass.
 */
export async function cleanupHashDir(hashDir: string, opts: { reclaimBefore?: Timestamp } = {}): Promise<HashDirFiles> {
  const names = await listHashDir(hashDir);
  if (!names) return { obsolete: [] };
  const state = classifyHashDirFiles(names);
  const doomed = [...state.obsolete];
  if (opts.reclaimBefore && state.tombstone && state.tombstone.timestamp.compare(opts.reclaimBefore) < 0) {
    doomed.push(state.tombstone);
  }
  await Promise.all(doomed.map((f) => unlink(join(hashDir, f.name)).catch((e: unknown) => (errnoOf(e) === 'ENOENT' ? undefined : Promise.reject(e)))));
  if (doomed.length === names.length) await rmdir(hashDir).catch(() => undefined);
  return state;
}
