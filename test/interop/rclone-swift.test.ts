import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { startCluster } from '../helpers/cluster.js';
import { seededBytes } from '../helpers/client-tools.js';

const run = promisify(execFile);
const RCLONE = '/usr/bin/rclone';
const MiB = 1024 * 1024;

/**
 * rclone's swift backend (Debian's rclone) against a cluster: a tree with a file over
 * --swift-chunk-size copied, checked, listed, copied back, synced after a change, deleted and purged.
 */
t.test('rclone\'s swift backend: copy, check, ls, copy back, sync, delete, purge', { skip: !existsSync(RCLONE) ? 'rclone not installed (.ci/run installs it)' : false }, async (t) => {
  const cluster = await startCluster();
  const work = await mkdtemp(join(tmpdir(), 'rclone-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  await writeFile(join(work, 'rclone.conf'), '');
  // The remote "s:" from the environment: tempauth (auth v1), segments of 5 MiB.
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    RCLONE_CONFIG: join(work, 'rclone.conf'),
    RCLONE_CACHE_DIR: join(work, 'cache'),
    RCLONE_CONFIG_S_TYPE: 'swift',
    RCLONE_CONFIG_S_AUTH: cluster.authUrl,
    RCLONE_CONFIG_S_AUTH_VERSION: '1',
    RCLONE_CONFIG_S_USER: 'test:tester',
    RCLONE_CONFIG_S_KEY: 'testing',
    RCLONE_CONFIG_S_CHUNK_SIZE: '5M',
  };
  // rclone reads it as the CA bundle for every https call; the cluster is plain http.
  delete env['AWS_CA_BUNDLE'];
  /** rclone's answer: its stdout and its log (stderr, -v); a failure rejects with both. */
  const rclone = async (...args: string[]): Promise<{ stdout: string; log: string }> => {
    const { stdout, stderr } = await run(RCLONE, ['-v', '--retries', '1', ...args], { cwd: work, env, maxBuffer: 16 * MiB });
    return { stdout, log: stderr };
  };
  const { token, storageUrl } = await cluster.token();
  const call = async (method: string, path: string) => {
    const res = await request(`${storageUrl}${path}`, { method: method as 'GET', headers: { 'x-auth-token': token } });
    return { status: res.statusCode, headers: res.headers as Record<string, string>, text: await res.body.text() };
  };
  const segments = async (): Promise<string[]> => {
    const res = await call('GET', '/tree_segments?format=json');
    return res.status === 200 ? (JSON.parse(res.text) as Array<{ name: string }>).map((o) => o.name) : [];
  };

  // A tree: nested directories, small files, names with spaces and accents, one 12 MiB + 5 file.
  const files = new Map<string, Buffer>([
    ['top.txt', Buffer.from('top\n')],
    ['a/one.txt', Buffer.from('one\n')],
    ['a/b/two.txt', Buffer.from('two\n')],
    ['c/bin.dat', seededBytes(3000, 1)],
    ['dir with space/é ü.txt', Buffer.from('accents\n')],
    ['dir with space/big file.bin', seededBytes(12 * MiB + 5, 2)],
  ]);
  const big = 'dir with space/big file.bin';
  const src = join(work, 'src');
  for (const [name, data] of files) {
    await mkdir(dirname(join(src, name)), { recursive: true });
    await writeFile(join(src, name), data);
  }

  await t.test('rclone copy: the big file becomes a DLO in <container>_segments', async (t) => {
    const { log } = await rclone('copy', src, 's:tree');
    t.match(log, /big file\.bin: Copied \(new\)/);
    const head = await call('HEAD', `/tree/${encodeURIComponent(big)}`);
    t.equal(head.status, 200);
    t.equal(head.headers['content-length'], String(12 * MiB + 5), 'HEAD: the large object\'s size');
    // rclone 1.60 writes a Dynamic Large Object: X-Object-Manifest, no SLO.
    t.ok(decodeURIComponent(head.headers['x-object-manifest'] ?? '').startsWith(`tree_segments/${big}/`), 'X-Object-Manifest: <container>_segments/<name>/...');
    t.notOk(head.headers['x-static-large-object']);
    const segs = await segments();
    t.equal(segs.length, 3, '5 MiB + 5 MiB + 2 MiB and 5 bytes');
    t.ok(segs.every((s) => s.startsWith(`${big}/`)), 'segments under the object\'s name');
  });

  await t.test('rclone check: no differences', async (t) => {
    const { log } = await rclone('check', src, 's:tree');
    t.match(log, /0 differences found/);
    t.match(log, /6 matching files/);
  });

  await t.test('rclone ls / lsjson: every size, the large object\'s too (not 0)', async (t) => {
    const ls = (await rclone('ls', 's:tree')).stdout;
    t.match(ls, new RegExp(`^\\s*${12 * MiB + 5} dir with space/big file\\.bin$`, 'm'));
    const listed = JSON.parse((await rclone('lsjson', '-R', '--files-only', 's:tree')).stdout) as Array<{ Path: string; Size: number }>;
    t.same(
      Object.fromEntries(listed.map((e) => [e.Path, e.Size])),
      Object.fromEntries([...files].map(([name, data]) => [name, data.length])),
    );
  });

  await t.test('rclone cat --offset --count: a range of the large object, across a segment boundary', async (t) => {
    const { stdout } = await run(RCLONE, ['cat', '--offset', String(5 * MiB - 10), '--count', '20', `s:tree/${big}`], { cwd: work, env, encoding: 'buffer' });
    t.ok(stdout.equals((files.get(big) as Buffer).subarray(5 * MiB - 10, 5 * MiB + 10)));
  });

  await t.test('rclone copy back: the same bytes', async (t) => {
    const back = join(work, 'back');
    await rclone('copy', 's:tree', back);
    for (const [name, data] of files) t.ok((await readFile(join(back, name))).equals(data), name);
  });

  await t.test('rclone sync after a change: only the changed file moves, a removed one is deleted', async (t) => {
    const before = await segments();
    await writeFile(join(src, 'a/one.txt'), 'one, changed\n');
    await rm(join(src, 'top.txt'));
    const { log } = await rclone('sync', src, 's:tree');
    t.match(log, /a\/one\.txt: Copied \(replaced existing\)/);
    t.match(log, /top\.txt: Deleted/);
    t.match(log, /Transferred:\s+1 \/ 1, 100%/, 'one file sent');
    t.notMatch(log, /big file\.bin: Copied/);
    t.same(await segments(), before, 'the large object was left alone');
    t.equal((await call('GET', '/tree/a/one.txt')).text, 'one, changed\n');
    t.equal((await call('GET', '/tree/top.txt')).status, 404);
    t.match((await rclone('check', src, 's:tree')).log, /0 differences found/);
  });

  await t.test('rclone delete removes the large object\'s segments; purge the container', async (t) => {
    await rclone('delete', 's:tree/dir with space');
    t.same(await segments(), [], 'no segment left behind');
    t.equal((await call('HEAD', `/tree/${encodeURIComponent(big)}`)).status, 404);
    // Again, and purge with a large object in the container.
    await rclone('copy', src, 's:tree');
    t.equal((await segments()).length, 3);
    await rclone('purge', 's:tree');
    t.equal((await call('HEAD', '/tree')).status, 404, 'the container is gone');
    t.same(await segments(), [], 'and the segments with it');
  });
});
