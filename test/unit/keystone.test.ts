import t from 'tap';
import { MockAgent } from 'undici';
import { isSwiftletError } from '../../common/errors.js';
import { SeededRandom } from '../../common/random.js';
import type { AuthTarget, KeystoneIdentity } from '../../proxy/auth.js';
import { KeystoneClient, keystoneV3Url } from '../../proxy/keystone/client.js';
import { keystoneAuthorize, projectDomainToRecord, referrerAllowed, UNKNOWN_DOMAIN_ID, type AclLookup, type KeystoneAuthRules } from '../../proxy/keystone/rules.js';
import { ExpiringCache } from '../../proxy/keystone/token-cache.js';
import { mockProxy, nodesSayYes } from '../helpers/mock-proxy.js';

const ORIGIN = 'http://keystone.test:5000';

interface FakeToken {
  user: { id: string; name: string };
  project?: { id: string; name: string; domain?: string };
  roles: string[];
  expiresAt: number;
}

/**
 * A fake Keystone v3 on an undici MockAgent: password logins for the service user, token
 * validation (GET /v3/auth/tokens with X-Subject-Token) answered from the tokens it issued
 * (ids from a seeded generator), and switches to refuse the service token or fail.
 */
function fakeKeystone(seed: number, clock: () => number) {
  const rnd = new SeededRandom(seed);
  const mock = new MockAgent();
  mock.disableNetConnect();
  const tokens = new Map<string, FakeToken>();
  const serviceTokens = new Set<string>();
  const state = { logins: 0, validations: 0, failWith: 0, serviceLife: 3_600_000 };
  const newId = () => `gAAAA${Array.from({ length: 24 }, () => 'abcdef0123456789'[rnd.int(16)]).join('')}`;
  const issue = (tok: FakeToken): string => {
    const id = newId();
    tokens.set(id, tok);
    return id;
  };
  const body = (tok: FakeToken) =>
    JSON.stringify({
      token: {
        user: { id: tok.user.id, name: tok.user.name, domain: { id: 'default', name: 'Default' } },
        ...(tok.project ? { project: { id: tok.project.id, name: tok.project.name, domain: { id: tok.project.domain ?? 'default', name: 'X' } } } : {}),
        roles: tok.roles.map((name, i) => ({ id: `r${i}`, name })),
        expires_at: new Date(tok.expiresAt).toISOString().replace('Z', '000Z'),
      },
    });
  const header = (h: unknown, name: string): string | undefined => {
    const rec = h as Record<string, string>;
    const k = Object.keys(rec).find((x) => x.toLowerCase() === name);
    return k === undefined ? undefined : rec[k];
  };
  const pool = mock.get(ORIGIN);
  pool
    .intercept({ path: '/v3/auth/tokens?nocatalog', method: 'POST' })
    .reply(() => {
      state.logins++;
      if (state.failWith) return { statusCode: state.failWith, data: '' };
      const tok: FakeToken = { user: { id: 'svc', name: 'swift' }, project: { id: 'service', name: 'service' }, roles: ['service'], expiresAt: clock() + state.serviceLife };
      const id = issue(tok);
      serviceTokens.add(id);
      return { statusCode: 201, data: body(tok), responseOptions: { headers: { 'x-subject-token': id, 'content-type': 'application/json' } } };
    })
    .persist();
  pool
    .intercept({ path: '/v3/auth/tokens?nocatalog', method: 'GET' })
    .reply((opts) => {
      state.validations++;
      if (state.failWith) return { statusCode: state.failWith, data: '' };
      if (!serviceTokens.has(header(opts.headers, 'x-auth-token') ?? '')) return { statusCode: 401, data: '' };
      const tok = tokens.get(header(opts.headers, 'x-subject-token') ?? '');
      if (!tok || tok.expiresAt <= clock()) return { statusCode: 404, data: '{"error":{"code":404}}' };
      return { statusCode: 200, data: body(tok) };
    })
    .persist();
  return { mock, tokens, serviceTokens, state, issue };
}

function client(mock: MockAgent, clock: () => number, cacheTtlMs = 300_000, cacheSize = 100): KeystoneClient {
  return new KeystoneClient({
    url: `${ORIGIN}/v3/`,
    username: 'swift',
    password: 'pw',
    projectName: 'service',
    userDomainName: 'Default',
    projectDomainName: 'Default',
    timeoutMs: 1000,
    cacheTtlMs,
    cacheSize,
    clock,
    dispatcher: mock,
  });
}

t.test('the expiring cache: a deadline per entry, least recently used out first', async (t) => {
  let now = 1000;
  const c = new ExpiringCache<string>(2, () => now);
  c.set('a', 'A', 2000);
  c.set('b', 'B', 1500);
  t.equal(c.get('a'), 'A');
  now = 1500;
  t.equal(c.get('b'), undefined, 'b reached its deadline');
  c.set('b', 'B', 5000);
  c.set('c', 'C', 5000);
  t.equal(c.size, 2, 'bounded');
  t.equal(c.get('a'), undefined, 'a, least recently used, went first');
  t.equal(c.get('c'), 'C');
  c.set('d', 'D', 1000);
  t.equal(c.get('d'), undefined, 'a deadline already past stores nothing');
  t.equal(keystoneV3Url('http://k:5000'), 'http://k:5000/v3');
  t.equal(keystoneV3Url('http://k:5000/v3/'), 'http://k:5000/v3');
});

t.test('token validation: cached for the TTL, never past the expiry; bad tokens too', async (t) => {
  let now = 1_700_000_000_000;
  const clock = () => now;
  const ks = fakeKeystone(7, clock);
  const c = client(ks.mock, clock, 300_000);
  t.teardown(() => ks.mock.close());
  const tok = ks.issue({ user: { id: 'u1', name: 'alice' }, project: { id: 'p1', name: 'alpha' }, roles: ['member', 'swiftoperator'], expiresAt: now + 600_000 });
  const info = await c.validate(tok);
  t.same(
    { user: info?.userId, name: info?.userName, project: info?.projectId, pname: info?.projectName, domain: info?.projectDomainId, roles: info?.roles },
    { user: 'u1', name: 'alice', project: 'p1', pname: 'alpha', domain: 'default', roles: ['member', 'swiftoperator'] },
  );
  t.equal(ks.state.logins, 1, 'the service user logged in once');
  const asked = ks.state.validations;
  await Promise.all([c.validate(tok), c.validate(tok)]);
  t.equal(ks.state.validations, asked, 'a cached token asks Keystone nothing');
  now += 300_001;
  await c.validate(tok);
  t.equal(ks.state.validations, asked + 1, 'asked again once the TTL ran out');
  // A token expiring before the TTL is trusted only until its expiry.
  const short = ks.issue({ user: { id: 'u2', name: 'bob' }, project: { id: 'p2', name: 'beta' }, roles: ['admin'], expiresAt: now + 10_000 });
  t.ok(await c.validate(short));
  now += 10_000;
  t.equal(await c.validate(short), undefined, 'expired: not served from the cache');
  // Unknown tokens are refused, and the refusal is cached as well.
  const before = ks.state.validations;
  t.equal(await c.validate('garbage'), undefined);
  t.equal(await c.validate('garbage'), undefined);
  t.equal(ks.state.validations, before + 1, 'one question for two refusals');
  // Concurrent checks of one new token share one request.
  const fresh = ks.issue({ user: { id: 'u3', name: 'carol' }, roles: [], expiresAt: now + 600_000 });
  const n = ks.state.validations;
  const [a, b] = await Promise.all([c.validate(fresh), c.validate(fresh)]);
  t.equal(a?.userId, 'u3');
  t.equal(b?.userId, 'u3');
  t.equal(a?.projectId, undefined, 'an unscoped token has no project');
  t.equal(ks.state.validations, n + 1);
});

t.test("the service user's token: renewed before it expires, and when Keystone refuses it", async (t) => {
  let now = 1_700_000_000_000;
  const clock = () => now;
  const ks = fakeKeystone(11, clock);
  ks.state.serviceLife = 120_000;
  const c = client(ks.mock, clock, 0);
  t.teardown(() => ks.mock.close());
  const tok = ks.issue({ user: { id: 'u1', name: 'alice' }, project: { id: 'p1', name: 'alpha' }, roles: ['admin'], expiresAt: now + 3_600_000 });
  await c.validate(tok);
  await c.validate(tok);
  t.equal(ks.state.logins, 1, 'one login while the token lasts');
  now += 61_000;
  await c.validate(tok);
  t.equal(ks.state.logins, 2, 'renewed within a minute of its expiry');
  ks.serviceTokens.clear();
  t.ok(await c.validate(tok), 'a refused service token: a new login, the question asked again');
  t.equal(ks.state.logins, 3);
});

t.test('Keystone failing or unreachable: UNAVAILABLE, never a yes or a no', async (t) => {
  const now = 1_700_000_000_000;
  const clock = () => now;
  const ks = fakeKeystone(13, clock);
  const c = client(ks.mock, clock);
  t.teardown(() => ks.mock.close());
  ks.state.failWith = 500;
  await t.rejects(c.validate('whatever'), { code: 'UNAVAILABLE' }, 'its login fails with 500');
  ks.state.failWith = 0;
  const tok = ks.issue({ user: { id: 'u1', name: 'a' }, roles: [], expiresAt: now + 60_000 });
  t.ok(await c.validate(tok));
  ks.state.failWith = 503;
  await t.rejects(c.validate('another'), { code: 'UNAVAILABLE' }, 'validation answering 503');
  // Nothing listens on port 1.
  const gone = new KeystoneClient({ url: 'http://127.0.0.1:1/v3', username: 's', password: 'p', projectName: 'p', userDomainName: 'Default', projectDomainName: 'Default', timeoutMs: 500, cacheTtlMs: 1000, cacheSize: 10, clock });
  t.teardown(() => gone.close());
  const err = await gone.validate('x').then(
    () => undefined,
    (e: unknown) => e,
  );
  t.ok(isSwiftletError(err, 'UNAVAILABLE'), 'connection refused');
});

const RULES: KeystoneAuthRules = {
  resellerPrefixes: ['AUTH_', 'SERVICE_'],
  prefixRules: { AUTH_: { operatorRoles: ['admin', 'swiftoperator'], serviceRoles: [] }, SERVICE_: { operatorRoles: ['admin', 'swiftoperator'], serviceRoles: ['service'] } },
  resellerAdminRole: 'reselleradmin',
  allowNamesInAcls: true,
  defaultDomainId: 'default',
};

function who(roles: string[], extra: Partial<KeystoneIdentity> = {}): KeystoneIdentity {
  return { userId: 'u1', userName: 'alice', userDomainId: 'default', projectId: 'p1', projectName: 'alpha', projectDomainId: 'default', roles, serviceRoles: [], ...extra };
}

function lookup(acl?: string, account: { exists: boolean; domainId?: string } = { exists: true }): AclLookup & { asked: number } {
  const l = {
    asked: 0,
    acl: async () => {
      l.asked++;
      return acl;
    },
    accountDomain: async () => account,
  };
  return l;
}

t.test("keystoneauth's rules", async (t) => {
  const decide = (id: KeystoneIdentity | undefined, target: AuthTarget, acl?: string, referer?: string, account?: { exists: boolean; domainId?: string }) =>
    keystoneAuthorize(RULES, id, target, referer, lookup(acl, account));
  const obj = (method: string, account = 'AUTH_p1'): AuthTarget => ({ method, account, container: 'c', object: 'o' });
  const operator = who(['member', 'SwiftOperator']);
  const member = who(['member']);
  // Operators own their project's account (roles compare case-insensitively); members do not.
  const l = lookup('p9:u9');
  t.equal(await keystoneAuthorize(RULES, operator, obj('PUT'), undefined, l), 'allow');
  t.equal(l.asked, 0, "an owner costs no container lookup");
  t.equal(await decide(operator, { method: 'POST', account: 'AUTH_p1' }), 'allow', 'the account itself');
  t.equal(await decide(operator, { method: 'DELETE', account: 'AUTH_p1' }), 403, 'but not its DELETE');
  t.equal(await decide(member, obj('GET')), 403);
  t.equal(await decide(operator, obj('GET', 'AUTH_p2')), 403, "another project's account");
  t.equal(await decide(who(['ResellerAdmin'], { projectId: 'p7' }), obj('DELETE', 'AUTH_p2')), 'allow', 'a reseller admin acts anywhere');
  t.equal(await decide(who(['ResellerAdmin']), { method: 'GET', account: '.expiring_objects' }), 403, 'hidden accounts are nobody’s');
  // Container ACLs: project:user by id, by name, with *, and roles of the same project.
  for (const acl of ['p1:u1', 'alpha:alice', 'p1:*', '*:u1', '*:*', 'alpha:*']) t.equal(await decide(member, obj('GET', 'AUTH_p2'), acl), 'allow', `cross-project ACL ${acl}`);
  t.equal(await decide(member, obj('GET', 'AUTH_p2'), 'p1:u2'), 403, 'another user');
  t.equal(await decide(member, obj('GET', 'AUTH_p2'), 'member'), 403, "a role grants only in the token's own project");
  t.equal(await decide(member, obj('GET'), 'Member'), 'allow', 'a role named in the ACL, same project');
  // Names count only in the default domain, for every party.
  t.equal(await decide(who(['member'], { projectDomainId: 'other' }), obj('GET', 'AUTH_p2'), 'alpha:alice'), 403, "a project outside the default domain: names don't count");
  t.equal(await decide(who(['member'], { projectDomainId: 'other' }), obj('GET', 'AUTH_p2'), 'p1:u1'), 'allow', 'ids still do');
  t.equal(await decide(member, obj('GET', 'AUTH_p2'), 'alpha:alice', undefined, { exists: true, domainId: 'other' }), 403, "the account's project outside it");
  t.equal(await decide(member, obj('GET', 'AUTH_p2'), 'alpha:alice', undefined, { exists: false }), 403, 'an account not there yet');
  t.equal(await keystoneAuthorize({ ...RULES, allowNamesInAcls: false }, member, obj('GET', 'AUTH_p2'), undefined, lookup('alpha:alice')), 403, 'allow_names_in_acls false');
  // Referrer ACLs, anonymous and not.
  t.equal(await decide(undefined, obj('GET'), '.r:*'), 'allow', 'anonymous read of a public object');
  t.equal(await decide(undefined, { method: 'GET', account: 'AUTH_p1', container: 'c' }, '.r:*'), 401, 'a listing needs .rlistings');
  t.equal(await decide(undefined, { method: 'GET', account: 'AUTH_p1', container: 'c' }, '.r:*,.rlistings'), 'allow');
  t.equal(await decide(undefined, obj('GET', 'OTHER_p1'), '.r:*'), 401, 'not our prefix: not ours to allow');
  t.equal(await decide(undefined, obj('GET'), '.r:.example.com,.r:-bad.example.com', 'http://www.example.com/x'), 'allow');
  t.equal(await decide(undefined, obj('GET'), '.r:.example.com,.r:-bad.example.com', 'http://bad.example.com/x'), 401);
  t.equal(await decide(member, { method: 'GET', account: 'AUTH_p1', container: 'c' }, '.r:*,member'), 403, 'a referrer match without listings refuses even a role in the ACL');
  t.equal(await decide(undefined, obj('PUT')), 401, 'anonymous write');
  t.notOk(referrerAllowed(undefined, []));
  t.ok(referrerAllowed(undefined, ['*']));
});

t.test('service tokens: SERVICE_ accounts need the user token and a service token with a service role', async (t) => {
  const target: AuthTarget = { method: 'PUT', account: 'SERVICE_p1', container: 'images' };
  const user = who(['swiftoperator']);
  t.equal(await keystoneAuthorize(RULES, user, target, undefined, lookup()), 403, 'the user token alone');
  t.equal(await keystoneAuthorize(RULES, { ...user, serviceRoles: ['service'] }, target, undefined, lookup()), 'allow', 'with a service token');
  t.equal(await keystoneAuthorize(RULES, { ...user, serviceRoles: ['member'] }, target, undefined, lookup()), 403, 'a service token without the service role');
  t.equal(await keystoneAuthorize(RULES, who(['member'], { serviceRoles: ['service'] }), target, undefined, lookup()), 403, 'a service token does not make a member an operator');
  t.equal(await keystoneAuthorize(RULES, user, { ...target, account: 'AUTH_p1' }, undefined, lookup()), 'allow', 'AUTH_ accounts need none');
  t.equal(await keystoneAuthorize(RULES, undefined, target, undefined, lookup()), 401, 'no user token');
});

t.test('the proxy with auth keystone: 401 says where to log in, Keystone down is 503, operators reach the nodes', async (t) => {
  const now = Date.now();
  const ks = fakeKeystone(17, Date.now);
  const p = mockProxy(
    { auth: 'keystone', keystone_url: `${ORIGIN}/v3`, keystone_www_authenticate_uri: 'https://keystone.example/v3', reseller_prefix: 'AUTH, SERVICE', reseller_prefix_rules: { SERVICE: { service_roles: ['service'] } } },
    {},
    { keystoneDispatcher: ks.mock },
  );
  t.teardown(async () => {
    await p.close();
    await ks.mock.close();
  });
  const asked = nodesSayYes(p);
  const operator = ks.issue({ user: { id: 'u1', name: 'alice' }, project: { id: 'p1', name: 'alpha' }, roles: ['swiftoperator'], expiresAt: now + 3_600_000 });
  const member = ks.issue({ user: { id: 'u2', name: 'carol' }, project: { id: 'p1', name: 'alpha' }, roles: ['member'], expiresAt: now + 3_600_000 });
  const service = ks.issue({ user: { id: 'svc', name: 'glance' }, project: { id: 'service', name: 'service' }, roles: ['service'], expiresAt: now + 3_600_000 });
  const req = (method: string, url: string, headers: Record<string, string> = {}) => p.app.inject({ method: method as 'PUT', url, headers });

  const anon = await req('PUT', '/v1/AUTH_p1/c');
  t.equal(anon.statusCode, 401);
  t.equal(anon.headers['www-authenticate'], 'Keystone uri="https://keystone.example/v3"');
  const bad = await req('PUT', '/v1/AUTH_p1/c', { 'x-auth-token': 'garbage' });
  t.equal(bad.statusCode, 401, 'a token Keystone does not know');
  t.equal((await req('PUT', '/v1/AUTH_p1/c', { 'x-auth-token': member })).statusCode, 403, 'a member');
  t.same(asked, [], 'no node asked so far');
  t.equal((await req('PUT', '/v1/AUTH_p1/c', { 'x-auth-token': operator })).statusCode, 201, 'an operator');
  t.ok(asked.some((a) => a.startsWith('PUT /d0/0/AUTH_p1/c')), 'through the nodes');
  // The tenant matrix for service accounts.
  t.equal((await req('PUT', '/v1/SERVICE_p1/c', { 'x-auth-token': operator })).statusCode, 403, 'user token alone');
  t.equal((await req('PUT', '/v1/SERVICE_p1/c', { 'x-service-token': service })).statusCode, 401, 'service token alone');
  t.equal((await req('PUT', '/v1/SERVICE_p1/c', { 'x-auth-token': operator, 'x-service-token': service })).statusCode, 201, 'both');
  // /info
  const info = JSON.parse((await req('GET', '/info')).body) as Record<string, unknown>;
  t.ok('keystoneauth' in info, '/info advertises keystoneauth');
  t.notOk('tempauth' in info, 'and not tempauth');
  // Keystone down: 503 for a token not cached, not an allow and not a 500.
  ks.state.failWith = 500;
  const fresh = ks.issue({ user: { id: 'u1', name: 'alice' }, project: { id: 'p1', name: 'alpha' }, roles: ['admin'], expiresAt: now + 3_600_000 });
  const down = await req('PUT', '/v1/AUTH_p1/c2', { 'x-auth-token': fresh });
  t.equal(down.statusCode, 503);
  t.match(down.body, /Keystone service is temporarily unavailable/);
  t.equal((await req('PUT', '/v1/AUTH_p1/c3', { 'x-auth-token': operator })).statusCode, 201, 'a token validated before is still cached');
  t.equal((await req('GET', '/v1/AUTH_p1/c')).statusCode, 401, 'anonymous needs no Keystone');
});

t.test('auth keystone without keystone_url, or an unknown auth, refuses to start', async (t) => {
  t.throws(() => mockProxy({ auth: 'keystone' }), { code: 'CONFIG' });
  t.throws(() => mockProxy({ auth: 'ldap' }), { code: 'CONFIG' });
});

t.test("the project domain keystoneauth records on an account (Swift's _set_project_domain_id)", async (t) => {
  const D = 'default';
  const cases: Array<[string, { exists: boolean; domainId?: string }, { matches: boolean; domainId?: string }, string | undefined]> = [
    ['a new account of the token\'s project: its domain', { exists: false }, { matches: true, domainId: 'd1' }, 'd1'],
    ['a new account of the token\'s project, domain not in the token', { exists: false }, { matches: true }, UNKNOWN_DOMAIN_ID],
    ['a new account of another project (an operator creating it)', { exists: false }, { matches: false, domainId: 'd1' }, UNKNOWN_DOMAIN_ID],
    ['a legacy account, its project in the default domain', { exists: true }, { matches: true, domainId: D }, D],
    ['a legacy account, its project in another domain: left', { exists: true }, { matches: true, domainId: 'd1' }, undefined],
    ['a legacy account, another project: left', { exists: true }, { matches: false, domainId: D }, undefined],
    ['unknown, confirmed by its own project', { exists: true, domainId: UNKNOWN_DOMAIN_ID }, { matches: true, domainId: 'd1' }, 'd1'],
    ['unknown, its own project without a domain', { exists: true, domainId: UNKNOWN_DOMAIN_ID }, { matches: true }, ''],
    ['unknown, another project: left', { exists: true, domainId: UNKNOWN_DOMAIN_ID }, { matches: false, domainId: 'd1' }, undefined],
    ['recorded: never changed, even by a token that disagrees', { exists: true, domainId: 'd1' }, { matches: true, domainId: 'd2' }, undefined],
  ];
  for (const [what, account, token, want] of cases) t.equal(projectDomainToRecord(account, token, D), want, what);
});
