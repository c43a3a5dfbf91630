import t from 'tap';
import { execFile } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { SeededRandom } from '../../common/random.js';
import { curl, PYTHON, SWIFT, swiftAs } from '../helpers/client-tools.js';
import { startCluster } from '../helpers/cluster.js';

const run = promisify(execFile);
const FORM_SIGNATURE = '/usr/bin/swift-form-signature';

/** curl -F ...: a real multipart/form-data POST. */
const curlForm = (url: string, fields: string[]) => curl(url, ...fields.flatMap((f) => ['-F', f]));

/** A form's signature computed as Swift's formpost checks it (hex, or <digest>:<base64>). */
function sign(key: string, path: string, redirect: string, maxSize: number, maxCount: number, expires: number, digest = 'sha1', base64 = false): string {
  const mac = createHmac(digest, key).update(`${path}\n${redirect}\n${maxSize}\n${maxCount}\n${expires}`).digest();
  return base64 ? `${digest}:${mac.toString('base64')}` : mac.toString('hex');
}

const skip = !existsSync(SWIFT) || !existsSync(FORM_SIGNATURE) ? 'python3-swiftclient and swift (swift-form-signature) not installed (.ci/run installs them)' : false;

t.test('FormPost: curl -F uploads signed forms; bad forms get Swift answers and store nothing', { skip }, async (t) => {
  const cluster = await startCluster();
  const work = await mkdtemp(join(tmpdir(), 'swift-formpost-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  const swift = swiftAs(cluster, work, 'test:tester', 'testing');
  const swift2 = swiftAs(cluster, work, 'test2:tester2', 'testing2');
  const list = async (container: string) => (await swift('list', container)).split('\n').filter(Boolean);
  await swift('post', '-m', 'Temp-URL-Key:form-key');
  await swift('post', 'c');
  await writeFile(join(work, 'a.txt'), 'alpha file\n');
  await writeFile(join(work, 'b.bin'), Buffer.alloc(900, 2));
  await writeFile(join(work, 'big.bin'), Buffer.alloc(2000, 3));
  const url = `${cluster.proxyUrl}/v1/AUTH_test/c/up_`;
  const now = () => Math.floor(Date.now() / 1000);

  await t.test('a form signed by swift-form-signature stores each file under the signed prefix', async (t) => {
    const { stdout } = await run(PYTHON, [FORM_SIGNATURE, '/v1/AUTH_test/c/up_', '', '1024', '2', '600', 'form-key']);
    const expires = /Expires: (\d+)/.exec(stdout)?.[1] as string;
    const signature = /Signature: ([0-9a-f]+)/.exec(stdout)?.[1] as string;
    const got = await curlForm(url, ['max_file_size=1024', 'max_file_count=2', `expires=${expires}`, `signature=${signature}`, `file1=@${join(work, 'a.txt')}`, `file2=@${join(work, 'b.bin')};filename=dir/b.bin`]);
    t.equal(got.status, 201);
    t.equal(got.body, '201 Created');
    t.same(await list('c'), ['up_a.txt', 'up_dir/b.bin'], 'the file names, slashes kept, after the prefix');
    await swift('download', 'c', 'up_dir/b.bin', '-o', join(work, 'b.out'));
    t.ok((await readFile(join(work, 'b.out'))).equals(Buffer.alloc(900, 2)));
    t.match(await swift('stat', 'c', 'up_a.txt'), /Content Type: text\/plain/, "the part's Content-Type");
  });

  await t.test('redirect, sha256 and sha512 forms, X-Delete-After', async (t) => {
    const exp = now() + 600;
    const redirect = 'https://example.com/done';
    const r = await curlForm(url, [`redirect=${redirect}`, 'max_file_size=1024', 'max_file_count=1', `expires=${exp}`, `signature=${sign('form-key', '/v1/AUTH_test/c/up_', redirect, 1024, 1, exp, 'sha256')}`, 'x_delete_after=3600', `f=@${join(work, 'a.txt')};filename=red.txt`]);
    t.equal(r.status, 303);
    t.equal(r.headers['location'], 'https://example.com/done?status=201&message=');
    t.equal(r.body, '<html><body><p><a href="https://example.com/done?status=201&message=">Click to continue...</a></p></body></html>');
    t.match(await swift('stat', 'c', 'up_red.txt'), /X-Delete-At: \d+/, 'x_delete_after became X-Delete-At');
    const b = await curlForm(url, ['max_file_size=1024', 'max_file_count=1', `expires=${exp}`, `signature=${sign('form-key', '/v1/AUTH_test/c/up_', '', 1024, 1, exp, 'sha512', true)}`, `f=@${join(work, 'a.txt')};filename=b64.txt`]);
    t.equal(b.status, 201, 'sha512 in base64');
    t.ok((await list('c')).includes('up_b64.txt'));
  });

  await t.test("Swift's refusals; nothing of a refused file is stored", async (t) => {
    const exp = now() + 600;
    const sig = (max: number, count: number, e = exp, path = '/v1/AUTH_test/c/up_') => sign('form-key', path, '', max, count, e);
    const before = await list('c');
    const big = await curlForm(url, ['max_file_size=1024', 'max_file_count=1', `expires=${exp}`, `signature=${sig(1024, 1)}`, `f=@${join(work, 'big.bin')};filename=too-big.bin`]);
    t.equal(big.status, 400);
    t.equal(big.body, 'FormPost: max_file_size exceeded');
    const many = await curlForm(url, ['max_file_size=1024', 'max_file_count=1', `expires=${exp}`, `signature=${sig(1024, 1)}`, `f=@${join(work, 'a.txt')};filename=one.txt`, `g=@${join(work, 'a.txt')};filename=two.txt`]);
    t.equal(many.status, 400);
    t.equal(many.body, '400 Bad Request\r\nFormPost: Max File Count Exceeded');
    const expired = await curlForm(url, ['max_file_size=1024', 'max_file_count=1', `expires=${now() - 10}`, `signature=${sig(1024, 1, now() - 10)}`, `f=@${join(work, 'a.txt')};filename=late.txt`]);
    t.equal(expired.status, 401);
    t.equal(expired.body, 'FormPost: Form Expired');
    const forged = await curlForm(url, ['max_file_size=1024', 'max_file_count=1', `expires=${exp}`, `signature=${sig(1024, 2)}`, `f=@${join(work, 'a.txt')};filename=forged.txt`]);
    t.equal(forged.status, 401, 'a field changed after signing');
    t.equal(forged.body, 'FormPost: Invalid Signature');
    const moved = await curlForm(`${cluster.proxyUrl}/v1/AUTH_test/c/elsewhere_`, ['max_file_size=1024', 'max_file_count=1', `expires=${exp}`, `signature=${sig(1024, 1)}`, `f=@${join(work, 'a.txt')};filename=moved.txt`]);
    t.equal(moved.status, 401, 'posted to another prefix than signed');
    const notInt = await curlForm(url, ['max_file_size=lots', 'max_file_count=1', `expires=${exp}`, `signature=${sig(1024, 1)}`, `f=@${join(work, 'a.txt')}`]);
    t.equal(notInt.status, 400);
    t.equal(notInt.body, 'FormPost: max_file_size not an integer');
    const none = await curlForm(url, ['max_file_size=1024', 'max_file_count=1', `expires=${exp}`, `signature=${sig(1024, 1)}`]);
    t.equal(none.status, 400);
    t.equal(none.body, '400 Bad Request\r\nFormPost: No Files To Process');
    t.same(await list('c'), [...before, 'up_one.txt'].sort(), 'only the file within max_file_count was stored');
  });

  await t.test('tenant boundaries: keys sign for their own account and container only', async (t) => {
    const exp = now() + 600;
    await swift2('post', '-m', 'Temp-URL-Key:other-key');
    await swift2('post', 'c2');
    await swift('post', 'c1', '-m', 'Temp-URL-Key:c1-key');
    await swift('post', 'c3');
    const form = (path: string, key: string, name: string) =>
      curlForm(`${cluster.proxyUrl}${path}`, ['max_file_size=1024', 'max_file_count=1', `expires=${exp}`, `signature=${sign(key, path, '', 1024, 1, exp)}`, `f=@${join(work, 'a.txt')};filename=${name}`]);
    t.equal((await form('/v1/AUTH_test2/c2/', 'form-key', 'x')).status, 401, 'account A key for account B');
    t.equal((await form('/v1/AUTH_test/c/', 'other-key', 'x')).status, 401, 'account B key for account A');
    t.equal((await form('/v1/AUTH_test/c3/', 'c1-key', 'x')).status, 401, 'container key of c1 for c3');
    t.equal((await form('/v1/AUTH_test/c1/', 'c1-key', 'in-c1')).status, 201, 'container key of c1 for c1');
    t.equal((await form('/v1/AUTH_test2/c2/', 'other-key', 'in-b')).status, 201, 'account B key for B');
    t.same(await list('c1'), ['in-c1']);
    t.same(await list('c3'), []);
    t.same((await swift2('list', 'c2')).trim(), 'in-b');
    // A signed form cannot climb out of its container through the file name.
    t.equal((await form('/v1/AUTH_test/c1', 'c1-key', '../c3/escape')).status, 201);
    t.same(await list('c1'), ['../c3/escape', 'in-c1'], 'stored as a name inside c1');
    t.same(await list('c3'), []);
  });

  await t.test('seeded fuzz of malformed bodies: every one answered with a 4xx, nothing stored, the proxy stays up', async (t) => {
    const seed = Number(process.env.FUZZ_SEED ?? 77);
    t.comment(`seed ${seed}`);
    const rng = new SeededRandom(seed);
    const exp = now() + 600;
    const boundary = '----swiftletfuzz';
    const field = (name: string, value: string) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`;
    const good = Buffer.from(
      field('max_file_size', '1024') + field('max_file_count', '3') + field('expires', String(exp)) + field('signature', sign('form-key', '/v1/AUTH_fuzz/c/f_', '', 1024, 3, exp)) +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="fz.bin"\r\nContent-Type: application/octet-stream\r\n\r\n${'z'.repeat(300)}\r\n--${boundary}--\r\n`,
    );
    const statuses = new Map<number, number>();
    for (let i = 0; i < 150; i++) {
      let body = Buffer.from(good);
      const op = rng.int(6);
      if (op === 0) body = body.subarray(0, rng.int(body.length)); // cut anywhere
      else if (op === 1) for (let k = 0; k < 1 + rng.int(8); k++) body[rng.int(body.length)] = rng.int(256); // flipped bytes
      else if (op === 2) body = Buffer.concat([body.subarray(0, rng.int(body.length)), Buffer.from(Array.from({ length: rng.int(2000) }, () => rng.int(256)))]);
      else if (op === 3) body = Buffer.from(body.toString('latin1').replace(/\r\n/g, rng.int(2) ? '\n' : '\r'), 'latin1');
      else if (op === 4) body = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${'n'.repeat(rng.int(100_000))}"\r\n\r\nv\r\n`), body]);
      else body = Buffer.from(body.toString('latin1').replace(/--/g, () => (rng.int(3) ? '--' : '-')), 'latin1');
      const type = rng.int(10) === 0 ? `multipart/form-data; boundary="${boundary.slice(0, rng.int(boundary.length))}"` : `multipart/form-data; boundary=${boundary}`;
      // A form for an account without keys: whatever parses can never be stored.
      const res = await request(`${cluster.proxyUrl}/v1/AUTH_fuzz/c/f_`, { method: 'POST', headers: { 'content-type': type }, body });
      await res.body.dump();
      statuses.set(res.statusCode, (statuses.get(res.statusCode) ?? 0) + 1);
      if (res.statusCode >= 500) t.fail(`a malformed body got ${res.statusCode} (case ${i}, op ${op})`);
    }
    t.comment(`statuses: ${JSON.stringify([...statuses])}`);
    t.ok([...statuses.keys()].every((s) => s === 400 || s === 401), 'each malformed body: 400 or 401');
    t.equal((await request(`${cluster.proxyUrl}/healthcheck`).then(async (r) => (await r.body.dump(), r.statusCode))), 200, 'still up');
    // A redirect with a CR LF and UTF-8 in it: one Location header, nothing injected.
    const odd = 'https://example.com/é?x=1\r\nX-Injected: yes';
    const oddExp = now() + 600;
    const oddBody = Buffer.from(
      field('redirect', odd) + field('max_file_size', '1024') + field('max_file_count', '1') + field('expires', String(oddExp)) + field('signature', sign('form-key', '/v1/AUTH_test/c/odd_', odd, 1024, 1, oddExp)) +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="o.txt"\r\n\r\nodd\r\n--${boundary}--\r\n`,
    );
    const redirected = await request(`${cluster.proxyUrl}/v1/AUTH_test/c/odd_`, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body: oddBody });
    await redirected.body.dump();
    t.equal(redirected.statusCode, 303);
    t.equal(redirected.headers['x-injected'], undefined, 'no header injected');
    t.equal(Buffer.from(String(redirected.headers['location']), 'latin1').toString('utf8'), 'https://example.com/é?x=1%0D%0AX-Injected: yes&status=201&message=');
    // Cut mid-file in a form that would be accepted: the file is not stored.
    const realExp = now() + 600;
    const real = Buffer.from(
      field('max_file_size', '1024') + field('max_file_count', '1') + field('expires', String(realExp)) + field('signature', sign('form-key', '/v1/AUTH_test/c/cut_', '', 1024, 1, realExp)) +
        `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="half.bin"\r\n\r\n${'h'.repeat(600)}`,
    );
    const cut = await request(`${cluster.proxyUrl}/v1/AUTH_test/c/cut_`, { method: 'POST', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, body: real });
    t.equal(cut.statusCode, 400, 'a body that ends inside the file');
    t.match(await cut.body.text(), /^FormPost: invalid multipart body/);
    t.notOk((await list('c')).includes('cut_half.bin'), 'nothing half-written visible');
  });

  await t.test('/info advertises formpost', async (t) => {
    const res = await request(`${cluster.proxyUrl}/info`);
    const info = (await res.body.json()) as Record<string, unknown>;
    t.same(info['formpost'], { allowed_digests: ['sha1', 'sha256', 'sha512'], deprecated_digests: ['sha1'] });
  });
});
