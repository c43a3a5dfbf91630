import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startCluster } from '../helpers/cluster.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const SWIFT = '/usr/bin/swift';

/**
 * What python-swiftclient shows for what once answered 500: a container that does not exist
 * (its 404 was dropped, then failed to send), and a Content-Type without a "/".
 */
t.test('swift CLI: a missing container is not found, an odd Content-Type is kept', { skip: !existsSync(SWIFT) ? 'python3-swiftclient not installed (.ci/run installs it)' : false }, async (t) => {
  const cluster = await startCluster();
  const work = await mkdtemp(join(tmpdir(), 'swiftcli-errors-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  const swift = (...args: string[]): Promise<{ code: number; out: string }> =>
    run(PYTHON, [SWIFT, '-A', cluster.authUrl, '-U', 'test:tester', '-K', 'testing', ...args], { cwd: work }).then(
      ({ stdout, stderr }) => ({ code: 0, out: stdout + stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({ code: e.code, out: e.stdout + e.stderr }),
    );

  const list = await swift('list', 'nope');
  t.not(list.code, 0);
  t.match(list.out, /Container 'nope' not found/, `list of a missing container: ${list.out.trim()}`);
  t.notMatch(list.out, /500/);
  const stat = await swift('stat', 'nope');
  t.not(stat.code, 0);
  t.match(stat.out, /Container 'nope' not found/, `stat of a missing container: ${stat.out.trim()}`);

  await writeFile(join(work, 'f.txt'), 'hello');
  const up = await swift('upload', 'docs', 'f.txt', '--header', 'Content-Type: foo');
  t.equal(up.code, 0, `upload with Content-Type: foo (${up.out.trim()})`);
  t.match((await swift('stat', 'docs', 'f.txt')).out, /Content Type: foo\n/, 'stored as given');
  const post = await swift('post', 'docs', '--header', 'Content-Type: bar');
  t.equal(post.code, 0, `container POST with Content-Type: bar (${post.out.trim()})`);
});
