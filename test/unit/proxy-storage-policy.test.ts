import t from 'tap';
import { parseStoragePolicies } from '../../common/storage-policy.js';
import { objectPolicy } from '../../proxy/storage-policy.js';
import { loginToken, mockProxy } from '../helpers/mock-proxy.js';

/**
 * Storage policies at the proxy's edge, against mock storage nodes: container PUT turns a policy
 * name into its index (or Swift's 400), a 409 from the nodes reaches the client, a container's
 * HEAD/GET reports its policy by name, and /info lists the policies.
 */

const POLICIES = [
  { index: 0, name: 'gold', default: true },
  { index: 1, name: 'scratch', aliases: ['tmp'] },
  { index: 2, name: 'old', deprecated: true },
];

interface Seen {
  method: string;
  path: string;
  headers: Record<string, string>;
}

function setup(t: { teardown(fn: () => Promise<void>): void }, answer: (s: Seen) => { statusCode: number; headers?: Record<string, string> }) {
  const p = mockProxy({ storage_policies: POLICIES });
  const seen: Seen[] = [];
  for (let i = 0; i < 5; i++) {
    p.mock
      .get(p.origin(i))
      .intercept({ path: () => true, method: () => true })
      .reply((opts) => {
        const s = { method: opts.method, path: String(opts.path), headers: Object.fromEntries(Object.entries(opts.headers as Record<string, string>).map(([k, v]) => [k.toLowerCase(), String(v)])) };
        seen.push(s);
        const r = answer(s);
        return { statusCode: r.statusCode, data: '', responseOptions: { headers: r.headers ?? {} } };
      })
      .persist();
  }
  t.teardown(() => p.close());
  return { p, seen };
}

const containerPuts = (seen: Seen[]) => seen.filter((s) => s.method === 'PUT' && s.path.split('/').length === 5);

t.test('container PUT: a policy name becomes its index; unknown or deprecated names are refused', async (t) => {
  const { p, seen } = setup(t, (s) => ({ statusCode: s.method === 'PUT' ? 201 : 204 }));
  const token = await loginToken(p.app, 'test:tester', 'testing');
  const put = (c: string, policy?: string) =>
    p.app.inject({ method: 'PUT', url: `/v1/AUTH_test/${c}`, headers: { 'x-auth-token': token, ...(policy === undefined ? {} : { 'x-storage-policy': policy }) } });

  let r = await put('c1', 'nope');
  t.same([r.statusCode, r.body], [400, "Invalid X-Storage-Policy 'nope'"], "Swift's answer to an unknown policy");
  r = await put('c1', 'old');
  t.same([r.statusCode, r.body], [400, "Storage Policy 'old' is deprecated"], 'a deprecated policy takes no new containers');
  t.same(containerPuts(seen), [], 'no container was asked to exist');

  t.equal((await put('c2', 'TMP')).statusCode, 201, 'an alias, any case');
  let sent = containerPuts(seen);
  t.equal(sent.length, 3, 'every replica');
  for (const s of sent) {
    t.equal(s.headers['x-backend-storage-policy-index'], '1', 'the index of the named policy');
    t.equal(s.headers['x-backend-storage-policy-default'], '0', 'and the default');
  }
  seen.length = 0;
  t.equal((await put('c3')).statusCode, 201);
  sent = containerPuts(seen);
  t.equal(sent.length, 3);
  for (const s of sent) {
    t.equal(s.headers['x-backend-storage-policy-index'], undefined, 'no policy named: none asked for');
    t.equal(s.headers['x-backend-storage-policy-default'], '0', 'a new container gets the default');
  }
  seen.length = 0;
  r = await p.app.inject({ method: 'POST', url: '/v1/AUTH_test/c3', headers: { 'x-auth-token': token, 'x-storage-policy': 'scratch' } });
  t.equal(r.statusCode, 204, "POST ignores X-Storage-Policy (Swift's no-op)");
  t.notOk(
    seen.some((s) => 'x-backend-storage-policy-index' in s.headers),
    'nothing asks the nodes to change the policy',
  );
});

t.test("a container with another policy: the nodes' 409 reaches the client", async (t) => {
  const { p } = setup(t, (s) => (s.method === 'PUT' ? { statusCode: 409, headers: { 'x-backend-storage-policy-index': '0' } } : { statusCode: 204 }));
  const token = await loginToken(p.app, 'test:tester', 'testing');
  const r = await p.app.inject({ method: 'PUT', url: '/v1/AUTH_test/c', headers: { 'x-auth-token': token, 'x-storage-policy': 'scratch' } });
  t.equal(r.statusCode, 409);
  t.equal(r.headers['x-backend-storage-policy-index'], undefined, 'internal headers stay inside');
});

t.test('container HEAD/GET report the policy by name', async (t) => {
  let index: string | undefined = '1';
  let status = 204;
  const { p } = setup(t, (s) => {
    if (s.method !== 'HEAD' && s.method !== 'GET') return { statusCode: 204 };
    const headers: Record<string, string> = index === undefined ? {} : { 'x-backend-storage-policy-index': index };
    return { statusCode: status, headers };
  });
  const token = await loginToken(p.app, 'test:tester', 'testing');
  const req = (method: 'HEAD' | 'GET') => p.app.inject({ method, url: '/v1/AUTH_test/c', headers: { 'x-auth-token': token } });
  for (const method of ['HEAD', 'GET'] as const) {
    const r = await req(method);
    t.equal(r.headers['x-storage-policy'], 'scratch', `${method}: the primary name`);
    t.equal(r.headers['x-backend-storage-policy-index'], undefined, `${method}: the index stays inside`);
  }
  index = '0';
  t.equal((await req('HEAD')).headers['x-storage-policy'], 'gold');
  index = '7';
  t.equal((await req('HEAD')).headers['x-storage-policy'], undefined, 'an index the proxy does not know: left out');
  index = undefined;
  t.equal((await req('HEAD')).headers['x-storage-policy'], undefined, 'none given: none shown');
  index = '1';
  status = 404;
  const missing = await req('HEAD');
  t.same([missing.statusCode, missing.headers['x-storage-policy']], [404, undefined], 'a missing container has no policy');
});

t.test('/info lists the policies as Swift does', async (t) => {
  const { p } = setup(t, () => ({ statusCode: 204 }));
  const r = await p.app.inject({ method: 'GET', url: '/info' });
  t.same((JSON.parse(r.body) as { swift: { policies: unknown } }).swift.policies, [
    { name: 'gold', aliases: 'gold', default: true },
    { name: 'scratch', aliases: 'scratch, tmp' },
  ]);
});

t.test("objectPolicy: which policy's ring holds a container's objects", async (t) => {
  const two = parseStoragePolicies(POLICIES);
  const log = { error: () => undefined };
  const info = (status: number, storagePolicy = 0) => ({ status, storagePolicy, objectCount: 0, bytesUsed: 0, headers: {} });
  t.same(objectPolicy(two, info(204, 1), log), { index: 1 }, 'the container says');
  t.same(objectPolicy(two, info(204, 2), log), { index: 2 }, 'a deprecated policy still serves its objects');
  t.same(objectPolicy(two, info(204, 5), log), { status: 503 }, 'an index this proxy does not have');
  t.same(objectPolicy(two, info(404), log), { index: 0 }, "a missing container: policy 0, as Swift (its objects answer 404)");
  t.same(objectPolicy(two, info(503), log), { status: 503 }, 'nobody could say, and it matters');
  t.same(objectPolicy(parseStoragePolicies([]), info(503), log), { index: 0 }, 'nobody could say, but there is one policy: reads go on as before policies');
});
