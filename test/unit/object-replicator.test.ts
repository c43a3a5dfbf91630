import t from 'tap';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { signingDispatcher, TEST_BACKEND_KEY } from '../helpers/signing.js';
import { backendClientOver, type BackendClient } from '../../common/http-client.js';
import { parseConfig } from '../../common/config.js';
import { hashPath } from '../../common/hash-path.js';
import { backendPath, nodePath, withQuery } from '../../common/backend-path.js';
import { silentLogger } from '../../common/log.js';
import { Timestamp } from '../../common/timestamp.js';
import { parseStoragePolicies, type StoragePolicies } from '../../common/storage-policy.js';
import type { PassReport } from '../../common/pass-report.js';
import { Ring } from '../../ring-builder/ring.js';
import type { DaemonContext } from '../../replicator/context.js';
import { createObjectReplicator } from '../../replicator/object-replicator.js';
import { storageNodeSpec } from '../../storage-node/config.js';
import { openTempFileCount } from '../../storage-node/object/fs-durable.js';
import { objectLocation, partitionLockPath } from '../../storage-node/object/layout.js';
import { createObjectServer } from '../../storage-node/object/object-server.js';
import { createObjectReplicationHandler, MAX_DIGEST_PARTITIONS } from '../../storage-node/object/replication.js';
import { HASHES_FILE, partitionDigest } from '../../storage-node/object/suffix-hashes.js';
import { createStorageNodeHttpServer, sendStatus, type ReplicateHandler } from '../../storage-node/server.js';
import type { BackendServer } from '../../storage-node/types.js';
import { SECRET, testNodeContext } from '../helpers/node-context.js';

/**
 * Four in-process storage nodes (one device each) with the object server and the replication
 * handler; a one-partition ring whose primaries are d0, d1, d2 (d3 is the handoff) unless a test
 * moves it. Each node's replicator is built from the same ring.
 */
const PART = 0;
const RECLAIM = 7 * 86400;
const time = { ms: Date.now() };

const client = signingDispatcher();
t.teardown(() => client.close());

interface TNode {
  device: string;
  root: string;
  devicePath: string;
  port: number;
  start(): Promise<void>;
  stop(): Promise<void>;
}

type Teardown = { teardown(fn: () => unknown): void };

/** How a test changes a node's replication handler (e.g. into one from before the digest check). */
type HandlerWrap = (h: ReplicateHandler) => ReplicateHandler;

async function startNode(t: Teardown, device: string, policies?: StoragePolicies, wrap: HandlerWrap = (h) => h): Promise<TNode> {
  const ctx = await testNodeContext('swiftlet-objrepl-', device, { clock: () => time.ms, ...(policies ? { policies } : {}) });
  const root = ctx.devicesRoot;
  const devicePath = join(root, device);
  const stub: BackendServer = { handle: async (r) => sendStatus(r.res, 501), close: async () => {} };
  const server = createStorageNodeHttpServer(ctx, {
    object: createObjectServer(ctx),
    container: stub,
    account: stub,
    objectRow: stub,
    containerRow: stub,
    replicate: { object: wrap(createObjectReplicationHandler(ctx, { reclaimAgeS: RECLAIM })) },
  });
  let port = 0;
  const node: TNode = {
    device,
    root,
    devicePath,
    get port() {
      return port;
    },
    async start() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      });
      port = (server.address() as AddressInfo).port;
    },
    async stop() {
      const closed = new Promise((r) => server.close(r));
      server.closeAllConnections();
      await closed;
    },
  };
  t.teardown(async () => {
    if (server.listening) await node.stop();
    await ctx.backend.close();
    await rm(root, { recursive: true, force: true });
  });
  await node.start();
  return node;
}

async function cluster(t: Teardown, policies?: StoragePolicies, wraps: Record<number, HandlerWrap> = {}): Promise<TNode[]> {
  return Promise.all([0, 1, 2, 3].map((i) => startNode(t, `d${i}`, policies, wraps[i])));
}

/** A ring over the nodes (one partition unless `partPower` says more); `primaries` are device indexes, the same for every partition. */
function ringOf(nodes: TNode[], primaries: number[] = [0, 1, 2], partPower = 0): Ring {
  return Ring.fromData(
    {
      partPower,
      replicas: primaries.length,
      devices: nodes.map((n, i) => ({ id: i, region: 1, zone: i + 1, ip: '127.0.0.1', port: n.port, device: n.device, weight: 100, meta: '' })),
      replica2part2dev: primaries.map((p) => new Uint16Array(1 << partPower).fill(p)),
    },
    SECRET,
  );
}

function replicator(t: Teardown, node: TNode, ring: () => Ring, config: Record<string, unknown> = {}, over: Partial<DaemonContext> = {}) {
  const agent = signingDispatcher(TEST_BACKEND_KEY, { keepAliveTimeout: 10, connect: { timeout: 1000 } });
  t.teardown(() => agent.close());
  const ctx: DaemonContext = {
    config: parseConfig(storageNodeSpec, {
      swift_hash_path_prefix: SECRET.prefix,
      swift_hash_path_suffix: SECRET.suffix,
      bind_ip: '127.0.0.1',
      bind_port: node.port,
      devices: node.root,
      fsync: false,
      node_timeout_ms: 2000,
      reclaim_age_s: RECLAIM,
      replicator_concurrency: 2,
      ...config,
    }),
    devicesRoot: node.root,
    secret: SECRET,
    rings: { account: ring, container: ring, object: ring },
    backend: backendClientOver(agent, TEST_BACKEND_KEY),
    log: silentLogger,
    clock: () => time.ms,
    fsync: false,
    ...over,
  };
  return createObjectReplicator(ctx);
}

let ticks = Math.round(time.ms * 100);
const stamp = (): Timestamp => new Timestamp(ticks++);

async function call(method: string, url: string, headers: Record<string, string> = {}, body?: string | Buffer) {
  const res = await request(url, { method: method as 'GET', headers, body, dispatcher: client });
  return { status: res.statusCode, headers: res.headers, body: Buffer.from(await res.body.arrayBuffer()) };
}

const objUrl = (n: TNode, o: string): string => `http://127.0.0.1:${n.port}${backendPath(n.device, PART, 'AUTH_a', 'c', o)}`;
const loc = (n: TNode, o: string) => objectLocation(n.devicePath, PART, hashPath(SECRET, 'AUTH_a', 'c', o));

async function put(nodes: TNode[], o: string, body: string, ts = stamp()): Promise<Timestamp> {
  for (const n of nodes) {
    const r = await call('PUT', objUrl(n, o), { 'X-Timestamp': ts.internal, 'Content-Type': 'text/plain' }, body);
    if (r.status !== 201) throw new Error(`PUT ${o} on ${n.device}: ${r.status}`);
  }
  return ts;
}

async function files(n: TNode, o: string): Promise<string[]> {
  try {
    return (await readdir(loc(n, o).hashDir)).sort();
  } catch {
    return [];
  }
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

function counts(r: PassReport): Record<string, number> {
  return r.counts;
}

t.test('an object on 2 of 3 primaries reaches the third byte for byte; a second pass costs nothing', async (t) => {
  const nodes = await cluster(t);
  const ring = ringOf(nodes);
  const reps = nodes.slice(0, 3).map((n) => replicator(t, n, () => ring));
  const ts = await put(nodes.slice(0, 2), 'o', 'three good replicas');

  const first = await reps[0]!.runOnce();
  t.match(counts(first), { partitions: 1, objectsPushed: 1, suffixesSynced: 1, failures: 0 });
  t.equal(counts(first).bytesPushed, (await stat(join(loc(nodes[0]!, 'o').hashDir, `${ts.internal}.data`))).size);
  const want = await readFile(join(loc(nodes[0]!, 'o').hashDir, `${ts.internal}.data`));
  t.same(await files(nodes[2]!, 'o'), [`${ts.internal}.data`]);
  t.ok((await readFile(join(loc(nodes[2]!, 'o').hashDir, `${ts.internal}.data`))).equals(want), 'identical bytes');
  t.equal((await call('GET', objUrl(nodes[2]!, 'o'))).body.toString(), 'three good replicas');
  t.notOk(await exists(join(nodes[3]!.devicePath, 'objects')), 'nothing on the handoff');

  for (const r of reps) await r.runOnce(); // every node's cache settles
  const inodes = await Promise.all(nodes.slice(0, 3).map(async (n) => (await stat(join(n.devicePath, 'objects', '0', HASHES_FILE))).ino));
  for (const r of reps) {
    const again = await r.runOnce();
    t.match(counts(again), { partitions: 1, objectsPushed: 0, bytesPushed: 0, suffixesSynced: 0, failures: 0 }, 'nothing to push');
    t.match(counts(again), { partitionsInStep: 1, digestRequests: 3, suffixesChecked: 0 }, 'settled by one digest request to each node');
  }
  const after = await Promise.all(nodes.slice(0, 3).map(async (n) => (await stat(join(n.devicePath, 'objects', '0', HASHES_FILE))).ino));
  t.same(after, inodes, 'no node rewrote its hash cache: no suffix was rehashed');
});

t.test('a newer tombstone wins everywhere, and a .meta propagates', async (t) => {
  const nodes = await cluster(t);
  const ring = ringOf(nodes);
  const [n0, n1, n2] = nodes as [TNode, TNode, TNode, TNode];
  await put([n0, n1, n2], 'gone', 'old data');
  await put([n0, n1, n2], 'meta', 'some data');
  const del = stamp();
  t.equal((await call('DELETE', objUrl(n2, 'gone'), { 'X-Timestamp': del.internal })).status, 204);
  const post = stamp();
  t.equal((await call('POST', objUrl(n0, 'meta'), { 'X-Timestamp': post.internal, 'X-Object-Meta-Color': 'blue' })).status, 202);

  // n0 first: its old .data must not go back to n2, which deleted the object.
  const reports = [];
  for (const n of [n0, n1, n2]) reports.push(await replicator(t, n, () => ring).runOnce());
  t.equal(reports[0]!.counts.failures, 0);
  for (const n of [n0, n1, n2]) {
    t.same(await files(n, 'gone'), [`${del.internal}.ts`], `${n.device}: only the tombstone`);
    t.equal((await call('GET', objUrl(n, 'gone'))).status, 404);
    t.ok((await files(n, 'meta')).includes(`${post.internal}.meta`), `${n.device}: has the .meta`);
    t.equal((await call('HEAD', objUrl(n, 'meta'))).headers['x-object-meta-color'], 'blue');
  }
});

t.test('a handoff partition is pushed to the primaries and removed; so is one the ring moved away', async (t) => {
  const nodes = await cluster(t);
  const [n0, n1, n2, n3] = nodes as [TNode, TNode, TNode, TNode];
  let ring = ringOf(nodes);
  const ts = await put([n3], 'o', 'written while the primaries were busy');
  const rep3 = replicator(t, n3, () => ring);
  const r = await rep3.runOnce();
  t.match(r.counts, { handoffPartitionsReverted: 1, handoffPartitionsPending: 0, objectsPushed: 3, failures: 0 });
  const want = await readFile(join(loc(n0, 'o').hashDir, `${ts.internal}.data`));
  for (const n of [n1, n2]) t.ok((await readFile(join(loc(n, 'o').hashDir, `${ts.internal}.data`))).equals(want), `${n.device} has it`);
  t.notOk(await exists(join(n3.devicePath, 'objects', '0')), 'partition gone from the handoff');

  // A rebalance makes d3 a primary in place of d0: d0 hands the partition over.
  ring = ringOf(nodes, [3, 1, 2]);
  const moved = await replicator(t, n0, () => ring).runOnce();
  t.match(moved.counts, { handoffPartitionsReverted: 1, objectsPushed: 1, failures: 0 });
  t.same(await files(n3, 'o'), [`${ts.internal}.data`]);
  t.notOk(await exists(join(n0.devicePath, 'objects', '0')), 'partition gone from the old owner');
});

t.test('a primary that is down: the failure is counted and the handoff kept until it is back', async (t) => {
  const nodes = await cluster(t);
  const [n0, n1, n2, n3] = nodes as [TNode, TNode, TNode, TNode];
  const ring = ringOf(nodes);
  const ts = await put([n3], 'o', 'hold on to me');
  await n1.stop();
  const rep3 = replicator(t, n3, () => ring);
  const r = await rep3.runOnce();
  t.ok(r.counts.failures! >= 1, 'failure counted');
  t.match(r.counts, { handoffPartitionsReverted: 0, handoffPartitionsPending: 1 });
  t.same(await files(n3, 'o'), [`${ts.internal}.data`], 'handoff copy kept');
  for (const n of [n0, n2]) t.same(await files(n, 'o'), [`${ts.internal}.data`], `${n.device} got it anyway`);

  await n1.start();
  const again = await rep3.runOnce();
  t.match(again.counts, { handoffPartitionsReverted: 1, objectsPushed: 1, failures: 0 });
  t.same(await files(n1, 'o'), [`${ts.internal}.data`]);
  t.notOk(await exists(join(n3.devicePath, 'objects', '0')));
});

t.test('a primary whose disk is gone (507) is replaced by a handoff', async (t) => {
  const nodes = await cluster(t);
  const [n0, , n2, n3] = nodes as [TNode, TNode, TNode, TNode];
  const ring = ringOf(nodes);
  const ts = await put([n0], 'o', 'keep three copies');
  await rm(n2.devicePath, { recursive: true });
  const r = await replicator(t, n0, () => ring).runOnce();
  t.equal(r.counts.failures, 1);
  t.equal(r.counts.objectsPushed, 2, 'to d1 and to the handoff d3');
  t.same(await files(n3, 'o'), [`${ts.internal}.data`]);
});

t.test('the receiver verifies pushed files; a corrupt local .data is refused and quarantined', async (t) => {
  const nodes = await cluster(t);
  const [n0, n1] = nodes as [TNode, TNode, TNode, TNode];
  const openBefore = openTempFileCount();
  const ts = await put([n0], 'o', 'x'.repeat(1000));
  const l0 = loc(n0, 'o');
  const name = `${ts.internal}.data`;
  const good = await readFile(join(l0.hashDir, name));
  const pushUrl = (n: TNode, hash: string, file: string): string => `http://127.0.0.1:${n.port}/${n.device}/${PART}/${hash}/${file}`;
  const push = (n: TNode, file: string, body: Buffer, hash = l0.hash) =>
    call('PUT', pushUrl(n, hash, file), { 'X-Backend-Replicate': 'object', 'Content-Length': String(body.length) }, body);

  const flipped = Buffer.from(good);
  flipped[10] ^= 1;
  t.equal((await push(n1, name, flipped)).status, 422, 'body byte flipped');
  t.equal((await push(n1, name, good.subarray(0, good.length - 3))).status, 422, 'truncated trailer');
  t.equal((await push(n1, name, good, 'f'.repeat(29) + l0.suffix)).status, 422, 'name does not hash to the dir');
  t.equal((await push(n1, `${stamp().internal}.data`, good)).status, 422, 'timestamp does not match the file name');
  t.same(await files(n1, 'o'), [], 'nothing stored');
  t.same(await readdir(join(n1.devicePath, 'tmp')).catch(() => []), [], 'no temp file left');
  t.equal(openTempFileCount(), openBefore, 'none still counted as open (the tmp sweep would spare it)');

  t.equal((await push(n1, name, good)).status, 201);
  t.equal((await push(n1, name, good)).status, 200, 'idempotent');
  const del = stamp();
  t.equal((await call('DELETE', objUrl(n1, 'o'), { 'X-Timestamp': del.internal })).status, 204);
  t.equal((await push(n1, name, good)).status, 200, 'older than the tombstone: accepted and ignored');
  t.same(await files(n1, 'o'), [`${del.internal}.ts`]);

  // A .data that rotted on n0: n2 refuses it, n0 finds out and moves it aside.
  const ring = ringOf(nodes);
  await writeFile(join(l0.hashDir, name), flipped);
  const r = await replicator(t, n0, () => ring).runOnce();
  t.ok(r.counts.failures! >= 1);
  t.equal(r.counts.objectsPushed, 0);
  t.same(await files(nodes[2]!, 'o'), [], 'the bad copy did not spread');
  t.same(await files(n0, 'o'), [], 'quarantined locally');
  t.ok(await exists(join(n0.devicePath, 'quarantined', 'objects', l0.hash, name)));
});

t.test('two passes at once on one node (the daemons and a --once): each partition taken by one, no failures, nothing lost', async (t) => {
  const nodes = await cluster(t);
  const [n0, n1, n2, n3] = nodes as [TNode, TNode, TNode, TNode];
  const ring = ringOf(nodes);
  const written: string[] = [];
  for (let i = 0; i < 40; i++) {
    await put([n3], `h${i}`, `on the handoff ${i}`);
    await put([n0], `p${i}`, `on one primary ${i}`);
    written.push(`h${i}`, `p${i}`);
  }
  const passes = Promise.all([n3, n3, n0, n0].map((n) => replicator(t, n, () => ring).runOnce()));
  // Writes go on meanwhile, to the handoff too.
  for (let i = 0; i < 10; i++) {
    await put([n3], `late${i}`, `late ${i}`);
    written.push(`late${i}`);
  }
  const [h1, h2, p1, p2] = (await passes) as [PassReport, PassReport, PassReport, PassReport];
  for (const r of [h1, h2, p1, p2]) t.equal(r.counts.failures, 0, `no failures: ${r.errors.join('; ')}`);
  for (const [label, a, b] of [['handoff', h1, h2], ['primary', p1, p2]] as const) {
    t.same([a.counts.partitions! + b.counts.partitions!, a.counts.partitionsBusy! + b.counts.partitionsBusy!], [1, 1], `${label}: one pass replicated the partition, the other left it to it`);
  }

  for (const n of [n3, n0]) t.equal((await replicator(t, n, () => ring).runOnce()).counts.failures, 0, `${n.device}: a last pass`);
  for (const n of [n0, n1, n2]) {
    const missing = [];
    for (const o of written) if ((await files(n, o)).length !== 1) missing.push(o);
    t.same(missing, [], `${n.device} holds every object`);
  }
  t.notOk(await exists(join(n3.devicePath, 'objects', '0')), 'the handoff partition is gone');
  t.same((await readdir(join(n3.devicePath, 'objects'))).filter((f) => f.endsWith('.lock')), [], 'no lock left behind');
});

t.test('a partition another live process holds is skipped and counted busy; a dead holder\'s lock is taken over', async (t) => {
  const nodes = await cluster(t);
  const [n0, n1] = nodes as [TNode, TNode, TNode, TNode];
  const ring = ringOf(nodes);
  await put([n0], 'o', 'one copy');
  const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.teardown(() => other.kill('SIGKILL'));
  const lockPath = partitionLockPath(n0.devicePath, PART);
  writeFileSync(lockPath, JSON.stringify({ pid: other.pid, host: hostname(), token: 'another pass' }));
  const rep = replicator(t, n0, () => ring);
  t.match((await rep.runOnce()).counts, { partitions: 0, partitionsBusy: 1, objectsPushed: 0, failures: 0 }, 'left to the other pass');
  t.same(await files(n1, 'o'), []);
  await new Promise((r) => {
    other.once('exit', r);
    other.kill('SIGKILL');
  });
  t.match((await rep.runOnce()).counts, { partitions: 1, partitionsBusy: 0, objectsPushed: 2, failures: 0 }, 'its holder died: replicated');
  t.equal((await files(n1, 'o')).length, 1);
  t.notOk(await exists(lockPath), 'released after the job');
});

t.test("each storage policy is replicated by its own ring, in its own folder", async (t) => {
  const policies = parseStoragePolicies([
    { index: 0, name: 'gold', default: true },
    { index: 1, name: 'scratch' },
  ]);
  const nodes = await cluster(t, policies);
  const gold = ringOf(nodes, [0, 1, 2]);
  const scratch = ringOf(nodes, [2, 3]); // 2 replicas, on d2 and d3
  const reps = nodes.map((n) => replicator(t, n, () => gold, {}, { policies, rings: { account: () => gold, container: () => gold, object: (p = 0) => (p === 1 ? scratch : gold) } }));
  const putIn = async (n: TNode, policy: string, o: string) => {
    const r = await call('PUT', objUrl(n, o), { 'X-Timestamp': stamp().internal, 'Content-Type': 'text/plain', 'X-Backend-Storage-Policy-Index': policy }, o);
    t.equal(r.status, 201, `PUT ${o} (policy ${policy}) on ${n.device}`);
  };
  const holders = async (policy: number, o: string) => {
    const out: string[] = [];
    for (const n of nodes) {
      const names = await readdir(objectLocation(n.devicePath, PART, hashPath(SECRET, 'AUTH_a', 'c', o), policy).hashDir).catch(() => []);
      if (names.some((f) => f.endsWith('.data'))) out.push(n.device);
    }
    return out;
  };
  await putIn(nodes[3]!, '1', 'scratch-o'); // one replica of two
  await putIn(nodes[0]!, '1', 'scratch-handoff'); // d0 is no primary of policy 1
  await putIn(nodes[0]!, '0', 'gold-o');
  await putIn(nodes[1]!, '0', 'gold-o');
  for (const r of reps) t.equal(counts(await r.runOnce()).failures, 0);
  t.same(await holders(1, 'scratch-o'), ['d2', 'd3'], "policy 1: exactly its ring's 2 replicas");
  t.same(await holders(1, 'scratch-handoff'), ['d2', 'd3'], 'policy 1: a handoff copy went to its primaries');
  t.same(await holders(0, 'gold-o'), ['d0', 'd1', 'd2'], "policy 0: its ring's 3 replicas");
  t.same(await holders(0, 'scratch-o'), [], 'nothing of policy 1 in policy 0 folders');
  t.notOk(await exists(join(nodes[0]!.devicePath, 'objects-1', String(PART))), 'the reverted policy 1 partition is gone from d0');
  t.ok(await exists(join(nodes[3]!.devicePath, 'objects-1', String(PART))), 'policy 1 partitions sit in objects-1');
  t.equal(partitionLockPath(nodes[3]!.devicePath, PART, 1), join(nodes[3]!.devicePath, 'objects-1', `${PART}.lock`), 'and so do their locks');
  for (const r of reps) t.match(counts(await r.runOnce()), { objectsPushed: 0, failures: 0 }, 'converged: nothing more to push');
});

t.test('a partition in step with its peers is compared without taking the partition lock', async (t) => {
  const nodes = await cluster(t);
  const [n0] = nodes as [TNode, TNode, TNode, TNode];
  const ring = ringOf(nodes);
  await put(nodes.slice(0, 3), 'o', 'three copies');
  const rep = replicator(t, n0, () => ring);
  await rep.runOnce();
  // Another pass holds the lock: comparing needs none, so this pass still checks the partition.
  const other = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.teardown(() => other.kill('SIGKILL'));
  const lockPath = partitionLockPath(n0.devicePath, PART);
  writeFileSync(lockPath, JSON.stringify({ pid: other.pid, host: hostname(), token: 'another pass' }));
  t.match((await rep.runOnce()).counts, { partitions: 1, partitionsBusy: 0, partitionsInStep: 1, objectsPushed: 0, failures: 0 });
  t.equal(readFileSync(lockPath, 'utf8').includes('another pass'), true, 'the lock was never taken');
});

// ---- the batched digest check ----

/** A backend client for a replicator that records every request it sends, as "METHOD path". */
function countingBackend(t: Teardown, seen: string[]): BackendClient {
  const agent = signingDispatcher(TEST_BACKEND_KEY, { keepAliveTimeout: 10, connect: { timeout: 1000 } });
  t.teardown(() => agent.close());
  const inner = backendClientOver(agent, TEST_BACKEND_KEY);
  return {
    dispatcher: inner.dispatcher,
    sign: inner.sign,
    close: inner.close,
    request(origin, method, path, opts) {
      seen.push(`${method} ${path}`);
      return inner.request(origin, method, path, opts);
    },
  };
}

/** PUTs object `o` into partition `part` (whatever the ring says: the path decides) on each node. */
async function putIn(nodes: TNode[], part: number, o: string, body = o): Promise<void> {
  const ts = stamp();
  for (const n of nodes) {
    const r = await call('PUT', `http://127.0.0.1:${n.port}${backendPath(n.device, part, 'AUTH_a', 'c', o)}`, { 'X-Timestamp': ts.internal, 'Content-Type': 'text/plain' }, body);
    if (r.status !== 201) throw new Error(`PUT ${o} into ${part} on ${n.device}: ${r.status}`);
  }
}

async function filesIn(n: TNode, part: number, o: string): Promise<string[]> {
  return (await readdir(objectLocation(n.devicePath, part, hashPath(SECRET, 'AUTH_a', 'c', o)).hashDir).catch(() => [] as string[])).sort();
}

const DIGEST_HEADERS = { 'X-Backend-Replicate': 'object' };
const digestUrl = (n: TNode, query: string): string => `http://127.0.0.1:${n.port}${withQuery(nodePath(n.device, 'digests'), query)}`;

/** Partitions 0..count-1 each holding one object on the three primaries d0, d1, d2; every node's pass run once. */
async function inStepCluster(t: Teardown, partPower: number, count: number, wraps: Record<number, HandlerWrap> = {}) {
  const nodes = await cluster(t, undefined, wraps);
  const ring = ringOf(nodes, [0, 1, 2], partPower);
  for (let p = 0; p < count; p++) await putIn(nodes.slice(0, 3), p, `o${p}`);
  for (const n of nodes.slice(0, 3)) await replicator(t, n, () => ring).runOnce();
  return { nodes: nodes as [TNode, TNode, TNode, TNode], ring };
}

t.test('the digests verb answers, per partition, the md5 of what a REPLICATE answers', async (t) => {
  const nodes = await cluster(t);
  const [n0] = nodes as [TNode, TNode, TNode, TNode];
  await putIn([n0], 0, 'a');
  await putIn([n0], 3, 'b');
  const replicate = async (part: number) => JSON.parse((await call('POST', `http://127.0.0.1:${n0.port}${nodePath(n0.device, part)}`, DIGEST_HEADERS)).body.toString()) as Record<string, string>;
  const digests = async (query: string) => {
    const r = await call('POST', digestUrl(n0, query), DIGEST_HEADERS);
    t.equal(r.status, 200, query);
    return JSON.parse(r.body.toString()) as Record<string, string>;
  };
  const before = await digests('partitions=0,3,5');
  t.same(before, { 0: partitionDigest(await replicate(0)), 3: partitionDigest(await replicate(3)) }, 'a missing partition is left out');
  t.notSame(before['0'], before['3']);

  // A write only invalidates its suffix: the digest must see it as a REPLICATE would.
  await putIn([n0], 0, 'c');
  const after = await digests('partitions=0');
  t.notSame(after['0'], before['0'], 'hashes.invalid applied');
  t.same(after, { 0: partitionDigest(await replicate(0)) });
  t.same(await digests('partitions='), {}, 'no partitions, no digests');

  const many = Array.from({ length: MAX_DIGEST_PARTITIONS + 1 }, (_, i) => i).join(',');
  for (const bad of ['', 'partitions=01', 'partitions=x', 'partitions=1,,2', 'partitions=-1', `partitions=${many}`]) {
    t.equal((await call('POST', digestUrl(n0, bad), DIGEST_HEADERS)).status, 400, `refused: ${bad.slice(0, 30)}`);
  }
  t.equal((await call('GET', digestUrl(n0, 'partitions=0'), DIGEST_HEADERS)).status, 405);
  t.equal((await call('POST', `http://127.0.0.1:${n0.port}${withQuery(nodePath('nodisk', 'digests'), 'partitions=0')}`, DIGEST_HEADERS)).status, 507);
});

t.test('an idle pass over many partitions costs a few digest requests per node, no REPLICATE per partition', async (t) => {
  const N = 24;
  const { nodes, ring } = await inStepCluster(t, 11, N);
  const [n0] = nodes;
  // Partitions holding nothing (more than one batch of them) cost our node's digests only.
  const empty = MAX_DIGEST_PARTITIONS + 10;
  for (let p = 100; p < 100 + empty; p++) await mkdir(join(n0.devicePath, 'objects', String(p)));

  const seen: string[] = [];
  const r = await replicator(t, n0, () => ring, {}, { backend: countingBackend(t, seen) }).runOnce();
  t.match(r.counts, { partitions: N + empty, partitionsInStep: N + empty, digestRequests: 4, digestRequestsFailed: 0, suffixesChecked: 0, objectsPushed: 0, failures: 0 });
  t.equal(seen.length, 4, 'two batches to our node (partitions past one request), one to each peer');
  t.ok(
    seen.every((s) => /^POST \/d[012]\/digests\?partitions=[\d,]+$/.test(s)),
    'digest requests only',
  );
  t.equal(seen.filter((s) => s.startsWith('POST /d0/')).length, 2);
  t.same(await readdir(join(n0.devicePath, 'objects')).then((names) => names.filter((f) => f.endsWith('.lock'))), [], 'no lock file taken');
});

t.test('a partition changed on one node, or lost on another, is still found and synced', async (t) => {
  const N = 16;
  const { nodes, ring } = await inStepCluster(t, 4, N);
  const [n0, n1, n2] = nodes;
  await putIn([n1], 7, 'late');
  await rm(join(n2.devicePath, 'objects', '12'), { recursive: true });

  const seen: string[] = [];
  const r = await replicator(t, n1, () => ring, {}, { backend: countingBackend(t, seen) }).runOnce();
  t.match(r.counts, { partitions: N, partitionsInStep: N - 2, digestRequests: 3, digestRequestsFailed: 0, objectsPushed: 3, failures: 0 });
  for (const n of [n0, n2]) t.equal((await filesIn(n, 7, 'late')).length, 1, `${n.device} got the new object`);
  t.equal((await filesIn(n2, 12, 'o12')).length, 1, 'the lost partition is back');
  t.same(
    [...new Set(seen.filter((s) => !s.includes('/digests?')).map((s) => s.split('/')[2]))].sort(),
    ['12', '7'],
    'only the two partitions that differ went the per-partition way',
  );
  for (const n of [n0, n1, n2]) {
    t.match((await replicator(t, n, () => ring).runOnce()).counts, { partitions: N, partitionsInStep: N, objectsPushed: 0, failures: 0 }, `${n.device}: all in step again`);
  }
});

t.test('a peer that does not answer the digest check is compared partition by partition', async (t) => {
  // d2 runs a node from before the check: it refuses the path, as that code did.
  const old: HandlerWrap = (h) => async (r) => {
    if (r.rest[0] !== 'digests') return h(r);
    r.req.resume();
    sendStatus(r.res, 400, 'Invalid path');
  };
  const N = 8;
  const { nodes, ring } = await inStepCluster(t, 3, N, { 2: old });
  const [n0, n1, n2] = nodes;
  await putIn([n0], 3, 'only-here');
  const seen: string[] = [];
  const rep = replicator(t, n0, () => ring, {}, { backend: countingBackend(t, seen) });
  const r = await rep.runOnce();
  t.match(r.counts, { partitions: N, partitionsInStep: 0, digestRequests: 3, digestRequestsFailed: 1, objectsPushed: 2, failures: 0 });
  for (const n of [n1, n2]) t.equal((await filesIn(n, 3, 'only-here')).length, 1, `${n.device} got it`);
  const perPartition = seen.filter((s) => s.startsWith('POST /d2/') && !s.includes('/digests?')).length;
  t.ok(perPartition >= N, `each partition asked of d2 by REPLICATE (${perPartition})`);
  t.match((await rep.runOnce()).counts, { partitions: N, partitionsInStep: 0, digestRequestsFailed: 1, objectsPushed: 0, failures: 0 }, 'in step, found the old way');
});
