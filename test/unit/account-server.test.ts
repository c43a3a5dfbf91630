import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { signingDispatcher, TEST_BACKEND_KEY } from '../helpers/signing.js';
import { backendClientOver } from '../../common/http-client.js';
import { silentLogger } from '../../common/log.js';
import { Timestamp } from '../../common/timestamp.js';
import { createDbServers } from '../../storage-node/db/index.js';
import { createStorageNodeHttpServer, sendStatus } from '../../storage-node/server.js';

/** The account server through the real storage-node router, over HTTP. */

async function startNode(t: { teardown(fn: () => Promise<void>): void }) {
  const root = await mkdtemp(join(tmpdir(), 'swiftlet-as-'));
  await mkdir(join(root, 'sda'));
  const agent = signingDispatcher(TEST_BACKEND_KEY, {});
  const ctx = {
    devicesRoot: root,
    secret: { prefix: 'p', suffix: 's' },
    fsync: true,
    backend: backendClientOver(agent, TEST_BACKEND_KEY),
    backendKey: TEST_BACKEND_KEY,
    log: silentLogger,
    clock: () => 1_650_000_000_000, // older than every ts() below
    containerUpdateTimeoutMs: 2000,
    clientTimeoutMs: 5000,
  };
  const servers = createDbServers(ctx);
  const server = createStorageNodeHttpServer(ctx, { ...servers, object: { handle: async (r: { res: ServerResponse }) => sendStatus(r.res, 501), close: async () => {} } });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  t.teardown(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await servers.close();
    await agent.close();
    await rm(root, { recursive: true, force: true });
  });
  return async (method: string, path: string, headers: Record<string, string> = {}) => {
    const res = await request(`${base}${path}`, { method, headers, dispatcher: agent });
    const body = await res.body.text();
    const h: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) h[k] = String(v);
    return { status: res.statusCode, headers: h, body };
  };
}

let clock = 1_700_000_000;
function ts(): string {
  clock += 1;
  return new Timestamp(clock * 100000).normal;
}

/** What a container server sends about one of its containers. */
function containerRow(o: { put?: string; del?: string; count?: number; bytes?: number; at?: string } = {}): Record<string, string> {
  const h: Record<string, string> = {
    'x-backend-source': 'container-server',
    'x-put-timestamp': o.put ?? ts(),
    'x-delete-timestamp': o.del ?? '0000000000.00000',
    'x-object-count': String(o.count ?? 0),
    'x-bytes-used': String(o.bytes ?? 0),
  };
  if (o.at !== 'none') h['x-timestamp'] = o.at ?? ts();
  return h;
}

t.test('account lifecycle', async (t) => {
  const call = await startNode(t);
  const a = '/sda/3/AUTH_test';
  t.equal((await call('HEAD', a)).status, 404);
  t.equal((await call('GET', a)).status, 404);
  t.equal((await call('POST', a, { 'x-timestamp': ts() })).status, 404);
  t.equal((await call('DELETE', a, { 'x-timestamp': ts() })).status, 404);
  t.equal((await call('PUT', a)).status, 400, 'no X-Timestamp');
  const created = ts();
  t.equal((await call('PUT', a, { 'x-timestamp': created, 'x-account-meta-quota': '10' })).status, 201);
  t.equal((await call('PUT', a, { 'x-timestamp': ts() })).status, 202);
  t.equal((await call('POST', a, { 'x-timestamp': ts(), 'x-account-meta-temp-url-key': 'k', 'x-account-sysmeta-core': 's', 'x-other': 'dropped' })).status, 204);
  const h = await call('HEAD', a);
  t.equal(h.status, 204);
  t.match(h.headers, {
    'x-account-container-count': '0',
    'x-account-object-count': '0',
    'x-account-bytes-used': '0',
    'x-timestamp': created,
    'x-account-meta-quota': '10',
    'x-account-meta-temp-url-key': 'k',
    'x-account-sysmeta-core': 's',
    'content-type': 'text/plain; charset=utf-8',
  });
  t.notOk('x-other' in h.headers);
  t.equal((await call('GET', a)).status, 204, 'empty plain listing');
  t.equal((await call('GET', `${a}?format=json`)).body, '[]');
  t.equal((await call('GET', `${a}?limit=10001`)).status, 412);
  const deletedAt = ts();
  t.equal((await call('DELETE', a, { 'x-timestamp': deletedAt })).status, 204);
  const gone = await call('HEAD', a);
  t.same([gone.status, gone.headers['x-backend-delete-timestamp'], gone.headers['x-account-status']], [404, deletedAt, 'Deleted']);
  t.equal((await call('DELETE', a, { 'x-timestamp': ts() })).status, 404);
  t.equal((await call('POST', a, { 'x-timestamp': ts() })).status, 404);
  const again = await call('PUT', a, { 'x-timestamp': ts() });
  t.same([again.status, again.body], [403, 'Recently deleted'], 'not re-created until the reaper and reclaim are done (Swift)');
  t.equal((await call('HEAD', a)).headers['x-account-status'], 'Deleted', 'still deleted');
});

t.test('container rows: stats and listings', async (t) => {
  const call = await startNode(t);
  const a = '/sda/3/AUTH_test';
  t.equal((await call('PUT', `${a}/c1`, containerRow())).status, 404, 'no account');
  await call('PUT', a, { 'x-timestamp': ts() });
  t.equal((await call('PUT', `${a}/c1`, containerRow({ put: '1700000100.00000', count: 3, bytes: 30 }))).status, 201);
  t.equal((await call('PUT', `${a}/c2`, containerRow({ count: 1, bytes: 5, at: 'none' }))).status, 201, 'X-Timestamp optional');
  t.equal((await call('PUT', `${a}/sub-x`, containerRow())).status, 201);
  t.equal((await call('PUT', `${a}/sub-y`, containerRow())).status, 201);
  t.equal((await call('PUT', `${a}/c3`, containerRow({ put: 'x' }))).status, 400, 'bad X-Put-Timestamp');
  t.equal((await call('PUT', `${a}/c3`, containerRow({ count: -1 }))).status, 400, 'bad X-Object-Count');
  let h = await call('HEAD', a);
  t.same([h.headers['x-account-container-count'], h.headers['x-account-object-count'], h.headers['x-account-bytes-used']], ['4', '4', '35']);
  // A stale report (older X-Timestamp) changes nothing; a newer one wins.
  await call('PUT', `${a}/c1`, containerRow({ put: '1700000100.00000', count: 99, bytes: 99, at: '1600000000.00000' }));
  h = await call('HEAD', a);
  t.equal(h.headers['x-account-object-count'], '4');
  await call('PUT', `${a}/c1`, containerRow({ put: '1700000100.00000', count: 2, bytes: 20 }));
  h = await call('HEAD', a);
  t.same([h.headers['x-account-object-count'], h.headers['x-account-bytes-used']], ['3', '25']);

  t.equal((await call('GET', a)).body, 'c1\nc2\nsub-x\nsub-y\n');
  t.equal((await call('GET', `${a}?delimiter=-`)).body, 'c1\nc2\nsub-\n');
  t.equal((await call('GET', `${a}?prefix=sub-&reverse=1&limit=1`)).body, 'sub-y\n');
  t.equal((await call('GET', `${a}?marker=c1&end_marker=sub`)).body, 'c2\n');
  const json = JSON.parse((await call('GET', `${a}?format=json&delimiter=-`)).body);
  t.same(json, [
    { name: 'c1', count: 2, bytes: 20, last_modified: '2023-11-14T22:15:00.000000' },
    { name: 'c2', count: 1, bytes: 5, last_modified: json[1].last_modified },
    { subdir: 'sub-' },
  ]);
  const xml = await call('GET', `${a}?prefix=c1`, { accept: 'application/xml' });
  t.equal(
    xml.body,
    '<?xml version="1.0" encoding="UTF-8"?>\n<account name="AUTH_test">\n' +
      '<container><name>c1</name><count>2</count><bytes>20</bytes><last_modified>2023-11-14T22:15:00.000000</last_modified></container>\n</account>',
  );

  // The container is deleted: 204, it leaves the listing and the stats (the row stays as a tombstone).
  t.equal((await call('PUT', `${a}/c2`, containerRow({ put: '1700000100.00000', del: '1700000200.00000' }))).status, 204);
  h = await call('HEAD', a);
  t.same([h.headers['x-account-container-count'], h.headers['x-account-object-count'], h.headers['x-account-bytes-used']], ['3', '2', '20']);
  t.equal((await call('GET', a)).body, 'c1\nsub-x\nsub-y\n');
  t.equal((await call('DELETE', `${a}/c1`, { 'x-backend-source': 'container-server', 'x-timestamp': ts() })).status, 405);
});

t.test('a deleted account takes only rows saying its containers are deleted (the reaper empties it)', async (t) => {
  const call = await startNode(t);
  const a = '/sda/3/AUTH_doomed';
  await call('PUT', a, { 'x-timestamp': ts() });
  const put = ts();
  t.equal((await call('PUT', `${a}/c1`, containerRow({ put, count: 2, bytes: 20 }))).status, 201);
  t.equal((await call('DELETE', a, { 'x-timestamp': ts() })).status, 204);
  t.equal((await call('PUT', `${a}/c2`, containerRow())).status, 404, 'no new container');
  t.equal((await call('PUT', `${a}/c1`, containerRow({ put, count: 1, bytes: 10 }))).status, 404, 'no stats of a live one');
  t.equal((await call('PUT', `${a}/c1`, containerRow({ put, del: ts() }))).status, 204, 'its deletion is taken');
});

t.test('account metadata limits hold for the stored total', async (t) => {
  const call = await startNode(t);
  const a = '/sda/3/AUTH_limits';
  // 15 keys of 256 bytes: ~3.9 KB, fine alone.
  const batch = (tag: string, count = 15, size = 256): Record<string, string> => {
    const h: Record<string, string> = {};
    for (let i = 0; i < count; i++) h[`x-account-meta-${tag}${i}`] = 'v'.repeat(size);
    return h;
  };
  t.equal((await call('PUT', a, { 'x-timestamp': ts(), ...batch('a') })).status, 201);
  const before = await call('HEAD', a);
  const post = await call('POST', a, { 'x-timestamp': ts(), ...batch('b') });
  t.same([post.status, post.body], [400, 'Total metadata too large; max 4096'], 'a POST that adds up past 4096');
  const put = await call('PUT', a, { 'x-timestamp': ts(), ...batch('b') });
  t.same([put.status, put.body], [400, 'Total metadata too large; max 4096'], 'a PUT of the existing account');
  const many = await call('POST', a, { 'x-timestamp': ts(), ...batch('k', 76, 1) });
  t.same([many.status, many.body], [400, 'Too many metadata items; max 90']);
  const after = await call('HEAD', a);
  t.same(after.headers, { ...before.headers, date: after.headers['date'] }, 'nothing changed');

  t.equal((await call('POST', a, { 'x-timestamp': ts(), 'x-account-sysmeta-big': 's'.repeat(5000) })).status, 204, 'sysmeta is not counted');
  const removeA: Record<string, string> = {};
  for (const k of Object.keys(batch('a'))) removeA[k] = '';
  t.equal((await call('POST', a, { 'x-timestamp': ts(), ...removeA })).status, 204, 'removing keys is always possible');
  t.equal((await call('POST', a, { 'x-timestamp': ts(), ...batch('b') })).status, 204, 'and makes room');
  const fresh = await call('PUT', '/sda/3/AUTH_fresh', { 'x-timestamp': ts(), ...batch('f', 20) });
  t.same([fresh.status, fresh.body], [400, 'Total metadata too large; max 4096']);
  t.equal((await call('HEAD', '/sda/3/AUTH_fresh')).status, 404, 'nothing created');
});
