import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { outcome, PYTHON, SWIFT } from '../helpers/client-tools.js';
import { GetObjectCommand, ListBucketsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startCluster, SWIFTLET_BIN } from '../helpers/cluster.js';
import { startKeystone } from '../helpers/keystone.js';

const run = promisify(execFile);

/**
 * The Keystone v3 flow of an OpenStack user, against a real Keystone (Debian's, on sqlite under
 * uwsgi): the swift CLI logs in at Keystone, finds Swiftlet in the catalog, and Swiftlet validates
 * each token with Keystone as its service user. Projects alpha and beta, their operators alice
 * and bob, carol a plain member of alpha; SERVICE_ accounts need a service token as well.
 */
t.test('swift CLI with Keystone v3 auth against a real Keystone', async (t) => {
  const ks = await startKeystone();
  t.teardown(() => ks.stop());
  const make = async (what: string, body: unknown): Promise<string> => {
    const res = await ks.api('POST', `/${what}s`, { [what]: body });
    if (res.status !== 201) throw new Error(`creating ${what} answered ${res.status}: ${JSON.stringify(res.json)}`);
    return res.json[what].id as string;
  };
  const roles = (await ks.api('GET', '/roles')).json.roles as Array<{ id: string; name: string }>;
  const roleId = async (name: string) => roles.find((r) => r.name === name)?.id ?? (await make('role', { name }));
  const operator = await roleId('swiftoperator');
  const member = await roleId('member');
  const service = await roleId('service');
  const project: Record<string, string> = {};
  for (const name of ['alpha', 'beta', 'service']) project[name] = await make('project', { name, domain_id: 'default' });
  const users: Array<[string, string, string]> = [
    ['alice', 'alpha', operator],
    ['bob', 'beta', operator],
    ['carol', 'alpha', member],
    ['swift', 'service', service],
  ];
  for (const [name, proj, role] of users) {
    const id = await make('user', { name, password: `${name}-pw`, domain_id: 'default', default_project_id: project[proj] });
    t.equal((await ks.api('PUT', `/projects/${project[proj]}/users/${id}/roles/${role}`)).status, 204, `${name} gets ${proj} role`);
  }

  const cluster = await startCluster({
    proxyConfig: {
      auth: 'keystone',
      keystone_url: ks.url,
      keystone_username: 'swift',
      keystone_password: 'swift-pw',
      keystone_project_name: 'service',
      reseller_prefix: 'AUTH_, SERVICE_',
      reseller_prefix_rules: { SERVICE_: { service_roles: ['service'] } },
    },
  });
  const work = await mkdtemp(join(tmpdir(), 'keystone-cli-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  // Swiftlet in Keystone's catalog, as a cloud's operator registers Swift.
  const svc = await make('service', { type: 'object-store', name: 'swift' });
  await make('endpoint', { service_id: svc, interface: 'public', region_id: 'RegionOne', url: `${cluster.proxyUrl}/v1/AUTH_$(project_id)s` });

  const cli =
    (user: string, proj: string) =>
    async (...args: string[]): Promise<string> =>
      (
        await run(
          PYTHON,
          [SWIFT, '--auth-version', '3', '--os-auth-url', ks.url, '--os-username', user, '--os-password', `${user}-pw`, '--os-project-name', proj, '--os-user-domain-name', 'Default', '--os-project-domain-name', 'Default', ...args],
          { cwd: work },
        )
      ).stdout;
  const alice = cli('alice', 'alpha');
  const bob = cli('bob', 'beta');
  const carol = cli('carol', 'alpha');
  const aliceAccount = `AUTH_${project['alpha']}`;

  await writeFile(join(work, 'hello.txt'), 'hello from alpha\n');
  await alice('upload', 'box', 'hello.txt');
  t.equal(await alice('list'), 'box\n', "alice's account lists her container");
  t.equal(await alice('list', 'box'), 'hello.txt\n');
  const stat = await alice('stat', 'box', 'hello.txt');
  t.match(stat, new RegExp(`Account: ${aliceAccount}`), 'the account is AUTH_<project id>');
  t.match(stat, /Content Length: 17/);
  await alice('download', 'box', 'hello.txt', '-o', 'got.txt');
  t.equal(await readFile(join(work, 'got.txt'), 'utf8'), 'hello from alpha\n', 'downloaded as uploaded');
  t.match(await alice('capabilities'), /keystoneauth/, '/info advertises keystoneauth');

  // bob (operator of beta) may not read alpha's container until alice's ACL names him.
  const storage = `${cluster.proxyUrl}/v1/${aliceAccount}`;
  t.match(await outcome(bob('--os-storage-url', storage, 'download', 'box', 'hello.txt', '-o', 'bob.txt')), /403/, 'bob before the ACL');
  await alice('post', 'box', '-r', 'beta:bob');
  await bob('--os-storage-url', storage, 'download', 'box', 'hello.txt', '-o', 'bob.txt');
  t.equal(await readFile(join(work, 'bob.txt'), 'utf8'), 'hello from alpha\n', 'bob reads through the beta:bob ACL (names)');
  t.equal(await bob('--os-storage-url', storage, 'list', 'box'), 'hello.txt\n', 'and lists the container');
  t.match(await alice('stat', 'box'), /Read ACL: beta:bob/, 'the owner sees the ACL');
  // The rest as plain HTTP with each user's token (each CLI run is a Python start and a login).
  const bobToken = await ks.token('bob', 'bob-pw', 'beta');
  const status = async (method: string, url: string, headers: Record<string, string>) => {
    const res = await fetch(url, { method, headers });
    await res.arrayBuffer();
    return res.status;
  };
  t.equal(await status('PUT', `${storage}/box/bob.txt`, { 'X-Auth-Token': bobToken }), 403, 'a read ACL is no write ACL');
  t.equal(await status('GET', storage, { 'X-Auth-Token': bobToken }), 403, 'nor the account');
  t.equal(await status('HEAD', `${storage}/box`, { 'X-Auth-Token': bobToken }), 204, 'bob may HEAD the container');

  // The container PUT that autocreated alpha's account recorded the project's domain
  // (keystoneauth's sysmeta, carried to the autocreate PUT); an account POST keeps it.
  const aliceToken = await ks.token('alice', 'alice-pw', 'alpha');
  const created = await fetch(storage, { method: 'HEAD', headers: { 'X-Auth-Token': aliceToken } });
  t.equal(created.headers.get('x-account-project-domain-id'), 'default', 'recorded at autocreate, shown as X-Account-Project-Domain-Id');
  t.equal(await status('POST', storage, { 'X-Auth-Token': aliceToken, 'X-Account-Meta-Color': 'blue' }), 204);
  const head = await fetch(storage, { method: 'HEAD', headers: { 'X-Auth-Token': aliceToken } });
  t.equal(head.headers.get('x-account-project-domain-id'), 'default', 'still after a POST');

  // carol is in alpha without an operator role: nothing without an ACL.
  t.match(await outcome(carol('list')), /403/, 'a member without an operator role is refused (swift CLI)');
  const carolToken = await ks.token('carol', 'carol-pw', 'alpha');
  t.equal(await status('PUT', `${storage}/box/carol.txt`, { 'X-Auth-Token': carolToken }), 403, 'nor may she write');

  // Tokens Keystone does not vouch for: garbage, and a revoked one (never seen by the proxy).
  const garbage = await fetch(`${storage}/box/hello.txt`, { headers: { 'X-Auth-Token': 'gAAAAAgarbage' } });
  await garbage.arrayBuffer();
  t.equal(garbage.status, 401, 'a garbage token');
  t.equal(garbage.headers.get('www-authenticate'), `Keystone uri="${ks.url}"`, 'where to log in');
  const revoked = await ks.token('alice', 'alice-pw', 'alpha');
  t.equal((await ks.api('DELETE', '/auth/tokens', undefined, { 'X-Subject-Token': revoked })).status, 204);
  const refused = await fetch(`${storage}/box/hello.txt`, { headers: { 'X-Auth-Token': revoked } });
  await refused.arrayBuffer();
  t.equal(refused.status, 401, 'a revoked token');
  const anonymous = await fetch(`${storage}/box/hello.txt`);
  await anonymous.arrayBuffer();
  t.equal(anonymous.status, 401, 'no token at all');

  // Service accounts: SERVICE_<project> needs the user's token and a service token with the service role.
  const userToken = await ks.token('alice', 'alice-pw', 'alpha');
  const serviceToken = await ks.token('swift', 'swift-pw', 'service');
  const serviceUrl = `${cluster.proxyUrl}/v1/SERVICE_${project['alpha']}/images`;
  const put = (headers: Record<string, string>) => status('PUT', serviceUrl, headers);
  t.equal(await put({ 'X-Auth-Token': userToken }), 403, 'the user token alone');
  t.equal(await put({ 'X-Service-Token': serviceToken }), 401, 'the service token alone');
  t.equal(await put({ 'X-Auth-Token': serviceToken, 'X-Service-Token': serviceToken }), 403, "the service user's token for another project");
  t.equal(await put({ 'X-Auth-Token': userToken, 'X-Service-Token': serviceToken }), 201, 'user and service token together');
  t.equal(await put({ 'X-Auth-Token': userToken, 'X-Service-Token': 'garbage' }), 401, 'a bad service token: no identity');

  // S3 with keystone: a stored key pair made with a user's token runs as that user and project.
  const s3key = async (token: string): Promise<{ access_key_id: string; secret_access_key: string; account: string }> =>
    JSON.parse((await run(process.execPath, [SWIFTLET_BIN, 's3', 'keys', 'create', '--json', '--token', token, '--proxy', cluster.proxyUrl])).stdout);
  const s3as = (k: { access_key_id: string; secret_access_key: string }) =>
    new S3Client({ endpoint: cluster.proxyUrl, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: k.access_key_id, secretAccessKey: k.secret_access_key }, maxAttempts: 1 });
  const aliceKey = await s3key(await ks.token('alice', 'alice-pw', 'alpha'));
  t.equal(aliceKey.account, aliceAccount, "alice's key is for her project's account");
  const aliceS3 = s3as(aliceKey);
  t.teardown(() => aliceS3.destroy());
  const got = await aliceS3.send(new GetObjectCommand({ Bucket: 'box', Key: 'hello.txt' }));
  t.equal(await got.Body?.transformToString(), 'hello from alpha\n', 'S3 GET with a stored key under keystone');
  await aliceS3.send(new PutObjectCommand({ Bucket: 'box', Key: 's3.txt', Body: 'via s3' }));
  t.equal(await alice('list', 'box'), 'hello.txt\ns3.txt\n', 'written through S3, listed by Swift');
  const carolS3 = s3as(await s3key(carolToken));
  t.teardown(() => carolS3.destroy());
  t.match(await outcome(carolS3.send(new ListBucketsCommand({}))), /AccessDenied/, "carol's key has carol's roles: no operator, no listing");
  const bobS3 = s3as(await s3key(bobToken));
  t.teardown(() => bobS3.destroy());
  t.match(await outcome(bobS3.send(new PutObjectCommand({ Bucket: 'box', Key: 'x', Body: 'x' }))), /NoSuchBucket/, "bob's buckets are beta's: alpha's box is not among them");
  t.match(await outcome(s3as({ access_key_id: 'alpha:alice', secret_access_key: 'alice-pw' }).send(new ListBucketsCommand({}))), /InvalidAccessKeyId/, 'no tempauth-style keys under keystone');
});
