import t from 'tap';
import { startCluster } from '../helpers/cluster.js';
import { directGet, loadRing } from '../helpers/replicas.js';
import { api } from '../helpers/swift-api.js';

/**
 * A storage node stopped with SIGSTOP (its kernel still accepts connections; nothing answers)
 * is a primary of the container and of the objects. With a node_timeout of ten minutes, writes
 * still answer: two primaries agree and the third gets post_quorum_timeout. Waiting for the stopped
 * node would run into this test's own timeout.
 */
t.test('writes answer while a primary is stopped', async (t) => {
  t.setTimeout(90_000);
  const cluster = await startCluster({
    proxyConfig: { node_timeout_ms: 600_000, recheck_container_existence_s: 600, recheck_account_existence_s: 600, error_suppression_limit: 1000 },
  });
  t.teardown(() => cluster.stop());
  const a = await api(cluster);
  const account = a.storageUrl.split('/').pop() as string;
  t.equal((await a.req('PUT', '/c')).status, 201);
  // The node to stop: a primary of container c, and of the two objects picked for it.
  const containerRing = loadRing(cluster, 'container');
  const objectRing = loadRing(cluster, 'object');
  const victim = containerRing.primaries(containerRing.partitionFor(account, 'c'))[0]!.device;
  const names: string[] = [];
  for (let i = 0; names.length < 2; i++) {
    if (objectRing.primaries(objectRing.partitionFor(account, 'c', `o${i}`)).some((d) => d.device === victim)) names.push(`o${i}`);
  }
  const [gone, changed] = names as [string, string];
  for (const name of names) t.equal((await a.req('PUT', `/c/${name}`, { body: name })).status, 201, `PUT ${name}`);
  // (the container's info is now cached in the proxy, so object writes ask no container server first)
  const node = cluster.nodes.find((n) => n.device === victim)!;
  cluster.pause(node);
  t.teardown(() => cluster.resume(node));

  t.equal((await a.req('DELETE', `/c/${gone}`)).status, 204, 'object DELETE');
  t.equal((await a.req('POST', `/c/${changed}`, { headers: { 'x-object-meta-color': 'blue' } })).status, 202, 'object POST');
  t.equal((await a.req('POST', '/c', { headers: { 'x-container-meta-color': 'blue' } })).status, 204, 'container POST');

  cluster.resume(node);
  // The newest of the replicas is what the client was told.
  t.equal((await a.req('GET', `/c/${gone}`, { headers: { 'x-newest': 'true' } })).status, 404, 'the deleted object is gone');
  const head = await a.req('HEAD', `/c/${changed}`, { headers: { 'x-newest': 'true' } });
  t.equal(head.headers['x-object-meta-color'], 'blue', 'the POST took');
  // The proxy did not drop its requests to the stopped node: resumed, the node gets the DELETE
  // it was sent (no replicator runs here). Were it lost, this would wait into the test's timeout.
  while ((await directGet(cluster, victim, account, 'c', gone)).status !== 404) await new Promise((r) => setTimeout(r, 50));
  t.pass('the stopped primary applied the DELETE once resumed');
});
