import t from 'tap';
import { loginToken, mockProxy } from '../helpers/mock-proxy.js';

/**
 * Writes that need a quorum answer once two of three primaries agreed and post_quorum_timeout_ms
 * passed, while the third primary never answers. The mock nodes have no timeouts at all (a
 * node_timeout of ten minutes besides): waiting for the hung node would never end, and the
 * test's own timeout would fail it.
 */
t.test('a hung primary costs post_quorum_timeout, not node_timeout', async (t) => {
  t.setTimeout(60_000);
  const p = mockProxy({ node_timeout_ms: 600_000, post_quorum_timeout_ms: 20, allow_account_management: true });
  const hung: Array<{ what: string; release: () => void }> = [];
  const handoffGot: string[] = [];
  let handoffHeard: () => void = () => undefined;
  for (let i = 0; i < 5; i++) {
    p.mock
      .get(p.origin(i))
      .intercept({ path: () => true, method: () => true })
      .reply((opts) => {
        const write = opts.method !== 'HEAD' && opts.method !== 'GET';
        if (i === 2 && write) {
          // The third primary takes the request and never answers until the test lets it (with a 503).
          return {
            statusCode: 503,
            data: () => new Promise<string>((resolve) => hung.push({ what: `${opts.method} ${opts.path}`, release: () => resolve('') })),
          };
        }
        if (i >= 3) {
          handoffGot.push(`${opts.method} ${opts.path}`);
          handoffHeard();
        }
        const status = opts.method === 'PUT' ? 201 : opts.method === 'POST' ? 204 : 204;
        return { statusCode: opts.method === 'POST' && (opts.path as string).split('/').length > 5 ? 202 : status, data: '' };
      })
      .persist();
  }
  t.teardown(async () => {
    for (const h of hung.splice(0)) h.release();
    await p.close();
  });
  const tester = await loginToken(p.app, 'test:tester', 'testing');
  const admin = await loginToken(p.app, 'admin:admin', 'admin');
  const writes: Array<[string, string, string, number]> = [
    ['DELETE', '/v1/AUTH_test/c/o', tester, 204],
    ['POST', '/v1/AUTH_test/c/o', tester, 202],
    ['PUT', '/v1/AUTH_test/c2', tester, 201],
    ['POST', '/v1/AUTH_test/c', tester, 204],
    ['DELETE', '/v1/AUTH_test/c2', tester, 204],
    ['POST', '/v1/AUTH_test', tester, 204],
    ['PUT', '/v1/AUTH_new', admin, 201],
    ['DELETE', '/v1/AUTH_new', admin, 204],
  ];
  for (const [method, url, token, want] of writes) {
    const before = hung.length;
    const res = await p.app.inject({ method: method as 'PUT', url, headers: { 'x-auth-token': token } });
    t.equal(res.statusCode, want, `${method} ${url}: answered from the two primaries that answered`);
    t.equal(hung.length, before + 1, `${method} ${url}: the third primary was asked and is still out`);
  }
  // The straggler was not cancelled: when it finally fails, its slot goes on to a handoff, as
  // Swift's greenthread does, so the write can still reach three replicas.
  const heard = new Promise<void>((r) => (handoffHeard = r));
  const last = hung.pop()!;
  t.equal(last.what.split(' ')[0], 'DELETE');
  last.release();
  await heard;
  t.match(handoffGot.at(-1), /^DELETE \/d[34]\/0\/AUTH_new$/, 'the hung DELETE moved on to a handoff after the client had its answer');
});
