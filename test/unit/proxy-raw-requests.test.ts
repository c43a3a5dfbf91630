import t, { type Test } from 'tap';
import type { AddressInfo } from 'node:net';
import { loginToken, mockProxy, type MockProxy } from '../helpers/mock-proxy.js';
import { rawRequest } from '../helpers/raw-http.js';

/**
 * Requests only a raw socket can send, through the real proxy (its HTTP parser included); the
 * storage nodes are MockAgent origins that record what they were sent.
 */
async function listening(t: Test, config: Record<string, unknown> = {}): Promise<{ p: MockProxy; port: number; seen: Array<{ method: string; path: string; headers: Record<string, string> }> }> {
  const p = mockProxy(config);
  t.teardown(() => p.close());
  const seen: Array<{ method: string; path: string; headers: Record<string, string> }> = [];
  for (let i = 0; i < 5; i++) {
    p.mock
      .get(p.origin(i))
      .intercept({ path: () => true, method: () => true })
      .reply((opts) => {
        seen.push({ method: opts.method, path: opts.path, headers: opts.headers as Record<string, string> });
        const status = opts.method === 'PUT' ? 201 : opts.method === 'POST' ? 202 : 204;
        return { statusCode: status, data: '' };
      })
      .persist();
  }
  await p.app.listen({ port: 0, host: '127.0.0.1' });
  return { p, port: (p.app.server.address() as AddressInfo).port, seen };
}

const utf8 = Buffer.from('café ☃', 'utf8');
const ff = Buffer.from([0x61, 0xff, 0x62]);

t.test('metadata bytes: account and container metadata must be UTF-8, object metadata is kept as sent', async (t) => {
  const { p, port, seen } = await listening(t, { allow_account_management: true });
  const tester = await loginToken(p.app, 'test:tester', 'testing');
  const admin = await loginToken(p.app, 'admin:admin', 'admin');
  const cases: Array<[string, string, string, string]> = [
    ['PUT', '/v1/AUTH_new', admin, 'x-account-meta-'],
    ['POST', '/v1/AUTH_test', tester, 'x-account-meta-'],
    ['PUT', '/v1/AUTH_test/c', tester, 'x-container-meta-'],
    ['POST', '/v1/AUTH_test/c', tester, 'x-container-meta-'],
  ];
  for (const [method, path, token, prefix] of cases) {
    seen.length = 0;
    const head = (value: Buffer): Array<string | Buffer> => [`${method} ${path} HTTP/1.1`, 'Host: x', `X-Auth-Token: ${token}`, 'Content-Length: 0', 'Connection: close', Buffer.concat([Buffer.from(`${prefix}Name: `), value])];
    const bad = await rawRequest(port, head(ff));
    t.equal(bad.status, 400, `${method} ${path}: a 0xff byte in ${prefix}*`);
    t.equal(bad.body.toString(), 'Metadata must be valid UTF-8');
    t.same(seen, [], `${method} ${path}: no node was asked`);
    const good = await rawRequest(port, head(utf8));
    t.ok(good.status >= 200 && good.status < 300, `${method} ${path}: UTF-8 metadata is taken (${good.status})`);
    const sent = seen.filter((s) => s.method === method && s.headers[`${prefix}name`] !== undefined);
    t.equal(sent.length, 3, `${method} ${path}: every replica got it`);
    for (const s of sent) t.same(Buffer.from(s.headers[`${prefix}name`]!, 'latin1'), utf8, `${method} ${path}: the very bytes sent`);
  }
  // Swift takes any bytes as object metadata (it is not JSON there); they go to the nodes as sent.
  seen.length = 0;
  const post = await rawRequest(port, ['POST /v1/AUTH_test/c/o HTTP/1.1', 'Host: x', `X-Auth-Token: ${tester}`, 'Content-Length: 0', 'Connection: close', Buffer.concat([Buffer.from('X-Object-Meta-Name: '), ff])]);
  t.equal(post.status, 202, 'object POST with a 0xff byte');
  const sent = seen.filter((s) => s.method === 'POST');
  t.equal(sent.length, 3);
  for (const s of sent) t.same(Buffer.from(s.headers['x-object-meta-name']!, 'latin1'), ff, 'object metadata: the very bytes sent');
});

t.test('an object PUT without Content-Length gets 411, before anything about the bytes after it', async (t) => {
  const { p, port, seen } = await listening(t);
  const tester = await loginToken(p.app, 'test:tester', 'testing');
  const cases: Array<[string, string[], string]> = [
    ['HTTP/1.0, a body and no length', ['PUT /v1/AUTH_test/c/o HTTP/1.0', 'Host: x', `X-Auth-Token: ${tester}`], 'hello, this is the body'],
    ['HTTP/1.0, no body', ['PUT /v1/AUTH_test/c/o HTTP/1.0', 'Host: x', `X-Auth-Token: ${tester}`], ''],
    ['HTTP/1.0 keep-alive, a body', ['PUT /v1/AUTH_test/c/o HTTP/1.0', 'Host: x', 'Connection: keep-alive', `X-Auth-Token: ${tester}`], 'hello'],
    ['HTTP/1.1, neither length nor chunked, a body', ['PUT /v1/AUTH_test/c/o HTTP/1.1', 'Host: x', `X-Auth-Token: ${tester}`], 'hello'],
    ['HTTP/1.1, neither length nor chunked, a body like a request line', ['PUT /v1/AUTH_test/c/o HTTP/1.1', 'Host: x', `X-Auth-Token: ${tester}`], 'GET /x HTTP/1.1\r\nBad Header\r\n\r\n'],
    ['HTTP/1.1, neither length nor chunked, no body', ['PUT /v1/AUTH_test/c/o HTTP/1.1', 'Host: x', 'Connection: close', `X-Auth-Token: ${tester}`], ''],
  ];
  for (const [why, head, body] of cases) {
    const res = await rawRequest(port, head, body);
    t.same(
      res.all.map((r) => r.status),
      [411],
      `${why}: 411 and nothing else`,
    );
    t.equal(res.body.toString(), 'Missing Content-Length header.', `${why}: Swift's message`);
  }
  t.same(seen, [], 'no node was asked');
  // Bytes that are no request at all, with nothing in flight: still a 400.
  const junk = await rawRequest(port, ['NOT HTTP AT ALL'], '');
  t.equal(junk.status, 400, 'garbage alone: 400');
});
