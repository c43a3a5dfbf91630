import t from 'tap';
import { request } from 'undici';
import { accountAclGrant, formatAccountAcl, parseAccountAcl } from '../../proxy/tempauth.js';
import { startCluster } from '../helpers/cluster.js';

t.test('account ACLs parse as Swift tempauth checks them', async (t) => {
  t.same(parseAccountAcl('{"read-only":["a:b"],"admin":[]}'), { admin: [], 'read-write': [], 'read-only': ['a:b'] });
  t.same(parseAccountAcl('{}'), { admin: [], 'read-write': [], 'read-only': [] });
  t.same(parseAccountAcl('nope'), { error: "Syntax error in input ('nope')" });
  t.same(parseAccountAcl('[]'), { error: "Syntax error in input ('[]')" });
  t.same(parseAccountAcl('{"owner":[]}'), { error: 'Key "owner" not recognized' });
  t.same(parseAccountAcl('{"admin":"a:b"}'), { error: 'Value for key "admin" must be a list' });
  t.same(parseAccountAcl('{"admin":[1]}'), { error: 'Elements of "admin" list must be strings' });
  t.equal(formatAccountAcl({ admin: [], 'read-write': ['x'], 'read-only': [] }), '{"read-write":["x"]}');
  const acl = { admin: ['adm'], 'read-write': ['rw'], 'read-only': ['ro'] };
  t.equal(accountAclGrant(acl, ['adm'], 'DELETE', undefined), 'admin');
  t.equal(accountAclGrant(acl, ['rw'], 'PUT', 'c'), 'allow');
  t.equal(accountAclGrant(acl, ['rw'], 'POST', undefined), undefined, 'read-write: no account writes');
  t.equal(accountAclGrant(acl, ['ro'], 'GET', undefined), 'allow');
  t.equal(accountAclGrant(acl, ['ro'], 'PUT', 'c'), undefined);
  t.equal(accountAclGrant(acl, ['other'], 'GET', 'c'), undefined);
});

t.test('X-Account-Access-Control: each level grants what Swift grants, to whom it names, in its account only', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const owner = await cluster.token('test:tester', 'testing');
  const other = await cluster.token('test2:tester2', 'testing2');
  const base = owner.storageUrl;
  const call = async (token: string, method: string, path: string, headers: Record<string, string> = {}, body?: string) => {
    const res = await request(`${base}${path}`, { method: method as 'GET', headers: { 'x-auth-token': token, ...headers }, ...(body !== undefined ? { body } : {}) });
    const text = await res.body.text();
    return { status: res.statusCode, headers: res.headers, text };
  };
  t.equal((await call(owner.token, 'PUT', '/c')).status, 201);
  t.equal((await call(owner.token, 'PUT', '/c/o', {}, 'data')).status, 201);

  const bad = await call(owner.token, 'POST', '', { 'x-account-access-control': '{"owner":["x"]}' });
  t.equal(bad.status, 400);
  t.equal(bad.text, 'X-Account-Access-Control invalid: Key "owner" not recognized\n\nInput: {"owner":["x"]}\n');

  const ops: Array<[string, string, string, string | undefined]> = [
    ['list the account', 'GET', '', undefined],
    ['list a container', 'GET', '/c', undefined],
    ['read an object', 'GET', '/c/o', undefined],
    ['write an object', 'PUT', '/c/new', 'x'],
    ['create a container', 'PUT', '/made-by-grantee', undefined],
    ['post account metadata', 'POST', '', undefined],
  ];
  const expect: Record<string, boolean[]> = {
    none: [false, false, false, false, false, false],
    'read-only': [true, true, true, false, false, false],
    'read-write': [true, true, true, true, true, false],
    admin: [true, true, true, true, true, true],
  };
  for (const [level, allowed] of Object.entries(expect)) {
    const acl = level === 'none' ? '{}' : JSON.stringify({ [level]: ['test2:tester2'] });
    t.equal((await call(owner.token, 'POST', '', { 'x-account-access-control': acl })).status, 204, `set ${level}`);
    for (const [i, [what, method, path, body]] of ops.entries()) {
      const got = await call(other.token, method, path, {}, body);
      if (allowed[i]) t.ok(got.status >= 200 && got.status < 300, `${level}: ${what} (${got.status})`);
      else t.equal(got.status, 403, `${level}: ${what} refused`);
    }
    const head = await call(other.token, 'HEAD', '');
    if (level === 'admin') t.equal(head.headers['x-account-access-control'], acl, 'an admin by ACL sees the ACL');
    else t.equal(head.headers['x-account-access-control'], undefined, `${level}: the ACL is the owners' to see`);
    if (level === 'read-write') t.equal((await call(other.token, 'POST', '', { 'x-account-access-control': '{"admin":["test2:tester2"]}' })).status, 403, 'read-write cannot raise itself');
  }
  const shown = await call(owner.token, 'HEAD', '');
  t.equal(shown.headers['x-account-access-control'], '{"admin":["test2:tester2"]}', 'the owner sees it');
  t.equal(shown.headers['x-account-sysmeta-core-access-control'], undefined, 'the sysmeta itself stays inside');
  // The grant is for AUTH_test: test:tester3 (no role) named nowhere gets nothing, and the ACL
  // of AUTH_test grants nothing in AUTH_test2.
  const nobody = await cluster.token('test:tester3', 'testing3');
  t.equal((await call(nobody.token, 'GET', '/c/o')).status, 403);
  const res = await request(`${cluster.proxyUrl}/v1/AUTH_test2`, { headers: { 'x-auth-token': nobody.token } });
  await res.body.dump();
  t.equal(res.statusCode, 403, 'nothing in the other account');
  const info = (await (await request(`${cluster.proxyUrl}/info`)).body.json()) as Record<string, Record<string, unknown>>;
  t.same(info['tempauth'], { account_acls: true });
});
