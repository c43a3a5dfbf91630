import { readdir } from 'node:fs/promises';
import t from 'tap';
import { hashPath } from '../../common/hash-path.js';
import { Timestamp } from '../../common/timestamp.js';
import type { DaemonRings } from '../../replicator/context.js';
import { createExpirer, expiryTimestamp } from '../../replicator/expirer.js';
import { objectLocation } from '../../storage-node/object/layout.js';
import { call, closeClientAfter, daemonContext, listing, makeRings, SECRET, stamper, startNode, type FakeTime, type TestNode } from '../helpers/daemon-nodes.js';
import { parseStoragePolicies } from '../../common/storage-policy.js';

/** The expirer on three in-process storage nodes (3 replicas), on a fake clock. */

closeClientAfter(t);

const A = 'AUTH_a';
const C = 'c';

async function ls(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

function expect201(what: string, r: { status: number }): void {
  if (r.status !== 201) throw new Error(`${what}: ${r.status}`);
}

/** A tiny proxy: placement from the rings, one timestamp per write, update headers per replica. */
function miniProxy(nodes: TestNode[], rings: DaemonRings, stamp: () => Timestamp) {
  const byDevice = new Map(nodes.map((n) => [n.device, n]));
  const nodeOf = (device: string) => byDevice.get(device) as TestNode;
  const cpart = rings.container().partitionFor(A, C);
  const cnodes = rings.container().primaries(cpart);
  const apart = rings.account().partitionFor(A);
  const anodes = rings.account().primaries(apart);
  const target = (kind: string, part: number, d: { ip: string; port: number; device: string }) => ({
    [`X-${kind}-Host`]: `${d.ip}:${d.port}`,
    [`X-${kind}-Device`]: d.device,
    [`X-${kind}-Partition`]: String(part),
  });
  const objectNodes = (obj: string) => {
    const part = rings.object().partitionFor(A, C, obj);
    return rings.object().primaries(part).map((d) => ({ node: nodeOf(d.device), url: nodeOf(d.device).url(part, A, C, obj) }));
  };
  return {
    containerUrls: () => cnodes.map((d) => nodeOf(d.device).url(cpart, A, C)),
    objectNodes,
    async createContainer() {
      for (const d of anodes) expect201('account PUT', await call('PUT', nodeOf(d.device).url(apart, A), { 'X-Timestamp': stamp().internal }));
      const ts = stamp().internal;
      for (const [i, d] of cnodes.entries()) {
        expect201('container PUT', await call('PUT', nodeOf(d.device).url(cpart, A, C), { 'X-Timestamp': ts, ...target('Account', apart, anodes[i] as typeof d) }));
      }
    },
    /** PUTs to the primaries `only` (default all) with the same timestamp. */
    async put(obj: string, body: string, headers: Record<string, string> = {}, only?: number[]) {
      const ts = stamp().internal;
      for (const [i, { url }] of objectNodes(obj).entries()) {
        if (only && !only.includes(i)) continue;
        const r = await call('PUT', url, { 'X-Timestamp': ts, 'Content-Type': 'text/plain', ...target('Container', cpart, cnodes[i] as (typeof cnodes)[0]), ...target('Account', apart, anodes[i] as (typeof anodes)[0]), ...headers }, body);
        expect201(`PUT ${obj} on replica ${i}`, r);
      }
    },
  };
}

t.test('a due object is deleted on every replica and leaves the listing; overwritten ones stay', async (t) => {
  const time: FakeTime = { ms: 1_700_000_000_000 };
  const stamp = stamper(time);
  const nodes = [await startNode(t, { device: 'sda1', time }), await startNode(t, { device: 'sdb1', time }), await startNode(t, { device: 'sdc1', time })];
  const rings = await makeRings(t, nodes, 3);
  const proxy = miniProxy(nodes, rings, stamp);
  await proxy.createContainer();

  const deleteAt = Math.floor(time.ms / 1000) + 10;
  await proxy.put('doomed', 'bye', { 'X-Delete-At': String(deleteAt) });
  await proxy.put('notyet', 'later', { 'X-Delete-At': String(deleteAt + 1000) });
  // Scheduled, then overwritten everywhere without X-Delete-At.
  await proxy.put('keeper', 'v1', { 'X-Delete-At': String(deleteAt) });
  await proxy.put('keeper', 'v2');
  // Scheduled, then overwritten on two replicas only: the third still holds the expiring copy.
  await proxy.put('stale', 'v1', { 'X-Delete-At': String(deleteAt) });
  await proxy.put('stale', 'v2', {}, [0, 1]);

  const doomed = proxy.objectNodes('doomed');
  t.equal((await call('GET', doomed[0]!.url)).status, 200, 'readable before X-Delete-At');
  time.ms = (deleteAt + 1) * 1000;
  t.equal((await call('GET', doomed[0]!.url)).status, 404, '404 once due, before any expirer ran');
  for (const url of proxy.containerUrls()) t.ok((await listing(url)).includes('doomed'), 'row still listed before the expirer');

  const expirers = nodes.map((n) => createExpirer(daemonContext(t, n, rings, time)));
  const totals: Record<string, number> = {};
  for (const e of expirers) {
    const r = await e.runOnce();
    t.equal(r.daemon, 'expirer');
    for (const [k, v] of Object.entries(r.counts)) totals[k] = (totals[k] ?? 0) + v;
  }
  t.equal(totals.objectsExpired, 1, 'deleted once: the other expirers found the tombstone');
  t.equal(totals.stale, 1, 'the stale copy was left alone');
  t.equal(totals.failures, undefined);

  const hash = hashPath(SECRET, A, C, 'doomed');
  const part = rings.object().partitionFor(A, C, 'doomed');
  const tsName = `${Timestamp.fromSeconds(deleteAt).internal}.ts`;
  for (const n of nodes) t.same(await ls(objectLocation(n.devicePath, part, hash).hashDir), [tsName], `tombstone at X-Delete-At on ${n.device}`);
  for (const url of proxy.containerUrls()) t.same(await listing(url), ['keeper', 'notyet', 'stale'], 'row gone from every container replica');

  for (const { url } of proxy.objectNodes('keeper')) t.equal((await call('GET', url)).body.toString(), 'v2', 'overwritten object kept');
  for (const { url } of proxy.objectNodes('notyet')) t.equal((await call('GET', url)).status, 200, 'not yet due');
  const stale = proxy.objectNodes('stale');
  for (const { url } of stale.slice(0, 2)) t.equal((await call('GET', url)).body.toString(), 'v2', 'newer version not buried by the stale copy');

  // The next passes read no metadata again (the index) and change nothing.
  for (const e of expirers) {
    const r = await e.runOnce();
    t.equal(r.counts.metadataReads, undefined, 'unchanged objects are not re-read');
    t.equal(r.counts.objectsExpired, undefined);
  }
});

t.test('the DELETE timestamp is X-Delete-At, tie-broken past the version', async (t) => {
  const v = Timestamp.parse('1700000000.50000');
  t.equal(expiryTimestamp(1_700_000_010, v).internal, '1700000010.00000');
  const whole = Timestamp.parse('1700000010');
  t.equal(expiryTimestamp(1_700_000_010, whole).internal, '1700000010.00000_0000000000000001');
  t.ok(expiryTimestamp(1_700_000_010, whole).compare(whole) > 0);
});

t.test("objects of every storage policy expire, deleted in their own folder", async (t) => {
  const time: FakeTime = { ms: 1_700_000_000_000 };
  const stamp = stamper(time);
  const policies = parseStoragePolicies([
    { index: 0, name: 'gold', default: true },
    { index: 1, name: 'scratch' },
  ]);
  const nodes = [await startNode(t, { device: 'sda1', time, policies }), await startNode(t, { device: 'sdb1', time, policies }), await startNode(t, { device: 'sdc1', time, policies })];
  const rings = await makeRings(t, nodes, 3);
  const proxy = miniProxy(nodes, rings, stamp);
  await proxy.createContainer();
  const deleteAt = Math.floor(time.ms / 1000) + 10;
  const inScratch = { 'X-Backend-Storage-Policy-Index': '1' };
  await proxy.put('doomed', 'bye', { 'X-Delete-At': String(deleteAt), ...inScratch });
  time.ms = (deleteAt + 1) * 1000;
  let expired = 0;
  for (const n of nodes) expired += (await createExpirer(daemonContext(t, n, rings, time)).runOnce()).counts.objectsExpired ?? 0;
  t.equal(expired, 1, 'found in objects-1 and deleted');
  const part = rings.object().partitionFor(A, C, 'doomed');
  const hash = hashPath(SECRET, A, C, 'doomed');
  const tsName = `${Timestamp.fromSeconds(deleteAt).internal}.ts`;
  for (const n of nodes) t.same(await ls(objectLocation(n.devicePath, part, hash, 1).hashDir), [tsName], `a tombstone in objects-1 on ${n.device}`);
  for (const url of proxy.containerUrls()) t.same(await listing(url), [], 'and the listing row is gone');
});
