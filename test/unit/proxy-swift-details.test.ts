import t, { type Test } from 'tap';
import type { AddressInfo } from 'node:net';
import { loginToken, mockProxy } from '../helpers/mock-proxy.js';
import { rawRequest, type RawResponse } from '../helpers/raw-http.js';

/**
 * Status lines, bodies and headers as Swift 2.30 writes them (proxy/server.py handle_request and
 * get_controller, swob, tempauth), seen on the wire: the storage nodes are MockAgent origins.
 */
async function listening(t: Test): Promise<{ port: number; token: string; seen: string[] }> {
  const p = mockProxy();
  t.teardown(() => p.close());
  const seen: string[] = [];
  for (let i = 0; i < 5; i++) {
    p.mock
      .get(p.origin(i))
      .intercept({ path: () => true, method: () => true })
      .reply((opts) => {
        seen.push(`${opts.method} ${opts.path}`);
        const depth = opts.path.split('?')[0]!.split('/').length - 3;
        const meta = ['', 'account', 'container', 'object'][depth];
        const headers = { [`x-${meta}-meta-color`]: 'blue', 'x-timestamp': '1700000000.00000', etag: 'abc', 'content-type': 'text/plain; charset=utf-8' };
        const status = opts.method === 'PUT' ? 201 : opts.method === 'POST' && depth === 3 ? 202 : 204;
        return { statusCode: status, data: '', responseOptions: { headers } };
      })
      .persist();
  }
  await p.app.listen({ port: 0, host: '127.0.0.1' });
  return { port: (p.app.server.address() as AddressInfo).port, token: await loginToken(p.app, 'test:tester', 'testing'), seen };
}

const names = (r: RawResponse): string[] => r.names;

t.test('paths that name nothing: 404 for "/", 412 "Bad URL", 400 for another API version', async (t) => {
  const { port, token } = await listening(t);
  const get = (path: string, method = 'GET'): Promise<RawResponse> => rawRequest(port, [`${method} ${path} HTTP/1.1`, 'Host: x', `X-Auth-Token: ${token}`, 'Connection: close']);
  const root = await get('/');
  t.equal(root.status, 404, 'GET /');
  t.match(root.body.toString(), /<h1>Not Found<\/h1>/);
  t.equal((await get('/', 'HEAD')).status, 404, 'HEAD /');
  for (const path of ['/v1', '/v1/', '/v1//c', '/v1/AUTH_test//o', '/nothing']) {
    const r = await get(path);
    t.equal(r.status, 412, `${path}: 412`);
    t.equal(r.body.toString(), 'Bad URL', `${path}: Swift's words`);
    t.equal(r.header('content-type')?.toString(), 'text/html; charset=UTF-8');
  }
  t.equal((await get('/v2/AUTH_test')).status, 400, 'an account under another API version');
});

t.test('401: WWW-Authenticate names the account, quoted as Swift quotes it', async (t) => {
  const { port } = await listening(t);
  const get = (path: string, ...headers: string[]): Promise<RawResponse> => rawRequest(port, [`GET ${path} HTTP/1.1`, 'Host: x', ...headers, 'Connection: close']);
  const cases: Array<[string, string[], string]> = [
    ['/v1/AUTH_test/c/o', [], 'Swift realm="AUTH_test"'],
    ['/v1/AUTH_test', ['X-Auth-Token: AUTH_tkbad'], 'Swift realm="AUTH_test"'],
    ['/v1/AUTH_t%C3%A9st%20x/c', [], 'Swift realm="AUTH_t%C3%A9st%20x"'],
    ['/auth/v1.0', ['X-Auth-User: test:tester', 'X-Auth-Key: wrong'], 'Swift realm="unknown"'],
    ['/auth/v1.0', ['X-Auth-User: nobody:tester', 'X-Auth-Key: x'], 'Swift realm="nobody"'],
    ['/auth/v1.0', ['X-Auth-User: test:tester'], 'Swift realm="test"'],
    ['/auth/v1.0', [], 'Swift realm="unknown"'],
  ];
  for (const [path, headers, want] of cases) {
    const r = await get(path, ...headers);
    t.equal(r.status, 401, `${path} ${headers.join(' ')}`);
    t.equal(r.header('www-authenticate')?.toString(), want, `${path} ${headers.join(' ')}: ${want}`);
    t.ok(names(r).includes('Www-Authenticate'), 'named as swob names it');
  }
});

t.test('header names in Swift\'s title case; swob\'s content types', async (t) => {
  const { port, token } = await listening(t);
  const req = (method: string, path: string, ...headers: string[]): Promise<RawResponse> =>
    rawRequest(port, [`${method} ${path} HTTP/1.1`, 'Host: x', `X-Auth-Token: ${token}`, ...headers, 'Connection: close']);
  for (const [path, meta] of [
    ['/v1/AUTH_test', 'X-Account-Meta-Color'],
    ['/v1/AUTH_test/c', 'X-Container-Meta-Color'],
    ['/v1/AUTH_test/c/o', 'X-Object-Meta-Color'],
  ] as const) {
    const r = await req('HEAD', path);
    t.ok(names(r).includes(meta), `HEAD ${path}: ${meta} (${names(r).join(', ')})`);
    for (const n of ['X-Timestamp', 'Etag', 'X-Trans-Id', 'Content-Length']) t.ok(names(r).includes(n), `HEAD ${path}: ${n}`);
  }
  for (const [method, path, status] of [
    ['DELETE', '/v1/AUTH_test/c/o', 204],
    ['DELETE', '/v1/AUTH_test/c', 204],
    ['PUT', '/v1/AUTH_test/c', 201],
    ['POST', '/v1/AUTH_test/c/o', 202],
    ['POST', '/v1/AUTH_test/c', 204],
  ] as const) {
    const r = await req(method, path, 'Content-Length: 0');
    t.equal(r.status, status, `${method} ${path}`);
    t.equal(r.header('content-type')?.toString(), 'text/html; charset=UTF-8', `${method} ${path}: swob's type, body or not`);
  }
  const meta = await req('POST', '/v1/AUTH_test/c/o', 'Content-Length: 0', `X-Object-Meta-Big: ${'v'.repeat(257)}`);
  t.equal(meta.status, 400);
  t.equal(meta.header('content-type')?.toString(), 'text/plain', "constraints' refusals are text/plain");
  const limit = await req('GET', '/v1/AUTH_test/c?limit=10001');
  t.equal(limit.status, 412);
  t.equal(limit.header('content-type')?.toString(), 'text/html; charset=UTF-8', 'others are text/html');
});

t.test('a limit that is not all digits is ignored, as Swift does', async (t) => {
  const { port, token, seen } = await listening(t);
  for (const limit of ['5000.0', '-1', 'abc', '1e3', '']) {
    seen.length = 0;
    const r = await rawRequest(port, [`GET /v1/AUTH_test/c?limit=${limit} HTTP/1.1`, 'Host: x', `X-Auth-Token: ${token}`, 'Connection: close']);
    t.equal(r.status, 204, `limit=${limit}: the listing`);
    t.ok(seen.some((s) => s.startsWith('GET ') && s.includes('/c?')), `limit=${limit}: a node was asked (it ignores the limit too)`);
  }
});

t.test('unknown methods: 405 with Allow, whether Node parses them or not', async (t) => {
  const { port, token } = await listening(t);
  for (const method of ['LICK', 'GETorHEAD_base', 'PATCH', 'PROPFIND']) {
    const r = await rawRequest(port, [`${method} /v1/AUTH_test HTTP/1.1`, 'Host: x', `X-Auth-Token: ${token}`, 'Connection: close']);
    t.equal(r.status, 405, `${method}: 405`);
    t.equal(r.header('allow')?.toString(), 'HEAD, GET, PUT, POST, COPY, OPTIONS, DELETE', `${method}: Allow`);
    t.match(r.body.toString(), /<h1>Method Not Allowed<\/h1>/);
  }
});

t.test('Connection is answered only when the client sent it; the connection stays persistent', async (t) => {
  const { port, token } = await listening(t);
  const get = ['GET /v1/AUTH_test/c/o HTTP/1.1', 'Host: x', `X-Auth-Token: ${token}`];
  // Three requests on one connection: none, keep-alive, close.
  const r = await rawRequest(port, [...get, '', ...get, 'Connection: keep-alive', '', ...get, 'Connection: close']);
  t.equal(r.all.length, 3, 'all three answered on one connection');
  const conn = (i: number): string | undefined => r.all[i]!.headers.find(([k]) => k.toLowerCase() === 'connection')?.[1].toString();
  t.equal(conn(0), undefined, 'no Connection header unasked (Swift)');
  t.equal(conn(1), 'keep-alive', 'keep-alive when asked');
  t.equal(conn(2), 'close', 'close when asked');
});

t.test('a body coded other than plain chunked is 501, even when Node cannot parse it', async (t) => {
  const { port, token } = await listening(t);
  // As python's http.client sends it with that header: the bytes raw, not chunk-coded.
  const r = await rawRequest(port, ['PUT /v1/AUTH_test/c/o HTTP/1.1', 'Host: x', `X-Auth-Token: ${token}`, 'Transfer-Encoding: gzip,chunked'], 'x'.repeat(100));
  t.equal(r.status, 501);
  t.equal(r.all.length, 1, 'one answer');
});
