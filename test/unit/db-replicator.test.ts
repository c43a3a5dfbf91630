import { mkdtemp, rm } from 'node:fs/promises';
import type { Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { signingDispatcher, TEST_BACKEND_KEY } from '../helpers/signing.js';
import { backendClientOver } from '../../common/http-client.js';
import { parseConfig } from '../../common/config.js';
import { backendPath } from '../../common/backend-path.js';
import { silentLogger } from '../../common/log.js';
import { Timestamp } from '../../common/timestamp.js';
import { parseStoragePolicies } from '../../common/storage-policy.js';
import { createClusterRings } from '../../ring-builder/bootstrap.js';
import { Ring, type RingDevice } from '../../ring-builder/ring.js';
import type { DaemonContext } from '../../replicator/context.js';
import { createDbReplicator } from '../../replicator/db-replicator.js';
import { storageNodeSpec } from '../../storage-node/config.js';
import { objectRows } from '../../storage-node/db/container-db.js';
import { createDbServers, type DbServers } from '../../storage-node/db/index.js';
import { createDbReplicationHandlers } from '../../storage-node/db/replication.js';
import { createStorageNodeHttpServer, sendStatus } from '../../storage-node/server.js';
import { SECRET, testNodeContext } from '../helpers/node-context.js';

/**
 * The db replicator against four real storage nodes (in-process, HTTP on 127.0.0.1, one device
 * each, temp dirs) and real rings (3 replicas: every partition has one non-primary device).
 * Time is a fake clock so reclaim needs no waiting.
 */

const RECLAIM_AGE_S = 3600;
const time = { ms: 1_700_000_000_000 };
const client = signingDispatcher();
t.teardown(() => client.close());

interface DbNode {
  device: string;
  root: string;
  port: number;
  dbs: DbServers;
  base: string;
}

type Teardown = { teardown(fn: () => unknown): void };

// Two storage policies, so containers can disagree about theirs.
const POLICIES = parseStoragePolicies([
  { index: 0, name: 'gold', default: true },
  { index: 1, name: 'scratch' },
]);

async function startDbNode(t: Teardown, device: string): Promise<DbNode> {
  const ctx = await testNodeContext('swiftlet-dbrepl-', device, { clock: () => time.ms, policies: POLICIES });
  const root = ctx.devicesRoot;
  const dbs = createDbServers(ctx, { accountUpdateDelayMs: 5 });
  const server: Server = createStorageNodeHttpServer(ctx, {
    object: { handle: async (r: { res: ServerResponse }) => sendStatus(r.res, 501), close: async () => {} },
    container: dbs.container,
    account: dbs.account,
    objectRow: dbs.objectRow,
    containerRow: dbs.containerRow,
    replicate: createDbReplicationHandlers(ctx, dbs.pool),
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  t.teardown(async () => {
    const closed = new Promise((r) => server.close(r));
    server.closeAllConnections();
    await closed;
    await dbs.close();
    await ctx.backend.close();
    await rm(root, { recursive: true, force: true });
  });
  return { device, root, port, dbs, base: `http://127.0.0.1:${port}` };
}

interface Cluster {
  nodes: DbNode[];
  container: Ring;
  account: Ring;
  /** The replicator of each node; `inProcess` gives it the node's DevicePool instead of HTTP. */
  replicator(n: DbNode, inProcess?: boolean): ReturnType<typeof createDbReplicator>;
  /** The nodes holding a database's primaries, and the one that does not. */
  placement(ring: Ring, account: string, container?: string): { part: number; primaries: DbNode[]; handoff: DbNode };
}

async function startCluster(t: Teardown): Promise<Cluster> {
  const nodes = await Promise.all(['d1', 'd2', 'd3', 'd4'].map((d) => startDbNode(t, d)));
  const dir = await mkdtemp(join(tmpdir(), 'swiftlet-dbrepl-rings-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const devices = nodes.map((n, i) => ({ region: 1, zone: i + 1, ip: '127.0.0.1', port: n.port, device: n.device, weight: 100 }));
  const files = createClusterRings(dir, devices, { partPower: 4, replicas: 3, minPartHours: 0, seed: 11, now: 0 });
  const account = Ring.loadSync(files.account, SECRET);
  const container = Ring.loadSync(files.container, SECRET);
  const object = Ring.loadSync(files.object, SECRET);
  const byDevice = (d: RingDevice) => nodes.find((n) => n.device === d.device) as DbNode;
  const agent = signingDispatcher();
  t.teardown(() => agent.close());
  return {
    nodes,
    container,
    account,
    replicator(n, inProcess = false) {
      const ctx: DaemonContext = {
        config: parseConfig(storageNodeSpec, {
          swift_hash_path_prefix: SECRET.prefix,
          swift_hash_path_suffix: SECRET.suffix,
          bind_ip: '127.0.0.1',
          bind_port: n.port,
          devices: n.root,
          fsync: false,
          node_timeout_ms: 5000,
          reclaim_age_s: RECLAIM_AGE_S,
          replicator_concurrency: 2,
        }),
        devicesRoot: n.root,
        secret: SECRET,
        rings: { account: () => account, container: () => container, object: () => object },
        backend: backendClientOver(agent, TEST_BACKEND_KEY),
        log: silentLogger,
        clock: () => time.ms,
        fsync: false,
      };
      return createDbReplicator(ctx, inProcess ? n.dbs.pool : undefined);
    },
    placement(ring, a, c) {
      const part = ring.partitionFor(a, c);
      const primaries = ring.primaries(part).map(byDevice);
      const handoff = nodes.find((n) => !primaries.includes(n)) as DbNode;
      return { part, primaries, handoff };
    },
  };
}

async function call(method: string, url: string, headers: Record<string, string> = {}, body?: string) {
  const res = await request(url, { method: method as 'GET', headers, dispatcher: client, ...(body === undefined ? {} : { body }) });
  const text = await res.body.text();
  return { status: res.statusCode, headers: res.headers, text };
}

let lastTicks = 0;
/** Strictly increasing timestamps at the fake clock. */
function ts(): string {
  lastTicks = Math.max(Math.round(time.ms * 100), lastTicks + 1);
  return new Timestamp(lastTicks).internal;
}

const url = (n: DbNode, part: number, a: string, c?: string, o?: string) => `${n.base}${backendPath(n.device, part, a, c, o)}`;

async function putContainer(n: DbNode, part: number, a: string, c: string, timestamp: string, headers: Record<string, string> = {}) {
  const r = await call('PUT', url(n, part, a, c), { 'x-timestamp': timestamp, ...headers });
  if (r.status !== 201 && r.status !== 202) throw new Error(`container PUT ${r.status}`);
}

async function putRow(n: DbNode, part: number, a: string, c: string, o: string, timestamp: string, size: number) {
  const r = await call('PUT', url(n, part, a, c, o), {
    'x-backend-source': 'object-server',
    'x-timestamp': timestamp,
    'x-size': String(size),
    'x-content-type': 'text/plain',
    'x-etag': `etag-${size}`,
  });
  if (r.status !== 201) throw new Error(`row PUT ${r.status}`);
}

async function deleteRow(n: DbNode, part: number, a: string, c: string, o: string, timestamp: string) {
  const r = await call('DELETE', url(n, part, a, c, o), { 'x-backend-source': 'object-server', 'x-timestamp': timestamp });
  if (r.status !== 204) throw new Error(`row DELETE ${r.status}`);
}

/** Names, count and bytes of a container as one replica lists it. */
async function containerView(n: DbNode, part: number, a: string, c: string) {
  const r = await call('GET', `${url(n, part, a, c)}?format=json`);
  const names = r.status === 200 ? (JSON.parse(r.text) as Array<{ name: string }>).map((x) => x.name) : [];
  return { status: r.status, names, count: r.headers['x-container-object-count'], bytes: r.headers['x-container-bytes-used'] };
}

async function runAll(cluster: Cluster) {
  const reports = [];
  for (const n of cluster.nodes) reports.push(await cluster.replicator(n).runOnce());
  return reports;
}

function sum(reports: Array<{ counts: Record<string, number> }>, key: string): number {
  return reports.reduce((s, r) => s + (r.counts[key] ?? 0), 0);
}

t.test('replicas converge: rows sent to two of three, tombstones win, a second pass pushes nothing', async (t) => {
  const cluster = await startCluster(t);
  const [a, c] = ['AUTH_t', 'photos'];
  const { part, primaries, handoff } = cluster.placement(cluster.container, a, c);
  const [p0, p1, p2] = primaries as [DbNode, DbNode, DbNode];
  const created = ts();
  for (const p of primaries) await putContainer(p, part, a, c, created);
  await putRow(p0, part, a, c, 'one', ts(), 10);
  await putRow(p1, part, a, c, 'one', ts(), 11); // newer: wins everywhere
  await putRow(p1, part, a, c, 'two', ts(), 20);
  await putRow(p2, part, a, c, 'two', ts(), 20);
  const gone = ts();
  for (const p of primaries) await putRow(p, part, a, c, 'gone', gone, 30);
  await deleteRow(p2, part, a, c, 'gone', ts()); // only p2 saw the delete
  const olderDelete = ts();
  await putRow(p0, part, a, c, 'kept', ts(), 40);
  await deleteRow(p1, part, a, c, 'kept', olderDelete); // an older delete must not win

  const first = await runAll(cluster);
  t.equal(sum(first, 'failures'), 0, 'no failures');
  t.ok(sum(first, 'rowsPushed') > 0, 'rows pushed');
  t.ok(sum(first, 'dbsSynced') > 0, 'dbs synced');
  for (const p of primaries) {
    t.same(await containerView(p, part, a, c), { status: 200, names: ['kept', 'one', 'two'], count: '3', bytes: String(40 + 11 + 20) }, `replica ${p.device}`);
  }
  t.equal((await containerView(handoff, part, a, c)).status, 404, 'nothing on the handoff');

  const second = await runAll(cluster);
  t.equal(sum(second, 'rowsPushed'), 0, 'second pass pushes no rows');
  t.equal(sum(second, 'dbsSynced'), 0);
  t.equal(sum(second, 'dbsInSync'), 3, 'each primary finds its copy in sync');
  t.equal(sum(second, 'failures'), 0);

  // One more write on one replica: only that row travels (the sync point), to both peers.
  // And metadata set on another one travels with the record.
  await putRow(p2, part, a, c, 'three', ts(), 5);
  t.equal((await call('POST', url(p0, part, a, c), { 'x-timestamp': ts(), 'x-container-meta-color': 'red' })).status, 204);
  const third = await runAll(cluster);
  t.equal(sum(third, 'rowsPushed'), 2, 'p2 pushes that one row to each peer, nothing else moves');
  for (const p of primaries) {
    t.same((await containerView(p, part, a, c)).names, ['kept', 'one', 'three', 'two']);
    t.equal((await call('HEAD', url(p, part, a, c))).headers['x-container-meta-color'], 'red', `metadata on ${p.device}`);
  }
  t.equal(sum(await runAll(cluster), 'dbsInSync'), 3, 'then in sync again');
});

t.test('a container on a handoff device is pushed to every primary, then removed there', async (t) => {
  const cluster = await startCluster(t);
  const [a, c] = ['AUTH_t', 'stray'];
  const { part, primaries, handoff } = cluster.placement(cluster.container, a, c);
  await putContainer(handoff, part, a, c, ts(), { 'x-container-meta-color': 'blue' });
  for (let i = 0; i < 3; i++) await putRow(handoff, part, a, c, `o${i}`, ts(), i + 1);
  await deleteRow(handoff, part, a, c, 'o2', ts());

  // The handoff's replicator runs inside its storage node here (the DevicePool path).
  const report = await cluster.replicator(handoff, true).runOnce();
  t.equal(report.counts.handoffDbsReverted, 1, 'reverted');
  t.equal(report.counts.handoffDbsPending, 0);
  t.equal(report.counts.failures, 0);
  for (const p of primaries) {
    const view = await containerView(p, part, a, c);
    t.same([view.names, view.count, view.bytes], [['o0', 'o1'], '2', '3'], `rows on ${p.device}`);
    const head = await call('HEAD', url(p, part, a, c));
    t.equal(head.headers['x-container-meta-color'], 'blue', `record on ${p.device}`);
    const [tomb] = await tombstones(p, a, c);
    t.equal(tomb, 'o2', `tombstone on ${p.device}`);
  }
  const left = await call('HEAD', url(handoff, part, a, c));
  t.equal(left.status, 404, 'gone from the handoff');
  t.notOk(left.headers['x-backend-timestamp'], 'entirely: no deleted record left behind');
});

t.test('a handoff copy stays while a primary is unreachable', async (t) => {
  const cluster = await startCluster(t);
  const [a, c] = ['AUTH_t', 'waiting'];
  const { part, primaries, handoff } = cluster.placement(cluster.container, a, c);
  await putContainer(handoff, part, a, c, ts());
  await putRow(handoff, part, a, c, 'x', ts(), 1);
  // A primary whose device is gone answers 507.
  const p = primaries[0] as DbNode;
  await rm(join(p.root, p.device), { recursive: true, force: true });
  const report = await cluster.replicator(handoff).runOnce();
  t.equal(report.counts.handoffDbsPending, 1);
  t.equal(report.counts.handoffDbsReverted, 0);
  t.equal(report.counts.failures, 1, 'the failed primary is counted');
  t.equal((await containerView(handoff, part, a, c)).status, 200, 'still on the handoff');
});

t.test('account stats converge: newest container stats win, deleted containers count for nothing', async (t) => {
  const cluster = await startCluster(t);
  const a = 'AUTH_stats';
  const { part, primaries } = cluster.placement(cluster.account, a);
  const [p0, p1, p2] = primaries as [DbNode, DbNode, DbNode];
  const created = ts();
  for (const p of primaries) t.equal((await call('PUT', url(p, part, a), { 'x-timestamp': created })).status, 201);
  const row = (n: DbNode, c: string, put: string, del: string, count: number, bytes: number) =>
    call('PUT', url(n, part, a, c), {
      'x-backend-source': 'container-server',
      'x-put-timestamp': put,
      'x-delete-timestamp': del,
      'x-object-count': String(count),
      'x-bytes-used': String(bytes),
      'x-timestamp': ts(),
    });
  const put1 = ts();
  await row(p0, 'c1', put1, '0', 1, 10);
  await row(p1, 'c1', put1, '0', 5, 50); // later report: these stats win
  await row(p1, 'c2', ts(), '0', 2, 20);
  const put3 = ts();
  await row(p0, 'c3', put3, '0', 0, 0);
  await row(p2, 'c3', put3, ts(), 0, 0); // deleted on p2 only

  const reports = await runAll(cluster);
  t.equal(sum(reports, 'failures'), 0);
  for (const p of primaries) {
    const head = await call('HEAD', url(p, part, a));
    t.same(
      [head.headers['x-account-container-count'], head.headers['x-account-object-count'], head.headers['x-account-bytes-used']],
      ['2', '7', '70'],
      `stats on ${p.device}`,
    );
    const list = JSON.parse((await call('GET', `${url(p, part, a)}?format=json`)).text) as Array<{ name: string; count: number }>;
    t.same(list.map((x) => [x.name, x.count]), [['c1', 5], ['c2', 2]], `listing on ${p.device}`);
  }
});

t.test('reclaim: old tombstones and long-deleted containers go, recent ones stay', async (t) => {
  const cluster = await startCluster(t);
  const a = 'AUTH_r';
  const live = cluster.placement(cluster.container, a, 'live');
  const dead = cluster.placement(cluster.container, a, 'dead');
  const t0 = ts();
  for (const p of live.primaries) {
    await putContainer(p, live.part, a, 'live', t0);
  }
  for (const p of dead.primaries) await putContainer(p, dead.part, a, 'dead', t0);
  const [lp] = live.primaries as [DbNode];
  await putRow(lp, live.part, a, 'live', 'keep', ts(), 1);
  await putRow(lp, live.part, a, 'live', 'old', ts(), 2);
  await deleteRow(lp, live.part, a, 'live', 'old', ts());
  const [dp] = dead.primaries as [DbNode];
  t.equal((await call('DELETE', url(dp, dead.part, a, 'dead'), { 'x-timestamp': ts() })).status, 204);
  const first = await runAll(cluster);
  t.equal(sum(first, 'failures'), 0);
  t.equal(sum(first, 'dbsReclaimChecked'), 0, 'nothing deleted long enough ago: no database asked to reclaim');
  for (const p of live.primaries) t.same(await tombstones(p, a, 'live'), ['old'], `tombstone replicated to ${p.device}`);
  for (const p of dead.primaries) t.equal((await call('HEAD', url(p, dead.part, a, 'dead'))).status, 404, `deleted on ${p.device}`);

  // Later, within the reclaim age: a new tombstone that must survive the reclaim below.
  time.ms += (RECLAIM_AGE_S - 10) * 1000;
  await putRow(lp, live.part, a, 'live', 'recent', ts(), 3);
  await deleteRow(lp, live.part, a, 'live', 'recent', ts());
  time.ms += 20 * 1000; // now 'old' and the 'dead' container are past the reclaim age

  const reports = await runAll(cluster);
  t.equal(sum(reports, 'failures'), 0);
  t.equal(sum(reports, 'reclaimed'), 3, "the deleted container, on each of its replicas");
  t.equal(sum(reports, 'rowsReclaimed'), 3, "the old tombstone, on each replica");
  for (const p of live.primaries) {
    t.same(await tombstones(p, a, 'live'), ['recent'], `old tombstone reclaimed on ${p.device}, recent kept and replicated`);
    t.same((await containerView(p, live.part, a, 'live')).names, ['keep']);
  }
  for (const p of dead.primaries) {
    const head = await call('HEAD', url(p, dead.part, a, 'dead'));
    t.equal(head.status, 404);
    t.notOk(head.headers['x-backend-timestamp'], `no record left on ${p.device}`);
  }
  t.ok(sum(reports, 'dbsReclaimChecked') >= 6, 'the databases with something due were asked');
  const again = await runAll(cluster);
  t.equal(sum(again, 'dbsReclaimChecked'), 0, 'and then not again while nothing else is due');
  t.equal(sum(again, 'rowsPushed'), 0, 'reclaimed rows do not come back');
  t.equal(sum(again, 'dbsInSync'), 3, 'replicas agree after reclaiming');
  for (const p of live.primaries) t.same(await tombstones(p, a, 'live'), ['recent']);
});

t.test('replication endpoints refuse bad requests', async (t) => {
  const [n] = [await startDbNode(t, 'sda')];
  const h = { 'x-backend-replicate': 'container' };
  const base = `${n.base}/sda`;
  t.equal((await call('GET', `${base}/1/a/c?op=nope`, h)).status, 400, 'unknown op');
  t.equal((await call('GET', `${base}/1/a?op=info`, h)).status, 400, 'a container path needs a container');
  t.equal((await call('GET', `${base}/1/a/c?op=info`, h)).status, 404, 'no such container');
  t.equal((await call('POST', `${base}/1/a/c?op=sync`, h, '{"record":{}}')).status, 400, 'bad record');
  t.equal((await call('POST', `${base}/1/a/c?op=sync`, h, 'not json')).status, 400, 'not JSON');
  t.equal((await call('GET', `${base}/1/a/c?op=sync`, h)).status, 405, 'sync is a POST');
  t.equal((await call('POST', `${base}/1/a/c?op=reclaim&before=yesterday`, h, '{}')).status, 400, 'bad cut-off');
  t.equal((await call('GET', `${n.base}/nodev?op=list`, h)).status, 507, 'unknown device');
  const list = await call('GET', `${base}?op=list`, h);
  t.same([list.status, JSON.parse(list.text)], [200, []], 'an empty device lists nothing');
});

/** Tombstone names of a container, read straight from the node's database. */
async function tombstones(n: DbNode, a: string, c: string): Promise<string[]> {
  const db = await n.dbs.pool.get(join(n.root, n.device));
  const out: string[] = [];
  for await (const r of objectRows(db, a, c, 'deleted')) out.push(r.name);
  return out;
}

t.test("replicas that disagree on a container's storage policy converge on Swift's choice", async (t) => {
  const cluster = await startCluster(t);
  const [a, c] = ['AUTH_t', 'mixed'];
  const { part, primaries } = cluster.placement(cluster.container, a, c);
  const [p0, p1, p2] = primaries as [DbNode, DbNode, DbNode];
  const policyAt = async (n: DbNode) => (await call('HEAD', url(n, part, a, c))).headers['x-backend-storage-policy-index'];
  // p2 missed the PUT that made the container policy 0, then took a later one asking for policy 1.
  const first = ts();
  await putContainer(p0, part, a, c, first, { 'x-backend-storage-policy-index': '0' });
  await putContainer(p1, part, a, c, first, { 'x-backend-storage-policy-index': '0' });
  await putContainer(p2, part, a, c, ts(), { 'x-backend-storage-policy-index': '1' });
  t.same(await Promise.all(primaries.map(policyAt)), ['0', '0', '1'], 'before: they disagree');
  t.equal(sum(await runAll(cluster), 'failures'), 0);
  t.same(await Promise.all(primaries.map(policyAt)), ['0', '0', '0'], 'the policy given first wins everywhere');
  t.equal(sum(await runAll(cluster), 'dbsSynced'), 0, 'and they stay in sync');

  // Deleted everywhere, then re-created with policy 1 while p0 was away: the new life wins.
  const deleted = ts();
  for (const p of primaries) t.equal((await call('DELETE', url(p, part, a, c), { 'x-timestamp': deleted })).status, 204);
  const reborn = ts();
  await putContainer(p1, part, a, c, reborn, { 'x-backend-storage-policy-index': '1' });
  await putContainer(p2, part, a, c, reborn, { 'x-backend-storage-policy-index': '1' });
  t.equal((await call('HEAD', url(p0, part, a, c))).status, 404, 'p0 still has it deleted');
  t.equal(sum(await runAll(cluster), 'failures'), 0);
  t.same(await Promise.all(primaries.map(policyAt)), ['1', '1', '1'], 'the re-created container keeps its new policy everywhere');
});
