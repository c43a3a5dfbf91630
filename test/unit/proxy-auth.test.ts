import t from 'tap';
import { loginToken, mockProxy, nodesSayYes } from '../helpers/mock-proxy.js';

/**
 * tempauth through the proxy: a user may not own an account outside the reseller prefix just
 * because its name is one of the user's groups (the attack: test:tester3, no role, PUT /v1/test/c3).
 * Every node answers yes here, so only authorization can say no.
 */
t.test('accounts outside the reseller prefix are refused before any node is asked', async (t) => {
  const p = mockProxy();
  t.teardown(() => p.close());
  const asked = nodesSayYes(p);
  const tester3 = await loginToken(p.app, 'test:tester3', 'testing3');
  const tester = await loginToken(p.app, 'test:tester', 'testing');
  const cases: Array<[string, string, Record<string, string>, number, string]> = [
    ['PUT', '/v1/test/c3', { 'x-auth-token': tester3 }, 403, 'a plain user creating a container in account "test"'],
    ['PUT', '/v1/test/c3/o', { 'x-auth-token': tester3, 'content-length': '1' }, 403, 'a plain user writing an object there'],
    ['POST', '/v1/test', { 'x-auth-token': tester3, 'x-account-meta-x': 'y' }, 403, 'a plain user changing account "test"'],
    ['DELETE', '/v1/test/c3', { 'x-auth-token': tester }, 403, 'even the admin of AUTH_test'],
    ['GET', '/v1/test/c3/o', {}, 401, 'anonymous'],
    ['PUT', '/v1/test/c3', {}, 401, 'anonymous write'],
  ];
  for (const [method, url, headers, want, why] of cases) {
    const res = await p.app.inject({ method: method as 'PUT', url, headers, ...(method === 'PUT' && url.split('/').length > 4 ? { payload: 'x' } : {}) });
    t.equal(res.statusCode, want, `${method} ${url}: ${why}`);
  }
  t.same(asked, [], 'no node was asked');
  // The owner's own, prefixed account is untouched: the nodes are asked and say yes.
  const own = await p.app.inject({ method: 'PUT', url: '/v1/AUTH_test/c3', headers: { 'x-auth-token': tester } });
  t.equal(own.statusCode, 201, 'the account admin creates a container in AUTH_test');
  t.ok(asked.some((a) => a.startsWith('PUT /d0/0/AUTH_test/c3')), 'through the nodes');
});

t.test('account PUT and DELETE are 405 for everyone without allow_account_management (Swift)', async (t) => {
  for (const management of [false, true]) {
    const p = mockProxy({ allow_account_management: management });
    t.teardown(() => p.close());
    for (let i = 0; i < 5; i++) {
      p.mock.get(p.origin(i)).intercept({ path: () => true, method: () => true }).reply((opts) => ({ statusCode: opts.method === 'PUT' ? 201 : 204, data: '' })).persist();
    }
    const admin = await loginToken(p.app, 'admin:admin', 'admin');
    const tester = await loginToken(p.app, 'test:tester', 'testing');
    for (const method of ['PUT', 'DELETE'] as const) {
      const anon = await p.app.inject({ method, url: '/v1/AUTH_new' });
      const owner = await p.app.inject({ method, url: '/v1/AUTH_test', headers: { 'x-auth-token': tester } });
      const reseller = await p.app.inject({ method, url: '/v1/AUTH_new', headers: { 'x-auth-token': admin } });
      if (!management) {
        t.same([anon.statusCode, owner.statusCode, reseller.statusCode], [405, 405, 405], `${method} without management`);
        t.equal(reseller.headers.allow, 'GET, HEAD, POST, OPTIONS');
      } else {
        t.same([anon.statusCode, owner.statusCode], [401, 403], `${method} with management: tempauth decides`);
        t.ok(reseller.statusCode >= 200 && reseller.statusCode < 300, `${method} with management: the reseller admin may (${reseller.statusCode})`);
      }
    }
  }
});

t.test('tempauth service tokens: SERVICE_ accounts need the owner and the required group (X-Service-Token)', async (t) => {
  const p = mockProxy({
    reseller_prefix: 'AUTH, SERVICE',
    reseller_prefix_rules: { SERVICE_: { require_group: '.service' } },
    tempauth_users: {
      'test:tester': { key: 'testing', roles: ['.admin'] },
      'glance:glance': { key: 'glancepw', roles: ['.service'] },
    },
  });
  t.teardown(() => p.close());
  const asked = nodesSayYes(p);
  const user = await loginToken(p.app, 'test:tester', 'testing');
  const service = await loginToken(p.app, 'glance:glance', 'glancepw');
  const put = async (url: string, headers: Record<string, string>) => (await p.app.inject({ method: 'PUT', url, headers })).statusCode;
  t.equal(await put('/v1/SERVICE_test/c', { 'x-auth-token': user }), 403, 'the user token alone');
  t.equal(await put('/v1/SERVICE_test/c', { 'x-service-token': service }), 401, 'the service token alone');
  t.equal(await put('/v1/SERVICE_test/c', { 'x-auth-token': service }), 403, "the service user owns no SERVICE_test");
  t.equal(await put('/v1/SERVICE_test/c', { 'x-auth-token': user, 'x-service-token': 'AUTH_tkbad' }), 403, 'a bad service token adds nothing');
  t.same(asked.filter((a) => a.startsWith('PUT')), [], 'nothing written so far (only account ACLs read)');
  t.equal(await put('/v1/SERVICE_test/c', { 'x-auth-token': user, 'x-service-token': service }), 201, 'user and service token together');
  t.equal(await put('/v1/AUTH_test/c', { 'x-auth-token': user }), 201, 'AUTH_ needs no service token');
  t.ok(asked.some((a) => a.startsWith('PUT /d0/0/SERVICE_test/c')), 'the service account reached the nodes');
});
