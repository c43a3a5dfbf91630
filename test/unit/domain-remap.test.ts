import t from 'tap';
import { request } from 'undici';
import { domainRemapSettings, remapPath } from '../../proxy/middleware/domain-remap.js';
import { fakeNodeProxy, type NodeAnswer } from '../helpers/fake-nodes.js';

const base = { storage_domain: 'example.com, .other.org', path_root: '/v1/', domain_remap_reseller_prefixes: 'AUTH, SERVICE', default_reseller_prefix: '', mangle_client_paths: false };

t.test('host names to paths, as Swift\'s domain_remap', async (t) => {
  const s = domainRemapSettings(base);
  t.same(s.domains, ['.example.com', '.other.org']);
  t.equal(remapPath(s, 'c.AUTH-test.example.com', '/o/p'), '/v1/AUTH_test/c/o/p');
  t.equal(remapPath(s, 'c.auth-test.example.com:8080', '/o'), '/v1/AUTH_test/c/o', 'the prefix in any case, a port');
  t.equal(remapPath(s, 'AUTH_test.example.com', '/c/o'), '/v1/AUTH_test/c/o', 'the account alone');
  t.equal(remapPath(s, 'c.SERVICE-x.other.org', '/'), '/v1/SERVICE_x/c/');
  t.equal(remapPath(s, 'a.b.AUTH-test.example.com', '/'), 'bad');
  t.equal(remapPath(s, 'c.test.example.com', '/o'), undefined, 'no known prefix: not remapped');
  t.equal(remapPath(s, 'example.net', '/o'), undefined);
  t.equal(remapPath(domainRemapSettings({ ...base, default_reseller_prefix: 'AUTH' }), 'c.test.example.com', '/o'), '/v1/AUTH_test/c/o');
  t.equal(remapPath(domainRemapSettings({ ...base, mangle_client_paths: true }), 'c.AUTH-test.example.com', '/v1/o'), '/v1/AUTH_test/c/o');
  t.equal(remapPath(s, 'c.AUTH-test.example.com', '/v1/o'), '/v1/AUTH_test/c/v1/o', 'without mangling a /v1 is part of the name');
});

t.test('through the proxy: the path the nodes see, /info, a bad host', async (t) => {
  const p = await fakeNodeProxy({ storage_domain: 'example.com' });
  t.teardown(() => p.close());
  const seen: string[] = [];
  p.answer = ({ method, depth, req }): NodeAnswer => {
    if (depth === 3) seen.push(`${method} ${req.url}`);
    const ts = { 'x-timestamp': '1700000000.00000', 'x-backend-timestamp': '1700000000.00000' };
    return depth === 3 ? { status: 200, headers: { ...ts, etag: '5d41402abc4b2a76b9719d911017c592' }, body: 'hello' } : { status: 204, headers: ts };
  };
  const token = await p.token('test:tester', 'testing');
  const res = await request(`${p.base}/o`, { headers: { host: 'site.AUTH-test.example.com', 'x-auth-token': token } });
  t.equal(res.statusCode, 200);
  t.equal(await res.body.text(), 'hello');
  t.match(seen[0], /^GET \/d\d\/0\/AUTH_test\/site\/o$/);
  const bad = await request(`${p.base}/o`, { headers: { host: 'x.y.AUTH-test.example.com' } });
  t.same([bad.statusCode, await bad.body.text()], [400, 'Bad domain in host header']);
  const info = (await (await request(`${p.base}/info`)).body.json()) as Record<string, unknown>;
  t.same(info['domain_remap'], { default_reseller_prefix: null });
  const plain = await fakeNodeProxy();
  t.teardown(() => plain.close());
  const none = (await (await request(`${plain.base}/info`)).body.json()) as Record<string, unknown>;
  t.notOk('domain_remap' in none, 'off (and not advertised) without storage_domain');
});
