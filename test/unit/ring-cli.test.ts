import t from 'tap';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ringCli, type CliIo } from '../../ring-builder/cli.js';
import { getNodesCli } from '../../ring-builder/get-nodes.js';
import { RingBuilder } from '../../ring-builder/builder.js';
import { Ring } from '../../ring-builder/ring.js';
import { hashPath } from '../../common/hash-path.js';

const T0 = 1_700_000_000_000;

function fakeIo(env: Record<string, string> = {}): CliIo & { stdout(): string; stderr(): string; reset(): void } {
  let out = '';
  let err = '';
  return {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
    env,
    now: () => T0,
    stdout: () => out,
    stderr: () => err,
    reset: () => void ((out = ''), (err = '')),
  };
}

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'swiftlet-ring-cli-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Creates object.builder with 4 zones and rebalances it; returns the builder path. */
async function makeRing(dir: string, io: CliIo): Promise<string> {
  const file = join(dir, 'object.builder');
  await ringCli([file, 'create', '8', '3', '1'], io);
  for (let z = 1; z <= 4; z++) await ringCli([file, 'add', `r1z${z}-127.0.0.1:620${z}/d${z}`, '100'], io);
  await ringCli([file, 'rebalance', '--seed', '1'], io);
  return file;
}

t.test('create, add, rebalance, show, validate, write_ring', async (t) => {
  const dir = tmp(t);
  const io = fakeIo();
  const file = join(dir, 'object.builder');
  t.equal(await ringCli([file, 'create', '8', '3', '1'], io), 0);
  t.equal(await ringCli([file, 'create', '8', '3', '1'], io), 2, 'refuses to overwrite');
  t.equal(await ringCli([file, 'add', 'r1z1-127.0.0.1:6201/d1', '100', 'r1z2-127.0.0.1:6202/d2', '100'], io), 0);
  t.equal(await ringCli([file, 'add', 'z3-127.0.0.1:6203/d3_fast', '100'], io), 0);
  t.equal(await ringCli([file, 'add', '--region', '1', '--zone', '4', '--ip', '127.0.0.1', '--port', '6204', '--device', 'd4', '--weight', '100'], io), 0);
  t.match(io.stdout(), /got id 3/);
  io.reset();
  t.equal(await ringCli([file, 'rebalance', '--seed', '7'], io), 0);
  t.match(io.stdout(), /Reassigned 768 \(100\.00%\)/);
  t.ok(existsSync(join(dir, 'object.ring.gz')), 'ring file written next to the builder');
  const ring = Ring.loadSync(join(dir, 'object.ring.gz'), { prefix: '', suffix: 'x' });
  t.equal(ring.allDevices().length, 4);
  t.equal(ring.devices[2]!.meta, 'fast');

  io.reset();
  t.equal(await ringCli([file], io), 0, 'show is the default');
  t.match(io.stdout(), /256 partitions, 3 replicas, 1 regions, 4 zones, 4 devices, 0\.00 balance, 0\.00 dispersion/);
  t.equal(await ringCli([file, 'validate'], io), 0);
  t.equal(await ringCli([file, 'write_ring'], io), 0);
  io.reset();
  t.equal(await ringCli([file, 'search', 'z2'], io), 0);
  t.match(io.stdout(), /d1r1z2-127\.0\.0\.1:6202\/d2/);
});

t.test('rebalance exits 1 when min_part_hours holds every partition', async (t) => {
  const dir = tmp(t);
  const io = fakeIo();
  const file = await makeRing(dir, io);
  t.equal(await ringCli([file, 'add', 'r1z5-127.0.0.1:6205/d5', '100'], io), 0);
  io.reset();
  t.equal(await ringCli([file, 'rebalance'], io), 1);
  t.match(io.stdout(), /No partitions could be reassigned/);
  t.match(io.stdout(), /1 hour/);
  t.equal(await ringCli([file, 'pretend_min_part_hours_passed'], io), 0);
  io.reset();
  t.equal(await ringCli([file, 'rebalance', '--seed', '2'], io), 0);
  t.match(io.stdout(), /Reassigned \d+/);
  const b = RingBuilder.loadBuilder(file);
  t.ok(b.report().devices[4]!.parts > 0, 'the new device got partitions');
});

t.test('set_weight and remove take search values', async (t) => {
  const dir = tmp(t);
  const io = fakeIo();
  const file = await makeRing(dir, io);
  await ringCli([file, 'add', 'r1z4-127.0.0.2:6200/d9', '100'], io);
  t.equal(await ringCli([file, 'set_weight', 'd4', '50'], io), 0);
  t.equal(RingBuilder.loadBuilder(file).devices[4]!.weight, 50);
  t.equal(await ringCli([file, 'remove', 'r1z1-127.0.0.1:6201/d1'], io), 0);
  t.same(RingBuilder.loadBuilder(file).pendingRemovals, [0]);
  io.reset();
  t.equal(await ringCli([file, 'rebalance', '--seed', '3'], io), 0, 'removal moves partitions despite min_part_hours');
  const ring = Ring.loadSync(join(dir, 'object.ring.gz'), { prefix: 'p', suffix: '' });
  t.equal(ring.devices[0], null);
  t.equal(await ringCli([file, 'set_weight', 'd77', '1'], io), 2, 'no such device');
});

t.test('usage errors exit 2', async (t) => {
  const dir = tmp(t);
  const io = fakeIo();
  const file = join(dir, 'object.builder');
  t.equal(await ringCli([], io), 2);
  t.equal(await ringCli([file, 'show'], io), 2, 'missing builder');
  await ringCli([file, 'create', '8', '3', '1'], io);
  const bad: string[][] = [
    [file, 'bogus'],
    [file, 'add', 'r1z1-127.0.0.1:6201/d1'],
    [file, 'add', 'nonsense', '100'],
    [file, 'add', 'r1z1-127.0.0.1:6201/d1', 'heavy'],
    [file, 'rebalance', '--seed'],
    [file, 'rebalance', '--colour', 'red'],
    [file, 'set_weight', 'd0'],
    [file, 'remove'],
    [join(dir, 'x.builder'), 'create', '8', '3'],
    [join(dir, 'y.builder'), 'create', '99', '3', '1'],
  ];
  for (const argv of bad) {
    io.reset();
    t.equal(await ringCli(argv, io), 2, argv.slice(1).join(' '));
    t.match(io.stderr(), /error: /);
  }
  io.reset();
  t.equal(await ringCli([file, 'rebalance'], io), 2, 'not enough devices is an error');
});

t.test('get-nodes prints partition, hash, nodes, handoffs and curl lines', async (t) => {
  const dir = tmp(t);
  const file = await makeRing(dir, fakeIo());
  const ringGz = join(dir, 'object.ring.gz');
  const secret = { prefix: 'p', suffix: 's' };
  const ring = Ring.loadSync(ringGz, secret);
  const part = ring.partitionFor('AUTH_test', 'c', 'o 1');
  void file;

  const io = fakeIo({ SWIFTLET_HASH_PATH_PREFIX: 'p', SWIFTLET_HASH_PATH_SUFFIX: 's' });
  t.equal(await getNodesCli([ringGz, 'AUTH_test', 'c', 'o 1'], io), 0);
  const out = io.stdout();
  t.match(out, new RegExp(`Partition\\t${part}\\n`));
  t.match(out, `Hash     \t${hashPath(secret, 'AUTH_test', 'c', 'o 1')}`);
  for (const d of ring.primaries(part)) {
    t.match(out, `Server:Port Device\t${d.ip}:${d.port} ${d.device}\n`);
    t.match(out, new RegExp(`curl -I -XHEAD -H "X-Backend-Signature: \\d+:[0-9a-f]{64}" "http://${d.ip}:${d.port}/${d.device}/${part}/AUTH_test/c/o%201"\n`));
  }
  t.match(out, /\[Handoff\]/);

  const cfg = join(dir, 'cluster.json');
  writeFileSync(cfg, JSON.stringify({ swift_hash_path_prefix: 'p', swift_hash_path_suffix: 's', ring_dir: dir }));
  const io2 = fakeIo();
  t.equal(await getNodesCli([ringGz, 'AUTH_test', 'c', 'o 1', '--config', cfg], io2), 0);
  t.equal(io2.stdout(), out, '--config gives the same answer');

  const io3 = fakeIo();
  t.equal(await getNodesCli([ringGz, 'AUTH_test', 'c', 'o'], io3), 2, 'refuses without a secret');
  t.match(io3.stderr(), /hash secret/);
  t.equal(await getNodesCli([ringGz, 'AUTH_test'], io), 2, 'an object ring needs a/c/o');
  t.equal(await getNodesCli([join(dir, 'missing.ring.gz'), 'a'], io), 2);
});

t.test("a storage policy's object ring: object-1.builder → object-1.ring.gz, and get-nodes on it", async (t) => {
  const dir = tmp(t);
  const io = fakeIo({ SWIFTLET_HASH_PATH_PREFIX: 'p', SWIFTLET_HASH_PATH_SUFFIX: 's' });
  const file = join(dir, 'object-1.builder');
  t.equal(await ringCli([file, 'create', '6', '2', '1'], io), 0, 'a 2-replica ring for policy 1');
  for (let z = 1; z <= 3; z++) await ringCli([file, 'add', `r1z${z}-127.0.0.1:620${z}/d${z}`, '100'], io);
  t.equal(await ringCli([file, 'rebalance', '--seed', '1'], io), 0);
  const ringGz = join(dir, 'object-1.ring.gz');
  t.ok(existsSync(ringGz), "written under Swift's name for policy 1's ring");
  const secret = { prefix: 'p', suffix: 's' };
  const ring = Ring.loadSync(ringGz, secret);
  t.equal(ring.replicaCount, 2);
  io.reset();
  t.equal(await getNodesCli([ringGz, 'AUTH_test', 'c'], io), 2, 'a policy ring is an object ring: it needs a/c/o');
  io.reset();
  t.equal(await getNodesCli([ringGz, 'AUTH_test', 'c', 'o'], io), 0);
  const out = io.stdout();
  const part = ring.partitionFor('AUTH_test', 'c', 'o');
  const hash = hashPath(secret, 'AUTH_test', 'c', 'o');
  t.equal(out.match(/^curl .*X-Backend-Storage-Policy-Index: 1" "http/gm)?.length, 3, 'every curl line names the policy (2 primaries, 1 handoff)');
  t.match(out, `/objects-1/${part}/${hash.slice(-3)}/${hash}"`, "the files are in the policy's folder");
  t.notMatch(out, /\/objects\//, 'not in policy 0 folder');
});
