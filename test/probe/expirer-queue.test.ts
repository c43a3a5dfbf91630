import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { request } from 'undici';
import { backendPath } from '../../common/backend-path.js';
import { parseConfig, readJsonConfigFile } from '../../common/config.js';
import { EXPIRING_OBJECTS_ACCOUNT, queueRowName } from '../../common/expiring-queue.js';
import { silentLogger } from '../../common/log.js';
import type { DaemonContext } from '../../replicator/context.js';
import { createExpirer } from '../../replicator/expirer.js';
import { daemonContext } from '../../replicator/main.js';
import { storageNodeSpec } from '../../storage-node/config.js';
import type { Cluster, NodeProc } from '../helpers/cluster.js';
import { containerReplicas, loadRing, objectPlacement } from '../helpers/replicas.js';
import { clusterWithContainer } from '../helpers/swift-api.js';

/**
 * The expiring-objects queue end to end on a real 4-node cluster (3 replicas): thousands of
 * objects with X-Delete-At spread over a day land in many queue containers (many partitions, on
 * every node); a node down while the objects are written leaves queue rows as async pendings for
 * the updater; a node killed at the due time delays only the rows it owns, which the others take
 * over. The expirer runs in this process, its clock set past the due times (the storage nodes
 * keep the real one).
 */

const OBJECTS = 2000;
const SPREAD_S = 86_400;

async function runPool<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) await fn(items[next++] as T);
  }));
}

/** Every row of every queue container, asked of the live nodes holding a replica (deduplicated). */
async function queueRows(cluster: Cluster, live: Set<string>): Promise<{ containers: Set<string>; rows: Set<string> }> {
  const get = async (d: { ip: string; port: number; device: string }, path: ReturnType<typeof backendPath>): Promise<Array<{ name: string }>> => {
    const res = await request(`http://${d.ip}:${d.port}${path}?format=json`, { dispatcher: cluster.backendDispatcher });
    const body = await res.body.text();
    return res.statusCode === 200 ? (JSON.parse(body) as Array<{ name: string }>) : [];
  };
  const aring = loadRing(cluster, 'account');
  const cring = loadRing(cluster, 'container');
  const apart = aring.partitionFor(EXPIRING_OBJECTS_ACCOUNT);
  const containers = new Set<string>();
  for (const d of aring.primaries(apart)) if (live.has(d.device)) for (const c of await get(d, backendPath(d.device, apart, EXPIRING_OBJECTS_ACCOUNT))) containers.add(c.name);
  const rows = new Set<string>();
  for (const c of containers) {
    const part = cring.partitionFor(EXPIRING_OBJECTS_ACCOUNT, c);
    for (const d of cring.primaries(part)) if (live.has(d.device)) for (const r of await get(d, backendPath(d.device, part, EXPIRING_OBJECTS_ACCOUNT, c))) rows.add(r.name);
  }
  return { containers, rows };
}

/** The expirer of `node`, in this process, on a clock we set; it records what it sends. */
function expirerOf(t: Test, node: NodeProc, clock: { ms: number }) {
  const cfg = parseConfig(storageNodeSpec, readJsonConfigFile(node.configFile), node.configFile);
  const { ctx, close } = daemonContext(cfg, silentLogger);
  t.teardown(close);
  const requests: Array<{ method: string; path: string }> = [];
  const recorded: DaemonContext = {
    ...ctx,
    clock: () => clock.ms,
    backend: {
      ...ctx.backend,
      request(origin, method, path, opts) {
        requests.push({ method, path });
        return ctx.backend.request(origin, method, path, opts);
      },
    },
  };
  return { expirer: createExpirer(recorded), requests };
}

async function pass(expirers: Array<ReturnType<typeof expirerOf>>): Promise<Record<string, number>> {
  const totals: Record<string, number> = {};
  for (const { expirer } of expirers) {
    const r = await expirer.runOnce();
    for (const [k, v] of Object.entries(r.counts)) totals[k] = (totals[k] ?? 0) + v;
  }
  return totals;
}

t.test('thousands of expiring objects, a node down at write and another at due time: all expire through the queue', async (t) => {
  const { cluster, a, account } = await clusterWithContainer(t, { nodes: 4, partPower: 6 });
  const nowS = Math.floor(Date.now() / 1000);
  const first = nowS + 3600;
  const deleteAtOf = (i: number): number => first + Math.floor((i * SPREAD_S) / OBJECTS);

  // Node 4 down while a batch is written: rows meant for its queue replicas wait as async pendings.
  // The batch falls due in the last second, all at once.
  const last = deleteAtOf(OBJECTS - 1);
  const late = cluster.nodes[3] as NodeProc;
  await cluster.kill(late);
  const lateNames = Array.from({ length: 60 }, (_, i) => `late-${i}`);
  await runPool(lateNames, 8, async (name) => {
    const r = await a.req('PUT', `/c/${name}`, { body: name, headers: { 'x-delete-at': String(last) } });
    if (r.status !== 201) throw new Error(`PUT ${name}: ${r.status}`);
  });
  await cluster.restart(late);
  let pendings = 0;
  for (const n of cluster.nodes) pendings += (await readdir(join(n.devicesRoot, n.device, 'async_pending'), { recursive: true }).catch(() => [])).length;
  t.ok(pendings > 0, `updates for the dead node wait as async pendings (${pendings} entries)`);

  const names = Array.from({ length: OBJECTS }, (_, i) => `o-${String(i).padStart(4, '0')}`);
  await runPool(names, 8, async (name) => {
    const r = await a.req('PUT', `/c/${name}`, { body: name, headers: { 'x-delete-at': String(deleteAtOf(names.indexOf(name))) } });
    if (r.status !== 201) throw new Error(`PUT ${name}: ${r.status}`);
  });
  // One moved far beyond the pass times, one whose expiry is removed.
  t.equal((await a.req('PUT', '/c/moved', { body: 'm', headers: { 'x-delete-at': String(first) } })).status, 201);
  t.equal((await a.req('POST', '/c/moved', { headers: { 'x-delete-at': String(nowS + 30 * 86_400) } })).status, 202);
  t.equal((await a.req('PUT', '/c/removed', { body: 'r', headers: { 'x-delete-at': String(first) } })).status, 201);
  t.equal((await a.req('POST', '/c/removed', { headers: { 'x-remove-delete-at': '1' } })).status, 202);
  t.equal((await a.req('HEAD', '/c/removed')).headers['x-delete-at'], undefined, 'X-Delete-At removed');

  // The updater delivers the saved row PUTs and the row DELETEs of replaced expiries.
  await cluster.runDaemonsOnce(['updater']);
  const everyone = new Set(cluster.nodes.map((n) => n.device));
  const queued = await queueRows(cluster, everyone);
  t.ok(queued.containers.size >= 100, `entries spread over many queue containers (${queued.containers.size})`);
  const cring = loadRing(cluster, 'container');
  const holders = new Set<string>();
  for (const c of queued.containers) for (const d of cring.primaries(cring.partitionFor(EXPIRING_OBJECTS_ACCOUNT, c))) holders.add(d.device);
  t.same([...holders].sort(), [...everyone].sort(), 'held by every node');
  const want = new Set([
    ...names.map((n, i) => queueRowName(deleteAtOf(i), account, 'c', n)),
    ...lateNames.map((n) => queueRowName(last, account, 'c', n)),
    queueRowName(nowS + 30 * 86_400, account, 'c', 'moved'),
  ]);
  t.same([...queued.rows].sort(), [...want].sort(), 'one row per expiring object (late ones delivered by the updater; moved and removed expiries dropped)');

  // Node 2 dies before anything is due.
  const dead = cluster.nodes[1] as NodeProc;
  await cluster.kill(dead);
  const live = cluster.nodes.filter((n) => n !== dead);
  const clock = { ms: Date.now() };
  const expirers = live.map((n) => expirerOf(t, n, clock));

  // Idle: nothing due yet. Each pass lists the queue and touches no object.
  let totals = await pass(expirers);
  t.equal(totals.entriesDue, undefined, 'nothing due');
  for (const e of expirers) {
    t.notOk(e.requests.some((r) => r.method !== 'GET' || !r.path.includes(`/${EXPIRING_OBJECTS_ACCOUNT}`)), 'an idle pass only lists the queue');
    e.requests.length = 0;
  }

  clock.ms = (last + 1) * 1000;
  totals = await pass(expirers);
  t.ok((totals.objectsExpired ?? 0) > OBJECTS / 2, `due entries expire, the dead node's too once overdue by the takeover time (${totals.objectsExpired})`);
  t.ok((totals.notYours ?? 0) > 0, `the dead node's entries due less than the takeover time ago wait (${totals.notYours} sightings)`);
  const remaining = (await queueRows(cluster, new Set(live.map((n) => n.device)))).rows.size;
  t.ok(remaining > 1 && remaining < want.size / 2, `rows left for the takeover (${remaining})`);

  clock.ms = (last + 1 + 120) * 1000; // 2 x expirer_interval_s later
  totals = await pass(expirers);
  t.ok((totals.objectsExpired ?? 0) + (totals.superseded ?? 0) >= remaining - 1, `taken over (${JSON.stringify(totals)})`);
  t.equal(totals.failures ?? 0, 0, 'no failures with one node of four down');

  const liveDevices = new Set(live.map((n) => n.device));
  const movedRow = queueRowName(nowS + 30 * 86_400, account, 'c', 'moved');
  t.same([...(await queueRows(cluster, liveDevices)).rows], [movedRow], 'the queue holds only the moved entry');
  const samples = [...names.filter((_, i) => i % 97 === 0), lateNames[0] as string];
  for (const name of samples) {
    const p = await objectPlacement(cluster, account, 'c', name);
    t.same(p.dataOn.filter((d) => d !== dead.device), [], `${name}: no live node keeps its data (primaries and the handoff that took a write)`);
  }
  for (const name of ['moved', 'removed']) t.equal((await a.req('GET', `/c/${name}`)).status, 200, `${name} is still there`);
  // Idle again: one more pass sends object requests to nobody.
  for (const e of expirers) e.requests.length = 0;
  totals = await pass(expirers);
  t.equal(totals.entriesDue, undefined);
  t.notOk(expirers.some((e) => e.requests.some((r) => r.path.includes(`/${account}/`))), 'no object read or deleted');

  // The dead node comes back; replication brings it the tombstones and the queue rows' deletions.
  await cluster.restart(dead);
  await cluster.runDaemonsOnce(['replicator', 'replicator']);
  for (const rep of await containerReplicas(cluster, account, 'c')) t.same(rep.names, ['moved', 'removed'], `container replica ${rep.device}`);
  const listing = JSON.parse((await a.req('GET', '/c?format=json')).body.toString()) as Array<{ name: string }>;
  t.same(listing.map((o) => o.name), ['moved', 'removed'], 'the listing keeps only the objects not due');
  for (const name of samples) t.equal((await a.req('GET', `/c/${name}`)).status, 404, `${name}: 404`);
  t.same([...(await queueRows(cluster, everyone)).rows], [movedRow], 'every queue replica holds only the moved entry');
  for (const name of samples) t.same((await objectPlacement(cluster, account, 'c', name)).dataOn, [], `${name}: no replica keeps its data`);

  // Clients never reach the queue, not even the reseller admin.
  const admin = await cluster.token('admin:admin', 'admin');
  const base = admin.storageUrl.replace(/\/[^/]+$/, '');
  for (const path of [`/${EXPIRING_OBJECTS_ACCOUNT}`, `/${EXPIRING_OBJECTS_ACCOUNT}/${[...queued.containers][0]}`]) {
    const asAdmin = await request(`${base}${path}`, { headers: { 'x-auth-token': admin.token } });
    await asAdmin.body.dump();
    t.equal(asAdmin.statusCode, 403, `reseller admin: GET ${path}`);
    const anonymous = await request(`${base}${path}`);
    await anonymous.body.dump();
    t.equal(anonymous.statusCode, 401, `anonymous: GET ${path}`);
  }
});
