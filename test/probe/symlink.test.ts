import t from 'tap';
import { request } from 'undici';
import { startCluster } from '../helpers/cluster.js';
import { api } from '../helpers/swift-api.js';

/**
 * Symlinks through the proxy (Swift's symlink middleware): dynamic and static links, ?symlink=get,
 * chains and loops, dangling links, POST's 307, listings, and a security matrix: following a
 * link is a read of its target by the link's reader, so it never returns what that reader could
 * not GET directly.
 */
t.test('symlinks', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const a = await api(cluster);
  const b = await api(cluster, 'test2:tester2', 'testing2');
  const reader = await api(cluster, 'test:tester3', 'testing3');
  const account = a.storageUrl.split('/').pop() as string;
  const account2 = b.storageUrl.split('/').pop() as string;
  const text = (r: { body: Buffer }): string => r.body.toString();

  t.equal((await a.req('PUT', '/c')).status, 201);
  t.equal((await a.req('PUT', '/d')).status, 201);
  t.equal((await a.req('PUT', '/d/target', { body: 'hello' })).status, 201);

  await t.test('a dynamic link: GET/HEAD follow it, ?symlink=get reads the link', async (t) => {
    const put = await a.req('PUT', '/c/link', { headers: { 'x-symlink-target': 'd/target' } });
    t.equal(put.status, 201);
    const get = await a.req('GET', '/c/link');
    t.equal(get.status, 200);
    t.equal(text(get), 'hello');
    t.equal(get.headers['content-location'], `/v1/${account}/d/target`);
    // Range and If-* apply to the target, not to the zero-byte link.
    const ranged = await a.req('GET', '/c/link', { headers: { range: 'bytes=1-3' } });
    t.equal(ranged.status, 206);
    t.equal(text(ranged), 'ell');
    const etag = (await a.req('HEAD', '/d/target')).headers['etag'] as string;
    t.equal((await a.req('GET', '/c/link', { headers: { 'if-match': etag } })).status, 200);
    t.equal((await a.req('GET', '/c/link', { headers: { 'if-match': 'nope' } })).status, 412);
    t.equal((await a.req('GET', '/c/link', { headers: { 'if-none-match': etag } })).status, 304);
    const head = await a.req('HEAD', '/c/link');
    t.equal(head.headers['content-length'], '5');
    const link = await a.req('GET', '/c/link?symlink=get');
    t.equal(link.status, 200);
    t.equal(text(link), '');
    t.equal(link.headers['x-symlink-target'], 'd/target');
    t.equal(link.headers['content-type'], 'application/symlink');
    t.notOk(Object.keys(link.headers).some((k) => k.includes('sysmeta')), 'no sysmeta reaches the client');
    const post = await a.req('POST', '/c/link', { headers: { 'x-object-meta-a': 'b' } });
    t.equal(post.status, 307);
    t.equal(post.headers['location'], `/v1/${account}/d/target`);
    t.equal((await a.req('POST', '/c/link', { headers: { 'x-symlink-target': 'd/x' } })).status, 400);
    // DELETE removes the link, not its target.
    t.equal((await a.req('DELETE', '/c/link')).status, 204);
    t.equal((await a.req('GET', '/d/target')).status, 200);
  });

  await t.test('bad symlink PUTs', async (t) => {
    const body = await a.req('PUT', '/c/l1', { headers: { 'x-symlink-target': 'd/target' }, body: 'x' });
    t.equal(body.status, 400);
    t.equal(text(body), 'Symlink requests require a zero byte body');
    const slash = await a.req('PUT', '/c/l1', { headers: { 'x-symlink-target': '/d/target' } });
    t.equal(slash.status, 412);
    t.equal(text(slash), 'X-Symlink-Target header must be of the form <container name>/<object name>');
    t.equal((await a.req('PUT', '/c/l1', { headers: { 'x-symlink-target': 'nocontainer' } })).status, 412);
    const self = await a.req('PUT', '/c/l1', { headers: { 'x-symlink-target': 'c/l1' } });
    t.equal(self.status, 400);
    t.equal(text(self), 'Symlink cannot target itself');
    t.equal((await a.req('PUT', '/c/l1', { headers: { 'x-symlink-target': 'd/target', 'x-symlink-target-etag': 'a;b' } })).status, 400);
  });

  await t.test('dangling links, chains and loops', async (t) => {
    t.equal((await a.req('PUT', '/c/dangling', { headers: { 'x-symlink-target': 'd/nothing' } })).status, 201);
    const dangling = await a.req('GET', '/c/dangling');
    t.equal(dangling.status, 404);
    t.equal(dangling.headers['content-location'], `/v1/${account}/d/nothing`);
    t.match(text(dangling), /Not Found/);
    // c/l-1 → c/l-2 → d/target: two links, symloop_max is 2.
    t.equal((await a.req('PUT', '/c/l-2', { headers: { 'x-symlink-target': 'd/target' } })).status, 201);
    t.equal((await a.req('PUT', '/c/l-1', { headers: { 'x-symlink-target': 'c/l-2' } })).status, 201);
    t.equal(text(await a.req('GET', '/c/l-1')), 'hello');
    t.equal((await a.req('PUT', '/c/l-0', { headers: { 'x-symlink-target': 'c/l-1' } })).status, 201);
    const tooMany = await a.req('GET', '/c/l-0');
    t.equal(tooMany.status, 409);
    t.equal(text(tooMany), 'Too many levels of symbolic links, maximum allowed is 2');
    t.equal((await a.req('PUT', '/c/loop-a', { headers: { 'x-symlink-target': 'c/loop-b' } })).status, 201);
    t.equal((await a.req('PUT', '/c/loop-b', { headers: { 'x-symlink-target': 'c/loop-a' } })).status, 201);
    t.equal((await a.req('GET', '/c/loop-a')).status, 409);
  });

  await t.test('static links: checked at PUT and at every read', async (t) => {
    const etag = (await a.req('HEAD', '/d/target')).headers['etag'] as string;
    const wrong = await a.req('PUT', '/c/static', { headers: { 'x-symlink-target': 'd/target', 'x-symlink-target-etag': 'ffff' } });
    t.equal(wrong.status, 409);
    t.equal(text(wrong), `Object Etag '${etag.replace(/"/g, '')}' does not match X-Symlink-Target-Etag header 'ffff'`);
    const missing = await a.req('PUT', '/c/static', { headers: { 'x-symlink-target': 'd/none', 'x-symlink-target-etag': etag } });
    t.equal(missing.status, 409);
    t.equal(text(missing), 'X-Symlink-Target does not exist');
    t.equal((await a.req('PUT', '/c/static', { headers: { 'x-symlink-target': 'd/target', 'x-symlink-target-etag': etag } })).status, 201);
    const link = await a.req('HEAD', '/c/static?symlink=get');
    t.equal(link.headers['x-symlink-target-etag'], etag.replace(/"/g, ''));
    t.equal(link.headers['x-symlink-target-bytes'], '5');
    t.equal(text(await a.req('GET', '/c/static')), 'hello');
    // The target changes: the static link no longer reads it.
    t.equal((await a.req('PUT', '/d/target2', { body: 'one' })).status, 201);
    const e2 = (await a.req('HEAD', '/d/target2')).headers['etag'] as string;
    t.equal((await a.req('PUT', '/c/static2', { headers: { 'x-symlink-target': 'd/target2', 'x-symlink-target-etag': e2 } })).status, 201);
    t.equal((await a.req('PUT', '/d/target2', { body: 'two' })).status, 201);
    const stale = await a.req('GET', '/c/static2');
    t.equal(stale.status, 409);
    t.match(text(stale), /does not match X-Symlink-Target-Etag header/);
    t.equal((await a.req('HEAD', '/c/static2')).status, 409);
    // The link's own check comes before the client's If-Match, whatever it names (Swift: 409).
    for (const ifMatch of [e2, 'not-the-etag']) {
      const cond = await a.req('GET', '/c/static2', { headers: { 'if-match': ifMatch } });
      t.equal(cond.status, 409, `If-Match ${ifMatch}`);
      t.equal(cond.headers['content-location'], `/v1/${account}/d/target2`);
    }
  });

  await t.test('listings: symlink_path, symlink_etag, symlink_bytes', async (t) => {
    const listing = JSON.parse(text(await a.req('GET', '/c?format=json'))) as Array<Record<string, unknown>>;
    const byName = new Map(listing.map((o) => [o['name'], o]));
    const l2 = byName.get('l-2') as Record<string, unknown>;
    t.equal(l2['symlink_path'], `/v1/${account}/d/target`);
    t.equal(l2['hash'], 'd41d8cd98f00b204e9800998ecf8427e');
    t.equal(l2['content_type'], 'application/symlink');
    const st = byName.get('static') as Record<string, unknown>;
    t.equal(st['symlink_bytes'], 5);
    t.ok(st['symlink_etag']);
    const xml = text(await a.req('GET', '/c?format=xml'));
    t.notMatch(xml, /symlink_target/, 'XML shows the plain hash');
  });

  await t.test('security: a link reads only what its reader could read directly', async (t) => {
    t.equal((await b.req('PUT', '/priv')).status, 201);
    t.equal((await b.req('PUT', '/priv/secret', { body: 'top secret' })).status, 201);
    const secretEtag = (await b.req('HEAD', '/priv/secret')).headers['etag'] as string;
    // Cross-account link made by tester, who may not read AUTH_test2/priv.
    t.equal((await a.req('PUT', '/c/cross', { headers: { 'x-symlink-target': 'priv/secret', 'x-symlink-target-account': account2 } })).status, 201);
    const directRes = await request(`${new URL(a.storageUrl).origin}/v1/${account2}/priv/secret`, { headers: { 'x-auth-token': a.token } });
    await directRes.body.dump();
    t.equal(directRes.statusCode, 403, 'tester cannot read it directly');
    const viaLink = await a.req('GET', '/c/cross');
    t.equal(viaLink.status, 403, 'nor through a link');
    t.notMatch(text(viaLink), /top secret/);
    t.equal((await a.req('HEAD', '/c/cross')).status, 403);
    // A static link cannot probe the target's existence or ETag either.
    t.equal((await a.req('PUT', '/c/cross-static', { headers: { 'x-symlink-target': 'priv/secret', 'x-symlink-target-account': account2, 'x-symlink-target-etag': secretEtag } })).status, 403);
    t.equal((await a.req('PUT', '/c/cross-static', { headers: { 'x-symlink-target': 'priv/nothing', 'x-symlink-target-account': account2, 'x-symlink-target-etag': secretEtag } })).status, 403);
    // A link in a container tester3 may read, to a container tester3 may not read.
    t.equal((await a.req('PUT', '/pub', { headers: { 'x-container-read': 'test:tester3' } })).status, 201);
    t.equal((await a.req('PUT', '/pub/to-d', { headers: { 'x-symlink-target': 'd/target' } })).status, 201);
    t.equal((await a.req('PUT', '/pub/plain', { body: 'ok' })).status, 201);
    t.equal((await reader.req('GET', '/pub/plain')).status, 200, 'tester3 reads pub');
    t.equal((await reader.req('GET', '/d/target')).status, 403, 'not d');
    const hop = await reader.req('GET', '/pub/to-d');
    t.equal(hop.status, 403, 'nor d through a link in pub');
    t.notMatch(text(hop), /hello/);
    // A chain through a readable link to an unreadable target is refused at the unreadable hop.
    t.equal((await a.req('PUT', '/pub/to-pub', { headers: { 'x-symlink-target': 'pub/to-d' } })).status, 201);
    t.equal((await reader.req('GET', '/pub/to-pub')).status, 403);
    // Once the owner grants read access, the link works.
    t.equal((await b.req('POST', '/priv', { headers: { 'x-container-read': 'test:tester' } })).status, 204);
    const granted = await a.req('GET', '/c/cross');
    t.equal(granted.status, 200);
    t.equal(text(granted), 'top secret');
    t.equal(granted.headers['content-location'], `/v1/${account2}/priv/secret`);
    // Anonymous: 401 for the link itself, before any following.
    const anon = await request(`${a.storageUrl}/c/cross`);
    await anon.body.dump();
    t.equal(anon.statusCode, 401);
  });

  await t.test('/info advertises symlink', async (t) => {
    const res = await request(`${cluster.proxyUrl}/info`);
    const info = (await res.body.json()) as Record<string, Record<string, unknown>>;
    t.same(info['symlink'], { symloop_max: 2, static_links: true });
  });
});
