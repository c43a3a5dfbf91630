import t from 'tap';
import { connect } from 'node:net';
import { request } from 'undici';
import { startCluster } from '../helpers/cluster.js';
import { rawRequest } from '../helpers/raw-http.js';
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
  // An account outside the reseller prefix is nobody's, though "test" is one of the user's groups.
  const base = a.storageUrl.slice(0, a.storageUrl.indexOf('/v1/'));
  for (const [path, token, want] of [
    ['/v1/test/c3', plain.token, 403],
    ['/v1/test/c3/o', plain.token, 403],
    ['/v1/test/c3', a.token, 403],
    ['/v1/test/c3', undefined, 401],
  ] as const) {
    const res = await request(`${base}${path}`, { method: 'PUT', headers: { 'content-length': '1', ...(token ? { 'x-auth-token': token } : {}) }, body: 'x' });
    await res.body.dump();
    t.equal(res.statusCode, want, `PUT ${path} (${token === plain.token ? 'no role' : token ? 'account admin' : 'anonymous'}): unprefixed account refused`);
  }
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
  const port = Number(url.port);
  const auth = ['Host: x', `X-Auth-Token: ${a.token}`];
  const old = await rawRequest(port, [`PUT ${url.pathname}/c/nolen HTTP/1.0`, ...auth], 'a body the client did not announce');
  t.same(old.all.map((r) => r.status), [411], 'HTTP/1.0 PUT with a body and no Content-Length: 411 only');
  t.equal(old.body.toString(), 'Missing Content-Length header.');

  // Metadata bytes: UTF-8 round-trips byte for byte; account and container metadata must be UTF-8;
  // object metadata may be any bytes, as in Swift.
  const utf8 = Buffer.from('café ☃', 'utf8');
  const ff = Buffer.from([0x61, 0xff, 0x62]);
  const meta = (name: string, value: Buffer): Buffer => Buffer.concat([Buffer.from(`${name}: `), value]);
  const send = (method: string, path: string, extra: Buffer, body = ''): ReturnType<typeof rawRequest> =>
    rawRequest(port, [`${method} ${url.pathname}${path} HTTP/1.1`, ...auth, `Content-Length: ${body.length}`, 'Connection: close', extra], body);
  for (const [method, path, header] of [
    ['POST', '', 'X-Account-Meta-Bad'],
    ['PUT', '/cm', 'X-Container-Meta-Bad'],
    ['POST', '/c', 'X-Container-Meta-Bad'],
  ] as const) {
    const res = await send(method, path, meta(header, ff));
    t.equal(res.status, 400, `${method} ${path || '(account)'} with a 0xff byte in ${header}`);
    t.equal(res.body.toString(), 'Metadata must be valid UTF-8');
  }
  t.equal((await a.req('HEAD', '/cm')).status, 404, 'the refused container PUT created nothing');
  t.equal((await send('POST', '/c', meta('X-Container-Meta-Name', utf8))).status, 204);
  t.same((await rawRequest(port, [`HEAD ${url.pathname}/c HTTP/1.1`, ...auth, 'Connection: close'])).header('x-container-meta-name'), utf8, 'container metadata: the bytes sent');
  t.equal((await send('POST', '', meta('X-Account-Meta-Name', utf8))).status, 204);
  t.same((await rawRequest(port, [`HEAD ${url.pathname} HTTP/1.1`, ...auth, 'Connection: close'])).header('x-account-meta-name'), utf8, 'account metadata: the bytes sent');
  t.equal((await send('PUT', '/c/meta', meta('X-Object-Meta-Name', utf8), 'x')).status, 201);
  t.same((await rawRequest(port, [`GET ${url.pathname}/c/meta HTTP/1.1`, ...auth, 'Connection: close'])).header('x-object-meta-name'), utf8, 'object metadata (PUT): the bytes sent');
  t.equal((await send('POST', '/c/meta', meta('X-Object-Meta-Bin', ff))).status, 202, 'object POST with a 0xff byte');
  t.same((await rawRequest(port, [`HEAD ${url.pathname}/c/meta HTTP/1.1`, ...auth, 'Connection: close'])).header('x-object-meta-bin'), ff, 'object metadata (POST): any bytes, kept');
  t.equal((await send('PUT', '/c/meta2', meta('X-Object-Meta-Bin', ff), 'x')).status, 201, 'object PUT with a 0xff byte');
  t.same((await rawRequest(port, [`HEAD ${url.pathname}/c/meta2 HTTP/1.1`, ...auth, 'Connection: close'])).header('x-object-meta-bin'), ff, 'object metadata (PUT): any bytes, kept');
});
