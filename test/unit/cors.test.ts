import t from 'tap';
import { request } from 'undici';
import { actualHeaders, containerCors, corsSettings, isOriginAllowed, preflight } from '../../proxy/middleware/cors/core.js';
import { fakeNodeProxy, type NodeAnswer } from '../helpers/fake-nodes.js';

const strict = corsSettings({ cors_allow_origin: '', cors_expose_headers: '', strict_cors_mode: true });

t.test('origins: the container\'s (space-separated) and the operator\'s (comma-separated)', async (t) => {
  const cors = containerCors({ 'X-Container-Meta-Access-Control-Allow-Origin': 'http://a.example  http://b.example' });
  t.ok(isOriginAllowed(cors, strict, 'http://a.example'));
  t.ok(isOriginAllowed(cors, strict, 'http://b.example'));
  t.notOk(isOriginAllowed(cors, strict, 'http://c.example'));
  t.notOk(isOriginAllowed(cors, strict, 'http://a.example/'), 'an origin is compared as a whole');
  const op = corsSettings({ cors_allow_origin: 'http://c.example, https://d.example', cors_expose_headers: '', strict_cors_mode: true });
  t.ok(isOriginAllowed(cors, op, 'http://c.example'));
  t.ok(isOriginAllowed({}, op, 'https://d.example'), 'the operator\'s origins hold for every container');
  t.ok(isOriginAllowed({ allowOrigin: '*' }, strict, 'http://anything'));
});

t.test('a preflight: 401 unless the origin and the method are allowed; then Swift\'s headers', async (t) => {
  const methods = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS'];
  const req = { origin: 'http://a.example', method: 'PUT', headers: 'x-auth-token, content-type,x-auth-token' };
  t.same(preflight({}, strict, req, methods), { status: 401, headers: { Allow: methods.join(', ') } });
  t.equal(preflight({ allowOrigin: 'http://a.example' }, strict, { ...req, method: 'PATCH' }, methods).status, 401, 'a method the controller has not');
  t.equal(preflight({ allowOrigin: 'http://a.example' }, strict, { ...req, method: undefined }, methods).status, 401, 'no method asked');
  t.equal(preflight({ allowOrigin: 'http://a.example' }, { ...strict, strict: false }, { ...req, origin: 'http://x' }, methods).status, 401, 'a preflight is checked in lax mode too');
  t.same(preflight({ allowOrigin: 'http://a.example', maxAge: '60' }, strict, req, methods), {
    status: 200,
    headers: {
      Allow: methods.join(', '),
      'Access-Control-Allow-Origin': 'http://a.example',
      Vary: 'Origin, Access-Control-Request-Headers',
      'Access-Control-Max-Age': '60',
      'Access-Control-Allow-Methods': methods.join(', '),
      'Access-Control-Allow-Headers': 'x-auth-token, content-type',
    },
  });
  const star = preflight({ allowOrigin: ' * ' }, strict, { ...req, headers: undefined }, methods).headers;
  t.equal(star['Access-Control-Allow-Origin'], '*');
  t.equal(star['Vary'], undefined, 'no Vary for "*"');
});

t.test('an actual answer: expose and allow-origin, none for a stranger in strict mode', async (t) => {
  const cors = { allowOrigin: 'http://a.example', exposeHeaders: 'X-Custom  x-other' };
  const res = { 'Content-Type': 'text/plain', 'X-Object-Meta-Color': 'red', Vary: 'Accept' };
  t.same(actualHeaders(cors, strict, 'http://evil.example', res), res, 'strict: nothing for an origin not allowed');
  const ok = actualHeaders(cors, strict, 'http://a.example', res);
  t.equal(ok['Access-Control-Allow-Origin'], 'http://a.example');
  t.equal(ok['Vary'], 'Accept, Origin');
  t.same(ok['Access-Control-Expose-Headers']?.split(', '), [
    'cache-control', 'content-language', 'content-type', 'expires', 'last-modified', 'pragma', 'etag', 'x-timestamp', 'x-trans-id', 'x-openstack-request-id',
    'x-object-meta-color', 'x-custom', 'x-other',
  ]);
  const lax = actualHeaders({}, { ...strict, strict: false, exposeHeaders: ['x-op'] }, 'http://evil.example', {});
  t.equal(lax['Access-Control-Allow-Origin'], 'http://evil.example', 'lax mode: any origin');
  t.match(lax['Access-Control-Expose-Headers'], /x-op/, "the operator's exposed headers");
});

t.test('CORS through the proxy', async (t) => {
  const p = await fakeNodeProxy();
  t.teardown(() => p.close());
  let meta: Record<string, string> = {};
  p.answer = ({ method, depth }): NodeAnswer => {
    const ts = { 'x-timestamp': '1700000000.00000', 'x-backend-timestamp': '1700000000.00000', 'x-put-timestamp': '1700000000.00000' };
    if (depth === 1) return { status: 204, headers: ts };
    if (depth === 2) return { status: 204, headers: { ...ts, ...meta } };
    if (method === 'GET' || method === 'HEAD') return { status: 404, headers: ts };
    return { status: 201, headers: ts };
  };
  const token = await p.token('test:tester', 'testing');
  const go = async (method: string, path: string, headers: Record<string, string>) => {
    const res = await request(`${p.base}${path}`, { method, headers });
    await res.body.dump();
    return { status: res.statusCode, headers: res.headers };
  };
  const origin = 'http://m.example';

  // Swift's test_object.py test_cors, in short.
  meta = { 'x-container-meta-access-control-allow-origin': '*' };
  t.equal((await go('OPTIONS', '/v1/AUTH_test/c/cat', { origin })).status, 401, 'a preflight without a method');
  const pre = await go('OPTIONS', '/v1/AUTH_test/c/cat', { origin, 'access-control-request-method': 'GET' });
  t.equal(pre.status, 200);
  t.equal(pre.headers['access-control-allow-origin'], '*');
  t.equal(pre.headers['allow'], 'GET, HEAD, POST, PUT, DELETE, OPTIONS, COPY');
  t.equal((await go('OPTIONS', '/v1/AUTH_test/c/cat', { origin, 'access-control-request-method': 'COPY' })).status, 401, 'COPY is not the controller\'s');
  const miss = await go('GET', '/v1/AUTH_test/c/cat', { origin, 'x-auth-token': token });
  t.equal(miss.status, 404);
  t.equal(miss.headers['access-control-allow-origin'], '*', 'an error answer carries them too');
  const anon = await go('GET', '/v1/AUTH_test/c/cat', { origin });
  t.equal(anon.status, 401);
  t.equal(anon.headers['access-control-allow-origin'], '*', 'a refusal too, so the script can read it');

  meta = { 'x-container-meta-access-control-allow-origin': 'http://secret.example', 'x-container-meta-access-control-max-age': '5' };
  t.equal((await go('OPTIONS', '/v1/AUTH_test/c/cat', { origin, 'access-control-request-method': 'GET' })).status, 401);
  const strange = await go('GET', '/v1/AUTH_test/c/cat', { origin, 'x-auth-token': token });
  t.equal(strange.headers['access-control-allow-origin'], undefined, 'strict: nothing for another origin');
  const secret = await go('OPTIONS', '/v1/AUTH_test/c', { origin: 'http://secret.example', 'access-control-request-method': 'PUT' });
  t.equal(secret.status, 200);
  t.equal(secret.headers['access-control-allow-origin'], 'http://secret.example');
  t.equal(secret.headers['access-control-max-age'], '5');
  t.equal(secret.headers['allow'], 'GET, HEAD, PUT, POST, DELETE, OPTIONS', "a container's methods");

  // Plain OPTIONS, with or without (bad) credentials.
  const plain = await go('OPTIONS', '/v1/AUTH_test', { 'x-auth-token': 'AUTH_tkbad' });
  t.same([plain.status, plain.headers['allow']], [200, 'GET, HEAD, POST, OPTIONS']);
  t.equal((await go('OPTIONS', '/v1/AUTH_test', { origin })).status, 200, 'an account is never a preflight');
  t.equal((await go('GET', '/v1/AUTH_test', { origin, 'x-auth-token': token })).headers['access-control-allow-origin'], undefined, 'nor gets CORS headers');
});

t.test('lax mode and /info', async (t) => {
  const p = await fakeNodeProxy({ strict_cors_mode: false, cors_expose_headers: 'X-Op-Header' });
  t.teardown(() => p.close());
  p.answer = ({ depth }): NodeAnswer => ({ status: depth === 3 ? 404 : 204, headers: { 'x-timestamp': '1700000000.00000', 'x-backend-timestamp': '1700000000.00000' } });
  const token = await p.token('test:tester', 'testing');
  const res = await request(`${p.base}/v1/AUTH_test/c/o`, { headers: { origin: 'http://any.example', 'x-auth-token': token } });
  await res.body.dump();
  t.equal(res.headers['access-control-allow-origin'], 'http://any.example');
  t.match(res.headers['access-control-expose-headers'], /x-op-header/);
  const info = (await (await request(`${p.base}/info`)).body.json()) as { swift: { strict_cors_mode: boolean } };
  t.equal(info.swift.strict_cors_mode, false);
});
