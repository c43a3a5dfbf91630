import t from 'tap';
import { encodeSegment } from '../../common/backend-path.js';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { containerReplicas, loadRing, objectPlacement } from '../helpers/replicas.js';
import { api } from '../helpers/swift-api.js';
import { startCluster } from '../helpers/cluster.js';
import { rawHttpClient } from '../helpers/verbatim-http.js';

/**
 * Object names with "." and ".." segments are literal names on every path, the daemons' too:
 * a container update that had to wait for the updater, a replica restored by the replicator, an
 * expiry carried out by the expirer (before, the updater failed on such names on every pass and
 * the container could never be emptied). Sent with a client that does not resolve dot segments.
 */
const NAMES = ['x/../y', '..', '.', 'a/./b', 'z/..', '../../AUTH_other/c/o'];
const quote = (name: string): string => name.split('/').map(encodeSegment).join('/');

t.test('dot names through a dead node, the updater, the replicator and the expirer', async (t) => {
  const cluster = await startCluster({ partPower: 4 });
  t.teardown(() => cluster.stop());
  const { token, storageUrl } = await api(cluster);
  const account = storageUrl.split('/').pop() as string;
  const http = rawHttpClient(storageUrl);
  t.teardown(() => http.close());
  const base = new URL(storageUrl).pathname;
  const send = (method: string, path: string, headers: Record<string, string> = {}, body?: string) =>
    http.send({ method, path: `${base}${path}`, headers: { 'x-auth-token': token, ...headers }, ...(body !== undefined ? { body } : {}) });

  t.equal((await send('PUT', '/c')).status, 201);
  // One node down: some object replicas go to handoffs, some container updates wait as async pendings.
  const cdev = loadRing(cluster, 'container').primaries(loadRing(cluster, 'container').partitionFor(account, 'c'))[0]!.device;
  const victim = cluster.nodes.find((n) => n.device === cdev)!;
  await cluster.kill(victim);
  for (const name of NAMES) {
    // Raw where a raw spelling says the same name (the proxy decodes once), percent-encoded always.
    t.equal((await send('PUT', `/c/${quote(name)}`, {}, `body of ${name}`)).status, 201, `PUT ${name}`);
  }
  t.equal((await send('PUT', '/c/x/../y', {}, 'body of x/../y, raw')).status, 201, 'the raw spelling is the same literal name');
  await cluster.restart(victim);
  let pendings = 0;
  for (const n of cluster.nodes) pendings += (await readdir(join(n.devicesRoot, n.device, 'async_pending'), { recursive: true }).catch(() => [])).length;
  t.ok(pendings > 0, `container updates for the dead container replica wait as async pendings (${pendings} entries)`);
  await cluster.runDaemonsOnce(['updater', 'replicator', 'replicator']);

  const want = [...NAMES].sort();
  for (const rep of await containerReplicas(cluster, account, 'c')) t.same(rep.names, want, `container replica ${rep.device} lists every literal name`);
  for (const name of NAMES) {
    const p = await objectPlacement(cluster, account, 'c', name);
    t.same(p.dataOn, p.primaries, `${name}: on exactly its primaries after replication`);
    const g = await send('GET', `/c/${quote(name)}`);
    t.equal(g.body.toString(), name === 'x/../y' ? 'body of x/../y, raw' : `body of ${name}`, `${name} reads back`);
  }

  // The expirer deletes a dot name by its literal name, listing row included.
  t.equal((await send('POST', `/c/${quote('a/./b')}`, { 'x-delete-after': '2' })).status, 202);
  await new Promise((r) => setTimeout(r, 2100));
  await cluster.runDaemonsOnce(['expirer']);
  const expired = await objectPlacement(cluster, account, 'c', 'a/./b');
  t.same(expired.dataOn, [], 'the expirer deleted every replica of a/./b');
  for (const rep of await containerReplicas(cluster, account, 'c')) t.notOk(rep.names.includes('a/./b'), `a/./b gone from ${rep.device}`);

  // And every name can be deleted, so the container can be emptied and deleted.
  for (const name of NAMES.filter((n) => n !== 'a/./b')) t.equal((await send('DELETE', `/c/${quote(name)}`)).status, 204, `DELETE ${name}`);
  await cluster.runDaemonsOnce(['updater']);
  t.equal((await send('DELETE', '/c')).status, 204, 'the emptied container is deleted');
});
