import t from 'tap';
import { cleanAcl, parseAcl, referrerAllowed, TempAuth } from '../../proxy/tempauth.js';
import { loginToken, mockProxy } from '../helpers/mock-proxy.js';

/** Container read ACLs by referrer (Swift's acl.py clean_acl / parse_acl / referrer_allowed, tempauth's authorize). */

t.test('clean_acl: stored forms and Swift 400 bodies', async (t) => {
  const read = (v: string) => cleanAcl('X-Container-Read', v);
  t.same(read('bob, sue'), { value: 'bob,sue' });
  t.same(read('bob , sue'), { value: 'bob,sue' });
  t.same(read('bob,,,sue'), { value: 'bob,sue' });
  t.same(read('.referrer : *'), { value: '.r:*' });
  t.same(read('.ref:*.example.com'), { value: '.r:.example.com' });
  t.same(read('.r:*, .rlistings'), { value: '.r:*,.rlistings' });
  t.same(read('.r:- thief.example.com'), { value: '.r:-thief.example.com' });
  t.same(read('.r:-*.thief.com'), { value: '.r:-.thief.com' });
  t.same(read('.weird'), { value: '.weird' }, 'no colon: a group');
  t.same(read('acct:user'), { value: 'acct:user' });
  t.same(read('.r:'), { error: "No host/domain value after referrer designation in ACL: '.r:'" });
  t.same(read('.r:-'), { error: "No host/domain value after referrer designation in ACL: '.r:-'" });
  t.same(read('.r:*.'), { error: "No host/domain value after referrer designation in ACL: '.r:*.'" });
  t.same(read('.x:y'), { error: "Unknown designator '.x' in ACL: '.x:y'" });
  t.same(cleanAcl('X-Container-Write', '.r:*'), { error: "Referrers not allowed in write ACL: '.r:*'" });
  t.same(cleanAcl('X-Container-Write', 'acct:user,acct2'), { value: 'acct:user,acct2' });
});

t.test('parse_acl reads stored values, cleaned or not', async (t) => {
  t.same(parseAcl('.r:*,.rlistings,test:tester3'), { referrers: ['*'], groups: ['test:tester3'], rlistings: true });
  t.same(parseAcl('.referer:*.example.com, .r:-bad.example.com'), { referrers: ['.example.com', '-bad.example.com'], groups: [], rlistings: false });
});

/** The matrix: ACL × Referer → allowed (referrer_allowed: in order, the last match decides). */
const MATRIX: Array<[string, string | undefined, boolean]> = [
  ['.r:*', undefined, true],
  ['.r:*', 'http://anything.example/x', true],
  ['.r:example.com', 'http://example.com/page', true],
  ['.r:example.com', 'https://EXAMPLE.com:8443/page', true],
  ['.r:example.com', 'http://www.example.com/', false],
  ['.r:example.com', undefined, false],
  ['.r:.example.com', 'http://www.example.com/', true],
  ['.r:.example.com', 'http://a.b.example.com/', true],
  ['.r:.example.com', 'http://example.com/', false],
  ['.r:.example.com', 'http://badexample.com/', false],
  ['.r:*.example.com', 'http://www.example.com/', true],
  ['.r:*,.r:-thief.com', 'http://thief.com/', false],
  ['.r:*,.r:-thief.com', 'http://honest.com/', true],
  ['.r:*,.r:-thief.com', undefined, true],
  ['.r:.example.com,.r:-thief.example.com', 'http://thief.example.com/', false],
  ['.r:.example.com,.r:-thief.example.com', 'http://good.example.com/', true],
  ['.r:-thief.example.com,.r:.example.com', 'http://thief.example.com/', true],
  ['.r:*,.r:-.thief.com', 'http://www.thief.com/', false],
  ['.r:-.thief.com', 'http://www.honest.com/', false],
  ['.r:unknown', undefined, true],
  ['.r:example.com', 'example.com', false],
  ['.r:::1', 'http://[::1]:8080/', true],
];

t.test('referrer_allowed matrix', async (t) => {
  for (const [acl, referer, want] of MATRIX) t.equal(referrerAllowed(referer, parseAcl(acl).referrers), want, `${acl} / ${referer ?? '(no Referer)'}`);
});

t.test("tempauth: referrers read objects, list only with .rlistings, never write", async (t) => {
  const auth = new TempAuth({ 'test:tester': { key: 'testing', roles: ['.admin'] } }, 'secret', 'AUTH_', 60, () => 0);
  const target = (o: { object?: string; method?: string; acl: string; referer?: string }) => ({
    method: o.method ?? 'GET',
    account: 'AUTH_test',
    container: 'c',
    ...(o.object ? { object: o.object } : {}),
    readAcl: o.acl,
    writeAcl: o.acl.split(',').filter((x) => !x.startsWith('.')).join(','),
    ...(o.referer ? { referer: o.referer } : {}),
  });
  for (const [acl, referer, want] of MATRIX) {
    t.equal(auth.authorize(undefined, target({ object: 'o', acl, ...(referer ? { referer } : {}) }), false), want ? 'allow' : 401, `GET object: ${acl} / ${referer}`);
    t.equal(auth.authorize(undefined, target({ object: 'o', method: 'HEAD', acl, ...(referer ? { referer } : {}) }), false), want ? 'allow' : 401, `HEAD object: ${acl} / ${referer}`);
    t.equal(auth.authorize(undefined, target({ acl, ...(referer ? { referer } : {}) }), false), 401, `listing without .rlistings: ${acl}`);
    t.equal(auth.authorize(undefined, target({ acl: `${acl},.rlistings`, ...(referer ? { referer } : {}) }), false), want ? 'allow' : 401, `listing with .rlistings: ${acl} / ${referer}`);
    t.equal(auth.authorize(undefined, target({ object: 'o', method: 'PUT', acl, ...(referer ? { referer } : {}) }), false), 401, `no write: ${acl}`);
  }
});

t.test('through the proxy: the Referer decides an anonymous read; ACLs are stored cleaned', async (t) => {
  const p = mockProxy();
  t.teardown(() => p.close());
  const stored: string[] = [];
  for (let i = 0; i < 5; i++) {
    p.mock
      .get(p.origin(i))
      .intercept({ path: () => true, method: () => true })
      .reply((opts) => {
        const path = String(opts.path);
        const headers = opts.headers as Record<string, string>;
        if (opts.method === 'PUT') {
          stored.push(`${headers['x-container-read'] ?? ''}|${headers['x-container-write'] ?? ''}`);
          return { statusCode: 201, data: '' };
        }
        if (/\/AUTH_test\/c$/.test(path.split('?')[0] as string)) {
          return { statusCode: 204, data: '', responseOptions: { headers: { 'x-container-read': '.r:.example.com,.r:-thief.example.com', 'x-container-object-count': '1', 'x-backend-storage-policy-index': '0' } } };
        }
        if (/\/AUTH_test$/.test(path.split('?')[0] as string)) return { statusCode: 204, data: '' };
        return { statusCode: 200, data: 'hi', responseOptions: { headers: { 'content-length': '2', 'x-timestamp': '1700000000.00000', etag: '49f68a5c8493ec2c0bf489821c21fc3b' } } };
      })
      .persist();
  }
  const get = async (referer?: string) => (await p.app.inject({ method: 'GET', url: '/v1/AUTH_test/c/o', headers: referer ? { referer } : {} })).statusCode;
  t.equal(await get('http://www.example.com/page.html'), 200, 'a referrer of the domain reads');
  t.equal(await get('http://thief.example.com/'), 401, 'the denied host does not');
  t.equal(await get('http://elsewhere.org/'), 401, 'another domain does not');
  t.equal(await get(), 401, 'nor a request without Referer');

  const tester = await loginToken(p.app, 'test:tester', 'testing');
  const put = await p.app.inject({ method: 'PUT', url: '/v1/AUTH_test/c2', headers: { 'x-auth-token': tester, 'x-container-read': '.ref:*.example.com, .rlistings', 'x-container-write': 'test:tester3' } });
  t.equal(put.statusCode, 201);
  t.same([...new Set(stored)], ['.r:.example.com,.rlistings|test:tester3'], 'stored as Swift cleans it');
  const bad = await p.app.inject({ method: 'POST', url: '/v1/AUTH_test/c2', headers: { 'x-auth-token': tester, 'x-container-write': '.r:*' } });
  t.same([bad.statusCode, bad.body], [400, "Referrers not allowed in write ACL: '.r:*'"]);
});
