import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, ListBucketsCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { startCluster, SWIFTLET_BIN, type Cluster } from '../helpers/cluster.js';

const run = promisify(execFile);

/**
 * Stored S3 key pairs: `swiftlet s3 keys create|list|revoke` through the proxy, the keys kept in
 * the hidden account `.s3_access_keys` (so a second proxy of the same cluster knows them at
 * once), each working as the user it was made for; revoked, refused at once on the proxy that
 * revoked it and within s3_key_cache_s on the other; nobody but the proxies reaches the hidden
 * account; one user cannot make or revoke another account's keys.
 */

interface Made {
  access_key_id: string;
  secret_access_key: string;
  user: string;
  account: string;
}

async function keysCli(cluster: Cluster, args: string[], as: [string, string] = ['admin:admin', 'admin']): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const r = await run(process.execPath, [SWIFTLET_BIN, 's3', 'keys', ...args, '-A', cluster.authUrl, '-U', as[0], '-K', as[1]]);
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (e) {
    const err = e as { code: number; stdout: string; stderr: string };
    return { code: err.code, stdout: err.stdout, stderr: err.stderr };
  }
}

/** A second proxy of the same cluster (same config, its own port). */
async function secondProxy(cluster: Cluster): Promise<{ url: string; stop(): Promise<void> }> {
  const proc = spawn(process.execPath, [SWIFTLET_BIN, 'proxy', '--config', join(cluster.ringDir, 'proxy.json')], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise<number>((resolve, reject) => {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      try {
        const rec = JSON.parse(line) as { msg?: string; port?: number };
        if (rec.msg === 'listening' && typeof rec.port === 'number') resolve(rec.port);
      } catch {
        /* not a log line */
      }
    });
    proc.once('exit', (code) => reject(new Error(`second proxy exited ${code}`)));
  });
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () =>
      new Promise<void>((r) => {
        proc.once('exit', () => r());
        proc.kill('SIGKILL');
      }),
  };
}

function s3(endpoint: string, accessKeyId: string, secretAccessKey: string): S3Client {
  return new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId, secretAccessKey }, maxAttempts: 1 });
}

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return (e as { Code?: string; name: string }).Code ?? (e as Error).name;
  }
}

t.test('stored S3 key pairs', async (t) => {
  const cluster = await startCluster({ proxyConfig: { s3_key_cache_s: 1 } });
  t.teardown(() => cluster.stop());
  const other = await secondProxy(cluster);
  t.teardown(() => other.stop());

  const made = await keysCli(cluster, ['create', '--user', 'test:tester', '--json']);
  t.equal(made.code, 0, made.stderr);
  const key = JSON.parse(made.stdout) as Made;
  t.match(key.access_key_id, /^AKSW[A-Z2-7]{16}$/, 'a 20-character access key id');
  t.match(key.secret_access_key, /^[A-Za-z0-9+/]{40}$/, 'a 40-character secret');
  t.equal(key.user, 'test:tester');
  t.equal(key.account, 'AUTH_test');

  await t.test('the key works on both proxies, as the user it was made for', async (t) => {
    const a = s3(cluster.proxyUrl, key.access_key_id, key.secret_access_key);
    const b = s3(other.url, key.access_key_id, key.secret_access_key);
    t.teardown(() => (a.destroy(), b.destroy()));
    await a.send(new CreateBucketCommand({ Bucket: 'keyed' }));
    await b.send(new PutObjectCommand({ Bucket: 'keyed', Key: 'k.txt', Body: 'through a stored key' }));
    const got = await a.send(new GetObjectCommand({ Bucket: 'keyed', Key: 'k.txt' }));
    t.equal(await got.Body?.transformToString(), 'through a stored key');
    // the same object through Swift, in test:tester's account
    const { token } = await cluster.token('test:tester', 'testing');
    const swift = await fetch(`${cluster.proxyUrl}/v1/AUTH_test/keyed/k.txt`, { headers: { 'x-auth-token': token } });
    t.equal(await swift.text(), 'through a stored key');
    t.equal(await code(s3(cluster.proxyUrl, key.access_key_id, 'x'.repeat(40)).send(new ListBucketsCommand({}))), 'SignatureDoesNotMatch');
    t.equal(await code(s3(cluster.proxyUrl, 'AKSWAAAAAAAAAAAAAAAA', key.secret_access_key).send(new ListBucketsCommand({}))), 'InvalidAccessKeyId');
  });

  await t.test('listing shows ids, never secrets', async (t) => {
    const list = await keysCli(cluster, ['list', '--user', 'test:tester', '--json']);
    t.equal(list.code, 0, list.stderr);
    const rows = JSON.parse(list.stdout) as Array<{ accessKeyId: string; user: string }>;
    t.same(rows.map((r) => [r.accessKeyId, r.user]), [[key.access_key_id, 'test:tester']]);
    t.notMatch(list.stdout, key.secret_access_key);
    const all = await keysCli(cluster, ['list', '--json']);
    t.match(all.stdout, key.access_key_id, "the reseller admin's list without --user is everyone's");
  });

  await t.test('who may manage whose keys', async (t) => {
    // test:tester is .admin of AUTH_test only; test:tester3 has no role.
    const t2 = await keysCli(cluster, ['create', '--user', 'test2:tester2', '--json'], ['test:tester', 'testing']);
    t.equal(t2.code, 1);
    t.match(t2.stderr, /403/);
    t.match((await keysCli(cluster, ['list', '--user', 'test2:tester2'], ['test:tester', 'testing'])).stderr, /403/);
    t.match((await keysCli(cluster, ['create', '--user', 'test:tester'], ['test:tester3', 'testing3'])).stderr, /403/);
    const own = await keysCli(cluster, ['create', '--user', 'test:tester3', '--json'], ['test:tester3', 'testing3']);
    t.equal(own.code, 0, 'a user may make its own key');
    const victim = JSON.parse((await keysCli(cluster, ['create', '--user', 'test2:tester2', '--json'])).stdout) as Made;
    t.match((await keysCli(cluster, ['revoke', victim.access_key_id], ['test:tester', 'testing'])).stderr, /404/, "another account's key cannot be revoked");
    t.match((await keysCli(cluster, ['create', '--user', 'nobody:x'])).stderr, /404/);
    // test2's key sees test2's buckets, not test's
    const v = s3(cluster.proxyUrl, victim.access_key_id, victim.secret_access_key);
    t.teardown(() => v.destroy());
    t.equal(await code(v.send(new GetObjectCommand({ Bucket: 'keyed', Key: 'k.txt' }))), 'NoSuchBucket');
  });

  await t.test('nobody reaches the hidden account, not even the reseller admin', async (t) => {
    for (const [user, pw] of [
      ['test:tester', 'testing'],
      ['admin:admin', 'admin'],
    ] as const) {
      const { token } = await cluster.token(user, pw);
      for (const path of ['/v1/.s3_access_keys', '/v1/.s3_access_keys/keys', `/v1/.s3_access_keys/keys/${key.access_key_id}`, '/v1/.s3_access_keys/users']) {
        const res = await fetch(`${cluster.proxyUrl}${path}`, { headers: { 'x-auth-token': token } });
        const body = await res.text();
        t.equal(res.status, 403, `${user}: GET ${path}`);
        t.notMatch(body, key.access_key_id);
      }
    }
    const anon = await fetch(`${cluster.proxyUrl}/v1/.s3_access_keys/keys/${key.access_key_id}`);
    t.equal(anon.status, 401);
    await anon.text();
  });

  await t.test('a revoked key is refused: at once where revoked, within the cache TTL elsewhere', async (t) => {
    const b = s3(other.url, key.access_key_id, key.secret_access_key);
    t.equal(await code(b.send(new ListBucketsCommand({}))), 'ok', 'the other proxy has it cached');
    const r = await keysCli(cluster, ['revoke', key.access_key_id]);
    t.equal(r.code, 0, r.stderr);
    const a = s3(cluster.proxyUrl, key.access_key_id, key.secret_access_key);
    t.teardown(() => (a.destroy(), b.destroy()));
    t.equal(await code(a.send(new ListBucketsCommand({}))), 'InvalidAccessKeyId');
    let last = '';
    for (let i = 0; i < 100 && last !== 'InvalidAccessKeyId'; i++) {
      last = await code(b.send(new ListBucketsCommand({})));
      if (last !== 'InvalidAccessKeyId') await new Promise((res) => setTimeout(res, 100));
    }
    t.equal(last, 'InvalidAccessKeyId', 'the other proxy refuses it once its cache entry expired');
    const list = JSON.parse((await keysCli(cluster, ['list', '--user', 'test:tester', '--json'])).stdout) as unknown[];
    t.same(list, [], 'gone from the list');
  });
});
