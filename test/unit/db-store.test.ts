import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { isSwiftletError } from '../../common/errors.js';
import { getAccount, mergeContainerRows, putAccount, deleteAccount, containerRows } from '../../storage-node/db/account-db.js';
import {
  ackAccountUpdate,
  deleteContainer,
  getContainer,
  isContainerDeleted,
  listPendingAccountUpdates,
  mergeObjectRows,
  objectRows,
  postContainer,
  putContainer,
} from '../../storage-node/db/container-db.js';
import { chexor, EMPTY_DIGEST, objectRowDigestKey, type ContainerRow, type ObjectRow } from '../../storage-node/db/merge.js';
import { DeviceDb } from '../../storage-node/db/store.js';

/** The device database's operations, without HTTP. */

async function tempDb(t: { teardown(fn: () => Promise<void>): void }): Promise<{ dir: string; db: DeviceDb }> {
  const dir = await mkdtemp(join(tmpdir(), 'swiftlet-db-'));
  const db = await DeviceDb.open(dir, { fsync: false });
  t.teardown(async () => {
    await db.close().catch(() => {});
    await rm(dir, { recursive: true, force: true });
  });
  return { dir, db };
}

const T = (n: number): string => `17000000${String(n).padStart(2, '0')}.00000`;
const put = (name: string, ts: number, size: number): ObjectRow => ({ name, timestamp: T(ts), size, contentType: 'text/plain', etag: `e${size}`, deleted: false });
const del = (name: string, ts: number): ObjectRow => ({ name, timestamp: T(ts), size: 0, contentType: 'application/deleted', etag: 'noetag', deleted: true });

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return isSwiftletError(e) ? e.code : String(e);
  }
}

t.test('container lifecycle', async (t) => {
  const { db } = await tempDb(t);
  t.equal((await putContainer(db, 'a', 'c', T(1), { 'X-Container-Meta-A': ['1', T(1)] })).result, 'created');
  t.equal((await putContainer(db, 'a', 'c', T(2), { 'X-Container-Meta-A': ['old', T(0)] })).result, 'accepted');
  let c = await getContainer(db, 'a', 'c');
  t.same(c?.metadata['X-Container-Meta-A'], ['1', T(1)], 'older metadata loses');
  t.equal(c?.putTimestamp, T(2));
  t.equal(c?.createdAt, T(1));
  await postContainer(db, 'a', 'c', T(3), { 'X-Container-Meta-A': ['', T(3)] });
  c = await getContainer(db, 'a', 'c');
  t.same(c?.metadata['X-Container-Meta-A'], ['', T(3)], 'removal kept with its timestamp');
  t.equal(c?.putTimestamp, T(3), "a POST moves the put timestamp (Swift's update_put_timestamp)");
  await postContainer(db, 'a', 'c', T(2), {});
  t.equal((await getContainer(db, 'a', 'c'))?.putTimestamp, T(3), 'an older POST does not move it back');
  t.equal(await codeOf(postContainer(db, 'a', 'nope', T(4), {})), 'NOT_FOUND');
  t.equal(await codeOf(deleteContainer(db, 'a', 'nope', T(4))), 'NOT_FOUND');
  t.equal(await codeOf(deleteContainer(db, 'a', 'c', T(1))), 'CONFLICT', 'delete older than the put');
  await mergeObjectRows(db, 'a', 'c', { rows: [put('o', 4, 1)], requireLive: true });
  t.equal(await codeOf(deleteContainer(db, 'a', 'c', T(5))), 'CONFLICT', 'not empty');
  await mergeObjectRows(db, 'a', 'c', { rows: [del('o', 5)], requireLive: true });
  t.equal((await deleteContainer(db, 'a', 'c', T(6))).result, 'deleted');
  c = await getContainer(db, 'a', 'c');
  t.ok(c && isContainerDeleted(c));
  t.same(c?.metadata['X-Container-Meta-A'], ['', T(6)], 'delete clears metadata');
  t.equal((await deleteContainer(db, 'a', 'c', T(7))).result, 'not-found', 'already deleted');
  t.equal(await codeOf(mergeObjectRows(db, 'a', 'c', { rows: [put('p', 8, 1)], requireLive: true })), 'NOT_FOUND', 'no rows into a deleted container');
  t.equal(await codeOf(putContainer(db, 'a', 'c', T(6), {})), 'CONFLICT', 'a put older than the delete');
  t.equal((await putContainer(db, 'a', 'c', T(9), {})).result, 'created', 're-created');
  c = await getContainer(db, 'a', 'c');
  t.equal(c?.statusChangedAt, T(9));
  t.equal(c?.objectCount, 0);
});

t.test('object rows: stats, overwrite, older ignored, tombstones apart', async (t) => {
  const { db } = await tempDb(t);
  await putContainer(db, 'a', 'c', T(1), {});
  t.equal(await codeOf(mergeObjectRows(db, 'a', 'nope', { rows: [put('o', 2, 1)], requireLive: true })), 'NOT_FOUND');
  await mergeObjectRows(db, 'a', 'c', { rows: [put('o1', 2, 10), put('o2', 2, 20)], requireLive: true });
  let c = await getContainer(db, 'a', 'c');
  t.same([c?.objectCount, c?.bytesUsed], [2, 30]);
  let r = await mergeObjectRows(db, 'a', 'c', { rows: [put('o1', 3, 15)], requireLive: true });
  t.same([r.changed, r.info.objectCount, r.info.bytesUsed], [1, 2, 35], 'overwrite: count unchanged, bytes adjusted');
  r = await mergeObjectRows(db, 'a', 'c', { rows: [put('o1', 2, 999)], requireLive: true });
  t.same([r.changed, r.info.bytesUsed], [0, 35], 'older row ignored');
  r = await mergeObjectRows(db, 'a', 'c', { rows: [put('o1', 3, 15)], requireLive: true });
  t.equal(r.changed, 0, 'same row twice changes nothing');
  r = await mergeObjectRows(db, 'a', 'c', { rows: [del('o2', 4)], requireLive: true });
  t.same([r.info.objectCount, r.info.bytesUsed], [1, 15]);
  r = await mergeObjectRows(db, 'a', 'c', { rows: [put('o2', 3, 20)], requireLive: true });
  t.same([r.changed, r.info.objectCount], [0, 1], 'a put older than the tombstone stays dead');
  const live: string[] = [];
  for await (const row of objectRows(db, 'a', 'c', 'live')) live.push(row.name);
  const dead: ObjectRow[] = [];
  for await (const row of objectRows(db, 'a', 'c', 'deleted')) dead.push(row);
  t.same(live, ['o1']);
  t.same(dead.map((d) => [d.name, d.timestamp, d.deleted]), [['o2', T(4), true]]);
  const digest = [put('o1', 3, 15), del('o2', 4)].map(objectRowDigestKey).reduce(chexor, EMPTY_DIGEST);
  t.equal((await getContainer(db, 'a', 'c'))?.digest, digest, 'digest follows the rows');
  r = await mergeObjectRows(db, 'a', 'c', { rows: [put('o2', 5, 7)], requireLive: true });
  t.same([r.info.objectCount, r.info.bytesUsed], [2, 22], 'a newer put revives the name');
  dead.length = 0;
  for await (const row of objectRows(db, 'a', 'c', 'deleted')) dead.push(row);
  t.same(dead, [], 'the tombstone key is gone');
});

t.test('concurrent row merges lose no counts (group commit)', async (t) => {
  const { db } = await tempDb(t);
  await putContainer(db, 'a', 'c', T(1), {});
  await Promise.all([
    ...Array.from({ length: 100 }, (_, i) => mergeObjectRows(db, 'a', 'c', { rows: [put(`o${i}`, 2, i)], requireLive: true })),
    // The same names again, older: must not double count.
    ...Array.from({ length: 100 }, (_, i) => mergeObjectRows(db, 'a', 'c', { rows: [put(`o${i}`, 1, 1000)], requireLive: true })),
    postContainer(db, 'a', 'c', T(3), { 'X-Container-Meta-X': ['y', T(3)] }),
  ]);
  const c = await getContainer(db, 'a', 'c');
  t.equal(c?.objectCount, 100);
  t.equal(c?.bytesUsed, (99 * 100) / 2);
  t.same(c?.metadata['X-Container-Meta-X'], ['y', T(3)]);
});

t.test('pending account updates: written with changes, acked by seq', async (t) => {
  const { db } = await tempDb(t);
  const target = { host: '127.0.0.1:1', device: 'sda', partition: 3 };
  await putContainer(db, 'a', 'c', T(1), {}, target);
  let pending = await listPendingAccountUpdates(db);
  t.same(pending, [{ account: 'a', container: 'c', seq: 1, target }]);
  await mergeObjectRows(db, 'a', 'c', { rows: [put('o', 2, 5)], requireLive: true });
  pending = await listPendingAccountUpdates(db);
  t.same(pending.map((p) => [p.seq, p.target]), [[2, target]], 'target kept from before');
  await ackAccountUpdate(db, 'a', 'c', 1);
  t.equal((await listPendingAccountUpdates(db)).length, 1, 'an ack of older stats keeps the marker');
  await ackAccountUpdate(db, 'a', 'c', 2);
  t.same(await listPendingAccountUpdates(db), []);
  await postContainer(db, 'a', 'c', T(1), { 'X-Container-Meta-Z': ['1', T(1)] });
  t.same(await listPendingAccountUpdates(db), [], 'metadata alone is not reported to the account');
  const posted = await postContainer(db, 'a', 'c', T(3), { 'X-Container-Meta-Z': ['2', T(3)] }, target);
  t.equal(posted.reported, true);
  t.same(
    (await listPendingAccountUpdates(db)).map((p) => [p.seq, p.target]),
    [[3, target]],
    'a newer put timestamp is, as the container updater reports it in Swift',
  );
});

t.test('account: container rows drive the stats', async (t) => {
  const { db } = await tempDb(t);
  const row = (name: string, o: Partial<ContainerRow>): ContainerRow => ({
    name,
    putTimestamp: T(1),
    deleteTimestamp: '0000000000.00000',
    objectCount: 0,
    bytesUsed: 0,
    statsTimestamp: T(1),
    deleted: false,
    ...o,
  });
  t.equal(await codeOf(mergeContainerRows(db, 'a', { rows: [row('c1', {})], requireLive: true })), 'NOT_FOUND', 'no account');
  t.equal((await putAccount(db, 'a', T(1), {})).result, 'created');
  t.equal((await putAccount(db, 'a', T(2), {})).result, 'accepted');
  await mergeContainerRows(db, 'a', { rows: [row('c1', { objectCount: 2, bytesUsed: 20, statsTimestamp: T(2) })], requireLive: true });
  await mergeContainerRows(db, 'a', { rows: [row('c2', { objectCount: 1, bytesUsed: 5 })], requireLive: true });
  let a = await getAccount(db, 'a');
  t.same([a?.containerCount, a?.objectCount, a?.bytesUsed], [2, 3, 25]);
  await mergeContainerRows(db, 'a', { rows: [row('c1', { objectCount: 9, bytesUsed: 90, statsTimestamp: T(1) })], requireLive: true });
  a = await getAccount(db, 'a');
  t.same([a?.objectCount, a?.bytesUsed], [3, 25], 'an older report is ignored');
  await mergeContainerRows(db, 'a', { rows: [row('c2', { deleteTimestamp: T(3), statsTimestamp: T(3), deleted: true })], requireLive: true });
  a = await getAccount(db, 'a');
  t.same([a?.containerCount, a?.objectCount, a?.bytesUsed], [1, 2, 20], 'a deleted container leaves the stats');
  const rows: string[] = [];
  for await (const r of containerRows(db, 'a')) rows.push(`${r.name}:${r.deleted}`);
  t.same(rows, ['c1:false', 'c2:true'], 'the deleted row is kept');
  await deleteAccount(db, 'a', T(4));
  t.equal(await codeOf(mergeContainerRows(db, 'a', { rows: [row('c3', {})], requireLive: true })), 'NOT_FOUND', 'deleted account');
  t.equal(await codeOf(deleteAccount(db, 'a', T(5))), 'NOT_FOUND');
  t.equal((await putAccount(db, 'a', T(6), {})).result, 'deleted', 'not re-created while its database lasts (Swift: 403 Recently deleted)');
});

t.test('data survives close and reopen', async (t) => {
  const { dir, db } = await tempDb(t);
  await putContainer(db, 'a', 'c', T(1), { 'X-Container-Meta-K': ['v', T(1)] });
  await mergeObjectRows(db, 'a', 'c', { rows: [put('o', 2, 42)], requireLive: true });
  await db.close();
  const again = await DeviceDb.open(dir, { fsync: true });
  t.teardown(() => again.close());
  const c = await getContainer(again, 'a', 'c');
  t.same([c?.objectCount, c?.bytesUsed, c?.metadata['X-Container-Meta-K']?.[0]], [1, 42, 'v']);
});
