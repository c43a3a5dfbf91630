import t, { type Test } from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { startCluster } from '../helpers/cluster.js';
import { ESCAPE_SPELLINGS, attack, literalName, pctEncode, secretsIn, type AttackResult, type Secret } from '../helpers/attack.js';
import { inBatches, rawHttpClient, type RawHttpClient, type RawRequest, type RawResponse } from '../helpers/verbatim-http.js';

/**
 * The security suite. A real cluster (a proxy and four storage nodes, as `swiftlet aio` runs them)
 * is attacked by an ordinary user (test:tester, .admin of AUTH_test), by a user with no role
 * (test:tester3) and by anonymous clients; the victim is test2:tester2's account AUTH_test2.
 * It proves that:
 *  1. names with "." and ".." segments are literal names that work end to end, as in Swift's
 *     default pipeline: nothing is ever resolved as a path;
 *  2. every role gets Swift's tempauth answer on every other account's resources (401 without an
 *     identity, 403 with one, 405 for account PUT/DELETE), and a container ACL grants exactly the
 *     container it is set on;
 *  3. no path escape (verb x spelling x target x caller x where the escape starts) reaches the
 *     victim: no answer carries a victim secret, a write answered 2xx is found at its literal name
 *     in the attacker's container, and afterwards the victim's object, metadata, containers and
 *     account are as they were and nothing of theirs sits in the attacker's account;
 *  4. metadata stacked over several POSTs is refused past Swift's 4096 bytes, so it cannot grow a
 *     container's or account's response headers until the proxy error-limits every node and other
 *     tenants' writes fail.
 * Requests go out through node:http with the path exactly as typed (test/helpers/verbatim-http.ts):
 * fetch and undici resolve dot segments themselves and would never send the escape.
 * To aim the same attacks at S3 or the NBD gateway later: add their shapes and request builders
 * beside SWIFT_SHAPES and VERBS; spellings, targets, secrets and attack() stay as they are.
 */

const R = randomBytes(4).toString('hex');

/** The victim's data: names the attacker knows (used in paths) and secrets it must never see. */
const V = {
  account: 'AUTH_test2',
  container: `vsecret-${R}`,
  object: `vobj-${R}`,
  empty: `vempty-${R}`,
  hiddenObject: `hidden-object-${R}`,
  hiddenContainer: `hidden-container-${R}`,
  bytes: `victim-bytes-${randomBytes(12).toString('hex')}`,
  metaObject: `vmeta-object-${R}`,
  metaContainer: `vmeta-container-${R}`,
  metaAccount: `vmeta-account-${R}`,
};

const SECRETS: readonly Secret[] = [
  { label: "the victim object's bytes", value: V.bytes },
  { label: "an object name from the victim's container listing", value: V.hiddenObject },
  { label: "a container name from the victim's account listing", value: V.hiddenContainer },
  { label: "the victim object's metadata", value: V.metaObject },
  { label: "the victim container's metadata", value: V.metaContainer },
  { label: "the victim account's metadata", value: V.metaAccount },
];

const ATTACKER = 'AUTH_test';
const ERROR_LIMIT_S = 10;
const SRC_BODY = `copy-source-${R}`;
const DELETE_AT = String(Math.floor(Date.now() / 1000) + 86400);
const md5 = (s: string): string => createHash('md5').update(s).digest('hex');

type Role = 'anonymous' | 'test:tester' | 'test:tester3' | 'test2:tester2' | 'admin:admin';
const KEYS: Record<Exclude<Role, 'anonymous'>, string> = {
  'test:tester': 'testing',
  'test:tester3': 'testing3',
  'test2:tester2': 'testing2',
  'admin:admin': 'admin',
};

/** Polls `read` until `done` holds (listings are updated by the nodes a moment after a write's quorum). */
async function eventually<T>(read: () => Promise<T>, done: (v: T) => boolean, tries = 10): Promise<T> {
  let v = await read();
  for (let i = 1; i < tries && !done(v); i++) {
    await new Promise((r) => setTimeout(r, 50));
    v = await read();
  }
  return v;
}

function listingNames(res: RawResponse): string[] {
  if (res.status !== 200) return [];
  return (JSON.parse(res.body.toString()) as Array<{ name: string }>).map((e) => e.name);
}

function describe(req: RawRequest, res: { status: number }): string {
  const h = Object.entries(req.headers ?? {})
    .filter(([k]) => k !== 'x-auth-token')
    .map(([k, v]) => ` ${k}: ${v}`)
    .join(',');
  return `${req.method} ${req.path}${h ? ` (${h.trim()})` : ''} -> ${res.status}`;
}

t.test('security', async (t) => {
  // One partition: every account, container and object lives on the same three devices, so an
  // escape sent to "the partition of the name the proxy authorized" always lands where the
  // victim's data is. With more partitions an object escape leaks only when the guess happens to
  // hit, and a test could pass by luck.
  // Nodes stay error-limited for 10 s instead of 60: the damage the metadata tests look for shows
  // as well, and one of them leaving every node limited does not decide the other's outcome.
  const cluster = await startCluster({ partPower: 0, proxyConfig: { error_suppression_interval_s: ERROR_LIMIT_S } });
  t.teardown(() => cluster.stop());
  const client: RawHttpClient = rawHttpClient(cluster.proxyUrl, 8);
  t.teardown(() => client.close());
  const tokens: Partial<Record<Role, string>> = {};
  for (const [user, key] of Object.entries(KEYS)) tokens[user as Role] = (await cluster.token(user, key)).token;
  const auth = (role: Role): Record<string, string> => (role === 'anonymous' ? {} : { 'x-auth-token': tokens[role] as string });
  const send = (role: Role, req: RawRequest): Promise<RawResponse> => client.send({ ...req, headers: { ...auth(role), ...req.headers } });
  const setup = async (role: Role, req: RawRequest, ok: number[] = [201, 202, 204]): Promise<RawResponse> => {
    const res = await send(role, req);
    if (!ok.includes(res.status)) throw new Error(`setup: ${describe(req, res)}: ${res.body.toString()}`);
    return res;
  };

  // The victim's account: a container with metadata, the target object and a hidden one, an
  // empty container, a hidden container, account metadata.
  const v = `/v1/${V.account}`;
  await setup('test2:tester2', { method: 'PUT', path: `${v}/${V.container}`, headers: { 'x-container-meta-owner': V.metaContainer } });
  await setup('test2:tester2', { method: 'PUT', path: `${v}/${V.container}/${V.object}`, body: V.bytes, headers: { 'x-object-meta-color': V.metaObject } });
  await setup('test2:tester2', { method: 'PUT', path: `${v}/${V.container}/${V.hiddenObject}`, body: 'hidden' });
  await setup('test2:tester2', { method: 'PUT', path: `${v}/${V.empty}` });
  await setup('test2:tester2', { method: 'PUT', path: `${v}/${V.hiddenContainer}` });
  await setup('test2:tester2', { method: 'POST', path: v, headers: { 'x-account-meta-owner': V.metaAccount } });
  // The attacker's account: private, ACL-shared and public containers, an object in each.
  const a = `/v1/${ATTACKER}`;
  await setup('test:tester', { method: 'PUT', path: `${a}/priv` });
  await setup('test:tester', { method: 'PUT', path: `${a}/privempty` });
  await setup('test:tester', { method: 'PUT', path: `${a}/shared`, headers: { 'x-container-read': 'test:tester3', 'x-container-write': 'test:tester3' } });
  await setup('test:tester', { method: 'PUT', path: `${a}/pub`, headers: { 'x-container-read': '.r:*,.rlistings' } });
  for (const c of ['priv', 'shared', 'pub']) await setup('test:tester', { method: 'PUT', path: `${a}/${c}/o`, body: `${c} object` });

  await t.test('literal dot names work end to end', (t) => literalNames(t, send));
  await t.test('tenant isolation: every role on every other account', (t) => tenantIsolation(t, send));
  await t.test('container ACLs grant exactly their container', (t) => containerAcls(t, send));
  await t.test('path escapes never reach another account', (t) => pathEscapes(t, { client, send, setup, auth }));
  await t.test('stacked container metadata is refused and cannot take the nodes out', (t) => stackedMetadata(t, send, 'container'));
  await t.test('stacked account metadata is refused and cannot take the nodes out', (t) => stackedMetadata(t, send, 'account'));
});

type Send = (role: Role, req: RawRequest) => Promise<RawResponse>;

/** The cluster as the tests use it. */
interface Suite {
  client: RawHttpClient;
  /** One request as `role` (its token added; none for anonymous). */
  send: Send;
  /** Like send, but a setup step: anything but `ok` aborts the suite. */
  setup(role: Role, req: RawRequest, ok?: number[]): Promise<RawResponse>;
  auth(role: Role): Record<string, string>;
}

/**
 * Swift accepts "." and ".." as container and object names and as object-name segments (its
 * split_path and check_object_creation have no rule against them, and nothing between its proxy
 * and its servers resolves them), so they must work literally. Runs in admin:admin's own account,
 * away from the attacker's and the victim's.
 */
async function literalNames(t: Test, send: Send): Promise<void> {
  const role: Role = 'admin:admin';
  const base = '/v1/AUTH_admin';
  const spellings: Array<{ name: string; spell: (s: string) => string }> = [
    { name: 'raw dots', spell: (s) => s },
    { name: 'percent-encoded dots', spell: (s) => s.replace(/\./g, '%2E') },
  ];
  const names = ['.', '..', 'x/../y', 'a/./b', 'x/..', '../x'];
  // Where a resolver would have put the name, inside the same container: that must stay empty.
  const resolved: Record<string, string> = { 'x/../y': 'y', 'a/./b': 'a/b' };

  for (const sp of spellings) {
    const c = `lit-${sp.name.split(' ')[0]}`;
    t.equal((await send(role, { method: 'PUT', path: `${base}/${c}` })).status, 201, `container ${c} created`);
    for (const name of names) {
      await t.test(`object "${name}" via ${sp.name}`, async (t) => {
        const path = `${base}/${c}/${sp.spell(name)}`;
        const other = `${base}/${c}/${spellings.find((x) => x !== sp)?.spell(name)}`;
        const body = `literal ${name} ${R}`;
        t.equal((await send(role, { method: 'PUT', path, body })).status, 201, `PUT ${path}`);
        const get = await send(role, { method: 'GET', path });
        t.equal(get.status, 200, `GET ${path}`);
        t.equal(get.body.toString(), body, 'GET returns the bytes stored under the literal name');
        const get2 = await send(role, { method: 'GET', path: other });
        t.equal(get2.body.toString(), body, `the other spelling names the same object (GET ${other} -> ${get2.status})`);
        t.equal((await send(role, { method: 'HEAD', path })).status, 200, `HEAD ${path}`);
        t.equal((await send(role, { method: 'POST', path, headers: { 'x-object-meta-tag': `t-${R}` } })).status, 202, `POST ${path}`);
        t.equal((await send(role, { method: 'HEAD', path })).headers['x-object-meta-tag'], `t-${R}`, 'the POSTed metadata is on the literal object');
        const listing = await eventually(
          () => send(role, { method: 'GET', path: `${base}/${c}?format=json` }),
          (r) => listingNames(r).includes(name),
        );
        t.ok(listingNames(listing).includes(name), `listed under its literal name (listing: ${JSON.stringify(listingNames(listing))})`);
        const elsewhere = resolved[name];
        if (elsewhere) t.equal((await send(role, { method: 'GET', path: `${base}/${c}/${elsewhere}` })).status, 404, `nothing stored at the resolved name "${elsewhere}"`);
        t.equal((await send(role, { method: 'DELETE', path })).status, 204, `DELETE ${path}`);
        t.equal((await send(role, { method: 'GET', path })).status, 404, 'gone after DELETE');
      });
    }
    const emptied = await eventually(
      () => send(role, { method: 'GET', path: `${base}/${c}?format=json` }),
      (r) => listingNames(r).length === 0,
    );
    t.same(listingNames(emptied), [], `${c} lists nothing once every literal object is deleted`);
    const del = await send(role, { method: 'DELETE', path: `${base}/${c}` });
    t.equal(del.status, 204, `${c} can be deleted (no row left behind under another name): ${del.body.toString()}`);
  }

  for (const name of ['.', '..']) {
    for (const sp of spellings) {
      await t.test(`container "${name}" via ${sp.name}`, async (t) => {
        const c = `${base}/${sp.spell(name)}`;
        t.equal((await send(role, { method: 'PUT', path: c })).status, 201, `PUT ${c}`);
        t.equal((await send(role, { method: 'HEAD', path: c })).status, 204, `HEAD ${c}`);
        const account = await eventually(
          () => send(role, { method: 'GET', path: `${base}?format=json` }),
          (r) => listingNames(r).includes(name),
        );
        t.ok(listingNames(account).includes(name), `the account lists "${name}" (listing: ${JSON.stringify(listingNames(account))})`);
        t.equal((await send(role, { method: 'PUT', path: `${c}/o`, body: `in ${name}` })).status, 201, `PUT ${c}/o`);
        t.equal((await send(role, { method: 'GET', path: `${c}/o` })).body.toString(), `in ${name}`, `GET ${c}/o`);
        const listing = await eventually(
          () => send(role, { method: 'GET', path: `${c}?format=json` }),
          (r) => listingNames(r).includes('o'),
        );
        t.same(listingNames(listing), ['o'], `${c} lists its object`);
        t.equal((await send(role, { method: 'DELETE', path: `${c}/o` })).status, 204, `DELETE ${c}/o`);
        await eventually(
          () => send(role, { method: 'GET', path: `${c}?format=json` }),
          (r) => listingNames(r).length === 0,
        );
        t.equal((await send(role, { method: 'DELETE', path: c })).status, 204, `DELETE ${c}`);
        const after = await eventually(
          () => send(role, { method: 'GET', path: `${base}?format=json` }),
          (r) => !listingNames(r).includes(name),
        );
        t.notOk(listingNames(after).includes(name), `"${name}" is gone from the account listing`);
      });
    }
  }
}

/** One request of the tenant matrix. `management`: account PUT/DELETE. */
interface Op {
  what: string;
  req: RawRequest;
  management?: boolean;
}

interface AccountFixture {
  account: string;
  container: string;
  object: string;
  empty: string;
  newContainer: string;
  newObject: string;
}

function resourceOps(f: AccountFixture): Op[] {
  const A = `/v1/${f.account}`;
  const C = `${A}/${f.container}`;
  const O = `${C}/${f.object}`;
  return [
    { what: 'account GET', req: { method: 'GET', path: A } },
    { what: 'account HEAD', req: { method: 'HEAD', path: A } },
    { what: 'account POST', req: { method: 'POST', path: A, headers: { 'x-account-meta-probe': 'x' } } },
    { what: 'account PUT', req: { method: 'PUT', path: A }, management: true },
    { what: 'account DELETE', req: { method: 'DELETE', path: A }, management: true },
    { what: 'container GET', req: { method: 'GET', path: C } },
    { what: 'container HEAD', req: { method: 'HEAD', path: C } },
    { what: 'container PUT', req: { method: 'PUT', path: `${A}/${f.newContainer}` } },
    { what: 'container POST', req: { method: 'POST', path: C, headers: { 'x-container-meta-probe': 'x' } } },
    { what: 'container DELETE', req: { method: 'DELETE', path: `${A}/${f.empty}` } },
    { what: 'object GET', req: { method: 'GET', path: O } },
    { what: 'object HEAD', req: { method: 'HEAD', path: O } },
    { what: 'object PUT', req: { method: 'PUT', path: `${C}/${f.newObject}`, body: 'x' } },
    { what: 'object POST', req: { method: 'POST', path: O, headers: { 'x-object-meta-probe': 'x' } } },
    { what: 'object DELETE', req: { method: 'DELETE', path: O } },
    { what: 'object COPY', req: { method: 'COPY', path: O, headers: { destination: `${f.container}/copied-${R}` } } },
  ];
}

/** Copies across accounts: the caller's own readable object into `f`, and `f`'s object into the caller's place. */
function crossCopyOps(f: AccountFixture, own: { account: string; container: string; object: string }): Op[] {
  return [
    {
      what: `COPY /v1/${own.account}/${own.container}/${own.object} into it (Destination-Account)`,
      req: { method: 'COPY', path: `/v1/${own.account}/${own.container}/${own.object}`, headers: { destination: `${f.container}/stolen-${R}`, 'destination-account': f.account } },
    },
    {
      what: 'PUT with X-Copy-From-Account from it',
      req: { method: 'PUT', path: `/v1/${own.account}/${own.container}/stolen-${R}`, headers: { 'x-copy-from': `${f.container}/${f.object}`, 'x-copy-from-account': f.account } },
    },
  ];
}

/**
 * Swift's tempauth (swift/common/middleware/tempauth.py authorize): an account outside the reseller
 * prefix is denied to everyone; a reseller admin may use any AUTH_ account; an account's .admin
 * its own; anyone else only what a container ACL grants. denied_response: 401 without an
 * identity, 403 with one. Account PUT/DELETE are 405 for everyone while allow_account_management
 * is off: Swift's proxy checks the controller's allowed methods before it calls authorize
 * (swift/proxy/server.py handle_request).
 */
async function tenantIsolation(t: Test, send: Send): Promise<void> {
  const test: AccountFixture = { account: 'AUTH_test', container: 'priv', object: 'o', empty: 'privempty', newContainer: `new-${R}`, newObject: `new-${R}` };
  const test2: AccountFixture = { account: V.account, container: V.container, object: V.object, empty: V.empty, newContainer: `new-${R}`, newObject: `new-${R}` };
  // Accounts named like a user's account but without the reseller prefix (test:tester3 got 201 for
  // PUT /v1/test/c3 and PUT /v1/test/c3/o: its groups include "test").
  const bare = (account: string): AccountFixture => ({ account, container: 'c3', object: 'o', empty: 'c3-empty', newContainer: 'c3', newObject: 'o' });
  // The hidden account of the stored S3 key pairs: only the proxies reach it, with system
  // sub-requests; every role, the reseller admin too, gets the answer for another's account.
  const made = await send('admin:admin', { method: 'POST', path: '/s3-keys?user=test2%3Atester2' });
  if (made.status !== 201) throw new Error(`setup: POST /s3-keys -> ${made.status}`);
  const keyId = (JSON.parse(made.body.toString()) as { access_key_id: string }).access_key_id;
  const s3keys: AccountFixture = { account: '.s3_access_keys', container: 'keys', object: keyId, empty: 'users', newContainer: `new-${R}`, newObject: `new-${R}` };
  const others: Array<{ role: Role; targets: AccountFixture[]; own?: { account: string; container: string; object: string } }> = [
    { role: 'anonymous', targets: [test, test2, bare('test'), s3keys], own: { account: 'AUTH_test', container: 'pub', object: 'o' } },
    { role: 'test:tester3', targets: [test, test2, bare('test'), s3keys], own: { account: 'AUTH_test', container: 'shared', object: 'o' } },
    { role: 'test:tester', targets: [test2, bare('test'), bare('test2'), s3keys], own: { account: 'AUTH_test', container: 'priv', object: 'o' } },
    { role: 'test2:tester2', targets: [test, bare('test2'), s3keys], own: { account: V.account, container: V.container, object: V.object } },
    { role: 'admin:admin', targets: [bare('admin'), bare('test'), s3keys] },
  ];
  const rows: Array<{ role: Role; account: string; op: Op }> = [];
  for (const o of others) {
    for (const f of o.targets) {
      for (const op of [...resourceOps(f), ...(o.own && o.own.account !== f.account ? crossCopyOps(f, o.own) : [])]) rows.push({ role: o.role, account: f.account, op });
    }
  }
  // One at a time: with today's defects some of these succeed, and the next row's answer should
  // not depend on which of two requests won a race.
  for (const r of rows) {
    const res = await send(r.role, r.op.req);
    const want = r.op.management ? 405 : r.role === 'anonymous' ? 401 : 403;
    t.equal(res.status, want, `${r.role}: ${r.op.what} on ${r.account}: ${describe(r.op.req, res)}`);
  }

  await t.test('admin:admin (.reseller_admin) may use every AUTH_ account, but not manage accounts', async (t) => {
    const role: Role = 'admin:admin';
    const c = `/v1/AUTH_test/radmin-${R}`;
    const steps: Array<[RawRequest, number]> = [
      [{ method: 'GET', path: `/v1/${V.account}` }, 200],
      [{ method: 'HEAD', path: `/v1/${V.account}` }, 204],
      [{ method: 'POST', path: `/v1/${V.account}`, headers: { 'x-account-meta-radmin': 'x' } }, 204],
      [{ method: 'PUT', path: `/v1/${V.account}` }, 405],
      [{ method: 'DELETE', path: `/v1/${V.account}` }, 405],
      [{ method: 'GET', path: `/v1/${V.account}/${V.container}` }, 200],
      [{ method: 'HEAD', path: `/v1/${V.account}/${V.container}` }, 204],
      [{ method: 'GET', path: `/v1/${V.account}/${V.container}/${V.object}` }, 200],
      [{ method: 'HEAD', path: `/v1/${V.account}/${V.container}/${V.object}` }, 200],
      [{ method: 'PUT', path: c }, 201],
      [{ method: 'POST', path: c, headers: { 'x-container-meta-radmin': 'x' } }, 204],
      [{ method: 'PUT', path: `${c}/o`, body: 'x' }, 201],
      [{ method: 'POST', path: `${c}/o`, headers: { 'x-object-meta-radmin': 'x' } }, 202],
      [{ method: 'COPY', path: `${c}/o`, headers: { destination: `radmin-${R}/o2` } }, 201],
      [{ method: 'DELETE', path: `${c}/o2` }, 204],
      [{ method: 'DELETE', path: `${c}/o` }, 204],
    ];
    for (const [req, want] of steps) {
      const res = await send(role, req);
      t.equal(res.status, want, describe(req, res));
    }
    await eventually(
      () => send(role, { method: 'GET', path: `${c}?format=json` }),
      (r) => listingNames(r).length === 0,
    );
    const del = await send(role, { method: 'DELETE', path: c });
    t.equal(del.status, 204, describe({ method: 'DELETE', path: c }, del));
  });
}

/** test:tester3 has no role: the ACL on "shared" is all it has, and it covers "shared" only. */
async function containerAcls(t: Test, send: Send): Promise<void> {
  const a = `/v1/${ATTACKER}`;
  const steps: Array<[Role, RawRequest, number]> = [
    ['test:tester3', { method: 'GET', path: `${a}/shared` }, 200],
    ['test:tester3', { method: 'HEAD', path: `${a}/shared` }, 204],
    ['test:tester3', { method: 'GET', path: `${a}/shared/o` }, 200],
    ['test:tester3', { method: 'HEAD', path: `${a}/shared/o` }, 200],
    ['test:tester3', { method: 'PUT', path: `${a}/shared/t3`, body: 'x' }, 201],
    ['test:tester3', { method: 'POST', path: `${a}/shared/t3`, headers: { 'x-object-meta-t3': 'x' } }, 202],
    ['test:tester3', { method: 'COPY', path: `${a}/shared/t3`, headers: { destination: 'shared/t3copy' } }, 201],
    ['test:tester3', { method: 'PUT', path: `${a}/shared/t3xcf`, headers: { 'x-copy-from': 'shared/t3' } }, 201],
    ['test:tester3', { method: 'DELETE', path: `${a}/shared/t3copy` }, 204],
    ['test:tester3', { method: 'DELETE', path: `${a}/shared/t3xcf` }, 204],
    ['test:tester3', { method: 'DELETE', path: `${a}/shared/t3` }, 204],
    // An ACL grants object access and reads, never the container itself.
    ['test:tester3', { method: 'POST', path: `${a}/shared`, headers: { 'x-container-read': '.r:*' } }, 403],
    ['test:tester3', { method: 'PUT', path: `${a}/shared` }, 403],
    ['test:tester3', { method: 'DELETE', path: `${a}/shared` }, 403],
    // Not extended to the next container.
    ['test:tester3', { method: 'GET', path: `${a}/priv` }, 403],
    ['test:tester3', { method: 'HEAD', path: `${a}/priv` }, 403],
    ['test:tester3', { method: 'GET', path: `${a}/priv/o` }, 403],
    ['test:tester3', { method: 'PUT', path: `${a}/priv/t3`, body: 'x' }, 403],
    ['test:tester3', { method: 'POST', path: `${a}/priv/o`, headers: { 'x-object-meta-t3': 'x' } }, 403],
    ['test:tester3', { method: 'DELETE', path: `${a}/priv/o` }, 403],
    ['test:tester3', { method: 'COPY', path: `${a}/shared/o`, headers: { destination: 'priv/t3' } }, 403],
    ['test:tester3', { method: 'COPY', path: `${a}/priv/o`, headers: { destination: 'shared/t3' } }, 403],
    ['test:tester3', { method: 'PUT', path: `${a}/shared/t3`, headers: { 'x-copy-from': 'priv/o' } }, 403],
    ['test:tester3', { method: 'PUT', path: `${a}/priv/t3`, headers: { 'x-copy-from': 'shared/o' } }, 403],
    // .r:*,.rlistings lets anyone read "pub", nothing more.
    ['anonymous', { method: 'GET', path: `${a}/pub/o` }, 200],
    ['anonymous', { method: 'HEAD', path: `${a}/pub/o` }, 200],
    ['anonymous', { method: 'GET', path: `${a}/pub` }, 200],
    ['anonymous', { method: 'HEAD', path: `${a}/pub` }, 204],
    ['anonymous', { method: 'PUT', path: `${a}/pub/anon`, body: 'x' }, 401],
    ['anonymous', { method: 'POST', path: `${a}/pub/o`, headers: { 'x-object-meta-anon': 'x' } }, 401],
    ['anonymous', { method: 'DELETE', path: `${a}/pub/o` }, 401],
    ['anonymous', { method: 'POST', path: `${a}/pub`, headers: { 'x-container-meta-anon': 'x' } }, 401],
    ['anonymous', { method: 'COPY', path: `${a}/pub/o`, headers: { destination: 'pub/anon' } }, 401],
    ['anonymous', { method: 'GET', path: `${a}/priv/o` }, 401],
    ['anonymous', { method: 'GET', path: `${a}/shared/o` }, 401],
    ['anonymous', { method: 'GET', path: a }, 401],
  ];
  for (const [role, req, want] of steps) {
    const res = await send(role, req);
    t.equal(res.status, want, `${role}: ${describe(req, res)}`);
  }
}

/** Where in a Swift path an escape can start, and how many levels it must climb to leave the account. */
interface Shape {
  name: string;
  prefix(base: string): string;
  levels: number;
}

const SWIFT_SHAPES: readonly Shape[] = [
  { name: 'from the object name', prefix: (base) => `${base}/`, levels: 2 },
  { name: 'from a deeper object name', prefix: (base) => `${base}/x/`, levels: 3 },
  { name: 'from the container name', prefix: () => '', levels: 1 },
];

interface Target {
  name: string;
  /** Below a storage node's partition root: account[/container[/object]]. */
  path: string;
}

const TARGETS: readonly Target[] = [
  { name: "another account's object", path: `${V.account}/${V.container}/${V.object}` },
  { name: "another account's container", path: `${V.account}/${V.container}` },
  { name: "another account's empty container", path: `${V.account}/${V.empty}` },
  { name: 'another account', path: V.account },
];

interface Caller {
  name: string;
  role: Role;
  /** The ACL its base containers get: what lets this caller use them at all. */
  acl: Record<string, string>;
}

const CALLERS: readonly Caller[] = [
  { name: 'test:tester (its own account)', role: 'test:tester', acl: {} },
  { name: 'anonymous (through a .r:*,.rlistings container)', role: 'anonymous', acl: { 'x-container-read': '.r:*,.rlistings' } },
  { name: 'test:tester3, no role (through a container ACL)', role: 'test:tester3', acl: { 'x-container-read': 'test:tester3', 'x-container-write': 'test:tester3' } },
];

/** One attack: `rel` is the escape as written after /v1/AUTH_test/ (path, X-Copy-From or Destination). */
interface Case {
  id: string;
  label: string;
  caller: Caller;
  verb: Verb;
  target: Target;
  base: string;
  rel: string;
}

interface Verb {
  name: string;
  /**
   * Reads, then writes that create, then POSTs, then DELETEs: a destructive leak must not hide a
   * read leak, and a POST or DELETE may only succeed on what an earlier write created.
   */
  phase: number;
  /** The base container holds an object "src" with SRC_BODY. */
  source?: boolean;
  build(c: Case): RawRequest;
  /** Problems beyond leaked secrets. */
  check?(c: Case, res: RawResponse, ledger: Ledger): Promise<string[]>;
}

/** What the checks share. */
interface Ledger {
  /** Sends as test:tester, the owner of the attacker's account and of every base container. */
  owner(req: RawRequest): Promise<RawResponse>;
  /** Literal names ("container" or "container/object") that writes of this run created there. */
  created: Set<string>;
}

const path = (c: Case): string => `/v1/${ATTACKER}/${c.rel}`;
const ok = (s: number): boolean => s >= 200 && s < 300;

/** Where the case's escape lands if it is taken literally: in the attacker's account, always. */
function literalOf(c: Case): { container: string; object?: string; key: string } | undefined {
  const name = literalName(c.rel);
  if (name === undefined || name.startsWith('/')) return undefined;
  const slash = name.indexOf('/');
  const container = slash === -1 ? name : name.slice(0, slash);
  const object = slash === -1 ? '' : name.slice(slash + 1);
  return object ? { container, object, key: `${container}/${object}` } : { container, key: container };
}

/** A copy made from an escaped source must not hold the victim's bytes. */
async function copyHoldsNoSecret(c: Case, res: RawResponse, ledger: Ledger): Promise<string[]> {
  if (!ok(res.status)) return [];
  const copy = await ledger.owner({ method: 'GET', path: `/v1/${ATTACKER}/${c.base}/copy-${c.id}` });
  return secretsIn(copy, SECRETS).map((s) => `the copy it made holds ${s.label}`);
}

/**
 * A write answered 2xx must be found at its literal name in the attacker's account: an object in
 * its container's listing with the bytes written (by ETag), a container by a HEAD of its name
 * percent-encoded whole, so neither read-back involves a dot segment.
 */
async function landedLiterally(c: Case, res: RawResponse, ledger: Ledger, etag: string): Promise<string[]> {
  if (!ok(res.status)) return [];
  const lit = literalOf(c);
  if (!lit) return [`answered ${res.status} to a name Swift refuses (not UTF-8, a NUL, or no container)`];
  if (lit.object === undefined) {
    const head = await ledger.owner({ method: 'HEAD', path: `/v1/${ATTACKER}/${pctEncode(lit.container)}` });
    if (ok(head.status)) {
      ledger.created.add(lit.key);
      return [];
    }
    return [`answered ${res.status}, but the attacker's account has no container "${lit.container}" (HEAD: ${head.status}): the write landed elsewhere`];
  }
  const object = lit.object;
  const read = () => ledger.owner({ method: 'GET', path: `/v1/${ATTACKER}/${pctEncode(lit.container)}?format=json&prefix=${pctEncode(object)}` });
  const found = (r: RawResponse): boolean =>
    r.status === 200 && (JSON.parse(r.body.toString()) as Array<{ name: string; hash: string }>).some((e) => e.name === object && e.hash === etag);
  if (found(await eventually(read, found, 20))) {
    ledger.created.add(lit.key);
    return [];
  }
  return [`answered ${res.status}, but "${object}" is not in the listing of "${lit.container}" with the bytes it wrote: the write landed elsewhere`];
}

/** A POST or DELETE answered 2xx must have found its literal name among what this run created. */
async function actedOnCreated(c: Case, res: RawResponse, ledger: Ledger): Promise<string[]> {
  if (!ok(res.status)) return [];
  const lit = literalOf(c);
  if (lit && ledger.created.has(lit.key)) {
    if (c.verb.name === 'DELETE') ledger.created.delete(lit.key);
    return [];
  }
  return [`answered ${res.status}, but nothing named "${lit?.key ?? c.rel}" exists in the attacker's account: it acted on something else`];
}

const VERBS: readonly Verb[] = [
  { name: 'GET', phase: 0, build: (c) => ({ method: 'GET', path: path(c) }) },
  { name: 'HEAD', phase: 0, build: (c) => ({ method: 'HEAD', path: path(c) }) },
  {
    name: 'COPY (escape in the source)',
    phase: 0,
    build: (c) => ({ method: 'COPY', path: path(c), headers: { destination: `${c.base}/copy-${c.id}` } }),
    check: copyHoldsNoSecret,
  },
  {
    name: 'PUT with X-Copy-From (escape in the source)',
    phase: 0,
    build: (c) => ({ method: 'PUT', path: `/v1/${ATTACKER}/${c.base}/copy-${c.id}`, headers: { 'x-copy-from': c.rel } }),
    check: copyHoldsNoSecret,
  },
  {
    name: 'PUT',
    phase: 1,
    build: (c) => ({ method: 'PUT', path: path(c), body: `probe ${c.id}`, headers: { 'x-object-meta-probe': c.id } }),
    check: (c, res, ledger) => landedLiterally(c, res, ledger, md5(`probe ${c.id}`)),
  },
  {
    name: 'COPY (escape in the Destination)',
    phase: 1,
    source: true,
    build: (c) => ({ method: 'COPY', path: `/v1/${ATTACKER}/${c.base}/src`, headers: { destination: c.rel, 'x-object-meta-probe': c.id } }),
    check: (c, res, ledger) => landedLiterally(c, res, ledger, md5(SRC_BODY)),
  },
  {
    name: 'PUT with X-Copy-From (escape in the destination)',
    phase: 1,
    source: true,
    build: (c) => ({ method: 'PUT', path: path(c), headers: { 'x-copy-from': `${c.base}/src`, 'x-object-meta-probe': c.id } }),
    check: (c, res, ledger) => landedLiterally(c, res, ledger, md5(SRC_BODY)),
  },
  {
    name: 'POST',
    phase: 2,
    build: (c) => ({ method: 'POST', path: path(c), headers: { 'x-object-meta-probe': c.id, 'x-delete-at': DELETE_AT } }),
    check: actedOnCreated,
  },
  { name: 'DELETE', phase: 3, build: (c) => ({ method: 'DELETE', path: path(c) }), check: actedOnCreated },
];

async function pathEscapes(t: Test, { client, send, setup, auth }: Suite): Promise<void> {
  // Each caller x verb x spelling gets its own base container, so two spellings of one literal
  // name never write the same object and every read-back sees only its own case.
  const baseOf = (ci: number, vi: number, si: number): string => `esc-${ci}-${vi}-${si}`;
  const key = (...ix: number[]): string => `k${ix.join('-')}`;
  const cases = new Map<string, Case>();
  CALLERS.forEach((caller, ci) =>
    VERBS.forEach((verb, vi) =>
      TARGETS.forEach((target, ti) =>
        ESCAPE_SPELLINGS.forEach((spelling, si) =>
          SWIFT_SHAPES.forEach((shape, hi) => {
            const id = key(ci, vi, ti, si, hi);
            const base = baseOf(ci, vi, si);
            const rel = shape.prefix(base) + spelling.climb(shape.levels, target.path);
            cases.set(id, { id, label: `${caller.name} / ${verb.name} / ${target.name} / ${spelling.name} / ${shape.name}`, caller, verb, target, base, rel });
          }),
        ),
      ),
    ),
  );
  const bases = CALLERS.flatMap((caller, ci) => VERBS.flatMap((verb, vi) => ESCAPE_SPELLINGS.map((_, si) => ({ caller, verb, base: baseOf(ci, vi, si) }))));
  await inBatches(bases, 8, async (b) => {
    await setup('test:tester', { method: 'PUT', path: `/v1/${ATTACKER}/${b.base}`, headers: b.caller.acl });
    if (b.verb.source) await setup('test:tester', { method: 'PUT', path: `/v1/${ATTACKER}/${b.base}/src`, body: SRC_BODY });
  });

  const results = new Map<string, { res: AttackResult; problems: string[] }>();
  const ledger: Ledger = { owner: (req) => send('test:tester', req), created: new Set() };
  for (const phase of [0, 1, 2, 3]) {
    // Writes aimed at one literal name run one after the other, each checked before the next, so
    // a read-back sees its own write; POSTs and DELETEs aimed at one victim resource too, so which
    // of them reaches it first (if any does) is the same on every run. Reads all side by side.
    const groups = new Map<string, Case[]>();
    for (const c of cases.values()) {
      if (c.verb.phase !== phase) continue;
      const k = phase === 0 ? c.id : phase === 1 ? (literalOf(c)?.key ?? c.id) : c.target.name;
      groups.set(k, [...(groups.get(k) ?? []), c]);
    }
    await inBatches([...groups.values()], 8, async (group) => {
      for (const c of group) {
        const req = c.verb.build(c);
        const res = await attack(client, { ...req, headers: { ...auth(c.caller.role), ...req.headers } }, SECRETS);
        const problems = c.verb.check ? await c.verb.check(c, res, ledger) : [];
        results.set(c.id, { res, problems });
      }
    });
  }

  for (const [ci, caller] of CALLERS.entries()) {
    await t.test(caller.name, async (t) => {
      for (const [vi, verb] of VERBS.entries()) {
        await t.test(verb.name, async (t) => {
          for (const [ti, target] of TARGETS.entries()) {
            await t.test(target.name, async (t) => {
              for (const [si, spelling] of ESCAPE_SPELLINGS.entries()) {
                for (const [hi, shape] of SWIFT_SHAPES.entries()) {
                  const { res, problems } = results.get(key(ci, vi, ti, si, hi)) as { res: AttackResult; problems: string[] };
                  t.same([...res.leaked.map((s) => `leaked ${s.label}`), ...problems], [], `${spelling.name}, ${shape.name}: ${describe(res.request, res)}`);
                }
              }
            });
          }
        });
      }
    });
  }

  // Whose probe reached the victim, if any: every write carried its case id.
  const culprit = (id: string | undefined): string => {
    const c = id === undefined ? undefined : cases.get(id);
    return c ? ` (written by ${c.label})` : '';
  };
  await t.test("the victim's data is as it was, seen with the victim's own token", async (t) => {
    const victim = (req: RawRequest) => send('test2:tester2', req);
    const obj = await victim({ method: 'GET', path: `/v1/${V.account}/${V.container}/${V.object}` });
    t.equal(obj.status, 200, 'the object is still there');
    t.equal(obj.body.toString(), V.bytes, `its bytes are unchanged${culprit(/^probe (k[\d-]+)$/.exec(obj.body.toString())?.[1])}`);
    t.equal(obj.headers['x-object-meta-color'], V.metaObject, 'its metadata is unchanged');
    t.equal(obj.headers['x-object-meta-probe'], undefined, `no attacker metadata on it${culprit(obj.headers['x-object-meta-probe'])}`);
    t.equal(obj.headers['x-delete-at'], undefined, 'no X-Delete-At on it');
    const cont = await victim({ method: 'HEAD', path: `/v1/${V.account}/${V.container}` });
    t.equal(cont.status, 204, 'the container is still there');
    t.equal(cont.headers['x-container-object-count'], '2', 'with the same object count');
    t.equal(cont.headers['x-container-meta-owner'], V.metaContainer, 'and its metadata');
    const listing = await victim({ method: 'GET', path: `/v1/${V.account}/${V.container}?format=json` });
    t.same(listingNames(listing), [V.hiddenObject, V.object].sort(), 'the container lists exactly its objects');
    const empty = await victim({ method: 'HEAD', path: `/v1/${V.account}/${V.empty}` });
    t.equal(empty.status, 204, 'the empty container is still there');
    t.equal(empty.headers['x-container-object-count'], '0', 'and still empty');
    const acct = await victim({ method: 'HEAD', path: `/v1/${V.account}` });
    t.equal(acct.status, 204, 'the account is still there');
    t.equal(acct.headers['x-account-meta-owner'], V.metaAccount, 'with its metadata');
    t.equal(acct.headers['x-account-container-count'], '3', 'and its three containers');
    const containers = await victim({ method: 'GET', path: `/v1/${V.account}?format=json` });
    t.same(listingNames(containers), [V.container, V.empty, V.hiddenContainer].sort(), 'the account lists exactly its containers');
  });

  await t.test("nothing in the attacker's account holds the victim's bytes", async (t) => {
    const victimEtag = md5(V.bytes);
    const containers = listingNames(await ledger.owner({ method: 'GET', path: `/v1/${ATTACKER}?format=json&limit=10000` }));
    t.ok(containers.length >= bases.length, `${containers.length} containers to look through`);
    const holding: string[] = [];
    await inBatches(containers, 8, async (c) => {
      const res = await ledger.owner({ method: 'GET', path: `/v1/${ATTACKER}/${pctEncode(c)}?format=json&limit=10000` });
      for (const e of res.status === 200 ? (JSON.parse(res.body.toString()) as Array<{ name: string; hash: string }>) : []) {
        if (e.hash === victimEtag) holding.push(`${c}/${e.name}`);
      }
    });
    t.same(holding, [], 'no object there has the ETag of the victim object');
  });
}

/**
 * Swift's container and account servers refuse metadata whose stored total would pass
 * max_meta_overall_size (swift/common/db.py validate_metadata: 400 "Total metadata too large"),
 * though each request alone is within check_metadata's limits. Without that, five POSTs grow the
 * headers of every HEAD past what the proxy's client reads; each failed read counts against the
 * node, and 20 HEADs error-limit them all, so every tenant's writes fail with 503.
 */
async function stackedMetadata(t: Test, send: Send, kind: 'container' | 'account'): Promise<void> {
  const target = kind === 'container' ? `/v1/${ATTACKER}/dos-${R}` : `/v1/${ATTACKER}`;
  const prefix = `x-${kind}-meta-`;
  if (kind === 'container') t.equal((await send('test:tester', { method: 'PUT', path: target })).status, 201, `${target} created`);
  const victimContainer = `/v1/${V.account}/dos-victim-${kind}-${R}`;
  // (once any node limits an earlier test left behind have run out)
  const baseline = await eventually(
    async () => {
      await send('test2:tester2', { method: 'PUT', path: victimContainer });
      return send('test2:tester2', { method: 'PUT', path: `${victimContainer}/before`, body: 'x' });
    },
    (r) => r.status === 201,
    (ERROR_LIMIT_S + 2) * 20,
  );
  t.equal(baseline.status, 201, "before the attack the victim's PUTs answer 201");

  const sizeOf = (headers: Record<string, string>): number =>
    Object.entries(headers)
      .filter(([k, v]) => k.startsWith(prefix) && v !== '')
      .reduce((n, [k, v]) => n + Buffer.byteLength(k.slice(prefix.length)) + Buffer.byteLength(v), 0);
  let stored = sizeOf((await send('test:tester', { method: 'HEAD', path: target })).headers);
  for (let i = 0; i < 5; i++) {
    // 15 items of 260 bytes: 3.9 KB, within every per-request limit (90 items, 256-byte values, 4096 bytes).
    const headers: Record<string, string> = {};
    for (let j = 0; j < 15; j++) headers[`${prefix}p${i}-${String(j).padStart(2, '0')}`] = String.fromCharCode(97 + i).repeat(255);
    const size = sizeOf(headers);
    const want = stored + size <= 4096 ? 204 : 400;
    const res = await send('test:tester', { method: 'POST', path: target, headers });
    t.equal(res.status, want, `POST ${i + 1} of ${size} bytes onto ${stored} stored -> ${want} (${res.body.toString().trim()})`);
    if (want === 204) stored += size;
  }
  const heads = await inBatches(Array.from({ length: 20 }, (_, i) => i), 4, () => send('test:tester', { method: 'HEAD', path: target }));
  t.same(
    heads.map((h) => h.status),
    Array(20).fill(204),
    `20 HEADs of ${target} answer 204`,
  );
  const last = heads[heads.length - 1] as RawResponse;
  t.ok(sizeOf(last.headers) <= 4096, `what is stored stays within 4096 bytes (${sizeOf(last.headers)})`);
  const puts = await inBatches(Array.from({ length: 5 }, (_, i) => i), 5, (i) => send('test2:tester2', { method: 'PUT', path: `${victimContainer}/after-${i}`, body: 'x' }));
  t.same(
    puts.map((p) => p.status),
    Array(5).fill(201),
    "after the attack the victim's PUTs still answer 201",
  );
}
