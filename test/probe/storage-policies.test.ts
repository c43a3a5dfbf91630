import t from 'tap';
import { request } from 'undici';
import { directGet, objectPlacement } from '../helpers/replicas.js';
import { api } from '../helpers/swift-api.js';
import { startCluster } from '../helpers/cluster.js';
import { RAW_BODY_ABOVE_BYTES } from '../../proxy/object-put.js';

/**
 * Storage policies on a real cluster: 4 storage-node processes, `gold` (policy 0, 3 replicas,
 * the default) and `scratch` (policy 1, 2 replicas), each with its own object ring. Objects land
 * on exactly their policy's replica count, and after a kill -9 and a restart the daemons bring
 * every policy back to its own count.
 */
const POLICIES = [
  { index: 0, name: 'gold', replicas: 3, default: true },
  { index: 1, name: 'scratch', replicas: 2 },
];
const body = (name: string, v = 1): Buffer => Buffer.from(`${name} v${v} `.repeat(100 + name.length));

t.test('two policies, two replica counts; a dead node healed per policy', async (t) => {
  const cluster = await startCluster({ partPower: 6, policies: POLICIES });
  t.teardown(() => cluster.stop());
  const a = await api(cluster);
  const account = a.storageUrl.split('/').pop() as string;

  const info = await request(`${cluster.proxyUrl}/info`);
  t.same(((await info.body.json()) as { swift: { policies: unknown } }).swift.policies, [
    { name: 'gold', aliases: 'gold', default: true },
    { name: 'scratch', aliases: 'scratch' },
  ]);
  t.equal((await a.req('PUT', '/tmp', { headers: { 'x-storage-policy': 'scratch' } })).status, 201);
  t.equal((await a.req('PUT', '/keep')).status, 201, 'no policy named: the default');
  let r = await a.req('PUT', '/bad', { headers: { 'x-storage-policy': 'platinum' } });
  t.same([r.status, r.body.toString()], [400, "Invalid X-Storage-Policy 'platinum'"]);
  t.equal((await a.req('HEAD', '/bad')).status, 404, 'not created');
  t.equal((await a.req('HEAD', '/tmp')).headers['x-storage-policy'], 'scratch');
  t.equal((await a.req('HEAD', '/keep')).headers['x-storage-policy'], 'gold');
  t.equal((await a.req('PUT', '/tmp', { headers: { 'x-storage-policy': 'gold' } })).status, 409, 'no changing policy');
  t.equal((await a.req('PUT', '/tmp')).status, 202, 'a PUT naming no policy is fine');
  t.equal((await a.req('HEAD', '/tmp')).headers['x-storage-policy'], 'scratch', 'still scratch');

  const live = new Map<string, Buffer>(); // "<container>/<name>" → bytes
  const put = async (c: string, name: string, v = 1) => {
    t.equal((await a.req('PUT', `/${c}/${name}`, { body: body(name, v) })).status, 201, `PUT ${c}/${name}`);
    live.set(`${c}/${name}`, body(name, v));
  };
  for (let i = 0; i < 8; i++) {
    await put('tmp', `pre-${i}`);
    await put('keep', `pre-${i}`);
  }
  const policyOf = (c: string) => (c === 'tmp' ? 1 : 0);
  // A PUT answers at quorum: the last replica may land just after it.
  const settled = async (c: string, name: string) => {
    let p = await objectPlacement(cluster, account, c, name, policyOf(c));
    for (let i = 0; i < 100 && p.dataOn.length < p.primaries.length; i++) {
      await new Promise((res) => setTimeout(res, 50));
      p = await objectPlacement(cluster, account, c, name, policyOf(c));
    }
    return p;
  };
  // A large body travels raw on an upgraded connection (docs/BACKEND.md): it names the policy too.
  const big = Buffer.alloc(RAW_BODY_ABOVE_BYTES + 1, 7);
  t.equal((await a.req('PUT', '/tmp/big', { body: big })).status, 201, 'a large object into scratch');
  live.set('tmp/big', big);
  const bigAt = await settled('tmp', 'big');
  t.same([bigAt.primaries.length, bigAt.dataOn], [2, bigAt.primaries], 'tmp/big: on exactly its 2 primaries (objects-1)');
  for (let i = 0; i < 8; i++) {
    const scratch = await settled('tmp', `pre-${i}`);
    t.equal(scratch.primaries.length, 2);
    t.same(scratch.dataOn, scratch.primaries, `tmp/pre-${i}: on exactly its 2 primaries (objects-1)`);
    const gold = await settled('keep', `pre-${i}`);
    t.equal(gold.primaries.length, 3);
    t.same(gold.dataOn, gold.primaries, `keep/pre-${i}: on exactly its 3 primaries (objects)`);
  }

  const victim = cluster.nodes[0]!;
  // Deleted during the outage: an object the victim holds a replica of (a 2-replica DELETE then
  // hears a 204 and a handoff's 404, Swift's case for its 404 → 204 override).
  const victimHolds = async (c: string): Promise<string> => {
    for (let i = 1; i < 8; i++) if ((await objectPlacement(cluster, account, c, `pre-${i}`, policyOf(c))).primaries.includes(victim.device)) return `${c}/pre-${i}`;
    return `${c}/pre-1`;
  };
  const doomed = [await victimHolds('tmp'), await victimHolds('keep')];
  await cluster.kill(victim);
  for (let i = 0; i < 8; i++) {
    await put('tmp', `new-${i}`);
    await put('keep', `new-${i}`);
  }
  await put('tmp', 'pre-0', 2);
  await put('keep', 'pre-0', 2);
  for (const key of doomed) {
    t.equal((await a.req('DELETE', `/${key}`)).status, 204, `delete ${key} during the outage`);
    live.delete(key);
  }
  await cluster.restart(victim);
  await cluster.runDaemonsOnce(['updater', 'replicator', 'replicator']);

  for (const [key, bytes] of live) {
    const [c, name] = key.split('/') as [string, string];
    const p = await objectPlacement(cluster, account, c, name, policyOf(c));
    t.same(p.dataOn, p.primaries, `${key}: on exactly its ${p.primaries.length} primaries after healing`);
    for (const dev of p.primaries) {
      const got = await directGet(cluster, dev, account, c, name, policyOf(c));
      if (got.status !== 200 || !got.body.equals(bytes)) t.fail(`${key} on ${dev}: ${got.status}, right bytes: ${got.body.equals(bytes)}`);
    }
    // Nothing of it in the other policy's folders.
    t.same((await objectPlacement(cluster, account, c, name, 1 - policyOf(c))).dataOn, [], `${key}: nothing in the other policy`);
    r = await a.req('GET', `/${key}`);
    t.ok(r.status === 200 && r.body.equals(bytes), `${key}: read back through the proxy`);
  }
  for (const key of doomed) {
    const [c, name] = key.split('/') as [string, string];
    t.same((await objectPlacement(cluster, account, c, name, policyOf(c))).dataOn, [], `${key} stays deleted`);
    t.equal((await a.req('GET', `/${key}`, { headers: { 'x-newest': 'true' } })).status, 404);
  }
  const listing = JSON.parse((await a.req('GET', '/tmp?format=json')).body.toString()) as Array<{ name: string }>;
  t.same(
    listing.map((o) => o.name),
    [...live.keys()].filter((k) => k.startsWith('tmp/')).map((k) => k.slice(4)).sort(),
    'the scratch listing is whole',
  );
});
