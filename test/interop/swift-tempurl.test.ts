import t from 'tap';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { curl, SWIFT, swiftAs } from '../helpers/client-tools.js';
import { startCluster } from '../helpers/cluster.js';


const INVALID = '401 Unauthorized: Temp URL invalid\n';

t.test('swift tempurl, then curl: GET, PUT, HEAD, digests, ISO 8601, prefixes, address ranges; every forgery 401', { skip: !existsSync(SWIFT) ? 'python3-swiftclient not installed (.ci/run installs it)' : false }, async (t) => {
  const cluster = await startCluster();
  const work = await mkdtemp(join(tmpdir(), 'swift-tempurl-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  const swift = swiftAs(cluster, work, 'test:tester', 'testing');
  const swift2 = swiftAs(cluster, work, 'test2:tester2', 'testing2');
  /** `swift tempurl ...` prints a path with its query: the URL on this proxy. */
  const tempurl = async (...args: string[]): Promise<string> => `${cluster.proxyUrl}${(await swift('tempurl', ...args)).trim()}`;

  await writeFile(join(work, 'o.txt'), 'temp url body\n');
  await swift('upload', 'c', 'o.txt', '-H', 'X-Object-Meta-Secret: hidden', '-H', 'X-Object-Meta-Public-Color: blue');
  await swift('post', '-m', 'Temp-URL-Key:account-secret');

  await t.test('GET with every digest form; the answer as Swift sends it', async (t) => {
    for (const digest of ['sha1', 'sha256', 'sha512']) {
      const url = await tempurl('--digest', digest, 'GET', '60', '/v1/AUTH_test/c/o.txt', 'account-secret');
      if (digest === 'sha512') t.match(url, /temp_url_sig=sha512(:|%3A)/, 'swiftclient signs sha512 in base64');
      const got = await curl(url);
      t.equal(got.status, 200, digest);
      t.equal(got.body, 'temp url body\n');
      t.equal(got.headers['content-disposition'], `attachment; filename="o.txt"; filename*=UTF-8''o.txt`);
      t.match(got.headers['expires'], / GMT$/);
      t.equal(got.headers['x-object-meta-secret'], undefined, 'private metadata removed (outgoing_remove_headers)');
      t.equal(got.headers['x-object-meta-public-color'], 'blue', 'public metadata kept (outgoing_allow_headers)');
    }
    // A UTF-8 key (key 2) signs as its UTF-8 bytes, as Swift.
    await swift('post', '-m', 'Temp-URL-Key-2:clé-ü');
    t.equal((await curl(await tempurl('GET', '60', '/v1/AUTH_test/c/o.txt', 'clé-ü'))).status, 200, 'a UTF-8 key');
    const url = await tempurl('GET', '60', '/v1/AUTH_test/c/o.txt', 'account-secret');
    const head = await curl(url, '-I');
    t.equal(head.status, 200, 'HEAD with a GET signature');
    const inline = await curl(`${url}&inline&filename=My%20File.txt`);
    t.equal(inline.headers['content-disposition'], `inline; filename="My File.txt"; filename*=UTF-8''My%20File.txt`);
    const named = await curl(`${url}&filename=r%C3%A9sum%C3%A9.txt`);
    t.equal(named.headers['content-disposition'], `attachment; filename="r%C3%A9sum%C3%A9.txt"; filename*=UTF-8''r%C3%A9sum%C3%A9.txt`);
  });

  await t.test('ISO 8601 expiry', async (t) => {
    const url = await tempurl('--iso8601', 'GET', '60', '/v1/AUTH_test/c/o.txt', 'account-secret');
    t.match(url, /temp_url_expires=\d{4}-\d\d-\d\dT\d\d(:|%3A)\d\d(:|%3A)\d\dZ/);
    t.equal((await curl(url)).status, 200);
    const past = await tempurl('--iso8601', 'GET', '2001-01-01T00:00:00Z', '/v1/AUTH_test/c/o.txt', 'account-secret');
    const expired = await curl(past);
    t.equal(expired.status, 401);
    t.equal(expired.body, INVALID);
  });

  await t.test('PUT through a temp URL; it grants that object and method only', async (t) => {
    await writeFile(join(work, 'up.bin'), Buffer.alloc(70_000, 9));
    const put = await tempurl('PUT', '60', '/v1/AUTH_test/c/up.bin', 'account-secret');
    t.equal((await curl(put, '-T', join(work, 'up.bin'))).status, 201);
    await swift('download', 'c', 'up.bin', '-o', join(work, 'down.bin'));
    t.ok((await readFile(join(work, 'down.bin'))).equals(Buffer.alloc(70_000, 9)), 'stored what was sent');
    t.equal((await curl(put, '-I')).status, 200, 'HEAD with a PUT signature (Swift)');
    const get = await curl(put);
    t.equal(get.status, 401, 'GET with a PUT signature');
    t.equal(get.body, INVALID);
    t.equal((await curl(put, '-X', 'DELETE')).status, 401, 'DELETE with a PUT signature');
    t.equal((await curl(put, '-X', 'POST')).status, 401, 'POST with a PUT signature');
    const copy = await curl(put, '-T', join(work, 'up.bin'), '-H', 'X-Copy-From: c/o.txt');
    t.equal(copy.status, 400);
    t.equal(copy.body, "The header 'X-Copy-From' is not allowed in this tempurl");
    const manifest = await curl(put, '-T', join(work, 'up.bin'), '-H', 'X-Object-Manifest: c/o');
    t.equal(manifest.status, 400);
    const del = await tempurl('DELETE', '60', '/v1/AUTH_test/c/up.bin', 'account-secret');
    t.equal((await curl(del, '-X', 'DELETE')).status, 204);
    t.equal((await curl(del, '-X', 'DELETE')).status, 404, 'gone');
  });

  await t.test('forged, expired, wrong method, wrong path: 401 and no data', async (t) => {
    const url = await tempurl('GET', '60', '/v1/AUTH_test/c/o.txt', 'account-secret');
    const sig = /temp_url_sig=([0-9a-f]+)/.exec(url)?.[1] as string;
    const flipped = url.replace(sig, (sig[0] === 'a' ? 'b' : 'a') + sig.slice(1));
    const attempts: Array<[string, string, string[]]> = [
      ['forged signature', flipped, []],
      ['upper-case hex', url.replace(sig, sig.toUpperCase()), []],
      ['wrong method', url, ['-X', 'PUT', '--data-binary', 'x']],
      ['wrong object', url.replace('/c/o.txt', '/c/up.bin'), []],
      ['object in another container', url.replace('/c/o.txt', '/d/o.txt'), []],
      ['container listing', url.replace('/c/o.txt', '/c'), []],
      ['other account', url.replace('AUTH_test/', 'AUTH_test2/'), []],
      ['no expiry', url.replace(/&temp_url_expires=[^&]*/, ''), []],
      ['garbage expiry', url.replace(/temp_url_expires=[^&]*/, 'temp_url_expires=soon'), []],
      ['a signature of the wrong length', url.replace(sig, sig.slice(2)), []],
    ];
    const expired = await tempurl('--absolute', 'GET', '1000000000', '/v1/AUTH_test/c/o.txt', 'account-secret');
    attempts.push(['expired', expired, []]);
    const otherKey = await tempurl('GET', '60', '/v1/AUTH_test/c/o.txt', 'not-the-key');
    attempts.push(['another key', otherKey, []]);
    for (const [what, u, args] of attempts) {
      const got = await curl(u, ...args);
      t.equal(got.status, 401, what);
      t.equal(got.body, INVALID, `${what}: Swift's body, no object data`);
    }
    const head = await curl(flipped, '-I');
    t.equal(head.status, 401, 'forged HEAD');
  });

  await t.test('prefix-based URLs', async (t) => {
    await writeFile(join(work, 'p.txt'), 'in the prefix\n');
    await swift('upload', 'c', 'p.txt', '--object-name', 'pre/sub/p.txt');
    await swift('upload', 'c', 'p.txt', '--object-name', 'other/p.txt');
    const url = await tempurl('--prefix-based', 'GET', '60', '/v1/AUTH_test/c/pre/', 'account-secret');
    t.match(url, /temp_url_prefix=pre%2F|temp_url_prefix=pre\//);
    const inside = await curl(url.replace('/c/pre/?', '/c/pre/sub/p.txt?'));
    t.equal(inside.status, 200);
    t.equal(inside.body, 'in the prefix\n');
    t.equal((await curl(url.replace('/c/pre/?', '/c/other/p.txt?'))).status, 401, 'outside the prefix');
    t.equal((await curl(url.replace('/c/pre/?', '/c/pre/sub/p.txt?').replace(/temp_url_prefix=[^&]*/, 'temp_url_prefix=pre%2Fsub'))).status, 401, 'a changed prefix');
  });

  await t.test('address ranges', async (t) => {
    for (const range of ['127.0.0.1', '127.0.0.0/8']) {
      const url = await tempurl('--ip-range', range, 'GET', '60', '/v1/AUTH_test/c/o.txt', 'account-secret');
      t.equal((await curl(url)).status, 200, `from 127.0.0.1 inside ${range}`);
    }
    const far = await tempurl('--ip-range', '10.0.0.0/8', 'GET', '60', '/v1/AUTH_test/c/o.txt', 'account-secret');
    t.equal((await curl(far)).status, 401, 'outside the range');
    const swapped = far.replace('10.0.0.0%2F8', '127.0.0.0%2F8').replace('10.0.0.0/8', '127.0.0.0/8');
    t.not(swapped, far);
    t.equal((await curl(swapped)).status, 401, 'the range is signed');
  });

  await t.test('tenant boundaries: a key signs only for its own account, a container key for its container', async (t) => {
    await swift2('post', '-m', 'Temp-URL-Key:second-secret');
    await writeFile(join(work, 'b.txt'), 'account two\n');
    await swift2('upload', 'c2', 'b.txt');
    await swift('upload', 'c1', 'o.txt');
    await swift('upload', 'c2', 'o.txt');
    await swift('post', 'c1', '-m', 'Temp-URL-Key:c1-secret');
    const cases: Array<[string, string, string, number]> = [
      ['account A signs for B', '/v1/AUTH_test2/c2/b.txt', 'account-secret', 401],
      ['account B signs for A', '/v1/AUTH_test/c/o.txt', 'second-secret', 401],
      ['account B for its own', '/v1/AUTH_test2/c2/b.txt', 'second-secret', 200],
      ['container key of c1 for c1', '/v1/AUTH_test/c1/o.txt', 'c1-secret', 200],
      ['container key of c1 for c2', '/v1/AUTH_test/c2/o.txt', 'c1-secret', 401],
      ['container key of c1 for c', '/v1/AUTH_test/c/o.txt', 'c1-secret', 401],
      ['container key of c1 for account B', '/v1/AUTH_test2/c2/b.txt', 'c1-secret', 401],
      ['account key of A in c1', '/v1/AUTH_test/c1/o.txt', 'account-secret', 200],
    ];
    for (const [what, path, key, status] of cases) {
      const got = await curl(await tempurl('GET', '60', path, key));
      t.equal(got.status, status, what);
      if (status === 401) t.equal(got.body, INVALID, `${what}: no data`);
    }
    // Signed for c1 and moved to c2 (same object name): refused.
    const moved = (await tempurl('GET', '60', '/v1/AUTH_test/c1/o.txt', 'c1-secret')).replace('/c1/', '/c2/');
    t.equal((await curl(moved)).status, 401, 'a c1 URL pointed at c2');
    // The keys are the owners' to see: a reader by ACL, or anyone on a public listing, sees none.
    await swift('post', 'c1', '-r', '.r:*,.rlistings,test:tester3');
    const tester3 = swiftAs(cluster, work, 'test:tester3', 'testing3');
    t.notMatch(await tester3('stat', 'c1'), /Temp-Url-Key|c1-secret|Read ACL: \S/i, 'a reader by ACL sees no key and no ACL');
    const anon = await curl(`${cluster.proxyUrl}/v1/AUTH_test/c1`, '-I');
    t.equal(anon.status, 204, 'a public listing');
    t.equal(anon.headers['x-container-meta-temp-url-key'], undefined, 'anonymous readers see no key');
    t.equal(anon.headers['x-container-read'], undefined);
    t.match(await swift('stat', 'c1'), /Meta Temp-Url-Key: c1-secret/i, 'the owner does');
    t.match(await swift('stat'), /Meta Temp-Url-Key: account-secret/i);
    // A token beside a bad signature does not rescue it: the signature decides.
    const { token } = await cluster.token();
    const forged = (await tempurl('GET', '60', '/v1/AUTH_test/c/o.txt', 'wrong')) as string;
    t.equal((await curl(forged, '-H', `X-Auth-Token: ${token}`)).status, 401);
  });

  await t.test('a DLO through a temp URL: its segments within the key\'s scope, as Swift', async (t) => {
    // c1 has a container key (set above); the account key is account-secret.
    await writeFile(join(work, 'seg1'), 'one fish two fish ');
    await writeFile(join(work, 'seg2'), 'red fish blue fish');
    for (const c of ['c1', 'segs']) for (const f of ['seg1', 'seg2']) await swift('upload', c, f, '--object-name', `dlo-${f}`);
    await writeFile(join(work, 'empty'), '');
    await swift('upload', 'c1', 'empty', '--object-name', 'inside', '-H', 'X-Object-Manifest: c1/dlo-seg');
    await swift('upload', 'c1', 'empty', '--object-name', 'outside', '-H', 'X-Object-Manifest: segs/dlo-seg');
    const whole = 'one fish two fish red fish blue fish';
    const inside = await curl(await tempurl('GET', '60', '/v1/AUTH_test/c1/inside', 'c1-secret'));
    t.equal(inside.status, 200, 'container key, segments in its container');
    t.equal(inside.body, whole);
    const across = await curl(await tempurl('GET', '60', '/v1/AUTH_test/c1/outside', 'account-secret'));
    t.equal(across.status, 200, 'account key, segments in another container');
    t.equal(across.body, whole);
    const refused = await curl(await tempurl('GET', '60', '/v1/AUTH_test/c1/outside', 'c1-secret'));
    t.equal(refused.status, 401, 'container key, segments in another container');
    t.notMatch(refused.body, /fish/, 'no segment data');
  });

  await t.test('/info advertises tempurl as Swift does', async (t) => {
    const info = JSON.parse((await curl(`${cluster.proxyUrl}/info`)).body) as Record<string, Record<string, unknown>>;
    t.same(info['tempurl'], {
      methods: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'],
      incoming_remove_headers: ['x-timestamp'],
      incoming_allow_headers: [],
      outgoing_remove_headers: ['x-object-meta-*'],
      outgoing_allow_headers: ['x-object-meta-public-*'],
      allowed_digests: ['sha1', 'sha256', 'sha512'],
      deprecated_digests: ['sha1'],
    });
    t.match(await swift('capabilities'), /tempurl/);
  });
});
