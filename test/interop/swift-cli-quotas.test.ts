import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { outcome, PYTHON, SWIFT } from '../helpers/client-tools.js';
import { startCluster } from '../helpers/cluster.js';

const run = promisify(execFile);

t.test('quotas with the swift CLI: post -m Quota-Bytes, upload refused with 413', async (t) => {
  // Container and account info are read afresh, so each upload sees the usage the last one left.
  const cluster = await startCluster({ proxyConfig: { recheck_container_existence_s: 0, recheck_account_existence_s: 0 } });
  const work = await mkdtemp(join(tmpdir(), 'swiftcli-quotas-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  const cli = (user: string, key: string, extra: string[] = []) => async (...args: string[]): Promise<string> =>
    (await run(PYTHON, [SWIFT, '-A', cluster.authUrl, '-U', user, '-K', key, ...extra, ...args], { cwd: work })).stdout;
  const swift = cli('test:tester', 'testing');
  await writeFile(join(work, 'six'), 'sixsix');
  await writeFile(join(work, 'five'), 'fivev');

  // Container quotas.
  await swift('post', 'q');
  t.match(await outcome(swift('post', 'q', '-m', 'Quota-Bytes:lots')), /400.*Invalid bytes quota/s);
  t.match(await outcome(swift('post', 'q', '-m', 'Quota-Count:-2')), /400.*Invalid count quota/s);
  await swift('post', 'q', '-m', 'Quota-Bytes:11');
  t.match(await swift('stat', 'q'), /Meta Quota-Bytes: 11/);
  await swift('upload', 'q', 'six');
  const refused = await outcome(swift('upload', 'q', 'six', '--object-name', 'six-again'));
  t.match(refused, /413/, 'the second upload would take the container past 11 bytes');
  t.match(refused, /Upload exceeds quota/);
  await swift('upload', 'q', 'five');
  t.equal(await swift('list', 'q'), 'five\nsix\n', 'exactly the quota fits; the refused object is not there');
  // A copy counts too.
  t.match(await outcome(swift('copy', 'q', 'six', '--destination', '/q/six-again')), /413/);
  await swift('post', 'q', '-m', 'Quota-Bytes:', '-m', 'Quota-Count:2');
  t.match(await outcome(swift('upload', 'q', 'six', '--object-name', 'third')), /413/, 'the count quota: two objects are there');

  // A chunked upload (from stdin) is cut where the quota ends.
  await swift('post', 'stream', '-m', 'Quota-Bytes:100000');
  const big = spawn(PYTHON, [SWIFT, '-A', cluster.authUrl, '-U', 'test:tester', '-K', 'testing', 'upload', 'stream', '-', '--object-name', 'big'], { cwd: work });
  let bigErr = '';
  big.stderr.on('data', (d: Buffer) => (bigErr += d.toString()));
  big.stdin.on('error', () => undefined);
  big.stdin.end(Buffer.alloc(200_000, 3));
  const code = await new Promise<number | null>((r) => big.on('close', r));
  t.not(code, 0, 'a 200,000-byte chunked upload into a 100,000-byte quota fails');
  t.match(bigErr, /413/);
  t.equal(await swift('list', 'stream'), '', 'and stores nothing');

  // Account quotas: only a reseller admin sets them.
  const account = (await cluster.token('test:tester', 'testing')).storageUrl;
  const reseller = cli('admin:admin', 'admin', ['--os-storage-url', account]);
  t.match(await outcome(swift('post', '-m', 'Quota-Bytes:20')), /403/, 'the account owner may not set its quota');
  t.match(await outcome(reseller('post', '-m', 'Quota-Bytes:many')), /400/);
  // The account has 11 bytes in q; its stats reach the account server after each change.
  let used = '';
  for (let i = 0; i < 100 && !/Bytes: 11$/m.test(used); i++) {
    used = await swift('stat');
    await new Promise((r) => setTimeout(r, 100));
  }
  t.match(used, /Bytes: 11$/m);
  await reseller('post', '-m', 'Quota-Bytes:20');
  t.match(await swift('stat'), /Meta Quota-Bytes: 20/);
  await swift('post', 'other');
  const over = await outcome(swift('upload', 'other', 'six', '-H', 'X-Object-Meta-A: b', '--object-name', 'a'));
  t.equal(over, 'ok', '11 + 6 bytes fit in 20');
  for (let i = 0; i < 100 && !/Bytes: 17$/m.test(used); i++) {
    used = await swift('stat');
    await new Promise((r) => setTimeout(r, 100));
  }
  t.match(await outcome(swift('upload', 'other', 'five', '--object-name', 'b')), /413.*Upload exceeds quota/s, '17 + 5 do not');
  await reseller('post', '-m', 'Quota-Bytes:');
  t.equal(await outcome(swift('upload', 'other', 'five', '--object-name', 'b')), 'ok', 'without the quota it fits');
});
