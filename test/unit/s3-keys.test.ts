import t from 'tap';
import { spawnSync } from 'node:child_process';
import { SWIFTLET_BIN } from '../helpers/cluster.js';
import { Readable } from 'node:stream';
import { SeededRandom } from '../../common/random.js';
import { respond } from '../../proxy/pipeline.js';
import { credentialChain, lookupCredential } from '../../proxy/s3/credentials.js';
import { isS3Error } from '../../proxy/s3/errors.js';
import { KeyCache } from '../../proxy/s3/key-cache.js';
import { ACCESS_KEY_ID, createKey, generateKeyPair, getKey, listKeys, revokeKey, sealKeyFrom, sealSecret, unsealSecret, type KeysCall } from '../../proxy/s3/key-store.js';

const rng = new SeededRandom(2024);
const random = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => rng.int(256)));
const SEAL = sealKeyFrom({ swift_hash_path_prefix: 'p', swift_hash_path_suffix: 's' });

t.test('key pairs: 20-character ids, 40-character secrets, never the same twice', async (t) => {
  const seen = new Set<string>();
  for (let i = 0; i < 500; i++) {
    const k = generateKeyPair(random);
    t.ok(ACCESS_KEY_ID.test(k.accessKeyId) && k.accessKeyId.length === 20, k.accessKeyId);
    t.ok(/^[A-Za-z0-9+/]{40}$/.test(k.secret), k.secret);
    seen.add(k.accessKeyId);
  }
  t.equal(seen.size, 500);
});

t.test('a sealed secret opens only for its own id and with the cluster’s key', async (t) => {
  const sealed = sealSecret(SEAL, 'AKSWAAAAAAAAAAAAAAAA', 'the secret', random);
  t.notMatch(Buffer.from(sealed, 'base64').toString('latin1'), 'the secret', 'not in the clear');
  t.equal(unsealSecret(SEAL, 'AKSWAAAAAAAAAAAAAAAA', sealed), 'the secret');
  t.equal(unsealSecret(SEAL, 'AKSWAAAAAAAAAAAAAAAB', sealed), undefined, 'moved to another id: refused');
  t.equal(unsealSecret(sealKeyFrom({ swift_hash_path_prefix: 'p', swift_hash_path_suffix: 'x' }), 'AKSWAAAAAAAAAAAAAAAA', sealed), undefined, "another cluster's key: refused");
  const raw = Buffer.from(sealed, 'base64');
  for (let i = 0; i < raw.length; i++) {
    const bad = Buffer.from(raw);
    bad[i] = (bad[i] as number) ^ 1;
    if (unsealSecret(SEAL, 'AKSWAAAAAAAAAAAAAAAA', bad.toString('base64')) !== undefined) t.fail(`a flipped bit at ${i} went unnoticed`);
  }
  t.equal(unsealSecret(SEAL, 'AKSWAAAAAAAAAAAAAAAA', 'short'), undefined);
});

/** The hidden account as a map, answering as Swift does. */
function fakeCluster(): { call: KeysCall; objects: Map<string, string>; fail: { status?: number } } {
  const objects = new Map<string, string>();
  const fail: { status?: number } = {};
  const call: KeysCall = async (method, container, object, init = {}) => {
    if (fail.status) return respond(fail.status);
    if (object === undefined && method === 'PUT') return respond(201);
    if (object === undefined && method === 'GET') {
      const q = new URLSearchParams(init.query ?? '');
      const prefix = `${container}/${q.get('prefix') ?? ''}`;
      const rows = [...objects.keys()].filter((k) => k.startsWith(prefix)).sort().map((k) => ({ name: k.slice(container.length + 1), last_modified: '2026-12-07T10:00:00.000000' }));
      return respond(200, {}, JSON.stringify(rows));
    }
    const path = `${container}/${object}`;
    if (method === 'PUT') {
      const chunks: Buffer[] = [];
      for await (const c of init.body as Readable) chunks.push(c as Buffer);
      objects.set(path, Buffer.concat(chunks).toString());
      return respond(201);
    }
    if (!objects.has(path)) return respond(404);
    if (method === 'GET') return respond(200, {}, objects.get(path) as string);
    objects.delete(path);
    return respond(204);
  };
  return { call, objects, fail };
}

t.test('the store: create, read, list, revoke', async (t) => {
  const c = fakeCluster();
  const k = await createKey(c.call, SEAL, { user: 'test:tester', account: 'AUTH_test', auth: 'tempauth' }, Date.UTC(2026, 11, 7), random);
  t.equal(k.created, '2026-12-07T00:00:00.000Z');
  for (const v of c.objects.values()) t.notMatch(v, k.secret, 'no stored object holds the secret in the clear');
  const got = await getKey(c.call, SEAL, k.accessKeyId);
  t.same(got, k);
  t.same(await listKeys(c.call, 'test:tester'), [{ accessKeyId: k.accessKeyId, user: 'test:tester', created: '2026-12-07T10:00:00Z' }]);
  t.same(await listKeys(c.call, 'test'), [], 'a prefix of a user is not the user');
  t.equal(await getKey(c.call, SEAL, 'not-a-key-id'), undefined);
  t.equal(await getKey(c.call, sealKeyFrom({ swift_hash_path_prefix: 'other', swift_hash_path_suffix: 's' }), k.accessKeyId), undefined, "another cluster's record is no key");
  await revokeKey(c.call, k);
  t.equal(await getKey(c.call, SEAL, k.accessKeyId), undefined);
  t.same(await listKeys(c.call), []);
  c.fail.status = 503;
  await t.rejects(getKey(c.call, SEAL, k.accessKeyId), { name: 'KeyStoreError', status: 503 }, 'an unavailable store is an error, not "no such key"');
});

t.test('the cache: answers trusted for the TTL, misses too; forget; one fetch for concurrent lookups; failures not kept', async (t) => {
  let now = 1_000_000;
  const cache = new KeyCache<string>(10_000, () => now, 3);
  let fetches = 0;
  let value: string | undefined = 'v1';
  const fetch = async (): Promise<string | undefined> => {
    fetches++;
    await new Promise((r) => setImmediate(r));
    return value;
  };
  t.same(await Promise.all([cache.get('a', fetch), cache.get('a', fetch)]), ['v1', 'v1']);
  t.equal(fetches, 1, 'concurrent lookups share one fetch');
  value = undefined;
  now += 9_999;
  t.equal(await cache.get('a', fetch), 'v1', 'within the TTL: the cached answer');
  now += 1;
  t.equal(await cache.get('a', fetch), undefined, 'after it: asked again');
  value = 'v2';
  t.equal(await cache.get('a', fetch), undefined, 'a miss is cached as well');
  cache.forget('a');
  t.equal(await cache.get('a', fetch), 'v2', 'forgotten: asked again');
  await t.rejects(cache.get('e', () => Promise.reject(new Error('down'))));
  t.equal(await cache.get('e', async () => 'up'), 'up', 'a failure is not cached');
  for (const id of ['b', 'c', 'd']) await cache.get(id, fetch);
  const before = fetches;
  await cache.get('a', fetch);
  t.equal(fetches, before + 1, 'bounded: the oldest entry went');
  const none = new KeyCache<string>(0, () => now);
  let n = 0;
  await none.get('x', async () => String(n++));
  t.equal(await none.get('x', async () => String(n++)), '1', 'TTL 0: never cached');
});

t.test('the credential chain: account:user is tempauth, anything else a stored key', async (t) => {
  const asked: string[] = [];
  const src = (name: string) => ({ lookup: async (id: string) => (asked.push(`${name}:${id}`), id.endsWith('x') ? undefined : { secret: 's', identity: { user: id, account: 'AUTH_a', groups: [], admin: false, resellerAdmin: false } }) });
  const chain = credentialChain({ tempauth: src('tempauth'), stored: src('stored') });
  await lookupCredential(chain, 'test:tester');
  await lookupCredential(chain, 'AKSWAAAAAAAAAAAAAAAA');
  t.same(asked, ['tempauth:test:tester', 'stored:AKSWAAAAAAAAAAAAAAAA']);
  t.ok(isS3Error(await lookupCredential(chain, 'AKSWx').catch((e: unknown) => e), 'InvalidAccessKeyId'));
  const keystone = credentialChain({ stored: src('stored') });
  t.ok(isS3Error(await lookupCredential(keystone, 'test:tester').catch((e: unknown) => e), 'InvalidAccessKeyId'), 'without tempauth, account:user is no key');
  const down = credentialChain({ stored: { lookup: () => Promise.reject(new Error('503')) } });
  t.ok(isS3Error(await lookupCredential(down, 'AKSWAAAAAAAAAAAAAAAA').catch((e: unknown) => e), 'ServiceUnavailable'));
});


t.test('swiftlet s3 keys: --help prints the usage, a wrong command exits 2', async (t) => {
  const help = spawnSync(process.execPath, [SWIFTLET_BIN, 's3', 'keys', '--help'], { encoding: 'utf8' });
  t.equal(help.status, 0);
  t.match(help.stdout, /swiftlet s3 keys create/);
  const bad = spawnSync(process.execPath, [SWIFTLET_BIN, 's3', 'keys', 'frobnicate'], { encoding: 'utf8' });
  t.equal(bad.status, 2);
  t.match(bad.stderr, /swiftlet s3 keys revoke/);
});
