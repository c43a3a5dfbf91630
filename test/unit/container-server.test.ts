import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { signingDispatcher, TEST_BACKEND_KEY } from '../helpers/signing.js';
import { backendClientOver } from '../../common/http-client.js';
import { systemClock } from '../../common/clock.js';
import { silentLogger } from '../../common/log.js';
import { Timestamp } from '../../common/timestamp.js';
import { parseStoragePolicies } from '../../common/storage-policy.js';
import { getContainer, listPendingAccountUpdates, mergeContainerRecord } from '../../storage-node/db/container-db.js';
import { createDbServers, type DbServers } from '../../storage-node/db/index.js';
import { createStorageNodeHttpServer, sendStatus } from '../../storage-node/server.js';
import type { StorageNodeContext } from '../../storage-node/types.js';

/** The container server through the real storage-node router, over HTTP. */

interface Node {
  root: string;
  host: string;
  servers: DbServers;
  ctx: StorageNodeContext;
  call(method: string, path: string, headers?: Record<string, string>): Promise<{ status: number; headers: Record<string, string>; body: string }>;
  /** Replaces the db servers with fresh ones over the same folders (a restart). */
  restart(): Promise<void>;
}

async function startNode(t: { teardown(fn: () => Promise<void>): void }, over: Partial<StorageNodeContext> = {}): Promise<Node> {
  const root = await mkdtemp(join(tmpdir(), 'swiftlet-cs-'));
  await mkdir(join(root, 'sda'));
  const agent = signingDispatcher(TEST_BACKEND_KEY, { connections: 256 });
  const ctx: StorageNodeContext = {
    devicesRoot: root,
    secret: { prefix: 'p', suffix: 's' },
    fsync: false,
    backend: backendClientOver(agent, TEST_BACKEND_KEY),
    backendKey: TEST_BACKEND_KEY,
    log: silentLogger,
    clock: systemClock,
    containerUpdateTimeoutMs: 2000,
    clientTimeoutMs: 5000,
    ...over,
  };
  const node = { root, ctx, servers: createDbServers(ctx, { accountUpdateDelayMs: 5 }) } as Node;
  // The router looks the servers up through this object, so restart() can swap them.
  const routes = {
    object: { handle: async (r: { res: import('node:http').ServerResponse }) => sendStatus(r.res, 501), close: async () => {} },
    get container() {
      return node.servers.container;
    },
    get account() {
      return node.servers.account;
    },
    get objectRow() {
      return node.servers.objectRow;
    },
    get containerRow() {
      return node.servers.containerRow;
    },
  };
  const server = createStorageNodeHttpServer(ctx, routes);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  node.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  node.call = async (method, path, headers = {}) => {
    const res = await request(`http://${node.host}${path}`, { method, headers, dispatcher: agent });
    const body = await res.body.text();
    const h: Record<string, string> = {};
    for (const [k, v] of Object.entries(res.headers)) h[k] = Array.isArray(v) ? v.join(',') : String(v);
    return { status: res.statusCode, headers: h, body };
  };
  node.restart = async () => {
    await node.servers.close();
    node.servers = createDbServers(ctx, { accountUpdateDelayMs: 5 });
  };
  t.teardown(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeAllConnections();
    await node.servers.close();
    await agent.close();
    await rm(root, { recursive: true, force: true });
  });
  return node;
}

let clock = 1_700_000_000;
/** Increasing timestamps, as the proxy stamps them. */
function ts(): string {
  clock += 1;
  return new Timestamp(clock * 100000).normal;
}

const rowPut = (size: number, stamp = ts(), extra: Record<string, string> = {}) => ({
  'x-backend-source': 'object-server',
  'x-timestamp': stamp,
  'x-size': String(size),
  'x-content-type': 'text/plain',
  'x-etag': `etag${size}`,
  ...extra,
});
const rowDelete = (stamp = ts()) => ({ 'x-backend-source': 'object-server', 'x-timestamp': stamp });

async function waitFor(what: string, check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}

t.test('container lifecycle', async (t) => {
  const n = await startNode(t);
  const c = '/sda/1/AUTH_a/c';
  t.equal((await n.call('PUT', c, {})).status, 400, 'no X-Timestamp');
  t.equal((await n.call('PUT', c, { 'x-timestamp': 'yesterday' })).status, 400, 'bad X-Timestamp');
  const created = ts();
  t.equal((await n.call('PUT', c, { 'x-timestamp': created, 'x-container-meta-color': 'blue', 'X-Container-Read': '.r:*' })).status, 201);
  t.equal((await n.call('PUT', c, { 'x-timestamp': ts() })).status, 202);
  let h = await n.call('HEAD', c);
  t.equal(h.status, 204);
  t.equal(h.headers['x-container-object-count'], '0');
  t.equal(h.headers['x-container-bytes-used'], '0');
  t.equal(h.headers['x-timestamp'], created);
  t.ok(h.headers['x-put-timestamp'] && h.headers['x-put-timestamp'] > created);
  t.equal(h.headers['x-container-meta-color'], 'blue');
  t.equal(h.headers['x-container-read'], '.r:*');
  t.equal(h.headers['content-type'], 'text/plain; charset=utf-8');
  t.ok(h.headers['x-backend-put-timestamp'] && h.headers['x-backend-delete-timestamp']);
  const posted = ts();
  t.equal((await n.call('POST', c, { 'x-timestamp': posted, 'x-container-meta-color': '', 'x-container-meta-size': 'L' })).status, 204);
  h = await n.call('HEAD', c);
  t.equal(h.headers['x-put-timestamp'], posted, "a POST moves the put timestamp, as Swift's container server");
  t.equal(h.headers['last-modified'], Timestamp.parse(posted).httpDate);
  t.notOk('x-container-meta-color' in h.headers, 'an empty value removes the key');
  t.equal(h.headers['x-container-meta-size'], 'L');
  t.equal((await n.call('POST', '/sda/1/AUTH_a/none', { 'x-timestamp': ts() })).status, 404);
  t.equal((await n.call('DELETE', '/sda/1/AUTH_a/none', { 'x-timestamp': ts() })).status, 404);
  t.equal((await n.call('PUT', `${c}/obj`, rowPut(3))).status, 201);
  t.equal((await n.call('DELETE', c, { 'x-timestamp': ts() })).status, 409, 'not empty');
  t.equal((await n.call('DELETE', `${c}/obj`, rowDelete())).status, 204);
  const deletedAt = ts();
  t.equal((await n.call('DELETE', c, { 'x-timestamp': deletedAt })).status, 204);
  h = await n.call('HEAD', c);
  t.equal(h.status, 404);
  t.equal(h.headers['x-backend-delete-timestamp'], deletedAt);
  t.ok(h.headers['x-backend-timestamp'], 'a deleted container still tells its timestamps');
  t.equal((await n.call('GET', c)).status, 404);
  t.equal((await n.call('DELETE', c, { 'x-timestamp': ts() })).status, 404, 'already deleted');
  t.equal((await n.call('PUT', `${c}/late`, rowPut(1))).status, 404, 'no rows into a deleted container');
  t.equal((await n.call('PUT', c, { 'x-timestamp': ts() })).status, 201, 're-created');
  h = await n.call('HEAD', c);
  t.equal(h.status, 204);
  t.notOk('x-container-meta-size' in h.headers, 'metadata went with the delete');
  t.equal((await n.call('PATCH', c, { 'x-timestamp': ts() })).status, 405);
  t.equal((await n.call('HEAD', '/nodev/1/AUTH_a/c')).status, 507, 'the router checks the device');
});

t.test('object rows drive the stats', async (t) => {
  const n = await startNode(t);
  const c = '/sda/1/AUTH_a/c';
  t.equal((await n.call('PUT', `${c}/o`, rowPut(1))).status, 404, 'no container');
  await n.call('PUT', c, { 'x-timestamp': ts() });
  t.equal((await n.call('PUT', `${c}/o`, { 'x-backend-source': 'object-server', 'x-timestamp': ts() })).status, 400, 'no X-Size');
  t.equal((await n.call('PUT', `${c}/o`, rowPut(1, 'nope'))).status, 400, 'bad X-Timestamp');
  t.equal((await n.call('PUT', `${c}/o1`, rowPut(10))).status, 201);
  t.equal((await n.call('PUT', `${c}/dir/o2`, rowPut(20))).status, 201, 'a name with slashes');
  const stats = async () => {
    const h = await n.call('HEAD', c);
    return [Number(h.headers['x-container-object-count']), Number(h.headers['x-container-bytes-used'])];
  };
  t.same(await stats(), [2, 30]);
  const older = ts();
  await n.call('PUT', `${c}/o1`, rowPut(15));
  t.same(await stats(), [2, 35], 'overwrite: count unchanged, bytes adjusted');
  await n.call('PUT', `${c}/o1`, rowPut(999, older));
  t.same(await stats(), [2, 35], 'an older row is ignored');
  await n.call('DELETE', `${c}/dir/o2`, rowDelete());
  t.same(await stats(), [1, 15]);
  await n.call('DELETE', `${c}/never`, rowDelete());
  t.same(await stats(), [1, 15], 'a tombstone for an unknown name counts for nothing');
  const list = await n.call('GET', `${c}?format=json`);
  t.same(
    JSON.parse(list.body).map((o: { name: string; bytes: number; hash: string }) => [o.name, o.bytes, o.hash]),
    [['o1', 15, 'etag15']],
  );
});

t.test('listings over HTTP', async (t) => {
  const n = await startNode(t);
  const c = '/sda/1/AUTH_a/c';
  await n.call('PUT', c, { 'x-timestamp': ts() });
  let r = await n.call('GET', c);
  t.equal(r.status, 204, 'an empty plain listing is 204');
  r = await n.call('GET', `${c}?format=json`);
  t.same([r.status, r.body, r.headers['content-type']], [200, '[]', 'application/json; charset=utf-8']);
  const names = ['a', 'a/b', 'a/c', 'b/x', 'c', 'pré&<x>', 'é/1']; // UTF-8 byte order
  for (const name of names) await n.call('PUT', `${c}/${name.split('/').map(encodeURIComponent).join('/')}`, rowPut(1));
  r = await n.call('GET', c);
  t.same([r.status, r.body], [200, `${names.join('\n')}\n`]);
  const q = async (qs: string, headers: Record<string, string> = {}) => (await n.call('GET', `${c}?${qs}`, headers)).body;
  t.equal(await q('delimiter=/'), 'a\na/\nb/\nc\npré&<x>\né/\n');
  t.equal(await q('delimiter=/&prefix=a/'), 'a/b\na/c\n');
  t.equal(await q('path=a'), 'a/b\na/c\n', "path=: Swift's pseudo-hierarchy");
  t.equal(await q(`path=${encodeURIComponent('é')}&format=json`), JSON.stringify([{ ...JSON.parse(await q(`prefix=${encodeURIComponent('é/')}&format=json`))[0] }]));
  t.equal(await q('path='), 'a\nc\npré&<x>\n', 'an empty path lists the top level');
  t.equal(await q(`marker=a/b&end_marker=${encodeURIComponent('é/1')}`), 'a/c\nb/x\nc\npré&<x>\n');
  t.equal(await q('limit=2'), 'a\na/b\n');
  t.equal(await q('limit=2&reverse=true'), 'é/1\npré&<x>\n');
  t.equal(await q('reverse=on&delimiter=/&marker=c'), 'b/\na/\na\n');
  t.equal(await q('limit=bogus'), `${names.join('\n')}\n`, 'a non-numeric limit is ignored, as Swift');
  r = await n.call('GET', `${c}?limit=10001`);
  t.equal(r.status, 412, 'limit above 10,000');
  t.equal((await n.call('GET', `${c}?limit=10000`)).status, 200);
  const json = JSON.parse(await q('format=json&prefix=a&delimiter=/')) as Array<Record<string, unknown>>;
  t.equal(json.length, 2);
  t.same(Object.keys(json[0] ?? {}), ['hash', 'last_modified', 'bytes', 'name', 'content_type']);
  t.match(json[0], { name: 'a', bytes: 1, hash: 'etag1', content_type: 'text/plain', last_modified: /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/ });
  t.same(json[1], { subdir: 'a/' });
  r = await n.call('GET', `${c}?prefix=p`, { accept: 'application/xml' });
  t.equal(r.headers['content-type'], 'application/xml; charset=utf-8');
  t.match(r.body, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<container name="c"><object><name>pré&amp;&lt;x&gt;<\/name><hash>etag1<\/hash><bytes>1<\/bytes><content_type>text\/plain<\/content_type><last_modified>[^<]+<\/last_modified><\/object><\/container>$/);
  r = await n.call('GET', `${c}?prefix=a&delimiter=/&format=xml`);
  t.match(r.body, /<subdir name="a\/"><name>a\/<\/name><\/subdir><\/container>$/);
  r = await n.call('GET', `${c}?prefix=zzz`, { accept: 'text/xml' });
  t.same([r.status, r.headers['content-type']], [200, 'text/xml; charset=utf-8']);
  t.equal((await n.call('GET', c, { accept: 'image/png' })).status, 406);
  r = await n.call('HEAD', `${c}?format=json`);
  t.same([r.status, r.headers['content-type'], r.body], [204, 'application/json; charset=utf-8', '']);
});

t.test('account updates: sent before answering, coalesced, pending when they fail', async (t) => {
  const n = await startNode(t);
  const target = (host: string) => ({ 'x-account-host': host, 'x-account-device': 'sda', 'x-account-partition': '1' });
  t.equal((await n.call('PUT', '/sda/1/AUTH_a', { 'x-timestamp': ts() })).status, 201);
  t.equal((await n.call('PUT', '/sda/1/AUTH_a/c', { 'x-timestamp': ts(), ...target(n.host) })).status, 201);
  let a = await n.call('HEAD', '/sda/1/AUTH_a');
  t.equal(a.headers['x-account-container-count'], '1', 'the container PUT reached the account before it was answered');
  await Promise.all([1, 2, 3, 4].map((i) => n.call('PUT', `/sda/1/AUTH_a/c/o${i}`, rowPut(i, ts(), target(n.host)))));
  await waitFor('object rows to reach the account', async () => {
    a = await n.call('HEAD', '/sda/1/AUTH_a');
    return a.headers['x-account-object-count'] === '4';
  });
  t.equal(a.headers['x-account-bytes-used'], '10');
  const db = await n.servers.pool.get(join(n.root, 'sda'));
  await waitFor('acknowledged updates to clear their markers', async () => (await listPendingAccountUpdates(db)).length === 0);
  const list = JSON.parse((await n.call('GET', '/sda/1/AUTH_a?format=json')).body);
  t.match(list, [{ name: 'c', count: 4, bytes: 10 }]);
  // A POST moves the put timestamp the account lists as last_modified: sent after the answer.
  const posted = ts();
  t.equal((await n.call('POST', '/sda/1/AUTH_a/c', { 'x-timestamp': posted, 'x-container-meta-m': '1', ...target(n.host) })).status, 204);
  await waitFor("the POST's put timestamp to reach the account", async () => {
    const rows = JSON.parse((await n.call('GET', '/sda/1/AUTH_a?format=json')).body) as Array<{ last_modified: string }>;
    return rows[0]?.last_modified === Timestamp.parse(posted).isoListing;
  });
  await waitFor('its marker to clear', async () => (await listPendingAccountUpdates(db)).length === 0);

  // No account there yet: the container request still succeeds, the update is kept.
  t.equal((await n.call('PUT', '/sda/1/AUTH_b/c', { 'x-timestamp': ts(), ...target(n.host) })).status, 201);
  // Nobody listening at all.
  t.equal((await n.call('PUT', '/sda/1/AUTH_a/d', { 'x-timestamp': ts(), ...target('127.0.0.1:1') })).status, 201);
  const pending = await listPendingAccountUpdates(db);
  t.same(
    pending.map((p) => [p.account, p.container, p.target?.host]),
    [
      ['AUTH_a', 'd', '127.0.0.1:1'],
      ['AUTH_b', 'c', n.host],
    ],
  );
  // The updater's pass: AUTH_b exists now, 127.0.0.1:1 still refuses.
  await n.call('PUT', '/sda/1/AUTH_b', { 'x-timestamp': ts() });
  const report = await n.servers.retryPendingAccountUpdates(join(n.root, 'sda'));
  t.same(report, { attempted: 2, succeeded: 1, failed: 1, noTarget: 0 });
  t.same((await listPendingAccountUpdates(db)).map((p) => p.account), ['AUTH_a']);
  t.equal((await n.call('HEAD', '/sda/1/AUTH_b')).headers['x-account-container-count'], '1');

  // A deleted container reaches the account as a deleted row.
  t.equal((await n.call('PUT', '/sda/1/AUTH_b/e', { 'x-timestamp': ts(), ...target(n.host) })).status, 201);
  t.equal((await n.call('HEAD', '/sda/1/AUTH_b')).headers['x-account-container-count'], '2');
  t.equal((await n.call('DELETE', '/sda/1/AUTH_b/e', { 'x-timestamp': ts(), ...target(n.host) })).status, 204);
  t.equal((await n.call('HEAD', '/sda/1/AUTH_b')).headers['x-account-container-count'], '1');
});

t.test("an object POST's row update: new content type and last_modified, data kept", async (t) => {
  const n = await startNode(t);
  const c = '/sda/1/AUTH_a/c';
  await n.call('PUT', c, { 'x-timestamp': ts() });
  const put = ts();
  t.equal((await n.call('PUT', `${c}/o`, rowPut(3, put))).status, 201);
  const posted = ts();
  const post = { ...rowPut(3, put), 'x-content-type': 'image/png', 'x-content-type-timestamp': posted, 'x-meta-timestamp': posted };
  t.equal((await n.call('PUT', `${c}/o`, post)).status, 201);
  const listed = async () => (JSON.parse((await n.call('GET', `${c}?format=json`)).body) as Array<Record<string, unknown>>)[0];
  t.match(await listed(), { name: 'o', bytes: 3, hash: 'etag3', content_type: 'image/png', last_modified: Timestamp.parse(posted).isoListing });
  // An older POST's update arriving late changes nothing; a newer one moves last_modified.
  const older = { ...post, 'x-content-type': 'text/old', 'x-content-type-timestamp': put, 'x-meta-timestamp': put };
  t.equal((await n.call('PUT', `${c}/o`, older)).status, 201);
  t.match(await listed(), { content_type: 'image/png', last_modified: Timestamp.parse(posted).isoListing });
  const touched = ts();
  t.equal((await n.call('PUT', `${c}/o`, { ...post, 'x-meta-timestamp': touched })).status, 201);
  t.match(await listed(), { content_type: 'image/png', last_modified: Timestamp.parse(touched).isoListing });
  const h = await n.call('HEAD', c);
  t.same([h.headers['x-container-object-count'], h.headers['x-container-bytes-used']], ['1', '3'], 'still one object');
  t.equal((await n.call('PUT', `${c}/o`, { ...post, 'x-meta-timestamp': 'soon' })).status, 400, 'a bad timestamp');
  // The next PUT brings its own content type.
  t.equal((await n.call('PUT', `${c}/o`, rowPut(4, ts()))).status, 201);
  t.match(await listed(), { bytes: 4, content_type: 'text/plain' });
});

t.test('50 parallel row PUTs count exactly 50', async (t) => {
  const n = await startNode(t);
  await n.call('PUT', '/sda/1/AUTH_a/c', { 'x-timestamp': ts() });
  const statuses = await Promise.all(Array.from({ length: 50 }, (_, i) => n.call('PUT', `/sda/1/AUTH_a/c/o${i}`, rowPut(i + 1)).then((r) => r.status)));
  t.same(new Set(statuses), new Set([201]));
  const h = await n.call('HEAD', '/sda/1/AUTH_a/c');
  t.equal(h.headers['x-container-object-count'], '50');
  t.equal(h.headers['x-container-bytes-used'], String((50 * 51) / 2));
  t.equal((await n.call('GET', '/sda/1/AUTH_a/c')).body.split('\n').length - 1, 50);
});

t.test('data survives closing and reopening the databases', async (t) => {
  const n = await startNode(t);
  await n.call('PUT', '/sda/1/AUTH_a/c', { 'x-timestamp': ts(), 'x-container-meta-k': 'v' });
  await n.call('PUT', '/sda/1/AUTH_a/c/o', rowPut(42));
  await n.restart();
  const h = await n.call('HEAD', '/sda/1/AUTH_a/c');
  t.same([h.status, h.headers['x-container-object-count'], h.headers['x-container-bytes-used'], h.headers['x-container-meta-k']], [204, '1', '42', 'v']);
  t.equal((await n.call('GET', '/sda/1/AUTH_a/c')).body, 'o\n');
});

/** `n` metadata headers `<prefix><tag><i>` of `size`-byte values: 15 of 256 bytes are ~3.9 KB, under every per-request limit. */
function metaBatch(prefix: string, tag: string, n = 15, size = 256): Record<string, string> {
  const h: Record<string, string> = {};
  for (let i = 0; i < n; i++) h[`${prefix}${tag}${i}`] = String.fromCharCode(97 + (i % 26)).repeat(size);
  return h;
}

t.test('metadata limits hold for the stored total, not just each request', async (t) => {
  const n = await startNode(t);
  const c = '/sda/1/AUTH_a/c';
  const batch = (tag: string, count?: number, size?: number) => metaBatch('x-container-meta-', tag, count, size);
  t.equal((await n.call('PUT', c, { 'x-timestamp': ts(), ...batch('a') })).status, 201);
  const before = await n.call('HEAD', c);

  // A second ~3.9 KB batch would take the total past 4096: refused, nothing changes.
  const post = await n.call('POST', c, { 'x-timestamp': ts(), ...batch('b') });
  t.same([post.status, post.body], [400, 'Total metadata too large; max 4096'], "Swift's answer to a POST");
  const put = await n.call('PUT', c, { 'x-timestamp': ts(), ...batch('b') });
  t.same([put.status, put.body], [400, 'Total metadata too large; max 4096'], 'and to a PUT of the existing container');
  const many = await n.call('POST', c, { 'x-timestamp': ts(), ...batch('k', 76, 1) });
  t.same([many.status, many.body], [400, 'Too many metadata items; max 90'], '15 + 76 items');
  let h = await n.call('HEAD', c);
  t.same(h.headers, { ...before.headers, date: h.headers['date'] }, 'HEAD is as before: no key, no timestamp changed');
  t.notOk('x-container-meta-b0' in h.headers);

  // ACLs and sysmeta are not metadata items (Swift counts user metadata only).
  const acl = `.r:*,${Array.from({ length: 500 }, (_, i) => `AUTH_u${i}`).join(',')}`;
  t.equal((await n.call('POST', c, { 'x-timestamp': ts(), 'x-container-read': acl, 'x-container-sysmeta-big': 's'.repeat(3000) })).status, 204);
  h = await n.call('HEAD', c);
  t.equal(h.headers['x-container-read'], acl);

  // Removing keys is always possible, and makes room.
  const removeA: Record<string, string> = {};
  for (const k of Object.keys(batch('a'))) removeA[k] = '';
  t.equal((await n.call('POST', c, { 'x-timestamp': ts(), ...removeA })).status, 204, 'removal');
  t.equal((await n.call('POST', c, { 'x-timestamp': ts(), ...batch('b') })).status, 204, 'now it fits');
  h = await n.call('HEAD', c);
  t.ok('x-container-meta-b14' in h.headers && !('x-container-meta-a0' in h.headers));

  // A new container whose metadata alone is over (a request the proxy would have refused): not created.
  const fresh = await n.call('PUT', '/sda/1/AUTH_a/fresh', { 'x-timestamp': ts(), ...batch('f', 20) });
  t.same([fresh.status, fresh.body], [400, 'Total metadata too large; max 4096']);
  t.equal((await n.call('HEAD', '/sda/1/AUTH_a/fresh')).status, 404, 'nothing created');
});

t.test('replication merges metadata past the limits; then only removals are taken', async (t) => {
  const n = await startNode(t);
  const c = '/sda/1/AUTH_a/c';
  t.equal((await n.call('PUT', c, { 'x-timestamp': ts(), ...metaBatch('x-container-meta-', 'a') })).status, 201);
  // Another replica took a different ~3.9 KB set (each was fine alone): the replicator merges it.
  const db = await n.servers.pool.get(join(n.root, 'sda'));
  const record = (await getContainer(db, 'AUTH_a', 'c'))!;
  const stamp = Timestamp.parse(ts()).internal;
  const other: Record<string, [string, string]> = {};
  for (const [k, v] of Object.entries(metaBatch('X-Container-Meta-', 'R'))) other[k] = [v, stamp];
  await mergeContainerRecord(db, 'AUTH_a', 'c', { ...record, metadata: other });
  let h = await n.call('HEAD', c);
  t.ok('x-container-meta-a0' in h.headers && 'x-container-meta-r0' in h.headers, 'the merge was not refused');

  t.equal((await n.call('POST', c, { 'x-timestamp': ts(), 'x-container-meta-new': '1' })).status, 400, 'no new key while over');
  t.equal((await n.call('POST', c, { 'x-timestamp': ts(), 'x-container-meta-a0': '' })).status, 204, 'a removal is taken');
  h = await n.call('HEAD', c);
  t.notOk('x-container-meta-a0' in h.headers);
});

t.test("storage policies: a container keeps the one it was created with (Swift's 400 and 409)", async (t) => {
  const policies = parseStoragePolicies([
    { index: 0, name: 'gold', default: true },
    { index: 1, name: 'scratch' },
  ]);
  const n = await startNode(t, { policies });
  const c = '/sda/1/AUTH_a/c';
  const policyOf = async (path: string) => (await n.call('HEAD', path)).headers['x-backend-storage-policy-index'];
  const put = (path: string, extra: Record<string, string> = {}) => n.call('PUT', path, { 'x-timestamp': ts(), ...extra });

  let r = await put(c, { 'x-backend-storage-policy-index': '7' });
  t.same([r.status, r.body], [400, "Invalid X-Backend-Storage-Policy-Index '7'"], 'a policy the cluster does not have');
  t.equal((await put(c, { 'x-backend-storage-policy-index': 'gold' })).status, 400, 'an index, not a name');
  t.equal((await put(c, { 'x-backend-storage-policy-default': '9' })).status, 400, 'an unknown default too');
  t.equal((await n.call('HEAD', c)).status, 404, 'nothing created by a refused PUT');

  t.equal((await put(c, { 'x-backend-storage-policy-index': '1' })).status, 201);
  t.equal(await policyOf(c), '1', 'HEAD tells the policy');
  t.equal((await n.call('GET', c)).headers['x-backend-storage-policy-index'], '1', 'GET too');
  const before = (await n.call('HEAD', c)).headers['x-put-timestamp'];
  r = await put(c, { 'x-backend-storage-policy-index': '0', 'x-container-meta-x': 'y' });
  t.equal(r.status, 409, 'another policy for an existing container');
  t.equal(r.headers['x-backend-storage-policy-index'], '1', 'the 409 says which policy it has');
  const after = await n.call('HEAD', c);
  t.same([after.headers['x-put-timestamp'], after.headers['x-container-meta-x']], [before, undefined], 'the refused PUT changed nothing');
  t.equal((await put(c, { 'x-backend-storage-policy-index': '1' })).status, 202, 'the same policy again is fine');
  t.equal((await put(c, { 'x-backend-storage-policy-default': '0' })).status, 202, 'no policy asked: the existing one stays');
  t.equal(await policyOf(c), '1');

  t.equal((await put('/sda/1/AUTH_a/d')).status, 201);
  t.equal(await policyOf('/sda/1/AUTH_a/d'), '0', "nothing asked, no default sent: the node's default policy");
  t.equal((await put('/sda/1/AUTH_a/e', { 'x-backend-storage-policy-default': '1' })).status, 201);
  t.equal(await policyOf('/sda/1/AUTH_a/e'), '1', "nothing asked: the proxy's default");

  // Deleted, a container may come back with another policy.
  t.equal((await n.call('DELETE', c, { 'x-timestamp': ts() })).status, 204);
  t.equal((await put(c, { 'x-backend-storage-policy-index': '0' })).status, 201, 're-created');
  t.equal(await policyOf(c), '0', 'with the policy asked for now');

  // A database written before policies stored none: it is policy 0.
  const db = await n.servers.pool.get(join(n.root, 'sda'));
  const legacy = ts();
  await mergeContainerRecord(db, 'AUTH_a', 'old', { createdAt: Timestamp.parse(legacy).internal, putTimestamp: Timestamp.parse(legacy).internal, deleteTimestamp: '0000000000.00000', statusChangedAt: Timestamp.parse(legacy).internal, metadata: {} });
  t.equal((await getContainer(db, 'AUTH_a', 'old'))?.policy, undefined, 'no policy stored');
  t.equal(await policyOf('/sda/1/AUTH_a/old'), '0', 'reads as policy 0');
  t.equal((await put('/sda/1/AUTH_a/old', { 'x-backend-storage-policy-index': '1' })).status, 409, 'and keeps it');
  t.equal((await put('/sda/1/AUTH_a/old', { 'x-backend-storage-policy-index': '0' })).status, 202);
});

t.test('a UTF-8 content type is listed as its text, not its bytes twice over', async (t) => {
  const n = await startNode(t);
  const c = '/sda/1/AUTH_a/c';
  await n.call('PUT', c, { 'x-timestamp': ts() });
  // As the object server sends it: the header's UTF-8 bytes, a Latin-1 char each.
  const wire = (s: string): string => Buffer.from(s, 'utf8').toString('latin1');
  t.equal((await n.call('PUT', `${c}/o`, rowPut(1, undefined, { 'x-content-type': wire('text/㜅ü') }))).status, 201);
  t.equal((await n.call('PUT', `${c}/raw`, rowPut(1, undefined, { 'x-content-type': 'text/\xff' }))).status, 201);
  const list = JSON.parse((await n.call('GET', `${c}?format=json`)).body) as Array<{ name: string; content_type: string }>;
  t.same(
    list.map((r) => [r.name, r.content_type]),
    [
      ['o', 'text/㜅ü'],
      ['raw', 'text/\xff'],
    ],
    'UTF-8 decoded; bytes that are not UTF-8 kept as they came',
  );
});
