import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, writeFile, mkdir, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startCluster } from '../helpers/cluster.js';

const run = promisify(execFile);
// Debian's swift CLI must run under the system Python (its modules live there).
const PYTHON = '/usr/bin/python3';
const SWIFT = '/usr/bin/swift';

t.test('python-swiftclient against the cluster', { skip: !existsSync(SWIFT) ? 'python3-swiftclient not installed (.ci/run installs it)' : false }, async (t) => {
  const cluster = await startCluster();
  const work = await mkdtemp(join(tmpdir(), 'swiftcli-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  const swift = async (...args: string[]): Promise<string> => {
    const { stdout } = await run(PYTHON, [SWIFT, '-A', cluster.authUrl, '-U', 'test:tester', '-K', 'testing', ...args], { cwd: work });
    return stdout;
  };

  const stat = await swift('stat');
  t.match(stat, /Account: AUTH_test/);
  t.match(stat, /Containers: 0/);

  await swift('post', 'docs', '-m', 'project:swiftlet');
  t.match(await swift('stat', 'docs'), /Meta Project: swiftlet/);
  // The value limit counts the UTF-8 bytes sent: 100 "é" are 200 bytes, 129 are 258.
  await swift('post', 'docs', '-m', `accent:${'é'.repeat(100)}`);
  t.match(await swift('stat', 'docs'), new RegExp(`Meta Accent: ${'é'.repeat(100)}$`, 'm'));
  const tooLong = await swift('post', 'docs', '-m', `accent:${'é'.repeat(129)}`).then(
    () => 'accepted',
    (e: { stderr?: string }) => e.stderr ?? '',
  );
  t.match(tooLong, /400/);
  await swift('post', 'docs', '-m', 'accent:');

  await mkdir(join(work, 'src', 'sub'), { recursive: true });
  await writeFile(join(work, 'src', 'a.txt'), 'alpha\n');
  await writeFile(join(work, 'src', 'b.txt'), 'bravo\n');
  await writeFile(join(work, 'src', 'sub', 'c.bin'), Buffer.alloc(300_000, 7));
  await swift('upload', 'docs', 'src');
  t.equal(await swift('list', 'docs'), 'src/a.txt\nsrc/b.txt\nsrc/sub/c.bin\n');
  t.equal(await swift('list', 'docs', '--prefix', 'src/s'), 'src/sub/c.bin\n');
  t.equal(await swift('list', 'docs', '--prefix', 'src/', '--delimiter', '/'), 'src/a.txt\nsrc/b.txt\nsrc/sub/\n');
  t.match(await swift('list'), /^docs$/m);

  await swift('post', 'docs', 'src/a.txt', '-m', 'color:blue');
  t.match(await swift('stat', 'docs', 'src/a.txt'), /Meta Color: blue/);

  await swift('download', 'docs', 'src/sub/c.bin', '-o', join(work, 'c.out'));
  t.ok((await readFile(join(work, 'c.out'))).equals(Buffer.alloc(300_000, 7)), 'download returns the bytes');

  await swift('copy', 'docs', 'src/a.txt', '--destination', '/docs/copy-of-a.txt');
  await swift('download', 'docs', 'copy-of-a.txt', '-o', join(work, 'copy.out'));
  t.equal(await readFile(join(work, 'copy.out'), 'utf8'), 'alpha\n');
  // A Range on a copy copies that range (Swift's copy middleware).
  await swift('copy', '-H', 'Range: bytes=1-3', 'docs', 'src/a.txt', '--destination', '/docs/part-of-a');
  await swift('download', 'docs', 'part-of-a', '-o', join(work, 'part.out'));
  t.equal(await readFile(join(work, 'part.out'), 'utf8'), 'lph');
  await swift('delete', 'docs', 'part-of-a');
  // An object POST's new Content-Type reaches the listing.
  await swift('post', '-H', 'Content-Type: text/x-alpha', 'docs', 'src/a.txt');
  t.match(await swift('list', '--long', 'docs', '--prefix', 'src/a'), /text\/x-alpha\s+src\/a\.txt/);
  // Across accounts: test2 lets test:tester write into one of its containers.
  const swift2 = async (...args: string[]): Promise<string> =>
    (await run(PYTHON, [SWIFT, '-A', cluster.authUrl, '-U', 'test2:tester2', '-K', 'testing2', ...args], { cwd: work })).stdout;
  await swift2('post', 'inbox', '-w', 'test:tester', '-r', 'test:tester');
  await swift('copy', '-H', 'Destination-Account: AUTH_test2', 'docs', 'src/a.txt', '--destination', '/inbox/from-test.txt');
  t.equal(await swift2('list', 'inbox'), 'from-test.txt\n');
  // A missing source is reported before the destination's permissions (Swift's order): 404.
  const missing = await swift('copy', '-H', 'Destination-Account: AUTH_test2', 'docs', 'no-such-object', '--destination', '/nowhere/x').then(
    () => 'ok',
    (e: { stderr?: string }) => e.stderr ?? '',
  );
  t.match(missing, /404/);
  await swift2('delete', 'inbox');
  // (swift copy makes the destination containers in its own account first: empty, gone again)
  await swift('delete', 'inbox');
  await swift('delete', 'nowhere');

  t.match(await swift('stat'), /Objects: 4/);
  await swift('delete', 'docs', 'src/b.txt');
  t.equal(await swift('list', 'docs'), 'copy-of-a.txt\nsrc/a.txt\nsrc/sub/c.bin\n');
  await swift('delete', 'docs');
  t.equal(await swift('list'), '');
});
