import t from 'tap';
import { connect } from 'node:net';
import { request } from 'undici';
import { startCluster } from '../helpers/cluster.js';
import { api, devicesHoldingObject } from '../helpers/swift-api.js';

/** Bad input gets Swift's answer, nothing is stored, and the cluster stays up. */
t.test('bad input', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const a = await api(cluster);
  const account = a.storageUrl.split('/').pop() as string;
  t.equal((await a.req('PUT', '/c')).status, 201);

  // Names.
  t.equal((await a.req('PUT', `/${'x'.repeat(257)}`)).status, 400, 'container name too long');
  t.equal((await a.req('PUT', `/c/${'o'.repeat(1025)}`, { body: 'x' })).status, 400, 'object name too long');
  t.equal((await a.req('PUT', '/c/bad%FFname', { body: 'x' })).status, 412, 'invalid UTF-8');
  t.equal((await a.req('PUT', '/c/nul%00name', { body: 'x' })).status, 412, 'NUL in a name');

  // Metadata limits.
  t.equal((await a.req('PUT', '/c/m', { body: 'x', headers: { 'x-object-meta-big': 'v'.repeat(257) } })).status, 400, 'metadata value too long');
  const many: Record<string, string> = {};
  for (let i = 0; i < 91; i++) many[`x-object-meta-k${i}`] = 'v';
  t.equal((await a.req('PUT', '/c/m', { body: 'x', headers: many })).status, 400, 'too many metadata items');
  t.equal((await a.req('POST', '/c', { headers: { ['x-container-meta-' + 'n'.repeat(129)]: 'v' } })).status, 400, 'metadata name too long');

  // ETag mismatch: 422, nothing stored.
  const bad = await a.req('PUT', '/c/etag', { body: 'hello', headers: { etag: 'd41d8cd98f00b204e9800998ecf8427e' } });
  t.equal(bad.status, 422, 'wrong ETag');
  t.equal((await a.req('GET', '/c/etag')).status, 404, 'nothing stored after 422');
  t.equal((await a.req('PUT', '/c/etag', { body: 'hello', headers: { etag: '5d41402abc4b2a76b9719d911017c592' } })).status, 201, 'right ETag');

  // Range.
  t.equal((await a.req('GET', '/c/etag', { headers: { range: 'bytes=10-20' } })).status, 416);
  t.equal((await a.req('GET', '/c/etag', { headers: { range: 'bytes=junk' } })).status, 200, 'unparseable Range is ignored');

  // Auth.
  const noToken = await request(`${a.storageUrl}/c/etag`);
  await noToken.body.dump();
  t.equal(noToken.statusCode, 401, 'missing token');
  const badToken = await request(`${a.storageUrl}/c/etag`, { headers: { 'x-auth-token': 'AUTH_tkdeadbeef' } });
  await badToken.body.dump();
  t.equal(badToken.statusCode, 401, 'bad token');
  const badLogin = await request(cluster.authUrl, { headers: { 'x-auth-user': 'test:tester', 'x-auth-key': 'wrong' } });
  await badLogin.body.dump();
  t.equal(badLogin.statusCode, 401, 'bad key');
  const other = await api(cluster, 'test2:tester2', 'testing2');
  const cross = await request(`${a.storageUrl}/c/etag`, { headers: { 'x-auth-token': other.token } });
  await cross.body.dump();
  t.equal(cross.statusCode, 403, "another account's data");
  const plain = await api(cluster, 'test:tester3', 'testing3');
  const plainWrite = await request(`${a.storageUrl}/c/p`, { method: 'PUT', headers: { 'x-auth-token': plain.token }, body: 'x' });
  await plainWrite.body.dump();
  t.equal(plainWrite.statusCode, 403, 'plain user cannot write without an ACL');
  t.equal((await a.req('POST', '/c', { headers: { 'x-container-write': 'test:tester3', 'x-container-read': '.r:*' } })).status, 204);
  // The proxy caches container info briefly; this proxy invalidated it on the POST.
  const aclWrite = await request(`${a.storageUrl}/c/p`, { method: 'PUT', headers: { 'x-auth-token': plain.token }, body: 'x' });
  await aclWrite.body.dump();
  t.equal(aclWrite.statusCode, 201, 'write ACL grants the plain user');
  const anon = await request(`${a.storageUrl}/c/p`);
  t.equal(await anon.body.text(), 'x');
  t.equal(anon.statusCode, 200, '.r:* lets anyone read objects');
  const anonList = await request(`${a.storageUrl}/c`);
  await anonList.body.dump();
  t.equal(anonList.statusCode, 401, 'but not list without .rlistings');
  // Internal headers never get through.
  const sneaky = await a.req('PUT', '/c/sneaky', { body: 'x', headers: { 'x-backend-timestamp': '1', 'x-container-host': '10.0.0.1:1' } });
  t.equal(sneaky.status, 201);
  t.notOk(Object.keys((await a.req('GET', '/c/sneaky')).headers).some((h) => h.startsWith('x-backend-')), 'no internal headers leak');

  // Body shorter than Content-Length: the client goes away, nothing is stored, the server stays up.
  const url = new URL(a.storageUrl);
  await new Promise<void>((resolve) => {
    const sock = connect(Number(url.port), url.hostname, () => {
      sock.write(
        `PUT ${url.pathname}/c/short HTTP/1.1\r\nHost: ${url.host}\r\nX-Auth-Token: ${a.token}\r\nContent-Length: 100000\r\n\r\n` + 'x'.repeat(1000),
      );
      setTimeout(() => {
        sock.destroy();
        resolve();
      }, 300);
    });
    sock.on('error', () => resolve());
  });
  await new Promise((r) => setTimeout(r, 300));
  t.equal((await a.req('GET', '/c/short')).status, 404, 'short body: nothing stored');
  t.same(await devicesHoldingObject(cluster, account, 'c', 'short'), [], 'no .data on any disk');
  t.equal((await a.req('GET', '/c/etag')).status, 200, 'server still up');

  // Oversize declared length.
  const huge = await request(`${a.storageUrl}/c/huge`, { method: 'PUT', headers: { 'x-auth-token': a.token, 'content-length': String(6 * 1024 ** 3) }, body: 'x' }).catch(() => undefined);
  if (huge) {
    await huge.body.dump();
    t.equal(huge.statusCode, 413, 'object larger than 5 GiB');
  }
  const noLength = await new Promise<string>((resolve) => {
    const sock = connect(Number(url.port), url.hostname, () => {
      sock.write(`PUT ${url.pathname}/c/nolen HTTP/1.1\r\nHost: ${url.host}\r\nX-Auth-Token: ${a.token}\r\nConnection: close\r\n\r\n`);
    });
    let data = '';
    sock.on('data', (d) => (data += d.toString()));
    sock.on('close', () => resolve(data));
  });
  t.match(noLength, /^HTTP\/1\.1 411/, 'PUT without Content-Length or chunked');
});
