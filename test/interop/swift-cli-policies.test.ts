import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { objectPlacement } from '../helpers/replicas.js';
import { startCluster } from '../helpers/cluster.js';

const run = promisify(execFile);
// Debian's swift CLI must run under the system Python (its modules live there).
const PYTHON = '/usr/bin/python3';
const SWIFT = '/usr/bin/swift';

t.test('python-swiftclient and storage policies', { skip: !existsSync(SWIFT) ? 'python3-swiftclient not installed (.ci/run installs it)' : false }, async (t) => {
  const cluster = await startCluster({
    policies: [
      { index: 0, name: 'gold', replicas: 3, default: true },
      { index: 1, name: 'scratch', replicas: 2 },
    ],
  });
  const work = await mkdtemp(join(tmpdir(), 'swiftcli-policies-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  const swift = async (...args: string[]): Promise<{ code: number; out: string; err: string }> => {
    try {
      const { stdout, stderr } = await run(PYTHON, [SWIFT, '-A', cluster.authUrl, '-U', 'test:tester', '-K', 'testing', ...args], { cwd: work });
      return { code: 0, out: stdout, err: stderr };
    } catch (e) {
      const x = e as { code?: number; stdout?: string; stderr?: string };
      return { code: x.code ?? -1, out: x.stdout ?? '', err: x.stderr ?? '' };
    }
  };

  const caps = await swift('capabilities');
  t.match(caps.out, /policies/);
  t.match(caps.out, /gold/);
  t.match(caps.out, /scratch/);

  t.equal((await swift('post', '-H', 'X-Storage-Policy: scratch', 'c')).code, 0, 'swift post -H "X-Storage-Policy: scratch" c');
  t.match((await swift('stat', 'c')).out, /X-Storage-Policy: scratch/, 'swift stat c shows the policy');
  t.equal((await swift('post', 'd')).code, 0);
  t.match((await swift('stat', 'd')).out, /X-Storage-Policy: gold/, 'the default policy');

  const bad = await swift('post', '-H', 'X-Storage-Policy: nope', 'e');
  t.not(bad.code, 0, 'an unknown policy fails');
  t.match(bad.err, /400/);
  t.match(bad.err, /Invalid X-Storage-Policy 'nope'/, "with Swift's words");

  // swift post to an existing container is a POST: Swift ignores a policy there (its policy stays).
  t.equal((await swift('post', '-H', 'X-Storage-Policy: gold', 'c')).code, 0);
  t.match((await swift('stat', 'c')).out, /X-Storage-Policy: scratch/, 'the policy did not change');

  await writeFile(join(work, 'f.txt'), 'scratch data\n');
  t.equal((await swift('upload', 'c', 'f.txt')).code, 0, 'upload into the scratch container');
  const account = (await swift('stat')).out.match(/Account: (\S+)/)?.[1] as string;
  const p = await objectPlacement(cluster, account, 'c', 'f.txt', 1);
  for (let i = 0; i < 100 && p.dataOn.length < 2; i++) {
    await new Promise((r) => setTimeout(r, 50));
    Object.assign(p, await objectPlacement(cluster, account, 'c', 'f.txt', 1));
  }
  t.same(p.dataOn, p.primaries, 'two replicas, where the scratch ring says');
  t.equal(p.primaries.length, 2);
  t.equal((await swift('download', 'c', 'f.txt', '-o', '-')).out, 'scratch data\n', 'downloaded back');
});
