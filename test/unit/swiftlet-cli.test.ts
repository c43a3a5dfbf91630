import t from 'tap';
import { spawnSync } from 'node:child_process';
import { SWIFTLET_BIN } from '../helpers/cluster.js';

function swiftlet(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [SWIFTLET_BIN, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

t.test('--help after a server or daemon command prints the usage and exits 0', async (t) => {
  for (const cmd of ['aio', 'proxy', 'storage-node', 'status', 'replicator', 'daemons']) {
    const r = swiftlet(cmd, '--help');
    t.equal(r.status, 0, `${cmd} --help exits 0`);
    t.match(r.stdout, /swiftlet <command> \[options\]/, `${cmd} --help prints the usage`);
    t.notMatch(r.stderr, /TypeError/, `${cmd} --help: no stack trace`);
  }
  t.equal(swiftlet('aio', '-h').status, 0);
});

t.test('an unknown option is a usage error (exit 2), not a crash', async (t) => {
  for (const cmd of ['aio', 'proxy', 'status', 'auditor']) {
    const r = swiftlet(cmd, '--bogus');
    t.equal(r.status, 2, `${cmd} --bogus exits 2`);
    t.match(r.stderr, /^swiftlet: Unknown option '--bogus'/, `${cmd}: one line saying what is wrong`);
    t.match(r.stderr, /swiftlet <command> \[options\]/, `${cmd}: then the usage`);
    t.notMatch(r.stderr, /at parseArgs|TypeError/, `${cmd}: no stack trace`);
  }
});

t.test('an unknown command is a usage error', async (t) => {
  const r = swiftlet('frobnicate');
  t.equal(r.status, 2);
  t.match(r.stderr, /unknown command frobnicate/);
});
