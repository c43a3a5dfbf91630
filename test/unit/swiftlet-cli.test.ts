import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createClusterRings } from '../../ring-builder/bootstrap.js';
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

t.test('bad storage_policies, or a policy without its ring: services refuse to start with one line', async (t) => {
  const dir = t.testdir();
  const etc = join(dir, 'etc');
  mkdirSync(join(dir, 'node', 'd1'), { recursive: true });
  createClusterRings(etc, [{ region: 1, zone: 1, ip: '127.0.0.1', port: 6301, device: 'd1', weight: 1 }], { partPower: 2, replicas: 1, minPartHours: 0, seed: 1 });
  /** A config for `cmd` (the proxy takes no `devices`). */
  let files = 0;
  const cfg = (cmd: string, extra: Record<string, unknown>): string => {
    const file = join(dir, `${cmd}-${++files}.json`);
    writeFileSync(file, JSON.stringify({ swift_hash_path_suffix: 's', ring_dir: etc, bind_ip: '127.0.0.1', bind_port: 0, ...(cmd === 'proxy' ? {} : { devices: join(dir, 'node') }), ...extra }));
    return file;
  };
  const noZero = { storage_policies: [{ index: 1, name: 'scratch', default: true }] };
  for (const cmd of ['proxy', 'storage-node', 'replicator']) {
    const r = swiftlet(cmd, '--config', cfg(cmd, noZero), ...(cmd === 'replicator' ? ['--once'] : []));
    t.equal(r.status, 1, `${cmd}: exits 1`);
    t.match(r.stderr, /^swiftlet: storage_policies: policy index 0 must be defined/m, `${cmd}: says why`);
    t.notMatch(r.stderr, /\n\s+at /, `${cmd}: no stack trace`);
  }
  const noRing = { storage_policies: [{ index: 0, name: 'gold', default: true }, { index: 1, name: 'scratch' }] };
  for (const cmd of ['proxy', 'replicator']) {
    const r = swiftlet(cmd, '--config', cfg(cmd, noRing), ...(cmd === 'replicator' ? ['--once'] : []));
    t.equal(r.status, 1, `${cmd}: exits 1 without object-1.ring.gz`);
    t.match(r.stderr, /object-1\.ring\.gz/, `${cmd}: names the missing ring`);
  }
});
