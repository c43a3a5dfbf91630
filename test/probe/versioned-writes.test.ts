import t from 'tap';
import { request } from 'undici';
import { startCluster } from '../helpers/cluster.js';
import { api } from '../helpers/swift-api.js';

/**
 * Legacy versioning (Swift's versioned_writes) through the proxy: X-Versions-Location (stack
 * mode) and X-History-Location (history mode), Swift's archive names and refusals.
 */
t.test('versioned writes', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const a = await api(cluster);
  const text = (r: { body: Buffer }): string => r.body.toString();
  const names = async (c: string, n: number): Promise<string[]> => {
    let out: string[] = [];
    for (let i = 0; i < 20; i++) {
      out = text(await a.req('GET', `/${c}`)).split('\n').filter(Boolean);
      if (out.length === n) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return out;
  };

  t.equal((await a.req('PUT', '/archive')).status, 201);
  const both = await a.req('PUT', '/s', { headers: { 'x-versions-location': 'archive', 'x-history-location': 'archive' } });
  t.equal(both.status, 400);
  t.equal(text(both), 'Only one of x-versions-location or x-history-location may be specified');
  t.equal((await a.req('PUT', '/s', { headers: { 'x-versions-location': 'a/b' } })).status, 412);
  t.equal((await a.req('PUT', '/s', { headers: { 'x-versions-location': 'archive' } })).status, 201);
  t.equal((await a.req('HEAD', '/s')).headers['x-versions-location'], 'archive');

  await t.test('stack mode: DELETE brings the previous version back', async (t) => {
    t.equal((await a.req('PUT', '/s/obj', { body: 'v1' })).status, 201);
    t.equal((await a.req('PUT', '/s/obj', { body: 'v2' })).status, 201);
    t.equal((await a.req('PUT', '/s/obj', { body: 'v3' })).status, 201);
    const archived = await names('archive', 2);
    t.equal(archived.length, 2);
    t.match(archived[0], /^003obj\/\d{10}\.\d{5}$/, "Swift's archive name");
    t.equal(text(await a.req('GET', `/archive/${archived[0] as string}`)), 'v1');
    t.equal((await a.req('DELETE', '/s/obj')).status, 204);
    t.equal(text(await a.req('GET', '/s/obj')), 'v2');
    t.equal((await a.req('DELETE', '/s/obj')).status, 204);
    t.equal(text(await a.req('GET', '/s/obj')), 'v1');
    t.same(await names('archive', 0), []);
    t.equal((await a.req('DELETE', '/s/obj')).status, 204);
    t.equal((await a.req('GET', '/s/obj')).status, 404);
  });

  await t.test('history mode: DELETE keeps the last version and writes a marker', async (t) => {
    t.equal((await a.req('PUT', '/hist')).status, 201);
    t.equal((await a.req('PUT', '/h', { headers: { 'x-history-location': 'hist' } })).status, 201);
    t.equal((await a.req('HEAD', '/h')).headers['x-history-location'], 'hist');
    t.equal((await a.req('PUT', '/h/o', { body: 'one' })).status, 201);
    t.equal((await a.req('PUT', '/h/o', { body: 'two' })).status, 201);
    t.equal((await a.req('DELETE', '/h/o')).status, 204);
    t.equal((await a.req('GET', '/h/o')).status, 404);
    const listing = JSON.parse(text(await a.req('GET', '/hist?format=json'))) as Array<{ name: string; content_type: string }>;
    t.equal(listing.length, 3);
    t.same(listing.map((i) => i.content_type), ['application/octet-stream', 'application/octet-stream', 'application/x-deleted;swift_versions_deleted=1']);
  });

  await t.test('a UTF-8 archive container name (the header carries its bytes)', async (t) => {
    const name = 'arché✓';
    const raw = Buffer.from(name, 'utf8').toString('latin1'); // how a header carries UTF-8 bytes
    t.equal((await a.req('PUT', `/${encodeURIComponent(name)}`)).status, 201);
    t.equal((await a.req('PUT', '/u', { headers: { 'x-versions-location': raw } })).status, 201, 'stored, not a 503');
    const back = (await a.req('HEAD', '/u')).headers['x-versions-location'];
    t.equal(Buffer.from(String(back), 'latin1').toString('utf8'), name, 'the same bytes back');
    t.equal((await a.req('PUT', '/u/o', { body: 'one' })).status, 201);
    t.equal((await a.req('PUT', '/u/o', { body: 'two' })).status, 201);
    t.equal((await names(encodeURIComponent(name), 1)).length, 1, 'the first version archived there');
    // Quoted, as Swift's docs ask: stored and answered as sent, unquoted when used.
    t.equal((await a.req('PUT', '/q', { headers: { 'x-versions-location': encodeURIComponent(name) } })).status, 201);
    t.equal((await a.req('HEAD', '/q')).headers['x-versions-location'], encodeURIComponent(name));
    t.equal((await a.req('PUT', '/q/o', { body: 'one' })).status, 201);
    t.equal((await a.req('PUT', '/q/o', { body: 'two' })).status, 201);
    t.equal((await names(encodeURIComponent(name), 2)).length, 2, 'its first version archived in the same container');
  });

  await t.test('removal, and a missing archive container', async (t) => {
    t.equal((await a.req('POST', '/s', { headers: { 'x-remove-versions-location': 'x' } })).status, 204);
    t.equal((await a.req('HEAD', '/s')).headers['x-versions-location'], undefined);
    t.equal((await a.req('PUT', '/m', { headers: { 'x-versions-location': 'nothere' } })).status, 201);
    t.equal((await a.req('PUT', '/m/o', { body: 'x' })).status, 201);
    t.equal((await a.req('PUT', '/m/o', { body: 'y' })).status, 412, 'the old version cannot be kept');
    t.equal(text(await a.req('GET', '/m/o')), 'x');
    // Object versioning cannot be turned on over the legacy kind.
    t.equal((await a.req('POST', '/m', { headers: { 'x-versions-enabled': 'true' } })).status, 400);
  });

  await t.test('/info', async (t) => {
    const res = await request(`${cluster.proxyUrl}/info`);
    const info = (await res.body.json()) as Record<string, unknown>;
    t.ok(info['versioned_writes']);
  });
});
