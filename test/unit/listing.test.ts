import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { SeededRandom } from '../../common/random.js';
import { listObjects, mergeObjectRows, putContainer } from '../../storage-node/db/container-db.js';
import { DeviceDb } from '../../storage-node/db/store.js';
import { isSubdir, listRows, type ListingItem, type ListingQuery, type NameBounds, type OpenCursor } from '../../storage-node/db/listing.js';

/**
 * Listing semantics against a reference: a plain sorted array filtered the obvious way. The
 * cursor under test seeks like LevelDB's (binary search), the reference never seeks.
 */

const SEED = Number(process.env.SEED ?? 7);
t.comment(`seed ${SEED} (SEED=... to replay)`);

interface Row {
  deleted: boolean;
}
interface Entry {
  name: string;
  bytes: Buffer;
  row: Row;
}

function entries(names: string[], deleted: Set<string> = new Set()): Entry[] {
  return [...new Set(names)].map((name) => ({ name, bytes: Buffer.from(name), row: { deleted: deleted.has(name) } })).sort((a, b) => Buffer.compare(a.bytes, b.bytes));
}

/** A cursor over a sorted array, with counters so tests can see that seeks skip rows. */
function arrayCursor(all: Entry[], stats = { read: 0 }): OpenCursor<Row> {
  return (bounds: NameBounds, reverse: boolean) => {
    const inRange = all.filter(
      (e) =>
        (!bounds.gt || Buffer.compare(e.bytes, bounds.gt) > 0) &&
        (!bounds.gte || Buffer.compare(e.bytes, bounds.gte) >= 0) &&
        (!bounds.lt || Buffer.compare(e.bytes, bounds.lt) < 0),
    );
    const arr = reverse ? inRange.reverse() : inRange;
    let pos = 0;
    return {
      async next(n: number) {
        const out = arr.slice(pos, pos + n).map((e) => ({ name: e.name, row: e.row }));
        pos += out.length;
        stats.read += out.length;
        return out;
      },
      seek(target: Buffer) {
        pos = arr.findIndex((e) => (reverse ? Buffer.compare(e.bytes, target) <= 0 : Buffer.compare(e.bytes, target) >= 0));
        if (pos < 0) pos = arr.length;
      },
      async close() {},
    };
  };
}

/** The reference: filter, order, roll up, cut. No seeks, no bounds arithmetic. */
function reference(all: Entry[], q: ListingQuery): string[] {
  if (q.path !== undefined) return referencePath(all, q);
  const lo = q.reverse ? q.endMarker : q.marker;
  const hi = q.reverse ? q.marker : q.endMarker;
  const prefix = q.prefix ?? '';
  let cand = all.filter(
    (e) =>
      !e.row.deleted &&
      e.name.startsWith(prefix) &&
      (!lo || Buffer.compare(e.bytes, Buffer.from(lo)) > 0) &&
      (!hi || Buffer.compare(e.bytes, Buffer.from(hi)) < 0),
  );
  if (q.reverse) cand = cand.reverse();
  const out: string[] = [];
  let lastDir: string | undefined;
  for (const e of cand) {
    if (out.length >= q.limit) break;
    const i = q.delimiter ? e.name.indexOf(q.delimiter, prefix.length) : -1;
    if (i < 0) {
      out.push(e.name);
      continue;
    }
    const dir = e.name.slice(0, i + (q.delimiter as string).length);
    if (dir === lastDir) continue;
    lastDir = dir;
    if (dir !== (lo ?? '')) out.push(`${dir}(subdir)`);
  }
  return out;
}

/**
 * path=: the names right under `path/` (Swift's list_objects_iter). A name ending in its only
 * further "/" (a directory marker) is listed, except in a reverse listing when names lie under it:
 * Swift moves its end marker to that directory there, which leaves the marker out.
 */
function referencePath(all: Entry[], q: ListingQuery): string[] {
  const prefix = q.path ? `${(q.path as string).replace(/\/+$/, '')}/` : '';
  const lo = q.reverse ? q.endMarker : q.marker;
  const hi = q.reverse ? q.marker : q.endMarker;
  const live = all.filter(
    (e) =>
      !e.row.deleted &&
      e.name.startsWith(prefix) &&
      e.name !== prefix &&
      (!lo || Buffer.compare(e.bytes, Buffer.from(lo)) > 0) &&
      (!hi || Buffer.compare(e.bytes, Buffer.from(hi)) < 0),
  );
  const rest = (e: Entry): string => e.name.slice(prefix.length);
  const hasDeeper = (dir: string): boolean => live.some((e) => e.name.startsWith(dir) && e.name !== dir);
  let cand = live.filter((e) => {
    const i = rest(e).indexOf('/');
    if (i < 0) return true;
    if (i !== rest(e).length - 1) return false;
    return !(q.reverse && hasDeeper(e.name));
  });
  if (q.reverse) cand = cand.reverse();
  return cand.slice(0, q.limit).map((e) => e.name);
}

function show(items: Array<ListingItem<Row>>): string[] {
  return items.map((it) => (isSubdir(it) ? `${it.subdir}(subdir)` : it.name));
}

async function list(all: Entry[], q: Partial<ListingQuery>): Promise<string[]> {
  return show(await listRows(arrayCursor(all), { limit: 10_000, reverse: false, ...q }, (r) => r.deleted));
}

t.test('Swift examples', async (t) => {
  const names = entries(['a', 'a/', 'a/b', 'a/b/c', 'a/c', 'b', 'b/x', 'b/y/z', 'c', 'gone/x'], new Set(['gone/x']));
  const table: Array<[Partial<ListingQuery>, string[]]> = [
    [{}, ['a', 'a/', 'a/b', 'a/b/c', 'a/c', 'b', 'b/x', 'b/y/z', 'c']],
    [{ limit: 2 }, ['a', 'a/']],
    [{ limit: 0 }, []],
    [{ marker: 'a/b' }, ['a/b/c', 'a/c', 'b', 'b/x', 'b/y/z', 'c']],
    [{ endMarker: 'a/b' }, ['a', 'a/']],
    [{ marker: 'a', endMarker: 'b' }, ['a/', 'a/b', 'a/b/c', 'a/c']],
    [{ prefix: 'a/' }, ['a/', 'a/b', 'a/b/c', 'a/c']],
    [{ prefix: 'a/', marker: 'a/b' }, ['a/b/c', 'a/c']],
    [{ prefix: 'a/', endMarker: 'zzz' }, ['a/', 'a/b', 'a/b/c', 'a/c']],
    [{ delimiter: '/' }, ['a', 'a/(subdir)', 'b', 'b/(subdir)', 'c']],
    [{ delimiter: '/', prefix: 'a/' }, ['a/', 'a/b', 'a/b/(subdir)', 'a/c']],
    [{ delimiter: '/', prefix: 'b/' }, ['b/x', 'b/y/(subdir)']],
    [{ delimiter: '/', marker: 'a/' }, ['b', 'b/(subdir)', 'c'], /* the marker's own subdir is not repeated */],
    [{ delimiter: '/', marker: 'a/b' }, ['a/(subdir)', 'b', 'b/(subdir)', 'c']],
    [{ delimiter: '/', limit: 3 }, ['a', 'a/(subdir)', 'b']],
    [{ reverse: true }, ['c', 'b/y/z', 'b/x', 'b', 'a/c', 'a/b/c', 'a/b', 'a/', 'a']],
    [{ reverse: true, marker: 'b' }, ['a/c', 'a/b/c', 'a/b', 'a/', 'a']],
    [{ reverse: true, endMarker: 'b' }, ['c', 'b/y/z', 'b/x']],
    [{ reverse: true, delimiter: '/' }, ['c', 'b/(subdir)', 'b', 'a/(subdir)', 'a']],
    [{ reverse: true, delimiter: '/', endMarker: 'a/' }, ['c', 'b/(subdir)', 'b']],
    [{ reverse: true, delimiter: '/', prefix: 'a/' }, ['a/c', 'a/b/(subdir)', 'a/b', 'a/']],
    [{ delimiter: 'b/' }, ['a', 'a/', 'a/b', 'a/b/(subdir)', 'a/c', 'b', 'b/(subdir)', 'c']],
    // path: what is right under it, no subdirs; it overrides prefix and delimiter.
    [{ path: 'a' }, ['a/b', 'a/c']],
    [{ path: 'a/' }, ['a/b', 'a/c']],
    [{ path: 'a', prefix: 'zz', delimiter: '-' }, ['a/b', 'a/c']],
    [{ path: 'b' }, ['b/x']],
    [{ path: 'b/y' }, ['b/y/z']],
    [{ path: '' }, ['a', 'a/', 'b', 'c']],
    [{ path: 'nothing' }, []],
    [{ path: 'a', limit: 1 }, ['a/b']],
    [{ path: 'a', marker: 'a/b' }, ['a/c']],
    [{ path: 'a', reverse: true }, ['a/c', 'a/b']],
    // Reverse: Swift's end marker moves to a directory with names under it, past its marker.
    [{ path: '', reverse: true }, ['c', 'b', 'a']],
  ];
  for (const [q, want] of table) {
    const got = await list(names, q);
    t.same(got, want, JSON.stringify(q));
    t.same(reference(names, { limit: 10_000, reverse: false, ...q }), want, `reference agrees: ${JSON.stringify(q)}`);
  }
});

t.test('byte order, not UTF-16 order', async (t) => {
  // U+FF0F sorts before U+1F600 in UTF-8 (and in Swift) but after it in JS string comparison.
  const names = entries(['\uFF0F', '😀', 'z']);
  t.same(await list(names, {}), ['z', '\uFF0F', '😀']);
  t.same(await list(names, { marker: '\uFF0F' }), ['😀']);
  t.same(await list(names, { prefix: '\uFF0F' }), ['\uFF0F']);
});

t.test('a delimiter seek skips what is under a subdir', async (t) => {
  const names = entries(['a', ...Array.from({ length: 5000 }, (_, i) => `d/${String(i).padStart(5, '0')}`), 'z']);
  const stats = { read: 0 };
  const got = show(await listRows(arrayCursor(names, stats), { delimiter: '/', limit: 100, reverse: false }, (r) => r.deleted));
  t.same(got, ['a', 'd/(subdir)', 'z']);
  t.ok(stats.read < 100, `read ${stats.read} rows of 5002`);
});

const ALPHABET = ['a', 'b', '/', '-', 'é', '中', '\uFF0F', '😀', '.'];
function randomName(rnd: SeededRandom): string {
  let s = '';
  const n = 1 + rnd.int(6);
  for (let i = 0; i < n; i++) s += ALPHABET[rnd.int(ALPHABET.length)];
  return s;
}

t.test('seeded random listings match the reference', async (t) => {
  const rnd = new SeededRandom(SEED);
  let mismatches = 0;
  for (let round = 0; round < 60; round++) {
    const names = Array.from({ length: 20 + rnd.int(300) }, () => randomName(rnd));
    const deleted = new Set(names.filter(() => rnd.int(6) === 0));
    const all = entries(names, deleted);
    for (let i = 0; i < 40; i++) {
      const pickish = (): string | undefined => {
        const k = rnd.int(5);
        if (k === 0) return undefined;
        if (k === 1) return randomName(rnd);
        // Cut by code points: a lone surrogate is not a name anyone can send.
        const n = Array.from((all[rnd.int(all.length)] as Entry).name);
        return (k === 2 ? n : n.slice(0, 1 + rnd.int(n.length))).join('');
      };
      const q: ListingQuery = { limit: rnd.int(4) === 0 ? rnd.int(8) : 10_000, reverse: rnd.int(2) === 1 };
      const prefix = pickish();
      const marker = pickish();
      const endMarker = pickish();
      if (prefix !== undefined) q.prefix = prefix;
      if (marker) q.marker = marker;
      if (endMarker) q.endMarker = endMarker;
      if (rnd.int(3)) q.delimiter = ['/', '-', 'é', '//', '😀', 'a/'][rnd.int(6)] as string;
      if (rnd.int(6) === 0) q.path = rnd.int(4) === 0 ? '' : (pickish() ?? 'a');
      const got = await list(all, q);
      const want = reference(all, q);
      if (JSON.stringify(got) !== JSON.stringify(want) && mismatches++ < 5) t.same(got, want, `round ${round}.${i} ${JSON.stringify(q)}`);
    }
  }
  t.equal(mismatches, 0, '2400 random queries');
});

t.test('the LevelDB cursor (seek, bounds, tombstones) matches the reference', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'swiftlet-listing-'));
  const db = await DeviceDb.open(dir, { fsync: false });
  t.teardown(async () => {
    await db.close();
    await rm(dir, { recursive: true, force: true });
  });
  const rnd = new SeededRandom(SEED + 1);
  await putContainer(db, 'a', 'c', '0000000001.00000', {});
  // A neighbour container whose rows must never leak into c's listing.
  await putContainer(db, 'a', 'c0', '0000000001.00000', {});
  await mergeObjectRows(db, 'a', 'c0', { rows: [{ name: 'zz', timestamp: '0000000002.00000', size: 1, contentType: '', etag: '', deleted: false }], requireLive: true });
  const names = [...new Set(Array.from({ length: 400 }, () => randomName(rnd)))];
  const deleted = new Set(names.filter(() => rnd.int(5) === 0));
  await mergeObjectRows(db, 'a', 'c', {
    rows: names.map((name) => ({ name, timestamp: '0000000002.00000', size: 1, contentType: 'x/y', etag: 'e', deleted: deleted.has(name) })),
    requireLive: true,
  });
  const all = entries(names, deleted);
  let mismatches = 0;
  for (let i = 0; i < 400; i++) {
    const q: ListingQuery = { limit: rnd.int(4) === 0 ? rnd.int(8) : 10_000, reverse: rnd.int(2) === 1 };
    const pickish = (): string | undefined => {
      const k = rnd.int(4);
      if (k === 0) return undefined;
      if (k === 1) return randomName(rnd);
      return Array.from((all[rnd.int(all.length)] as Entry).name).slice(0, 1 + rnd.int(3)).join('');
    };
    const prefix = pickish();
    const marker = pickish();
    const endMarker = pickish();
    if (prefix !== undefined) q.prefix = prefix;
    if (marker) q.marker = marker;
    if (endMarker) q.endMarker = endMarker;
    if (rnd.int(3)) q.delimiter = ['/', '-', 'é', '//', '😀'][rnd.int(5)] as string;
    const got = (await listObjects(db, 'a', 'c', q)).map((it) => (isSubdir(it) ? `${it.subdir}(subdir)` : it.name));
    const want = reference(all, q);
    if (JSON.stringify(got) !== JSON.stringify(want) && mismatches++ < 5) t.same(got, want, `query ${i} ${JSON.stringify(q)}`);
  }
  t.equal(mismatches, 0, '400 random queries through LevelDB');
});
