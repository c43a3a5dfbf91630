import t from 'tap';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { SWIFTLET_BIN } from '../helpers/cluster.js';
import { accountReplicas, containerReplicas, landedDataFilePath, directGet, objectPlacement } from '../helpers/replicas.js';
import { clusterWithContainer } from '../helpers/swift-api.js';

/** Probe tests for the daemons with real processes: heal after a dead node, bit rot, a new node. */
const execFileP = promisify(execFile);
const body = (name: string, v = 1): Buffer => Buffer.from(`${name} v${v} `.repeat(200 + name.length));

t.test('kill -9 a node, write and delete, restart, run the daemons: 3 good replicas, nothing resurrected', async (t) => {
  const { cluster, a, account } = await clusterWithContainer(t, { partPower: 6 });
  const live = new Map<string, Buffer>();
  for (let i = 0; i < 12; i++) {
    t.equal((await a.req('PUT', `/c/pre-${i}`, { body: body(`pre-${i}`) })).status, 201);
    live.set(`pre-${i}`, body(`pre-${i}`));
  }
  const victim = cluster.nodes[0]!;
  await cluster.kill(victim);
  for (let i = 0; i < 12; i++) {
    t.equal((await a.req('PUT', `/c/new-${i}`, { body: body(`new-${i}`) })).status, 201, `new-${i} during the outage`);
    live.set(`new-${i}`, body(`new-${i}`));
  }
  for (let i = 0; i < 3; i++) {
    t.equal((await a.req('PUT', `/c/pre-${i}`, { body: body(`pre-${i}`, 2) })).status, 201, 'overwrite during the outage');
    live.set(`pre-${i}`, body(`pre-${i}`, 2));
  }
  const deleted = ['pre-3', 'pre-4', 'pre-5'];
  for (const name of deleted) {
    t.equal((await a.req('DELETE', `/c/${name}`)).status, 204, `delete ${name} during the outage`);
    live.delete(name);
  }
  await cluster.restart(victim);
  await cluster.runDaemonsOnce(['updater', 'replicator', 'replicator']);

  for (const [name, bytes] of live) {
    const p = await objectPlacement(cluster, account, 'c', name);
    t.same(p.dataOn, p.primaries, `${name} is on exactly its 3 primaries`);
    for (const dev of p.primaries) {
      const r = await directGet(cluster, dev, account, 'c', name);
      if (r.status !== 200 || !r.body.equals(bytes)) t.fail(`${name} on ${dev}: ${r.status}, right bytes: ${r.body.equals(bytes)}`);
    }
  }
  for (const name of deleted) {
    const p = await objectPlacement(cluster, account, 'c', name);
    t.same(p.dataOn, [], `${name} stays deleted on every disk`);
    t.equal((await a.req('GET', `/c/${name}`, { headers: { 'x-newest': 'true' } })).status, 404);
  }
  const want = [...live.keys()].sort();
  for (const rep of await containerReplicas(cluster, account, 'c')) {
    t.same(rep.names, want, `container replica ${rep.device} lists the live objects`);
    t.equal(rep.count, want.length, `container replica ${rep.device} counts them`);
  }
  const bytesUsed = [...live.values()].reduce((s, b) => s + b.length, 0);
  for (const rep of await accountReplicas(cluster, account)) {
    t.same(rep, { device: rep.device, containers: 1, objects: want.length, bytes: bytesUsed }, `account replica ${rep.device} stats agree`);
  }

  // swiftlet status sums up the daemons' last passes: converged means nothing pending.
  await cluster.runDaemonsOnce(['replicator']);
  const { stdout } = await execFileP(process.execPath, [SWIFTLET_BIN, 'status', '--config', join(cluster.ringDir, 'proxy.json'), '--json']);
  const status = JSON.parse(stdout) as { summary: Record<string, unknown>; nodes: Array<{ reports: Array<{ daemon: string }> }> };
  t.match(status.summary, { nodes: 4, unreachable: [], replicasMissing: 0, handoffPartitionsPending: 0, quarantined: 0, asyncPendings: 0 }, 'status: converged');
  t.ok(
    status.nodes.every((n) => ['object-replicator', 'db-replicator', 'updater'].every((d) => n.reports.some((r) => r.daemon === d))),
    'every node reports its daemons',
  );
  const daemonReports = status.nodes.flatMap((n) => n.reports.filter((r) => r.daemon !== 'tmp-sweeper')) as Array<{ daemon: string; cpuUserMs?: number; cpuSystemMs?: number }>;
  t.same(
    daemonReports.filter((r) => typeof r.cpuUserMs !== 'number' || typeof r.cpuSystemMs !== 'number').map((r) => r.daemon),
    [],
    "every daemon pass reports its process's CPU",
  );
  const text = (await execFileP(process.execPath, [SWIFTLET_BIN, 'status', '--config', join(cluster.ringDir, 'proxy.json')])).stdout;
  t.match(text, /object-replicator +last pass \d+s ago, took \d+\.\d\ds \(--once\), cpu \d+\.\d\ds \(user \d+\.\d\d \+ sys \d+\.\d\d\)  \w+=/, 'the text says it per node and daemon');
});

t.test('bit rot: never served, quarantined by the auditor, restored by the replicator', async (t) => {
  const { cluster, a, account } = await clusterWithContainer(t, { partPower: 6 });
  const good = body('rot', 1);
  t.equal((await a.req('PUT', '/c/rot', { body: good })).status, 201);
  const p = await objectPlacement(cluster, account, 'c', 'rot');
  const victimDev = p.primaries[0] as string;
  const file = await landedDataFilePath(cluster, victimDev, account, 'c', 'rot');
  if (!file) throw new Error(`no .data of rot on ${victimDev}`);
  const bytes = await readFile(file);
  bytes[100] = (bytes[100] as number) ^ 0xff;
  await writeFile(file, bytes);

  const direct = await directGet(cluster, victimDev, account, 'c', 'rot');
  t.not(direct.status, 200, 'the corrupt replica refuses to serve');
  for (let i = 0; i < 5; i++) {
    const r = await a.req('GET', '/c/rot');
    t.ok(r.status === 200 && r.body.equals(good), 'GET through the proxy returns the good bytes');
  }
  const victim = cluster.nodes.find((n) => n.device === victimDev)!;
  await cluster.runDaemonsOnce(['auditor'], [victim]);
  const quarantined = await readdir(join(victim.devicesRoot, victimDev, 'quarantined', 'objects')).catch(() => []);
  t.ok(quarantined.length >= 1, 'the corrupt file is in quarantine');
  await cluster.runDaemonsOnce(['replicator']);
  const restored = await directGet(cluster, victimDev, account, 'c', 'rot');
  t.equal(restored.status, 200, 'the replica is back');
  t.ok(restored.body.equals(good), 'with the good bytes');
});

t.test('a 5th node joins: the replicators move its share, reads work throughout', async (t) => {
  const { cluster, a, account } = await clusterWithContainer(t, { partPower: 6 });
  const names = Array.from({ length: 30 }, (_, i) => `obj-${i}`);
  for (const n of names) t.equal((await a.req('PUT', `/c/${n}`, { body: body(n) })).status, 201);
  const fifth = await cluster.addNode();
  await cluster.addToRings([fifth]);
  await new Promise((r) => setTimeout(r, 1500)); // services poll the ring every 0.5 s in tests
  const readAll = async (when: string): Promise<void> => {
    let ok = 0;
    for (const n of names) {
      const r = await a.req('GET', `/c/${n}`);
      if (r.status === 200 && r.body.equals(body(n))) ok++;
    }
    t.equal(ok, names.length, `every object readable ${when}`);
  };
  await readAll('right after the ring change');
  await cluster.runDaemonsOnce(['replicator']);
  await readAll('after one replication pass');
  await cluster.runDaemonsOnce(['replicator']);
  let onFifth = 0;
  for (const n of names) {
    const p = await objectPlacement(cluster, account, 'c', n);
    t.same(p.dataOn, p.primaries, `${n} on exactly its new primaries`);
    if (p.primaries.includes(fifth.device)) onFifth++;
  }
  t.ok(onFifth > 0, `the new node holds its share (${onFifth} of ${names.length} objects)`);
  await readAll('after the move');
  const listing = await a.req('GET', '/c');
  t.equal(listing.body.toString().split('\n').filter(Boolean).length, names.length, 'listing complete');
});

t.test('X-Delete-After: 404 at once when due, then the expirer removes the object and its listing row', async (t) => {
  const { cluster, a, account } = await clusterWithContainer(t, { partPower: 6 });
  t.equal((await a.req('PUT', '/c/keep', { body: 'keep' })).status, 201);
  // X-Delete-At is floor(now) + X-Delete-After: with 1 it can fall due a few ms after the PUT,
  // before the HEAD below; with 2 it is at least a second away.
  t.equal((await a.req('PUT', '/c/short-lived', { body: 'bye', headers: { 'x-delete-after': '2' } })).status, 201);
  const head = await a.req('HEAD', '/c/short-lived');
  t.equal(head.status, 200);
  t.match(head.headers['x-delete-at'], /^\d+$/, 'X-Delete-After became X-Delete-At');
  await new Promise((r) => setTimeout(r, 2100));
  t.equal((await a.req('GET', '/c/short-lived')).status, 404, 'answers 404 as soon as it is due');
  await cluster.runDaemonsOnce(['expirer']);
  const p = await objectPlacement(cluster, account, 'c', 'short-lived');
  t.same(p.dataOn, [], 'the expirer deleted every replica');
  t.same(p.tombstoneOn, p.primaries, 'tombstones on the primaries');
  for (const rep of await containerReplicas(cluster, account, 'c')) t.same(rep.names, ['keep'], `listing row gone on ${rep.device}`);
  t.equal((await a.req('GET', '/c/keep')).status, 200, 'other objects untouched');
});

t.test('two replicator processes at once on every node, writes going on: passes clean or skipped, every object on its primaries', async (t) => {
  const { cluster, a, account } = await clusterWithContainer(t, { partPower: 6 });
  const victim = cluster.nodes[1]!;
  await cluster.kill(victim);
  const names: string[] = [];
  for (let i = 0; i < 40; i++) {
    t.equal((await a.req('PUT', `/c/o-${i}`, { body: body(`o-${i}`) })).status, 201);
    names.push(`o-${i}`);
  }
  await cluster.restart(victim); // its partitions now sit on handoffs
  const once = (configFile: string) => execFileP(process.execPath, [SWIFTLET_BIN, 'replicator', '--config', configFile, '--once'], { timeout: 120_000 });
  for (const node of cluster.nodes) {
    const passes = Promise.all([once(node.configFile), once(node.configFile)]);
    for (let i = 0; i < 3; i++) {
      const name = `during-${node.device}-${i}`;
      t.equal((await a.req('PUT', `/c/${name}`, { body: body(name) })).status, 201);
      names.push(name);
    }
    // execFile rejects on a non-zero exit: a pass with failures.
    let outs: string[];
    try {
      outs = (await passes).map((x) => x.stdout);
    } catch (err) {
      t.fail(`${node.device}: a pass failed: ${String(err)} ${(err as { stdout?: string }).stdout ?? ""} ${(err as { stderr?: string }).stderr ?? ""}`);
      continue;
    }
    const reports = outs.flatMap((o) => o.split('\n').filter(Boolean).map((l) => JSON.parse(l) as { daemon: string; counts: Record<string, number>; skipped?: string }));
    const obj = reports.filter((r) => r.daemon === 'object-replicator');
    t.equal(obj.length, 2);
    // The daemon's lock: a pass that finds the other running is skipped (and says so), else both run.
    const ran = obj.filter((r) => r.skipped === undefined);
    t.ok(ran.length >= 1, `${node.device}: at least one pass ran`);
    t.ok(obj.every((r) => r.skipped === undefined || /another pass holds/.test(r.skipped)), `${node.device}: a pass not run says why`);
    t.ok(ran.every((r) => r.counts.failures === 0), `${node.device}: no object replication failures`);
  }
  await cluster.runDaemonsOnce(['replicator']);
  for (const name of names) {
    const p = await objectPlacement(cluster, account, 'c', name);
    if (p.dataOn.slice().sort().join() !== p.primaries.slice().sort().join()) t.fail(`${name}: on ${p.dataOn.join(',')}, primaries ${p.primaries.join(',')}`);
  }
  t.pass(`${names.length} objects each on exactly their primaries`);
});
