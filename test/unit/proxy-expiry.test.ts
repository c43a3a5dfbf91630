import t from 'tap';
import { deleteAtHeader, pythonInt } from '../../proxy/expiry.js';
import { loginToken, mockProxy } from '../helpers/mock-proxy.js';

/** Swift's check_delete_headers and normalize_delete_at_timestamp (swift/common/constraints.py, utils). */
const NOW = 1_700_000_000.25;

t.test("Python's int()", async (t) => {
  t.equal(pythonInt('42'), 42n);
  t.equal(pythonInt(' +42 '), 42n);
  t.equal(pythonInt('-7'), -7n);
  t.equal(pythonInt('1_000'), 1000n);
  t.equal(pythonInt('9'.repeat(40)), BigInt('9'.repeat(40)));
  for (const bad of ['', ' ', '1.5', '1e3', '0x10', '1__0', '_1', '1_', 'abc', '12abc']) t.equal(pythonInt(bad), undefined, JSON.stringify(bad));
});

t.test('X-Delete-At and X-Delete-After, checked and normalized as Swift does', async (t) => {
  const table: Array<[Record<string, string>, { value?: string; error?: string }]> = [
    [{}, {}],
    [{ 'x-delete-at': '1700000100' }, { value: '1700000100' }],
    // Far in the future, however many digits: clamped to Swift's largest, not refused.
    [{ 'x-delete-at': '9'.repeat(30) }, { value: '9999999999' }],
    [{ 'x-delete-at': '12345678901' }, { value: '9999999999' }],
    [{ 'x-delete-at': '1_700_000_100' }, { value: '1700000100' }],
    [{ 'x-delete-at': '1700000100.5' }, { error: 'Non-integer X-Delete-At' }],
    [{ 'x-delete-at': 'soon' }, { error: 'Non-integer X-Delete-At' }],
    [{ 'x-delete-at': '1700000000' }, { error: 'X-Delete-At in past' }], // the request's own second is past
    [{ 'x-delete-at': '-5' }, { error: 'X-Delete-At in past' }],
    [{ 'x-delete-after': '60' }, { value: '1700000060' }],
    [{ 'x-delete-after': '9'.repeat(30) }, { value: '9999999999' }],
    [{ 'x-delete-after': '0' }, { error: 'X-Delete-After in past' }],
    [{ 'x-delete-after': '-60' }, { error: 'X-Delete-After in past' }],
    [{ 'x-delete-after': '1.5' }, { error: 'Non-integer X-Delete-After' }],
    // X-Delete-After wins over X-Delete-At.
    [{ 'x-delete-after': '60', 'x-delete-at': 'junk' }, { value: '1700000060' }],
  ];
  for (const [headers, want] of table) t.same(deleteAtHeader(headers, NOW), want, JSON.stringify(headers));
});

t.test('the object servers get the normalized X-Delete-At; DELETE passes X-If-Delete-At on', async (t) => {
  const p = mockProxy();
  t.teardown(() => p.close());
  const seen: Array<{ method: string; headers: Record<string, string> }> = [];
  for (let i = 0; i < 5; i++) {
    p.mock
      .get(p.origin(i))
      .intercept({ path: () => true, method: () => true })
      .reply((opts) => {
        const headers = Object.fromEntries(Object.entries(opts.headers as Record<string, string>).map(([k, v]) => [k.toLowerCase(), v]));
        if (opts.method === 'POST' || opts.method === 'DELETE') seen.push({ method: opts.method, headers });
        if (opts.method === 'HEAD') return { statusCode: 204, data: '' };
        if (headers['x-if-delete-at'] === 'bad') return { statusCode: 400, data: 'Bad X-If-Delete-At header value' };
        return { statusCode: opts.method === 'POST' ? 202 : 204, data: '' };
      })
      .persist();
  }
  const token = await loginToken(p.app, 'test:tester', 'testing');
  const post = await p.app.inject({ method: 'POST', url: '/v1/AUTH_test/c/o', headers: { 'x-auth-token': token, 'x-delete-at': '9'.repeat(30) } });
  t.equal(post.statusCode, 202);
  t.same(
    seen.filter((s) => s.method === 'POST').map((s) => s.headers['x-delete-at']),
    ['9999999999', '9999999999', '9999999999'],
  );
  const del = await p.app.inject({ method: 'DELETE', url: '/v1/AUTH_test/c/o', headers: { 'x-auth-token': token, 'x-if-delete-at': '1700000100' } });
  t.equal(del.statusCode, 204);
  t.same(
    seen.filter((s) => s.method === 'DELETE').map((s) => s.headers['x-if-delete-at']),
    ['1700000100', '1700000100', '1700000100'],
  );
  const bad = await p.app.inject({ method: 'DELETE', url: '/v1/AUTH_test/c/o', headers: { 'x-auth-token': token, 'x-if-delete-at': 'bad' } });
  t.same([bad.statusCode, bad.body], [400, 'Bad X-If-Delete-At header value'], "the nodes' refusal, with its reason");
});
