import { createHash } from 'node:crypto';
import { readdir, readFile, rename, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Timestamp } from '../../common/timestamp.js';
import { closeFd, closeQuietly, fdatasync, openFd } from './fd.js';
import { errnoOf, fsyncDir, writeAllAt } from './fs-durable.js';
import { HASHES_INVALID, objectsDirOf, parseOnDiskName } from './layout.js';
import { classifyHashDirFiles, cleanupHashDir, listHashDir } from './ondisk.js';

/**
 * Per-suffix hashes of one partition (Swift's get_hashes), cached in
 * `objects/<partition>/hashes.json`. A suffix hash is md5 over its hash dirs (sorted) and each
 * one's current file names, so two replicas agree on a suffix exactly when they hold the same
 * files. Only suffixes that changed are rehashed:
 *
 * - every write appends its suffix to `hashes.invalid` (fs-durable `invalidateSuffix`, no lock);
 * - a call renames `hashes.invalid` to a unique `hashes.invalid.<id>` before reading it, so a line
 *   appended later lands in a fresh file and is seen next time. A writer that opened the old file
 *   just before the rename may still append to the renamed one: renamed files are kept for one
 *   more call and re-read from the offset already consumed, and only removed once the cache that
 *   reflects them is on disk and they stopped growing;
 * - a suffix holding a tombstone is rehashed again when that tombstone reaches reclaim_age, so
 *   tombstones in quiet suffixes are reclaimed too.
 *
 * One writer: only the storage-node process touches hashes.json (the replicator asks its own node
 * over REPLICATE), and calls on one partition are serialized by an in-process lock.
 */

export const HASHES_FILE = 'hashes.json';
const CONSUMED_PREFIX = `${HASHES_INVALID}.`;
const TMP_PREFIX = '.hashes.json.';
const SUFFIX_RE = /^[0-9a-f]{3}$/;
const HASH_RE = /^[0-9a-f]{32}$/;

/** What hashes.json holds. */
interface HashesCache {
  version: 1;
  /** suffix → md5 hex; a suffix without files has no entry. */
  hashes: Record<string, string>;
  /** suffix → epoch seconds when its oldest tombstone may be reclaimed: rehash it then. */
  reclaimAt: Record<string, number>;
  /** Renamed invalidation files already applied, and how many of their bytes. */
  consumed: Record<string, number>;
}

export interface SuffixHashOptions {
  /** Tombstones older than this many seconds are removed while hashing. */
  reclaimAgeS: number;
  /** Now, in ms since the epoch. */
  now: number;
  fsync: boolean;
  /** Suffixes to rehash whatever the cache says (a REPLICATE after a push). */
  recalculate?: readonly string[];
}

export interface SuffixHashResult {
  /** suffix → hash, for every suffix that holds files. */
  hashes: Record<string, string>;
  /** The suffixes this call hashed from disk (the rest came from the cache). */
  rehashed: string[];
}

export function isSuffix(s: string): boolean {
  return SUFFIX_RE.test(s);
}

export function partitionDirOf(devicePath: string, partition: number, policy = 0): string {
  return join(objectsDirOf(devicePath, policy), String(partition));
}

/** The files of a hash dir that count (no superseded or foreign ones), sorted: what is hashed, listed and pushed. */
export function currentFiles(names: readonly string[]): string[] {
  const obsolete = new Set(classifyHashDirFiles(names).obsolete.map((f) => f.name));
  return names.filter((n) => parseOnDiskName(n) !== undefined && !obsolete.has(n)).sort();
}

/**
 * The hash of one suffix from its hash dirs and their current files; undefined when it holds
 * nothing. Pure, so the replicator can hash a listing the same way the node does.
 */
export function suffixHashOf(dirs: ReadonlyMap<string, readonly string[]>): string | undefined {
  const md5 = createHash('md5');
  let any = false;
  for (const hash of [...dirs.keys()].sort()) {
    const files = [...(dirs.get(hash) ?? [])].sort();
    if (files.length === 0) continue;
    // Hash dir names count too: two objects written at the same instant still differ.
    md5.update(`${hash}:${files.join(',')}\n`);
    any = true;
  }
  return any ? md5.digest('hex') : undefined;
}

/**
 * One md5 for a whole partition: over its suffix → hash map in suffix order, each suffix giving
 * `"<suffix>:<hash>\n"` (the answer of a REPLICATE, so two replicas have the same digest exactly
 * when a REPLICATE would find every suffix equal). Undefined when the partition holds nothing.
 */
export function partitionDigest(hashes: Readonly<Record<string, string>>): string | undefined {
  const suffixes = Object.keys(hashes).sort();
  if (suffixes.length === 0) return undefined;
  const md5 = createHash('md5');
  for (const s of suffixes) md5.update(`${s}:${hashes[s]}\n`);
  return md5.digest('hex');
}

// ---- one lock per partition, within this process ----

const locks = new Map<string, Promise<unknown>>();

async function withPartitionLock<T>(partDir: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(partDir) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => undefined);
  locks.set(partDir, tail);
  try {
    return await run;
  } finally {
    if (locks.get(partDir) === tail) locks.delete(partDir);
  }
}

// ---- the cache file ----

async function readCache(partDir: string): Promise<HashesCache | undefined> {
  let raw: string;
  try {
    raw = await readFile(join(partDir, HASHES_FILE), 'utf8');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const v = JSON.parse(raw) as Partial<HashesCache>;
    if (v.version !== 1 || typeof v.hashes !== 'object' || typeof v.reclaimAt !== 'object' || typeof v.consumed !== 'object') return undefined;
    return v as HashesCache;
  } catch {
    return undefined; // torn or foreign: rebuild it from disk
  }
}

let tmpCounter = 0;

/** Atomic replace inside the partition dir; a vanished partition (reverted meanwhile) is not recreated. */
async function writeCache(partDir: string, cache: HashesCache, fsync: boolean): Promise<void> {
  const tmp = join(partDir, `${TMP_PREFIX}${process.pid}.${(tmpCounter++).toString(36)}.tmp`);
  let fd: number;
  try {
    fd = await openFd(tmp, 'wx');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return;
    throw e;
  }
  try {
    await writeAllAt(fd, [Buffer.from(JSON.stringify(cache))], 0);
    if (fsync) await fdatasync(fd);
    await closeFd(fd);
    await rename(tmp, join(partDir, HASHES_FILE));
  } catch (e) {
    await closeQuietly(fd);
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
  if (fsync) await fsyncDir(partDir);
}

// ---- invalidations ----

let consumeCounter = 0;

function uniqueConsumedName(now: number): string {
  return `${CONSUMED_PREFIX}${process.pid}-${Math.floor(now).toString(36)}-${(consumeCounter++).toString(36)}`;
}

interface Invalidations {
  suffixes: Set<string>;
  /** Renamed files to keep (read this time or still growing), with the bytes now consumed. */
  keep: Record<string, number>;
  /** Renamed files fully reflected in the cache on disk and no longer growing. */
  done: string[];
  /** Something new was read: the cache must be written even if no hash changed. */
  changed: boolean;
}

/** Moves hashes.invalid aside and reads every renamed invalidation file past what the cache consumed. */
async function collectInvalidations(partDir: string, entries: readonly string[], cache: HashesCache | undefined, now: number): Promise<Invalidations> {
  const files = entries.filter((n) => n.startsWith(CONSUMED_PREFIX));
  if (entries.includes(HASHES_INVALID)) {
    const name = uniqueConsumedName(now);
    try {
      await rename(join(partDir, HASHES_INVALID), join(partDir, name));
      files.push(name);
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw e;
    }
  }
  const out: Invalidations = { suffixes: new Set(), keep: {}, done: [], changed: false };
  for (const name of files) {
    let buf: Buffer;
    try {
      buf = await readFile(join(partDir, name));
    } catch (e) {
      if (errnoOf(e) !== 'ENOENT') throw e;
      // Removed after an earlier call: the cache still names it, and need not any more.
      if (cache?.consumed[name] !== undefined) out.changed = true;
      continue;
    }
    const from = cache?.consumed[name] ?? 0;
    if (buf.length === from && cache?.consumed[name] !== undefined) {
      out.done.push(name);
      continue;
    }
    for (const line of buf.subarray(Math.min(from, buf.length)).toString('latin1').split('\n')) {
      const s = line.trim();
      if (isSuffix(s)) out.suffixes.add(s);
    }
    out.keep[name] = buf.length;
    out.changed = true;
  }
  return out;
}

// ---- hashing one suffix ----

interface SuffixState {
  hash: string | undefined;
  /** Epoch seconds when its oldest tombstone reaches reclaim age. */
  reclaimAt?: number;
}

/** Cleans up each hash dir (reclaiming old tombstones) and hashes what is left. */
async function hashSuffix(suffixDir: string, reclaimBefore: Timestamp, reclaimAgeS: number): Promise<SuffixState> {
  let hashNames: string[];
  try {
    hashNames = (await readdir(suffixDir)).filter((n) => HASH_RE.test(n));
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return { hash: undefined };
    throw e;
  }
  const dirs = new Map<string, string[]>();
  let oldestTombstone: Timestamp | undefined;
  for (const hash of hashNames) {
    const hashDir = join(suffixDir, hash);
    let names = (await listHashDir(hashDir)) ?? [];
    const state = classifyHashDirFiles(names);
    const reclaimable = state.tombstone !== undefined && state.tombstone.timestamp.compare(reclaimBefore) < 0;
    if (state.obsolete.length > 0 || reclaimable || names.length === 0) {
      await cleanupHashDir(hashDir, { reclaimBefore });
      names = (await listHashDir(hashDir)) ?? [];
    }
    const files = currentFiles(names);
    if (files.length === 0) continue;
    dirs.set(hash, files);
    const ts = classifyHashDirFiles(files).tombstone?.timestamp;
    if (ts && (!oldestTombstone || ts.compare(oldestTombstone) < 0)) oldestTombstone = ts;
  }
  const hash = suffixHashOf(dirs);
  if (!hash) await rmdir(suffixDir).catch(() => undefined); // a write racing in recreates it
  const out: SuffixState = { hash };
  // cleanupHashDir reclaims strictly older than now − age: the first whole second after that.
  if (oldestTombstone) out.reclaimAt = Math.floor(oldestTombstone.seconds + reclaimAgeS) + 1;
  return out;
}

// ---- the entry points ----

/**
 * The partition's suffix hashes, rehashing only what changed (invalidated, asked for, due for
 * reclaim, or unknown to the cache). A missing partition has no suffixes and is not created.
 */
export async function getSuffixHashes(devicePath: string, partition: number, opts: SuffixHashOptions, policy = 0): Promise<SuffixHashResult> {
  const partDir = partitionDirOf(devicePath, partition, policy);
  return withPartitionLock(partDir, async () => {
    const known = listedSince.has(partDir) ? await readCache(partDir) : undefined;
    listedSince.delete(partDir); // until this call has brought the cache up to date
    let entries: string[];
    if (known) {
      // No listing: what can have changed is in hashes.invalid and the renamed files the cache
      // names, and a suffix dir comes or goes only with an invalidation (every write, revert and
      // cleanup appends one). A suffix the cache has is checked only when invalidated.
      entries = [HASHES_INVALID, ...Object.keys(known.consumed), ...Object.keys(known.hashes)];
    } else {
      try {
        entries = await readdir(partDir);
      } catch (e) {
        if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return { hashes: {}, rehashed: [] };
        throw e;
      }
    }
    const cache = known ?? (await readCache(partDir));
    const inv = await collectInvalidations(partDir, entries, cache, opts.now);
    const suffixDirs = new Set(entries.filter(isSuffix));
    if (known) for (const s of [...inv.suffixes, ...(opts.recalculate ?? [])]) if (isSuffix(s)) suffixDirs.add(s);
    const nowS = opts.now / 1000;

    const hashes: Record<string, string> = {};
    const reclaimAt: Record<string, number> = {};
    const dirty = new Set<string>();
    if (!cache) {
      for (const s of suffixDirs) dirty.add(s);
    } else {
      for (const [s, h] of Object.entries(cache.hashes)) {
        if (!suffixDirs.has(s)) continue; // removed (a reverted handoff): nothing left to hash
        hashes[s] = h;
        const at = cache.reclaimAt[s];
        if (at !== undefined) {
          reclaimAt[s] = at;
          if (at <= nowS) dirty.add(s);
        }
      }
      for (const s of inv.suffixes) dirty.add(s);
      for (const s of opts.recalculate ?? []) if (isSuffix(s)) dirty.add(s);
      for (const s of suffixDirs) if (!(s in hashes)) dirty.add(s); // a suffix dir the cache never saw
    }
    const vanished = cache !== undefined && Object.keys(cache.hashes).some((s) => !suffixDirs.has(s));

    const reclaimBefore = Timestamp.fromSeconds(Math.max(0, nowS - opts.reclaimAgeS));
    const rehashed = [...dirty].sort();
    for (const s of rehashed) {
      const st = await hashSuffix(join(partDir, s), reclaimBefore, opts.reclaimAgeS);
      if (st.hash) hashes[s] = st.hash;
      else delete hashes[s];
      if (st.reclaimAt !== undefined) reclaimAt[s] = st.reclaimAt;
      else delete reclaimAt[s];
    }

    // Files found done leave the cache too, so the next call does not look for them.
    if (!cache || rehashed.length > 0 || vanished || inv.changed || inv.done.length > 0) {
      await writeCache(partDir, { version: 1, hashes, reclaimAt, consumed: inv.keep }, opts.fsync);
    }
    // Only now is everything they said on disk in the cache.
    await Promise.all(inv.done.map((n) => unlink(join(partDir, n)).catch(() => undefined)));
    listedSince.add(partDir);
    return { hashes, rehashed };
  });
}

/**
 * Partition dirs whose cache this process brought up to date, from a listing of the dir or from a
 * call since: every renamed invalidation file is named in their hashes.json, so the next call need
 * not list the dir. One listing per partition per process life finds files a crash left between
 * renaming hashes.invalid and writing the cache.
 */
const listedSince = new Set<string>();

/** As after a restart: the next call on every partition lists it (tests). */
export function forgetListedPartitions(): void {
  listedSince.clear();
}

/**
 * Removes a partition dir once it holds no object files (after a handoff was reverted): empty
 * hash and suffix dirs, then the hash cache and invalidation files, then the dir. False when
 * something is still there (a write raced in; the next pass sees it, and rehashes it all since
 * the cache is gone).
 */
export async function removePartitionIfEmpty(devicePath: string, partition: number, policy = 0): Promise<boolean> {
  const partDir = partitionDirOf(devicePath, partition, policy);
  return withPartitionLock(partDir, async () => {
    listedSince.delete(partDir);
    let entries: string[];
    try {
      entries = await readdir(partDir);
    } catch (e) {
      if (errnoOf(e) === 'ENOENT') return true;
      throw e;
    }
    const bookkeeping = (n: string): boolean => n === HASHES_FILE || n === HASHES_INVALID || n.startsWith(CONSUMED_PREFIX) || n.startsWith(TMP_PREFIX);
    if (entries.some((n) => !isSuffix(n) && !bookkeeping(n))) return false; // something we do not know: leave it
    for (const s of entries.filter(isSuffix)) {
      const suffixDir = join(partDir, s);
      for (const h of await readdir(suffixDir).catch(() => [] as string[])) await rmdir(join(suffixDir, h)).catch(() => undefined);
      try {
        await rmdir(suffixDir);
      } catch (e) {
        if (errnoOf(e) !== 'ENOENT') return false;
      }
    }
    // The cache first: if we stop half-way, a missing cache means "rehash everything".
    const order = entries.filter(bookkeeping).sort((a, b) => (a === HASHES_FILE ? -1 : b === HASHES_FILE ? 1 : 0));
    for (const n of order) await unlink(join(partDir, n)).catch(() => undefined);
    try {
      await rmdir(partDir);
      return true;
    } catch {
      return false;
    }
  });
}
