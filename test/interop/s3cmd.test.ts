import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { curl, seededBytes } from '../helpers/client-tools.js';
import { startCluster } from '../helpers/cluster.js';

const run = promisify(execFile);
const S3CMD = '/usr/bin/s3cmd';

/**
 * Debian's s3cmd against the all-in-one, signing with Signature Version 2 (`signature_v2 = True`,
 * the header form) and with its default, Signature Version 4: mb, put, ls, get, del, rb; and a
 * presigned Signature Version 2 URL (`s3cmd signurl`: the query form) fetched with curl.
 */
t.test('s3cmd with signature v2 and v4', async (t) => {
  const cluster = await startCluster();
  const work = await mkdtemp(join(tmpdir(), 's3cmd-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  const host = new URL(cluster.proxyUrl).host;
  const body = seededBytes(300_000, 26);
  await writeFile(join(work, 'up.bin'), body);

  for (const v2 of [true, false]) {
    await t.test(v2 ? 'signature v2' : 'signature v4', async (t) => {
      const cfg = join(work, v2 ? 'v2.cfg' : 'v4.cfg');
      await writeFile(
        cfg,
        [
          '[default]',
          'access_key = test:tester',
          'secret_key = testing',
          `host_base = ${host}`,
          `host_bucket = ${host}`,
          'use_https = False',
          'bucket_location = us-east-1',
          `signature_v2 = ${v2 ? 'True' : 'False'}`,
          'multipart_chunk_size_mb = 15',
          '',
        ].join('\n'),
      );
      const s3cmd = async (...args: string[]): Promise<string> => (await run('/usr/bin/python3', [S3CMD, '-c', cfg, ...args], { cwd: work })).stdout;
      const bucket = v2 ? 's3cmd-v2' : 's3cmd-v4';
      await s3cmd('mb', `s3://${bucket}`);
      t.match(await s3cmd('ls'), `s3://${bucket}`);
      await s3cmd('put', join(work, 'up.bin'), `s3://${bucket}/dir/é x.bin`);
      t.match(await s3cmd('ls', '--recursive', `s3://${bucket}`), /300000\s+s3:\/\/s3cmd-v.\/dir\/é x\.bin/);
      await s3cmd('get', '--force', `s3://${bucket}/dir/é x.bin`, join(work, 'down.bin'));
      t.ok((await readFile(join(work, 'down.bin'))).equals(body), 'the bytes come back');
      if (v2) {
        const url = (await s3cmd('signurl', `s3://${bucket}/dir/é x.bin`, '+300')).trim();
        t.match(url, /AWSAccessKeyId=test(%3A|:)tester&Expires=\d+&Signature=/, 'a signature v2 presigned URL');
        const got = await curl(url, '-o', join(work, 'signed.bin'));
        t.equal(got.status, 200);
        t.ok((await readFile(join(work, 'signed.bin'))).equals(body), 'the presigned GET gives the object');
        const forged = await curl(url.replace(/Expires=(\d+)/, (_m, e: string) => `Expires=${Number(e) + 1}`));
        t.equal(forged.status, 403, 'a changed expiry is refused');
        t.match(forged.body, /<Code>SignatureDoesNotMatch<\/Code>/);
      }
      await s3cmd('del', `s3://${bucket}/dir/é x.bin`);
      t.notMatch(await s3cmd('ls', '--recursive', `s3://${bucket}`), /é x\.bin/);
      await s3cmd('rb', `s3://${bucket}`);
      t.notMatch(await s3cmd('ls'), bucket);
    });
  }

  await t.test('a wrong secret is refused (v2)', async (t) => {
    const cfg = join(work, 'bad.cfg');
    await writeFile(cfg, ['[default]', 'access_key = test:tester', 'secret_key = wrong', `host_base = ${host}`, `host_bucket = ${host}`, 'use_https = False', 'signature_v2 = True', ''].join('\n'));
    const err = await run('/usr/bin/python3', [S3CMD, '-c', cfg, 'ls'], { cwd: work }).then(
      () => 'ok',
      (e: { stderr?: string }) => e.stderr ?? '',
    );
    t.match(err, /SignatureDoesNotMatch|403/);
  });
});
