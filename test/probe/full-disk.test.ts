import t from 'tap';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startCluster } from '../helpers/cluster.js';
import { objectPlacement } from '../helpers/replicas.js';
import { api } from '../helpers/swift-api.js';

/**
 * A full disk: one device is a 2 MiB tmpfs. Once it fills, it answers 507 (before the body, so
 * the proxy writes to a handoff), every acknowledged write stays readable, and nothing is lost.
 */
function canMount(): boolean {
  return process.getuid?.() === 0;
}

t.test('a full device answers 507 and writes land on a handoff', { skip: canMount() ? false : 'needs root to mount a small tmpfs' }, async (t) => {
  const cluster = await startCluster({ partPower: 4 });
  const small = cluster.nodes[0]!;
  const deviceDir = join(small.devicesRoot, small.device);
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', deviceDir]);
  } catch (e) {
    await cluster.stop();
    t.comment(`cannot mount tmpfs here: ${(e as Error).message}`);
    t.pass('skipped: no tmpfs');
    return;
  }
  t.teardown(async () => {
    await cluster.stop().catch(() => undefined);
    try {
      execFileSync('umount', ['-l', deviceDir]);
    } catch {
      /* already gone */
    }
  });
  const a = await api(cluster);
  const account = a.storageUrl.split('/').pop() as string;
  t.equal((await a.req('PUT', '/c')).status, 201);
  const acked = new Map<string, Buffer>();
  let onSmallPrimary = 0;
  let landedOnHandoff = 0;
  for (let i = 0; i < 24; i++) {
    const name = `big-${i}`;
    const b = Buffer.alloc(400 * 1024, i);
    const r = await a.req('PUT', `/c/${name}`, { body: b });
    t.equal(r.status, 201, `${name} stored`);
    if (r.status !== 201) continue;
    acked.set(name, b);
    const p = await objectPlacement(cluster, account, 'c', name);
    if (p.primaries.includes(small.device)) {
      onSmallPrimary++;
      if (!p.dataOn.includes(small.device) && p.dataOn.length === 3) landedOnHandoff++;
    }
  }
  t.ok(onSmallPrimary > 0, `the small device is a primary for some objects (${onSmallPrimary})`);
  t.ok(landedOnHandoff > 0, `once it was full, a handoff took its replica (${landedOnHandoff} times)`);
  for (const [name, b] of acked) {
    const r = await a.req('GET', `/c/${name}`);
    if (r.status !== 200 || !r.body.equals(b)) t.fail(`${name} lost after the disk filled`);
  }
  t.pass('every acknowledged object reads back');
});
