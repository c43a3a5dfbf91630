import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { mergeContainerRows, putAccount } from '../../storage-node/db/account-db.js';
import { getContainer, mergeObjectRows, putContainer } from '../../storage-node/db/container-db.js';
import type { KeyType } from '../../storage-node/db/keys.js';
import { newRecord, type ContainerRow, type ObjectRow } from '../../storage-node/db/merge.js';
import { listDbs, mergePushed, reclaimDb, removeDb, rowsSince, syncDb } from '../../storage-node/db/replica-ops.js';
import { accountSchema, containerSchema } from '../../storage-node/db/replica-schemas.js';
import { parseMergeRequest, parseObjectRow, recordHash } from '../../storage-node/db/replication-wire.js';
import { DeviceDb } from '../../storage-node/db/store.js';

/** The replication verbs on one device database: change log, sync points, removal, reclaim. */

async function tempDb(t: { teardown(fn: () => Promise<void>): void }): Promise<DeviceDb> {
  const dir = await mkdtemp(join(tmpdir(), 'swiftlet-dbrepl-ops-'));
  const db = await DeviceDb.open(dir, { fsync: false });
  t.teardown(async () => {
    await db.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });
  return db;
}

const T = (n: number): string => `17000000${String(n).padStart(2, '0')}.00000`;
const put = (name: string, ts: number, size: number): ObjectRow => ({ name, timestamp: T(ts), size, contentType: 'text/plain', etag: `e${size}`, deleted: false });
const del = (name: string, ts: number): ObjectRow => ({ name, timestamp: T(ts), size: 0, contentType: 'application/deleted', etag: 'noetag', deleted: true });
const ref = { account: 'a', container: 'c' };
const merge = (db: DeviceDb, rows: ObjectRow[]) => mergeObjectRows(db, 'a', 'c', { rows, requireLive: false });

/** Every key of every type still held for a/c, as "type:names". */
async function keysOf(db: DeviceDb, types: KeyType[], names: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const type of types) for await (const e of db.scan(type, names)) out.push(`${type}:${e.names.join('/')}`);
  return out;
}

t.test('the change log holds one entry per current row, in change order', async (t) => {
  const db = await tempDb(t);
  await putContainer(db, 'a', 'c', T(1), {});
  await merge(db, [put('x', 2, 1)]);
  await merge(db, [put('x', 3, 2)]);
  await merge(db, [del('x', 4)]);
  await merge(db, [put('y', 5, 7)]);
  await merge(db, [put('y', 1, 9)]); // older: changes nothing, takes no number
  t.equal((await getContainer(db, 'a', 'c'))?.rowSeq, 4);
  const all = await rowsSince(containerSchema, db, ref, 0, 10);
  t.same(all, { rows: [del('x', 4), put('y', 5, 7)], last: 4, more: false }, 'x once (as it is now), then y');
  t.same(await rowsSince(containerSchema, db, ref, 3, 10), { rows: [put('y', 5, 7)], last: 4, more: false });
  t.same(await rowsSince(containerSchema, db, ref, 0, 1), { rows: [del('x', 4)], last: 3, more: true }, 'paged');
  t.same(await rowsSince(containerSchema, db, ref, 4, 10), { rows: [], last: 4, more: false }, 'nothing after the end');
  t.same(await keysOf(db, ['Q'], ['a', 'c']), ['Q:a/c/0000000000000003', 'Q:a/c/0000000000000004']);
});

t.test("an object POST's content type is a change: logged, sent and merged with its timestamps", async (t) => {
  const db = await tempDb(t);
  const other = await tempDb(t);
  for (const d of [db, other]) await putContainer(d, 'a', 'c', T(1), {});
  await merge(db, [put('x', 2, 1)]);
  await merge(other, [put('x', 2, 1)]);
  const posted: ObjectRow = { ...put('x', 2, 1), contentType: 'image/png', ctypeTimestamp: T(3), metaTimestamp: T(4) };
  await merge(db, [posted]);
  const { rows } = await rowsSince(containerSchema, db, ref, 1, 10);
  t.same(rows, [posted], 'the row as it is now, timestamps included');
  // What the wire carries (JSON) merges into a replica that only had the PUT.
  await mergePushed(containerSchema, other, ref, parseMergeRequest(JSON.parse(JSON.stringify({ rows, point: 2 })), parseObjectRow));
  t.same((await rowsSince(containerSchema, other, ref, 0, 10)).rows, [posted]);
  t.equal((await getContainer(other, 'a', 'c'))?.digest, (await getContainer(db, 'a', 'c'))?.digest, 'the replicas agree');
});

t.test('sync points: learned from pushes and from equal digests, never lowered', async (t) => {
  const db = await tempDb(t);
  const state = { record: newRecord(T(1)), digest: 'x', rowSeq: 0, replicaId: 'peer' };
  const first = await syncDb(containerSchema, db, ref, state);
  t.same([first.created, first.point, first.rowSeq], [true, 0, 0], 'created by the sync, nothing known yet');
  t.equal((await mergePushed(containerSchema, db, ref, { rows: [put('o', 2, 3)], replicaId: 'peer', point: 7 })).point, 7);
  t.equal((await mergePushed(containerSchema, db, ref, { rows: [], replicaId: 'peer', point: 5 })).point, 7, 'never lowered');
  const here = await syncDb(containerSchema, db, ref, { ...state, digest: 'different', rowSeq: 9 });
  t.same([here.created, here.point], [false, 7], 'different digest: the point stays');
  const same = await syncDb(containerSchema, db, ref, { ...state, digest: here.digest, rowSeq: 9 });
  t.equal(same.point, 9, 'equal digests: it has all 9');
  const other = await syncDb(containerSchema, db, ref, { ...state, replicaId: 'other', digest: 'different' });
  t.equal(other.point, 0, 'points are per replica');
});

t.test('remove: guarded by rowSeq and record, takes every key', async (t) => {
  const db = await tempDb(t);
  await putContainer(db, 'a', 'c', T(1), { 'X-Container-Meta-A': ['1', T(1)] });
  await putContainer(db, 'a', 'c2', T(1), {});
  const info = await merge(db, [put('x', 2, 1), del('y', 3)]);
  await mergePushed(containerSchema, db, ref, { rows: [], replicaId: 'peer', point: 1 });
  const hash = recordHash(info.info);
  t.equal(await removeDb(containerSchema, db, ref, { rowSeq: 1, recordHash: hash }), false, 'a change it did not push');
  t.equal(await removeDb(containerSchema, db, ref, { rowSeq: 2, recordHash: 'other' }), false, 'a record it did not push');
  const firstId = info.info.replicaId;
  t.equal(await removeDb(containerSchema, db, ref, { rowSeq: 2, recordHash: hash }), true);
  t.same(await keysOf(db, ['C', 'O', 'T', 'Q', 'Y', 'U'], ['a', 'c']), [], 'nothing of a/c left');
  t.same((await listDbs(containerSchema, db, undefined, 10)).map((s) => s.container), ['c2'], 'its neighbour stays');
  await putContainer(db, 'a', 'c', T(5), {});
  const again = await merge(db, [put('z', 6, 1)]);
  t.equal(again.info.rowSeq, 1, 'a re-created container starts its log again...');
  t.not(again.info.replicaId, firstId, '...under a new replica id, so old sync points never apply');
});

t.test('reclaim: account rows of containers deleted before the cut-off', async (t) => {
  const db = await tempDb(t);
  await putAccount(db, 'a', T(1), {});
  const row = (name: string, put: number, del: number, count: number): ContainerRow => ({
    name,
    putTimestamp: T(put),
    deleteTimestamp: T(del),
    objectCount: count,
    bytesUsed: count,
    statsTimestamp: T(Math.max(put, del)),
    deleted: del > put && count === 0,
  });
  await mergeContainerRows(db, 'a', { rows: [row('old', 1, 2, 0), row('new', 1, 8, 0), row('live', 1, 0, 3)], requireLive: false });
  const r = await reclaimDb(accountSchema, db, { account: 'a' }, T(5));
  t.same([r.rows, r.removed], [1, false]);
  t.same((await rowsSince(accountSchema, db, { account: 'a' }, 0, 10)).rows.map((x) => (x as ContainerRow).name), ['new', 'live'], 'log entry gone too');
  const fresh = await tempDb(t);
  await putAccount(fresh, 'a', T(1), {});
  await mergeContainerRows(fresh, 'a', { rows: [row('new', 1, 8, 0), row('live', 1, 0, 3)], requireLive: false });
  t.equal(r.digest, (await listDbs(accountSchema, fresh, undefined, 1))[0]?.digest, 'digest as if the row never was');
});

t.test("sync merges a record that differs only in its storage policy; a hash tells them apart", async (t) => {
  const db = await tempDb(t);
  const cref = { account: 'a', container: 'p' };
  const { info } = await putContainer(db, 'a', 'p', T(5), {}, undefined, { requested: 1, fallback: 0 });
  t.same(info.policy, { index: 1, after: '0000000000.00000', since: T(5) });
  // A peer whose copy is the same but for the policy, given earlier in the same life: it wins.
  const theirs = { ...newRecord(T(5)), policy: { index: 0, after: '0000000000.00000', since: T(3) } };
  t.not(recordHash(theirs), recordHash(info), 'the policy is part of the record hash');
  t.equal(recordHash({ ...info }), recordHash(info));
  await syncDb(containerSchema, db, cref, { record: theirs, digest: info.digest, rowSeq: 0, replicaId: 'peer' });
  t.equal((await getContainer(db, 'a', 'p'))?.policy?.index, 0, 'merged: the policy given first');
});

/** Counts the entries the database hands out through cursors and scans (rows read from LevelDB). */
function countReads(db: DeviceDb): { entries: number } {
  const n = { entries: 0 };
  const cursor = db.cursor.bind(db);
  db.cursor = ((prefix, bounds, reverse, decode) => {
    const c = cursor(prefix, bounds, reverse, decode);
    return { ...c, next: async (k: number) => { const page = await c.next(k); n.entries += page.length; return page; } };
  }) as DeviceDb['cursor'];
  const scan = db.scan.bind(db);
  db.scan = async function* (type, names, pageSize) {
    for await (const e of scan(type, names, pageSize)) {
      n.entries++;
      yield e;
    }
  } as DeviceDb['scan'];
  return n;
}

const S = (n: number): string => `17000${String(n).padStart(5, '0')}.00000`;
const sput = (name: string, ts: number): ObjectRow => ({ name, timestamp: S(ts), size: 1, contentType: 'text/plain', etag: 'e', deleted: false });
const sdel = (name: string, ts: number): ObjectRow => ({ name, timestamp: S(ts), size: 0, contentType: 'application/deleted', etag: 'noetag', deleted: true });

t.test('reclaim reads only the tombstones older than its cut-off, from the reclaim index', async (t) => {
  const db = await tempDb(t);
  await putContainer(db, 'a', 'c', S(1), {});
  // 500 tombstones, one old (ts 10), the rest recent (1000..); a tombstone overwritten by a newer
  // PUT and one by a newer DELETE leave no stale entries behind.
  await merge(db, [sdel('old', 10), sput('back', 11), sdel('twice', 12)]);
  await merge(db, [sdel('back', 5), sput('back', 20), sdel('twice', 2000)]);
  await merge(db, Array.from({ length: 497 }, (_, i) => sdel(`r${i}`, 1000 + i)));
  const reads = countReads(db);
  const r = await reclaimDb(containerSchema, db, ref, S(500));
  t.same([r.rows, r.removed], [1, false], 'the one old tombstone');
  t.ok(reads.entries <= 3, `a few index entries read, not every tombstone (${reads.entries})`);
  t.same(await keysOf(db, ['X'], ['a', 'c']).then((k) => k.length), 498, 'one index entry per tombstone left');
  t.equal((await getContainer(db, 'a', 'c'))?.reclaimIndex?.oldest, S(1000), 'the record knows the oldest left');

  const fresh = await tempDb(t);
  await putContainer(fresh, 'a', 'c', S(1), {});
  await mergeObjectRows(fresh, 'a', 'c', { rows: [sput('back', 20), sdel('twice', 2000), ...Array.from({ length: 497 }, (_, i) => sdel(`r${i}`, 1000 + i))], requireLive: false });
  t.equal(r.digest, (await getContainer(fresh, 'a', 'c'))?.digest, 'digest as if the tombstone never was');

  reads.entries = 0;
  t.same((await reclaimDb(containerSchema, db, ref, S(999))).rows, 0);
  t.equal(reads.entries, 0, 'nothing older than the cut-off: no read at all');
  const listed = (await listDbs(containerSchema, db, undefined, 1))[0];
  t.equal(listed?.reclaimFrom, S(1000), 'listed with the oldest tombstone, so the replicator need not ask before then');
});

t.test('a database from before the reclaim index: the first reclaim builds it, the next reads only the index', async (t) => {
  const db = await tempDb(t);
  await putContainer(db, 'a', 'c', S(1), {});
  await merge(db, [sdel('old', 10), ...Array.from({ length: 300 }, (_, i) => sdel(`r${i}`, 1000 + i)), sput('live', 3)]);
  // What such a database looks like: no index entries, no reclaimIndex on the record.
  const old = (await getContainer(db, 'a', 'c'))!;
  delete old.reclaimIndex;
  const stale = await keysOf(db, ['X'], ['a', 'c']);
  await db.write([
    ...stale.map((k) => ({ type: 'del' as const, key: Buffer.from(`X\0${k.slice(2).replace(/\//g, '\0')}`) })),
    { type: 'put', key: Buffer.from('C\0a\0c'), value: JSON.stringify(old) },
  ]);
  t.same(await keysOf(db, ['X'], ['a', 'c']), [], 'index gone');
  t.equal((await listDbs(containerSchema, db, undefined, 1))[0]?.reclaimFrom, '0000000000.00000', 'listed as due: reclaim must build its index');

  const reads = countReads(db);
  t.same((await reclaimDb(containerSchema, db, ref, S(500))).rows, 1);
  t.ok(reads.entries >= 301, 'the build scans the tombstones once');
  t.equal((await keysOf(db, ['X'], ['a', 'c'])).length, 300);
  reads.entries = 0;
  await merge(db, [sdel('later', 600)]);
  t.same((await reclaimDb(containerSchema, db, ref, S(700))).rows, 1, 'a tombstone written after the build is indexed too');
  t.ok(reads.entries <= 3, `then only the index below the cut-off (${reads.entries})`);
});

t.test('account: deleted container rows are indexed by their delete, and leave the index when re-created', async (t) => {
  const db = await tempDb(t);
  await putAccount(db, 'a', S(1), {});
  const row = (name: string, put: number, del: number): ContainerRow => ({
    name, putTimestamp: S(put), deleteTimestamp: S(del), objectCount: 0, bytesUsed: 0, statsTimestamp: S(Math.max(put, del)), deleted: del > put,
  });
  const aref = { account: 'a' };
  await reclaimDb(accountSchema, db, aref, S(2)); // builds the (empty) index
  await mergeContainerRows(db, 'a', { rows: [row('gone', 1, 10), row('back', 1, 11), row('live', 1, 0)], requireLive: false });
  await mergeContainerRows(db, 'a', { rows: [row('back', 12, 11)], requireLive: false });
  t.same(await keysOf(db, ['W'], ['a']), [`W:a/${S(10)}/gone`], 'only the container still deleted');
  t.equal((await listDbs(accountSchema, db, undefined, 1))[0]?.reclaimFrom, S(10));
  const reads = countReads(db);
  t.same((await reclaimDb(accountSchema, db, aref, S(100))).rows, 1);
  t.ok(reads.entries <= 2, `read the index, not the account's rows (${reads.entries})`);
  t.equal((await listDbs(accountSchema, db, undefined, 1))[0]?.reclaimFrom, null, 'nothing left to reclaim');
});

t.test('rows: at the end of the log, the page covers the last sequence even if its row was reclaimed', async (t) => {
  const db = await tempDb(t);
  await putContainer(db, 'a', 'c', S(1), {});
  await merge(db, [sput('x', 2)]);
  await merge(db, [sdel('y', 3)]);
  await reclaimDb(containerSchema, db, ref, S(100));
  t.equal((await getContainer(db, 'a', 'c'))?.rowSeq, 2);
  t.same(await rowsSince(containerSchema, db, ref, 1, 10), { rows: [], last: 2, more: false }, 'a peer at 1 is told it has everything up to 2');
});
