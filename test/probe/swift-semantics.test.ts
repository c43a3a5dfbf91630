import t, { type Test } from 'tap';
import { startCluster } from '../helpers/cluster.js';
import { api, type Api } from '../helpers/swift-api.js';

/**
 * Swift's API semantics across real processes, each as OpenStack Swift answers (issue 22):
 * expiry headers, conditional writes, container timestamps and listings, server-side copy.
 * One cluster; each subtest works in its own container.
 */
t.test('Swift semantics through the proxy', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const a = await api(cluster);
  const account = a.storageUrl.split('/').pop() as string;
  const ctx: Ctx = { a, account, port: Number(new URL(cluster.proxyUrl).port) };

  await t.test('expiry: X-Delete-At far in the future, X-If-Delete-At', (t) => expiry(t, ctx));
});

interface Ctx {
  a: Api;
  account: string;
  port: number;
}

async function expiry(t: Test, { a }: Ctx): Promise<void> {
  t.equal((await a.req('PUT', '/exp')).status, 201);
  // Swift clamps to 9999999999 (normalize_delete_at_timestamp) however many digits it is given.
  const far = await a.req('PUT', '/exp/far', { body: 'x', headers: { 'x-delete-at': '9'.repeat(30) } });
  t.equal(far.status, 201, 'a 30-digit X-Delete-At');
  t.equal((await a.req('HEAD', '/exp/far')).headers['x-delete-at'], '9999999999');
  t.equal((await a.req('POST', '/exp/far', { headers: { 'x-delete-after': '9'.repeat(20) } })).status, 202, 'a 20-digit X-Delete-After');
  t.equal((await a.req('HEAD', '/exp/far')).headers['x-delete-at'], '9999999999');
  t.equal((await a.req('POST', '/exp/far', { headers: { 'x-delete-at': '1.5' } })).status, 400, 'not an integer');

  const bad = await a.req('DELETE', '/exp/far', { headers: { 'x-if-delete-at': 'bad' } });
  t.same([bad.status, bad.body.toString()], [400, 'Bad X-If-Delete-At header value']);
  t.equal((await a.req('DELETE', '/exp/far', { headers: { 'x-if-delete-at': '9999999998' } })).status, 412, 'another X-Delete-At');
  t.equal((await a.req('HEAD', '/exp/far')).status, 200, 'still there');
  t.equal((await a.req('DELETE', '/exp/far', { headers: { 'x-if-delete-at': '9999999999' } })).status, 204, 'its own X-Delete-At');
  t.equal((await a.req('HEAD', '/exp/far')).status, 404);
  t.equal((await a.req('DELETE', '/exp/never', { headers: { 'x-if-delete-at': '9999999999' } })).status, 404, 'no such object');
}
