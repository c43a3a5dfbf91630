import t from 'tap';
import { SeededRandom } from '../../common/random.js';
import { Timestamp } from '../../common/timestamp.js';
import {
  chexor,
  containerRowDeleted,
  EMPTY_DIGEST,
  mergeContainerRow,
  mergeMetadata,
  mergeObjectRow,
  mergeRecord,
  metaTimestampOf,
  normalRow,
  objectRowDigestKey,
  recordDeleted,
  ZERO_TS,
  type ContainerRow,
  type DbRecord,
  type Metadata,
  type ObjectRow,
} from '../../storage-node/db/merge.js';

const SEED = Number(process.env.SEED ?? 20240611);
t.comment(`seed ${SEED} (SEED=... to replay)`);

// Few distinct values so that ties on timestamps (the tricky case) happen often.
function ts(rnd: SeededRandom): string {
  return new Timestamp(1_700_000_000_00000 + rnd.int(4), rnd.int(3) === 0 ? rnd.int(3) : 0).internal;
}
function pick<T>(rnd: SeededRandom, xs: T[]): T {
  return xs[rnd.int(xs.length)] as T;
}

function objectRow(rnd: SeededRandom): ObjectRow {
  const deleted = rnd.int(3) === 0;
  const row: ObjectRow = {
    name: 'o',
    timestamp: ts(rnd),
    size: deleted ? 0 : rnd.int(3),
    contentType: pick(rnd, ['a/b', 'c/d', 'a/b;swift_bytes=7', 'c/d;swift_bytes=9']),
    etag: pick(rnd, ['e1', 'e2']),
    deleted,
  };
  // Rows from object POSTs: a content type and metadata set later than the data.
  if (rnd.int(2)) row.ctypeTimestamp = maxOf(row.timestamp, ts(rnd));
  if (rnd.int(2)) row.metaTimestamp = maxOf(row.ctypeTimestamp ?? row.timestamp, ts(rnd));
  return normalRow(row);
}

function maxOf(a: string, b: string): string {
  return a >= b ? a : b;
}

function containerRow(rnd: SeededRandom): ContainerRow {
  const putTimestamp = ts(rnd);
  const deleteTimestamp = ts(rnd);
  const objectCount = rnd.int(2);
  return { name: 'c', putTimestamp, deleteTimestamp, objectCount, bytesUsed: rnd.int(3), statsTimestamp: ts(rnd), deleted: containerRowDeleted(putTimestamp, deleteTimestamp, objectCount) };
}

function metadata(rnd: SeededRandom): Metadata {
  const m: Metadata = {};
  for (const k of ['X-Container-Meta-A', 'X-Container-Meta-B', 'X-Container-Read']) {
    if (rnd.int(2)) m[k] = [pick(rnd, ['', 'x', 'y']), ts(rnd)];
  }
  return m;
}

function record(rnd: SeededRandom): DbRecord {
  const r: DbRecord = { createdAt: ts(rnd), putTimestamp: ts(rnd), deleteTimestamp: ts(rnd), statusChangedAt: ts(rnd), metadata: metadata(rnd) };
  // A third without a stored policy: databases from before policies (policy 0) and accounts.
  if (rnd.int(3)) r.policy = { index: rnd.int(3), after: rnd.int(2) ? ZERO_TS : ts(rnd), since: ts(rnd) };
  return r;
}

/** Canonical form: key order of metadata must not matter. */
function canon(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) =>
    x && typeof x === 'object' && !Array.isArray(x) ? Object.fromEntries(Object.entries(x as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1))) : x,
  );
}

/** Checks the three laws on seeded random triples; returns the first few counterexamples. */
function lawBreaks<T>(gen: (r: SeededRandom) => T, merge: (a: T, b: T) => T): unknown[] {
  const rnd = new SeededRandom(SEED);
  const breaks: unknown[] = [];
  for (let i = 0; i < 2000 && breaks.length < 3; i++) {
    const a = gen(rnd);
    const b = gen(rnd);
    const c = gen(rnd);
    if (canon(merge(a, b)) !== canon(merge(b, a))) breaks.push({ law: 'commutative', i, a, b });
    if (canon(merge(merge(a, b), c)) !== canon(merge(a, merge(b, c)))) breaks.push({ law: 'associative', i, a, b, c });
    if (canon(merge(a, a)) !== canon(a)) breaks.push({ law: 'idempotent', i, a });
  }
  return breaks;
}

t.test('merge laws', async (t) => {
  t.same(lawBreaks(objectRow, mergeObjectRow), [], 'object rows');
  t.same(lawBreaks(containerRow, mergeContainerRow), [], 'container rows');
  t.same(lawBreaks(metadata, mergeMetadata), [], 'metadata');
  t.same(lawBreaks(record, mergeRecord), [], 'records');
  // The check can fail: a "keep what is there on ties" merge (Swift's) is not commutative.
  const keepExisting = (a: ObjectRow, b: ObjectRow): ObjectRow => (b.timestamp > a.timestamp ? b : a);
  t.not(lawBreaks(objectRow, keepExisting).length, 0, 'a tie-keeping merge is caught');
});

t.test('object rows: last writer wins, tombstones kept', async (t) => {
  const put: ObjectRow = { name: 'o', timestamp: '1700000000.00001', size: 5, contentType: 'text/plain', etag: 'e', deleted: false };
  const del: ObjectRow = { name: 'o', timestamp: '1700000000.00002', size: 0, contentType: 'application/deleted', etag: 'noetag', deleted: true };
  t.same(mergeObjectRow(put, del), del, 'newer delete wins');
  t.same(mergeObjectRow(del, put), del, 'older put arriving late loses');
  const newer = { ...put, timestamp: '1700000000.00002_0000000000000001' };
  t.same(mergeObjectRow(del, newer), newer, 'an offset breaks the tie');
  t.same(mergeObjectRow({ ...put, deleted: true, size: 0 }, put).deleted, true, 'same timestamp: the tombstone wins either way');
  t.throws(() => mergeObjectRow(put, { ...put, name: 'other' }));
});

t.test("object rows from POSTs: each part from its newest source (Swift's update_new_item_from_existing)", async (t) => {
  const T = (n: number): string => new Timestamp(1_700_000_000_00000 + n).internal;
  const put: ObjectRow = { name: 'o', timestamp: T(1), size: 5, contentType: 'text/plain', etag: 'e1', deleted: false };
  // An object POST's update: the same data, a new content type and metadata time.
  const post: ObjectRow = { ...put, contentType: 'image/png', ctypeTimestamp: T(2) };
  t.same(mergeObjectRow(put, post), post, 'the new content type wins');
  t.same(mergeObjectRow(post, put), post, 'whatever the order');
  // A POST that left the content type alone moves only the metadata time (last_modified).
  const touch: ObjectRow = { ...post, metaTimestamp: T(3) };
  t.same(mergeObjectRow(post, touch), touch);
  t.equal(metaTimestampOf(mergeObjectRow(put, touch)), T(3));
  // A later PUT brings new data and its own content type; an older one changes nothing.
  const put2: ObjectRow = { name: 'o', timestamp: T(4), size: 7, contentType: 'text/html', etag: 'e2', deleted: false };
  t.same(mergeObjectRow(touch, put2), put2);
  // The POST's update arriving after a newer PUT: that PUT's data stays, the POST's newer content type applies.
  const latePost: ObjectRow = { ...put, contentType: 'image/gif', ctypeTimestamp: T(5) };
  t.same(mergeObjectRow(put2, latePost), { ...put2, contentType: 'image/gif', ctypeTimestamp: T(5) });
  // swift_bytes belongs to the data, the rest of the content type to the newest content type.
  const slo: ObjectRow = { ...put, contentType: 'text/plain;swift_bytes=99' };
  t.same(mergeObjectRow(slo, post).contentType, 'image/png;swift_bytes=99');
  t.equal(objectRowDigestKey(put), `o-${T(1)}`, "a PUT's row digests as before");
  t.not(objectRowDigestKey(post), objectRowDigestKey(put), 'a changed content type changes the digest, so replicas sync it');
});

t.test('container rows: newest timestamps and newest stats', async (t) => {
  const a: ContainerRow = { name: 'c', putTimestamp: '0000000001.00000', deleteTimestamp: '0000000000.00000', objectCount: 3, bytesUsed: 30, statsTimestamp: '0000000005.00000', deleted: false };
  const b: ContainerRow = { name: 'c', putTimestamp: '0000000001.00000', deleteTimestamp: '0000000002.00000', objectCount: 0, bytesUsed: 0, statsTimestamp: '0000000006.00000', deleted: true };
  const m = mergeContainerRow(a, b);
  t.equal(m.deleteTimestamp, '0000000002.00000');
  t.equal(m.objectCount, 0, 'stats of the newest report');
  t.equal(m.deleted, true);
  const stale = mergeContainerRow(b, { ...a, statsTimestamp: '0000000007.00000' });
  t.equal(stale.deleted, false, 'a container that still reports objects is not deleted (Swift)');
});

t.test('metadata: newest per key, empty value is a kept deletion', async (t) => {
  const m = mergeMetadata({ 'X-Container-Meta-A': ['1', '0000000002.00000'], 'X-Container-Meta-B': ['b', '0000000001.00000'] }, { 'X-Container-Meta-A': ['', '0000000003.00000'], 'X-Container-Meta-B': ['old', '0000000000.50000'] });
  t.same(m, { 'X-Container-Meta-A': ['', '0000000003.00000'], 'X-Container-Meta-B': ['b', '0000000001.00000'] });
});

t.test('records: deleted when the delete is newer than the put', async (t) => {
  t.equal(recordDeleted({ putTimestamp: '0000000001.00000', deleteTimestamp: '0000000002.00000' }), true);
  t.equal(recordDeleted({ putTimestamp: '0000000002.00000', deleteTimestamp: '0000000002.00000' }), false);
  const r = mergeRecord(
    { createdAt: '0000000002.00000', putTimestamp: '0000000002.00000', deleteTimestamp: '0000000000.00000', statusChangedAt: '0000000002.00000', metadata: {} },
    { createdAt: '0000000001.00000', putTimestamp: '0000000001.00000', deleteTimestamp: '0000000003.00000', statusChangedAt: '0000000003.00000', metadata: {} },
  );
  t.same([r.createdAt, r.putTimestamp, r.deleteTimestamp], ['0000000001.00000', '0000000002.00000', '0000000003.00000']);
});

t.test("records: a container's storage policy converges as Swift's replicator settles it", async (t) => {
  const at = (s: number): string => new Timestamp(s * 100000).internal;
  const rec = (created: number, put: number, deleted: number, policy?: DbRecord['policy']): DbRecord => ({
    createdAt: at(created),
    putTimestamp: at(put),
    deleteTimestamp: deleted ? at(deleted) : ZERO_TS,
    statusChangedAt: at(Math.max(put, deleted)),
    metadata: {},
    ...(policy ? { policy } : {}),
  });
  // A replica missed the PUT that created the container and took a later PUT asking for another policy.
  const first = rec(10, 10, 0, { index: 0, after: ZERO_TS, since: at(10) });
  const late = rec(20, 20, 0, { index: 1, after: ZERO_TS, since: at(20) });
  t.equal(mergeRecord(first, late).policy?.index, 0, 'one life: the policy given first wins');
  t.equal(mergeRecord(late, first).policy?.index, 0);
  // Deleted at 30 and re-created at 40 with policy 1; a replica that missed both still says 0.
  const stale = rec(10, 10, 0, { index: 0, after: ZERO_TS, since: at(10) });
  const reborn = rec(10, 40, 30, { index: 1, after: at(30), since: at(40) });
  t.equal(mergeRecord(stale, reborn).policy?.index, 1, 'the later life wins');
  t.equal(mergeRecord(reborn, stale).policy?.index, 1);
  // A database written before policies has none stored: policy 0 since its creation.
  const old = rec(10, 10, 0);
  t.equal(mergeRecord(old, late).policy?.index, 0, 'an old record counts as policy 0, given first');
  t.equal(mergeRecord(old, reborn).policy?.index, 1, 'and loses to a later life');
  t.equal(mergeRecord(old, old).policy, undefined, 'two old records (or accounts) stay without one');
});

t.test('chexor digest is order independent and reversible', async (t) => {
  const rows = ['a', 'b', 'c'].map((n, i) => objectRowDigestKey({ name: n, timestamp: `000000000${i}.00000`, size: 0, contentType: '', etag: '', deleted: false }));
  const d1 = rows.reduce(chexor, EMPTY_DIGEST);
  const d2 = [...rows].reverse().reduce(chexor, EMPTY_DIGEST);
  t.equal(d1, d2);
  t.equal(rows.reduce(chexor, d1), EMPTY_DIGEST, 'xoring every row out again gives the empty digest');
});
