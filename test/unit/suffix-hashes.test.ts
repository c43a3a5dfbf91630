import t from 'tap';
import fsp, { appendFile, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SeededRandom } from '../../common/random.js';
import { Timestamp } from '../../common/timestamp.js';
import { DataFileWriter, finishWrite, writeTombstone } from '../../storage-node/object/diskfile.js';
import { objectLocation } from '../../storage-node/object/layout.js';
import {
  currentFiles,
  forgetListedPartitions,
  getSuffixHashes,
  HASHES_FILE,
  partitionDirOf,
  removePartitionIfEmpty,
  suffixHashOf,
  type SuffixHashOptions,
} from '../../storage-node/object/suffix-hashes.js';
import { commitWritten } from '../helpers/data-file.js';

const PART = 3;
const T0 = 1_700_000_000;
const RECLAIM = 100;
const h = (prefix: string, suffix: string): string => `${prefix.repeat(29).slice(0, 29)}${suffix}`;
const at = (s: number): Timestamp => Timestamp.fromSeconds(T0 + s);
const opts = (nowS: number, extra: Partial<SuffixHashOptions> = {}): SuffixHashOptions => ({ reclaimAgeS: RECLAIM, now: (T0 + nowS) * 1000, fsync: false, ...extra });

async function device(t: { teardown: (f: () => unknown) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'swiftlet-suffix-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A tombstone written as the object server does: durable file, cleanup, invalidation. */
async function tomb(dev: string, hash: string, ts: Timestamp): Promise<void> {
  const loc = objectLocation(dev, PART, hash);
  await writeTombstone(loc, ts, { 'X-Timestamp': ts.internal, name: '/a/c/o' }, false);
  await finishWrite(loc);
}

async function data(dev: string, hash: string, ts: Timestamp, body = 'hello'): Promise<void> {
  const loc = objectLocation(dev, PART, hash);
  const w = new DataFileWriter(dev, false);
  await w.write([Buffer.from(body)]);
  await commitWritten(w, loc, ts, { name: '/a/c/o', length: body.length, contentType: 'text/plain', dirMissing: true });
  await finishWrite(loc);
}

const inode = async (dev: string): Promise<number> => (await stat(join(partitionDirOf(dev, PART), HASHES_FILE))).ino;
const invalidFiles = async (dev: string): Promise<string[]> => (await readdir(partitionDirOf(dev, PART))).filter((n) => n.startsWith('hashes.invalid')).sort();

t.test('the first call hashes every suffix; an unchanged partition is served from the cache', async (t) => {
  const dev = await device(t);
  await data(dev, h('1', 'abc'), at(1));
  await tomb(dev, h('2', 'abc'), at(2));
  await data(dev, h('3', 'def'), at(3));

  const first = await getSuffixHashes(dev, PART, opts(10));
  t.same(first.rehashed, ['abc', 'def']);
  t.same(Object.keys(first.hashes).sort(), ['abc', 'def']);
  // The second call removes the invalidation file the first kept, and its name from the cache.
  const second = await getSuffixHashes(dev, PART, opts(11));
  t.same([second.rehashed, second.hashes], [[], first.hashes]);
  const ino = await inode(dev);

  for (let i = 0; i < 3; i++) {
    const again = await getSuffixHashes(dev, PART, opts(12 + i));
    t.same(again.rehashed, [], `call ${i + 3}: nothing rehashed`);
    t.same(again.hashes, first.hashes);
  }
  t.equal(await inode(dev), ino, 'hashes.json not rewritten after that');
  t.same(await invalidFiles(dev), [], 'consumed invalidation files are gone once the cache holds them');
});

t.test('a write invalidates only its suffix, whose hash changes', async (t) => {
  const dev = await device(t);
  await data(dev, h('1', 'abc'), at(1));
  await data(dev, h('3', 'def'), at(3));
  const before = await getSuffixHashes(dev, PART, opts(10));

  await tomb(dev, h('1', 'abc'), at(5)); // deletes the object in abc
  const after = await getSuffixHashes(dev, PART, opts(11));
  t.same(after.rehashed, ['abc']);
  t.not(after.hashes.abc, before.hashes.abc);
  t.equal(after.hashes.def, before.hashes.def);
  t.same(await readdir(objectLocation(dev, PART, h('1', 'abc')).hashDir), [`${at(5).internal}.ts`], 'superseded .data cleaned up');

  const forced = await getSuffixHashes(dev, PART, opts(12, { recalculate: ['def', 'zzz'] }));
  t.same(forced.rehashed, ['def'], 'asked-for suffixes are rehashed; nonsense ignored');
  t.same(forced.hashes, after.hashes);
});

t.test('a tombstone past reclaim_age is removed by the next call, with no write to prompt it', async (t) => {
  const dev = await device(t);
  await data(dev, h('1', 'abc'), at(1));
  await tomb(dev, h('2', 'abc'), at(2));
  await tomb(dev, h('3', 'def'), at(3)); // alone in its suffix
  const early = await getSuffixHashes(dev, PART, opts(10));
  t.same(Object.keys(early.hashes).sort(), ['abc', 'def']);

  const quiet = await getSuffixHashes(dev, PART, opts(RECLAIM));
  t.same(quiet.rehashed, [], 'not due yet: served from the cache');

  const late = await getSuffixHashes(dev, PART, opts(RECLAIM + 5));
  t.same(late.rehashed, ['abc', 'def']);
  t.ok(late.hashes.abc && late.hashes.abc !== early.hashes.abc, 'hash changed: the tombstone is gone');
  t.notOk('def' in late.hashes, 'a suffix left empty has no hash');
  t.same(await readdir(join(partitionDirOf(dev, PART), 'abc')), [h('1', 'abc')], 'tombstone dir removed');
  await t.rejects(stat(join(partitionDirOf(dev, PART), 'def')), { code: 'ENOENT' }, 'empty suffix dir removed');
  t.same((await getSuffixHashes(dev, PART, opts(RECLAIM + 6))).rehashed, [], 'and quiet again');
});

t.test('equal files give equal hashes on two devices; hash dir names and timestamps count', async (t) => {
  const [a, b, c] = [await device(t), await device(t), await device(t)];
  for (const dev of [a, b]) {
    await data(dev, h('1', 'abc'), at(1));
    await tomb(dev, h('2', 'abc'), at(2));
  }
  await data(c, h('4', 'abc'), at(1)); // another object, same instant
  await tomb(c, h('2', 'abc'), at(2));
  const [ha, hb, hc] = [await getSuffixHashes(a, PART, opts(5)), await getSuffixHashes(b, PART, opts(5)), await getSuffixHashes(c, PART, opts(5))];
  t.equal(ha.hashes.abc, hb.hashes.abc);
  t.not(ha.hashes.abc, hc.hashes.abc);

  // The replicator hashes a listing with the same function.
  const dirs = new Map<string, string[]>();
  for (const hash of [h('1', 'abc'), h('2', 'abc')]) dirs.set(hash, currentFiles(await readdir(objectLocation(a, PART, hash).hashDir)));
  t.equal(suffixHashOf(dirs), ha.hashes.abc);
  t.equal(suffixHashOf(new Map([['x', []]])), undefined);
});

t.test('a line appended to an invalidation file after it was read is still seen', async (t) => {
  const dev = await device(t);
  await data(dev, h('1', 'abc'), at(1));
  await getSuffixHashes(dev, PART, opts(5));
  await tomb(dev, h('1', 'abc'), at(2));
  const before = await getSuffixHashes(dev, PART, opts(6)); // renames hashes.invalid aside and keeps it one more call
  const [consumed] = await invalidFiles(dev);
  t.ok(consumed?.startsWith('hashes.invalid.'), 'renamed file kept');

  // A writer that opened hashes.invalid just before the rename appends to the renamed file.
  await writeTombstone(objectLocation(dev, PART, h('5', 'abc')), at(3), { 'X-Timestamp': at(3).internal, name: '/a/c/p' }, false);
  await appendFile(join(partitionDirOf(dev, PART), consumed as string), 'abc\n');
  const r = await getSuffixHashes(dev, PART, opts(7));
  t.same(r.rehashed, ['abc']);
  t.not(r.hashes.abc, before.hashes.abc);
  await getSuffixHashes(dev, PART, opts(8));
  t.same(await invalidFiles(dev), [], 'removed once it stopped growing');
});

t.test('concurrent writes and calls: the cache always catches up with a full rehash', async (t) => {
  const dev = await device(t);
  const rng = new SeededRandom(42);
  const rand = (): number => rng.next();
  const hashes = Array.from({ length: 12 }, (_, i) => h(String(i % 10), ['abc', 'abd', 'f00', '123'][i % 4] as string));
  let tick = 1;
  // Rounds of writes racing one call each, so the cache exists and must follow the invalidations.
  for (let round = 0; round < 8; round++) {
    const batch: Array<Promise<unknown>> = [];
    for (let i = 0; i < 8; i++) {
      const hash = hashes[Math.floor(rand() * hashes.length)] as string;
      const ts = at(tick++);
      batch.push(rand() < 0.5 ? data(dev, hash, ts) : tomb(dev, hash, ts));
      if (i === Math.floor(rand() * 8)) batch.push(getSuffixHashes(dev, PART, opts(1)));
    }
    batch.push(getSuffixHashes(dev, PART, opts(1)));
    await Promise.all(batch);
  }
  const cached = await getSuffixHashes(dev, PART, opts(1));
  await rm(join(partitionDirOf(dev, PART), HASHES_FILE));
  const fresh = await getSuffixHashes(dev, PART, opts(1));
  t.same(cached.hashes, fresh.hashes, `seed 42: cache equals a full rehash`);
});

t.test('missing partition, torn cache, and removing an emptied partition', async (t) => {
  const dev = await device(t);
  t.same(await getSuffixHashes(dev, PART, opts(1)), { hashes: {}, rehashed: [] });
  await t.rejects(stat(partitionDirOf(dev, PART)), { code: 'ENOENT' }, 'not created');

  await data(dev, h('1', 'abc'), at(1));
  const good = await getSuffixHashes(dev, PART, opts(2));
  await writeFile(join(partitionDirOf(dev, PART), HASHES_FILE), '{"version":1,"hash');
  const rebuilt = await getSuffixHashes(dev, PART, opts(3));
  t.same(rebuilt.rehashed, ['abc']);
  t.same(rebuilt.hashes, good.hashes);
  t.match(JSON.parse(await readFile(join(partitionDirOf(dev, PART), HASHES_FILE), 'utf8')), { version: 1 });

  t.equal(await removePartitionIfEmpty(dev, PART), false, 'an object is still there');
  await rm(objectLocation(dev, PART, h('1', 'abc')).hashDir, { recursive: true });
  t.equal(await removePartitionIfEmpty(dev, PART), true);
  await t.rejects(stat(partitionDirOf(dev, PART)), { code: 'ENOENT' });
});

/** Counts readdir calls (all of node:fs/promises', as the hashing code imports it) while `fn` runs. */
async function countReaddir<T>(fn: () => Promise<T>): Promise<{ result: T; dirs: string[] }> {
  const dirs: string[] = [];
  const orig = fsp.readdir;
  fsp.readdir = ((path: string, ...rest: unknown[]) => {
    dirs.push(String(path));
    return (orig as (...a: unknown[]) => unknown)(path, ...rest);
  }) as typeof fsp.readdir;
  syncBuiltinESMExports();
  try {
    return { result: await fn(), dirs };
  } finally {
    fsp.readdir = orig;
    syncBuiltinESMExports();
  }
}

t.test('an unchanged partition lists no directory; many writes to one suffix rehash it once', async (t) => {
  const dev = await device(t);
  for (let i = 0; i < 20; i++) await data(dev, `${i.toString(16).padStart(29, '0')}${(0xa00 + i).toString(16)}`, at(1));
  const first = await countReaddir(() => getSuffixHashes(dev, PART, opts(10)));
  t.equal(first.result.rehashed.length, 20);
  t.ok(first.dirs.includes(partitionDirOf(dev, PART)), 'the first call in a process lists the partition (crash leftovers)');

  for (let i = 0; i < 3; i++) {
    const idle = await countReaddir(() => getSuffixHashes(dev, PART, opts(11 + i)));
    t.same(idle.result.rehashed, []);
    t.same(idle.result.hashes, first.result.hashes);
    t.same(idle.dirs, [], `idle call ${i + 1}: no readdir at all`);
  }

  // Ten writes to objects of one suffix between two calls.
  for (let i = 0; i < 10; i++) await data(dev, h(String(i), 'a05'), at(20 + i));
  const busy = await countReaddir(() => getSuffixHashes(dev, PART, opts(40)));
  t.same(busy.result.rehashed, ['a05'], 'one suffix rehashed');
  const suffixDir = join(partitionDirOf(dev, PART), 'a05');
  t.equal(busy.dirs.filter((d) => d === suffixDir).length, 1, 'and listed once, not once per write');
  t.notOk(busy.dirs.includes(partitionDirOf(dev, PART)), 'the partition itself is not listed');
  t.equal(busy.dirs.filter((d) => !d.startsWith(suffixDir)).length, 0, 'nothing outside that suffix is read');

  // The renamed invalidation file is re-read once more, then dropped from the cache.
  await getSuffixHashes(dev, PART, opts(41));
  await getSuffixHashes(dev, PART, opts(42));
  const cache = JSON.parse(await readFile(join(partitionDirOf(dev, PART), HASHES_FILE), 'utf8')) as { consumed: Record<string, number> };
  t.same(cache.consumed, {}, 'no removed invalidation file left named in the cache');
  t.same(await invalidFiles(dev), []);
});

t.test('a renamed invalidation file a crash left unnamed in the cache is found by the next process', async (t) => {
  const dev = await device(t);
  await data(dev, h('1', 'abc'), at(1));
  await data(dev, h('2', 'def'), at(1));
  const before = await getSuffixHashes(dev, PART, opts(5));
  // A crash between renaming hashes.invalid and writing the cache: the file is there, unnamed.
  await tomb(dev, h('1', 'abc'), at(2));
  await rename(join(partitionDirOf(dev, PART), 'hashes.invalid'), join(partitionDirOf(dev, PART), 'hashes.invalid.999-crash-0'));
  // This process has seen the partition, so it would not list it; a restarted one has not.
  forgetListedPartitions();
  const r = await getSuffixHashes(dev, PART, opts(6));
  t.same(r.rehashed, ['abc']);
  t.not(r.hashes.abc, before.hashes.abc);
});
