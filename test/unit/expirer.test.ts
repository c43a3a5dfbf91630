import { readdir } from 'node:fs/promises';
import t from 'tap';
import {
  dueEndMarker,
  entryOwner,
  EXPIRING_OBJECTS_ACCOUNT,
  expirerContainer,
  parseQueueRow,
  parseQueueRowContentType,
  queueRowContentType,
  queueRowName,
} from '../../common/expiring-queue.js';
import { hashPath } from '../../common/hash-path.js';
import { SeededRandom } from '../../common/random.js';
import { parseStoragePolicies } from '../../common/storage-policy.js';
import { Timestamp } from '../../common/timestamp.js';
import type { DaemonContext, DaemonRings } from '../../replicator/context.js';
import { actsOn, createExpirer, expiryOutcome, expiryTimestamp, queueContainerRetired } from '../../replicator/expirer.js';
import { createUpdater } from '../../replicator/updater.js';
import { requeueExpiring } from '../../replicator/expirer-requeue.js';
import { deleteAtPlan, deleteAtUpdateTargets, objectUpdateTargets } from '../../ring-builder/update-targets.js';
import { objectLocation } from '../../storage-node/object/layout.js';
import { call, closeClientAfter, daemonContext, listing, makeRings, SECRET, stamper, startNode, type FakeTime, type TestNode } from '../helpers/daemon-nodes.js';

/** The expirer and its queue (.expiring_objects) on three in-process storage nodes (3 replicas), on a fake clock. */

closeClientAfter(t);

const A = 'AUTH_a';
const C = 'c';
const DIVISOR = 86_400;

async function ls(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

// ---------------------------------------------------------------------------------------------
// Pure parts

t.test('queue container: Swift get_expirer_container, 100 shards per divisor', async (t) => {
  const rnd = new SeededRandom(26);
  const shards = new Set<string>();
  for (let i = 0; i < 2000; i++) {
    const obj = `o-${rnd.int(1_000_000)}/x`;
    const deleteAt = 1_700_000_000 + rnd.int(86_400);
    const name = expirerContainer(SECRET, deleteAt, DIVISOR, A, C, obj);
    const shard = Number(BigInt(`0x${hashPath(SECRET, A, C, obj)}`) % 100n);
    t.equal(name, String(Math.floor(deleteAt / DIVISOR) * DIVISOR - shard).padStart(10, '0'));
    t.ok(Number(name) <= deleteAt && deleteAt < Number(name) + DIVISOR + 100, 'every entry lies in [name, name + divisor + 100)');
    shards.add(name);
  }
  t.ok(shards.size >= 150, `a day's entries spread over many containers (${shards.size})`);
  t.equal(expirerContainer(SECRET, 50, DIVISOR, A, C, 'o'), '0000000000', 'never below 0');
});

t.test('queue row names: ten digits, then the path; parsed back', async (t) => {
  const rnd = new SeededRandom(7);
  for (const obj of ['o', 'a/b/c', 'with-dash', 'ünï-cødé/x', `r${rnd.int(1e9)}`]) {
    const name = queueRowName(1_700_000_010, A, C, obj);
    t.equal(name, `1700000010-${A}/${C}/${obj}`);
    t.same(parseQueueRow(name), { deleteAt: 1_700_000_010, account: A, container: C, obj });
  }
  t.equal(queueRowName(5, A, C, 'o'), `0000000005-${A}/${C}/o`);
  for (const bad of ['170000001-a/c/o', '1700000010-a/c', '1700000010a/c/o', 'x']) t.equal(parseQueueRow(bad), undefined, bad);
  t.equal(dueEndMarker(1_700_000_010.9), '1700000011', 'rows due at now sort before now+1');
  const v = Timestamp.parse('1700000000.12345_000000000000000a');
  t.same(parseQueueRowContentType(queueRowContentType(v, 3)), { version: v, policy: 3 });
  t.equal(parseQueueRowContentType('text/plain'), undefined);
});

t.test('owner choice: stable, in range, spread; others take over once overdue', async (t) => {
  const rnd = new SeededRandom(99);
  const counts = [0, 0, 0];
  for (let i = 0; i < 3000; i++) {
    const name = queueRowName(1_700_000_000 + rnd.int(1000), A, C, `o${rnd.int(1e9)}`);
    const owner = entryOwner(name, 3);
    t.equal(entryOwner(name, 3), owner);
    counts[owner] = (counts[owner] ?? 0) + 1;
  }
  for (const c of counts) t.ok(c > 800, `each primary owns about a third (${counts.join('/')})`);
  t.equal(entryOwner('x', 1), 0);
  const name = queueRowName(1000, A, C, 'o');
  const owner = entryOwner(name, 3);
  const other = (owner + 1) % 3;
  t.ok(actsOn(name, 1000, 3, owner, 1000, 120), 'the owner acts once due');
  t.notOk(actsOn(name, 1000, 3, other, 1119, 120), 'another waits for the takeover time');
  t.ok(actsOn(name, 1000, 3, other, 1120, 120), 'and then acts');
  t.notOk(queueContainerRetired('0000086400', DIVISOR, 86_400 * 2 + 99));
  t.ok(queueContainerRetired('0000086400', DIVISOR, 86_400 * 2 + 100));
});

t.test('the DELETE timestamp is X-Delete-At, tie-broken past the version', async (t) => {
  const v = Timestamp.parse('1700000000.50000');
  t.equal(expiryTimestamp(1_700_000_010, v).internal, '1700000010.00000');
  const whole = Timestamp.parse('1700000010');
  t.equal(expiryTimestamp(1_700_000_010, whole).internal, '1700000010.00000_0000000000000001');
  t.ok(expiryTimestamp(1_700_000_010, whole).compare(whole) > 0);
});

t.test("the proxy tells every queue replica, in Swift's order (and its account replica)", async (t) => {
  const nodes = [{ port: 6001, device: 'sda1' }, { port: 6002, device: 'sdb1' }, { port: 6003, device: 'sdc1' }];
  const rings = await makeRings(t, nodes, 3);
  const at = 1_700_000_010;
  const queue = expirerContainer(SECRET, at, DIVISOR, A, C, 'o');
  const qpart = rings.container().partitionFor(EXPIRING_OBJECTS_ACCOUNT, queue);
  const apart = rings.account().partitionFor(EXPIRING_OBJECTS_ACCOUNT);
  const q = (j: number) => rings.container().primaries(qpart)[j] as { port: number; device: string };
  const a = (j: number) => rings.account().primaries(apart)[j] as { port: number; device: string };
  const expect = (js: number[]) => ({
    'x-delete-at-container': queue,
    'x-delete-at-host': js.map((j) => `127.0.0.1:${q(j).port}`).join(','),
    'x-delete-at-device': js.map((j) => q(j).device).join(','),
    'x-delete-at-partition': String(qpart),
    'x-delete-at-account-host': js.map((j) => `127.0.0.1:${a(j).port}`).join(','),
    'x-delete-at-account-device': js.map((j) => a(j).device).join(','),
    'x-delete-at-account-partition': String(apart),
  });
  // Three object replicas: update k goes to object replica 2 - k (Swift reverses the index).
  const three = deleteAtUpdateTargets(rings, SECRET, DIVISOR, at, A, C, 'o');
  for (let i = 0; i < 3; i++) t.same(three(i), expect([2 - i]), `object replica ${i} of 3`);
  t.same(deleteAtPlan(3, 3, 3), [[2], [1], [0]]);
  // Fewer object replicas than queue replicas: one names several, comma-separated.
  t.same(deleteAtPlan(2, 3, 3), [[1], [0, 2]], 'max(Qc + Ro - Qo, Rc) = 3 updates over 2 replicas');
  const two = deleteAtUpdateTargets(rings, SECRET, DIVISOR, at, A, C, 'o', 2);
  t.same(two(1), expect([0, 2]));
  t.same(two(0), expect([1]));
  t.same(deleteAtPlan(1, 3, 3), [[0, 1, 2]]);
  // More object replicas than updates: a replica that tells none gets no X-Delete-At-* at all.
  t.same(deleteAtPlan(5, 3, 3), [[], [0], [2], [1], [0]], '4 updates: replicas 4, 3, 2, 1');
  t.same(deleteAtUpdateTargets(rings, SECRET, DIVISOR, at, A, C, 'o', 5)(0), {});
});

t.test('what the DELETE statuses mean', async (t) => {
  const young = { deleteAt: 1000, nowS: 1100, reclaimAgeS: 604_800 };
  const old = { deleteAt: 1000, nowS: 1000 + 604_801, reclaimAgeS: 604_800 };
  const cases: Array<[number[], number[], string, string]> = [
    [[204, 204, 204], [], 'expired', 'all took it'],
    [[204, 0, 404], [], 'expired', 'one tombstone, one without a copy, one down'],
    [[404, 0, 404], [204], 'expired', 'the copy sat on a handoff'],
    [[404, 0, 0], [], 'retry', 'no tombstone anywhere and nodes down: the copy may be on them'],
    [[404, 404, 404], [404, 404, 404], 'retry', 'nothing anywhere, but young: retried'],
    [[204, 0, 0], [0, 0], 'retry', 'no quorum'],
    [[412, 412, 204], [], 'superseded', 'other versions'],
    [[409, 404, 0], [], 'superseded', 'a newer write'],
  ];
  for (const [p, h, want, why] of cases) t.equal(expiryOutcome(p, h, young), want, why);
  t.equal(expiryOutcome([404, 404, 404], [], old), 'notFound', 'given up after reclaim_age');
  t.equal(expiryOutcome([404, 0, 0], [], old), 'retry', 'not while a quorum is unknown');
});

// ---------------------------------------------------------------------------------------------
// On storage nodes

/** A tiny proxy: placement from the rings, one timestamp per write, update and queue headers per replica. */
function miniProxy(nodes: TestNode[], rings: DaemonRings, stamp: () => Timestamp) {
  const byDevice = new Map(nodes.map((n) => [n.device, n]));
  const nodeOf = (device: string) => byDevice.get(device) as TestNode;
  const cpart = rings.container().partitionFor(A, C);
  const cnodes = rings.container().primaries(cpart);
  const apart = rings.account().partitionFor(A);
  const anodes = rings.account().primaries(apart);
  const objectNodes = (obj: string) => {
    const part = rings.object().partitionFor(A, C, obj);
    return rings.object().primaries(part).map((d) => ({ node: nodeOf(d.device), url: nodeOf(d.device).url(part, A, C, obj) }));
  };
  const targetsFor = (obj: string, headers: Record<string, string>) => {
    const base = objectUpdateTargets(rings, A, C);
    const at = headers['X-Delete-At'];
    if (at === undefined) return base;
    const queue = deleteAtUpdateTargets(rings, SECRET, DIVISOR, Number(at), A, C, obj);
    return (i: number) => ({ ...base(i), ...queue(i) });
  };
  const write = async (method: 'PUT' | 'POST', obj: string, headers: Record<string, string>, body: string | undefined, only?: number[]) => {
    const ts = stamp().internal;
    const targets = targetsFor(obj, headers);
    for (const [i, { url }] of objectNodes(obj).entries()) {
      if (only && !only.includes(i)) continue;
      const r = await call(method, url, { 'X-Timestamp': ts, ...(method === 'PUT' ? { 'Content-Type': 'text/plain' } : {}), ...targets(i), ...headers }, body);
      if (r.status !== (method === 'PUT' ? 201 : 202)) throw new Error(`${method} ${obj} on replica ${i}: ${r.status}`);
    }
  };
  return {
    containerUrls: () => cnodes.map((d) => nodeOf(d.device).url(cpart, A, C)),
    objectNodes,
    async createContainer() {
      for (const d of anodes) await call('PUT', nodeOf(d.device).url(apart, A), { 'X-Timestamp': stamp().internal });
      const ts = stamp().internal;
      for (const [i, d] of cnodes.entries()) {
        const at = anodes[i] as (typeof anodes)[0];
        await call('PUT', nodeOf(d.device).url(cpart, A, C), { 'X-Timestamp': ts, 'X-Account-Host': `${at.ip}:${at.port}`, 'X-Account-Device': at.device, 'X-Account-Partition': String(apart) });
      }
    },
    put: (obj: string, body: string, headers: Record<string, string> = {}, only?: number[]) => write('PUT', obj, headers, body, only),
    post: (obj: string, headers: Record<string, string> = {}) => write('POST', obj, headers, undefined),
    /** Every row of every queue container, on every node holding a replica (deduplicated). */
    async queueRows(): Promise<string[]> {
      const rows = new Set<string>();
      const aring = rings.account();
      const qpart = aring.partitionFor(EXPIRING_OBJECTS_ACCOUNT);
      for (const d of aring.primaries(qpart)) {
        const r = await call('GET', `${nodeOf(d.device).url(qpart, EXPIRING_OBJECTS_ACCOUNT)}?format=json`);
        if (r.status !== 200) continue;
        for (const { name } of JSON.parse(r.body.toString()) as Array<{ name: string }>) {
          const part = rings.container().partitionFor(EXPIRING_OBJECTS_ACCOUNT, name);
          for (const cd of rings.container().primaries(part)) for (const row of await listing(nodeOf(cd.device).url(part, EXPIRING_OBJECTS_ACCOUNT, name))) rows.add(row);
        }
      }
      return [...rows].sort();
    },
  };
}

/** A daemon context whose backend client records every request it sends. */
function recording(ctx: DaemonContext): { ctx: DaemonContext; requests: Array<{ method: string; path: string }> } {
  const requests: Array<{ method: string; path: string }> = [];
  const backend = ctx.backend;
  return {
    requests,
    ctx: {
      ...ctx,
      backend: {
        ...backend,
        request(origin, method, path, opts) {
          requests.push({ method, path });
          return backend.request(origin, method, path, opts);
        },
      },
    },
  };
}

async function passAll(expirers: Array<{ runOnce(): Promise<{ counts: Record<string, number> }> }>): Promise<Record<string, number>> {
  const totals: Record<string, number> = {};
  for (const e of expirers) {
    const r = await e.runOnce();
    for (const [k, v] of Object.entries(r.counts)) totals[k] = (totals[k] ?? 0) + v;
  }
  return totals;
}

/** Three nodes (3 replicas) on a fake clock, and a mini proxy with the container made. */
async function threeNodes(t: Parameters<typeof startNode>[0], policies?: ReturnType<typeof parseStoragePolicies>) {
  const time: FakeTime = { ms: 1_700_000_000_000 };
  const nodes: TestNode[] = [];
  for (const device of ['sda1', 'sdb1', 'sdc1']) nodes.push(await startNode(t, { device, time, ...(policies ? { policies } : {}) }));
  const rings = await makeRings(t, nodes, 3);
  const proxy = miniProxy(nodes, rings, stamper(time));
  await proxy.createContainer();
  return { time, nodes, rings, proxy };
}

t.test('due objects leave every replica and the listing through the queue; moved and removed expiries are honoured', async (t) => {
  const { time, nodes, rings, proxy } = await threeNodes(t);

  const D = Math.floor(time.ms / 1000) + 10;
  await proxy.put('doomed', 'bye', { 'X-Delete-At': String(D) });
  await proxy.put('notyet', 'later', { 'X-Delete-At': String(D + 1000) });
  await proxy.put('keeper', 'v1', { 'X-Delete-At': String(D) });
  await proxy.put('keeper', 'v2'); // overwritten everywhere without X-Delete-At
  await proxy.put('stale', 'v1', { 'X-Delete-At': String(D) });
  await proxy.put('stale', 'v2', {}, [0, 1]); // the third replica still holds the expiring copy
  await proxy.put('moved', 'm', { 'X-Delete-At': String(D) });
  await proxy.post('moved', { 'X-Delete-At': String(D + 500) });
  await proxy.put('removed', 'r', { 'X-Delete-At': String(D) });
  await proxy.post('removed', {}); // a POST without X-Delete-At removes it

  const row = (at: number, obj: string) => queueRowName(at, A, C, obj);
  t.same(
    await proxy.queueRows(),
    [row(D, 'doomed'), row(D, 'keeper'), row(D, 'moved'), row(D, 'removed'), row(D, 'stale'), row(D + 1000, 'notyet'), row(D + 500, 'moved')].sort(),
    'one row per X-Delete-At set; the rows to drop wait in async pendings for the updater',
  );

  const ctxs = nodes.map((n) => recording(daemonContext(t, n, rings, time, { expiring_objects_container_divisor: DIVISOR })));
  const expirers = ctxs.map((c) => createExpirer(c.ctx));
  // Before anything is due, a pass lists the account and nothing else.
  let totals = await passAll(expirers);
  t.same(Object.keys(totals), ['queueContainers'], 'nothing due: only the queue containers this node holds are counted');
  for (const c of ctxs) {
    t.ok(c.requests.length > 0 && c.requests.every((r) => r.method === 'GET' && r.path.includes(`/${EXPIRING_OBJECTS_ACCOUNT}`)), 'only queue listings');
    t.notOk(c.requests.some((r) => r.path.includes('/' + A)), 'no object touched');
    c.requests.length = 0;
  }

  time.ms = (D + 1) * 1000;
  totals = await passAll(expirers);
  t.equal(totals.objectsExpired, 1, 'doomed expired once (its owner acted, the others left it)');
  t.equal(totals.stale, 4, 'keeper, stale, moved, removed: a newer version is live');
  t.equal(totals.queueRowsRemoved, 5);
  t.equal(totals.failures, undefined);
  t.ok((totals.entriesDue ?? 0) >= 5, 'due rows seen (by their owner, and by others while it still had them)');

  const hash = hashPath(SECRET, A, C, 'doomed');
  const part = rings.object().partitionFor(A, C, 'doomed');
  for (const n of nodes) t.same(await ls(objectLocation(n.devicePath, part, hash).hashDir), [`${Timestamp.fromSeconds(D).internal}.ts`], `tombstone at X-Delete-At on ${n.device}`);
  for (const url of proxy.containerUrls()) t.same(await listing(url), ['keeper', 'moved', 'notyet', 'removed', 'stale'], 'row gone from every container replica');
  for (const { url } of proxy.objectNodes('keeper')) t.equal((await call('GET', url)).body.toString(), 'v2', 'overwritten object kept');
  for (const { url } of proxy.objectNodes('moved')) t.equal((await call('GET', url)).status, 200, 'moved: not expired at the old time');
  for (const { url } of proxy.objectNodes('removed')) t.equal((await call('GET', url)).status, 200, 'removed: not expired');
  for (const { url } of proxy.objectNodes('stale').slice(0, 2)) t.equal((await call('GET', url)).body.toString(), 'v2', 'newer version not buried by the stale copy');

  // The updater delivers the row DELETEs the object servers saved (to every queue primary).
  for (const n of nodes) await createUpdater(daemonContext(t, n, rings, time)).runOnce();
  t.same(await proxy.queueRows(), [row(D + 1000, 'notyet'), row(D + 500, 'moved')].sort());

  time.ms = (D + 501) * 1000;
  totals = await passAll(expirers);
  t.equal(totals.objectsExpired, 1, 'moved expires at its new time');
  for (const url of proxy.containerUrls()) t.same(await listing(url), ['keeper', 'notyet', 'removed', 'stale']);
  for (const c of ctxs) c.requests.length = 0;
  totals = await passAll(expirers);
  t.same(totals.objectsExpired, undefined, 'a second pass finds nothing');
  t.notOk(ctxs.some((c) => c.requests.some((r) => r.path.includes('/' + A))), 'and touches no object');
});

t.test('a row whose owner is down is taken over once overdue; an empty retired queue container goes', async (t) => {
  const { time, nodes, rings, proxy } = await threeNodes(t);
  const D = Math.floor(time.ms / 1000) + 10;
  await proxy.put('o', 'x', { 'X-Delete-At': String(D) });
  const queue = expirerContainer(SECRET, D, DIVISOR, A, C, 'o');
  const qpart = rings.container().partitionFor(EXPIRING_OBJECTS_ACCOUNT, queue);
  const qnodes = rings.container().primaries(qpart);
  const ownerDevice = (qnodes[entryOwner(queueRowName(D, A, C, 'o'), qnodes.length)] as (typeof qnodes)[0]).device;
  const owner = nodes.find((n) => n.device === ownerDevice) as TestNode;
  const others = nodes.filter((n) => n !== owner);
  await owner.stop();
  const cfg = { expiring_objects_container_divisor: DIVISOR, expirer_interval_s: 60 };
  const expirers = others.map((n) => createExpirer(daemonContext(t, n, rings, time, cfg)));

  time.ms = (D + 1) * 1000;
  let totals = await passAll(expirers);
  t.equal(totals.objectsExpired, undefined, 'the owner is down: the others wait');
  t.equal(totals.notYours, 2);
  time.ms = (D + 120) * 1000; // 2 x expirer_interval_s overdue
  totals = await passAll(expirers);
  t.equal(totals.objectsExpired, 1, 'taken over');
  t.equal(totals.queueRowsRemoved, 1, 'row removed on a quorum of the queue primaries');
  for (const n of others) {
    const { url } = proxy.objectNodes('o').find((x) => x.node === n) as { url: string };
    t.equal((await call('GET', url)).status, 404);
  }
  await owner.start();
  // Two days on, the empty queue container is deleted, and the account forgets it.
  time.ms = (Number(queue) + DIVISOR + 100) * 1000;
  const all = nodes.map((n) => createExpirer(daemonContext(t, n, rings, time, cfg)));
  const first = await passAll(all);
  t.equal(first.superseded, 1, "the owner's replica still had the row: its pass finds the object gone elsewhere and drops it");
  const second = await passAll(all);
  t.ok((first.queueContainersDeleted ?? 0) + (second.queueContainersDeleted ?? 0) >= 1, 'then the empty retired queue container is deleted on its primaries');
  t.same(await proxy.queueRows(), [], 'the queue is empty');
  // The container server told the account before it answered the DELETE.
  const aring = rings.account();
  const apart = aring.partitionFor(EXPIRING_OBJECTS_ACCOUNT);
  for (const d of aring.primaries(apart)) {
    const n = nodes.find((x) => x.device === d.device) as TestNode;
    const r = await call('GET', `${n.url(apart, EXPIRING_OBJECTS_ACCOUNT)}?format=json`);
    t.same(r.status === 200 ? (JSON.parse(r.body.toString()) as unknown[]) : [], [], `no queue container listed on ${d.device}`);
  }
});

t.test('objects of every storage policy expire, deleted in their own folder', async (t) => {
  const policies = parseStoragePolicies([
    { index: 0, name: 'gold', default: true },
    { index: 1, name: 'scratch' },
  ]);
  const { time, nodes, rings, proxy } = await threeNodes(t, policies);
  const D = Math.floor(time.ms / 1000) + 10;
  await proxy.put('doomed', 'bye', { 'X-Delete-At': String(D), 'X-Backend-Storage-Policy-Index': '1' });
  time.ms = (D + 1) * 1000;
  const totals = await passAll(nodes.map((n) => createExpirer(daemonContext(t, n, rings, time, { expiring_objects_container_divisor: DIVISOR }))));
  t.equal(totals.objectsExpired, 1, 'the row names policy 1: deleted there');
  const part = rings.object().partitionFor(A, C, 'doomed');
  const hash = hashPath(SECRET, A, C, 'doomed');
  for (const n of nodes) t.same(await ls(objectLocation(n.devicePath, part, hash, 1).hashDir), [`${Timestamp.fromSeconds(D).internal}.ts`], `a tombstone in objects-1 on ${n.device}`);
  for (const url of proxy.containerUrls()) t.same(await listing(url), [], 'and the listing row is gone');
});

t.test('one object replica that names several queue replicas writes the row into each', async (t) => {
  const { time, nodes, rings, proxy } = await threeNodes(t);
  const D = Math.floor(time.ms / 1000) + 10;
  const byDevice = new Map(nodes.map((n) => [n.device, n]));
  const first = proxy.objectNodes('solo')[0] as { node: TestNode; url: string };
  const stamp = stamper(time);
  // As the proxy writes an object of one replica: its only replica tells all three queue replicas.
  const queueTargets = deleteAtUpdateTargets(rings, SECRET, DIVISOR, D, A, C, 'solo', 1)(0);
  t.equal(queueTargets['x-delete-at-host']?.split(',').length, 3);
  const put = await call('PUT', first.url, { 'X-Timestamp': stamp().internal, 'Content-Type': 'text/plain', 'X-Delete-At': String(D), ...objectUpdateTargets(rings, A, C)(0), ...queueTargets }, 'x');
  t.equal(put.status, 201);
  const queue = expirerContainer(SECRET, D, DIVISOR, A, C, 'solo');
  const qpart = rings.container().partitionFor(EXPIRING_OBJECTS_ACCOUNT, queue);
  for (const d of rings.container().primaries(qpart)) {
    const url = (byDevice.get(d.device) as TestNode).url(qpart, EXPIRING_OBJECTS_ACCOUNT, queue);
    t.same(await listing(url), [queueRowName(D, A, C, 'solo')], `the row on queue replica ${d.device}`);
  }
  // Hosts without devices (a malformed list): nothing is sent, the row waits for the updater.
  const bad = { ...queueTargets, 'x-delete-at-device': ',,' };
  const again = await call('PUT', first.url, { 'X-Timestamp': stamp().internal, 'Content-Type': 'text/plain', 'X-Delete-At': String(D + 1), ...objectUpdateTargets(rings, A, C)(0), ...bad, 'x-delete-at-container': expirerContainer(SECRET, D + 1, DIVISOR, A, C, 'solo') }, 'y');
  t.equal(again.status, 201);
  await createUpdater(daemonContext(t, first.node, rings, time)).runOnce();
  t.ok((await proxy.queueRows()).includes(queueRowName(D + 1, A, C, 'solo')), 'the saved row reached the queue through the updater');
});

t.test('expirer --requeue queues objects written before the queue existed', async (t) => {
  const { time, nodes, rings, proxy } = await threeNodes(t);
  const D = Math.floor(time.ms / 1000) + 10;
  // As an old proxy wrote them: X-Delete-At stored, no X-Delete-At-* headers, so no row.
  for (const [i, { url }] of proxy.objectNodes('old').entries()) {
    const cpart = rings.container().partitionFor(A, C);
    const cdev = rings.container().primaries(cpart)[i] as { ip: string; port: number; device: string };
    const r = await call('PUT', url, { 'X-Timestamp': Timestamp.fromSeconds(D - 5).internal, 'Content-Type': 'text/plain', 'X-Delete-At': String(D), 'X-Container-Host': `${cdev.ip}:${cdev.port}`, 'X-Container-Device': cdev.device, 'X-Container-Partition': String(cpart) }, 'x');
    t.equal(r.status, 201);
  }
  await proxy.put('plain', 'p');
  t.same(await proxy.queueRows(), [], 'no row for the old object');
  const ctxs = nodes.map((n) => daemonContext(t, n, rings, time, { expiring_objects_container_divisor: DIVISOR }));
  let requeued = 0;
  for (const ctx of ctxs) {
    const r = await requeueExpiring(ctx);
    t.equal(r.counts.failures, undefined);
    requeued += r.counts.requeued ?? 0;
  }
  t.equal(requeued, 3, 'each primary of the object queues it (the same row, idempotent)');
  t.same(await proxy.queueRows(), [queueRowName(D, A, C, 'old')]);
  time.ms = (D + 1) * 1000;
  const totals = await passAll(ctxs.map((c) => createExpirer(c)));
  t.equal(totals.objectsExpired, 1, 'then it expires');
  for (const url of proxy.containerUrls()) t.same(await listing(url), ['plain']);
});
