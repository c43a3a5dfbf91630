import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { RingBuilder } from '../../ring-builder/builder.js';
import { Ring, RingHolder, type RingHolderOptions, builderFile, encodeRingData, ringFile, writeRingFile, type RingData, type RingDevice } from '../../ring-builder/ring.js';
import { createClusterRings } from '../../ring-builder/bootstrap.js';
import { hashPath, partitionOfHash, type HashSecret } from '../../common/hash-path.js';

const SECRET: HashSecret = { prefix: 'pre', suffix: 'suf' };
const T0 = 1_700_000_000_000;

function tmp(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'swiftlet-ring-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** 4 zones × 2 servers × 2 devices; device 15 removed and device 14 at weight 0 when `holes`. */
function ringData(seed = 1, partPower = 8, holes = false): RingData {
  const b = new RingBuilder(partPower, 3, 1);
  for (let z = 1; z <= 4; z++)
    for (let s = 0; s < 2; s++)
      for (let d = 0; d < 2; d++) b.addDevice({ region: 1, zone: z, ip: `10.0.${z}.${s}`, port: 6200 + s, device: `sd${d}`, weight: 100, meta: `m${z}` });
  b.rebalance({ seed, now: T0 });
  if (holes) {
    b.removeDevice(15);
    b.setWeight(14, 0);
    b.pretendMinPartHoursPassed();
    b.rebalance({ seed: seed + 1, now: T0 });
  }
  return b.toRingData();
}

t.test('ring file round-trip', async (t) => {
  const dir = tmp(t);
  const data = ringData(1, 8, true);
  const file = ringFile(dir, 'object');
  t.equal(file, join(dir, 'object.ring.gz'));
  t.equal(builderFile(dir, 'container'), join(dir, 'container.builder'));
  writeRingFile(file, data);
  const raw = gunzipSync(readFileSync(file));
  t.equal(raw.toString('latin1', 0, 8), 'SWLTRING', 'magic');
  t.ok(raw.length < 2000 + 3 * 256 * 2, 'assignment stored as raw u16, not JSON');
  const ring = Ring.loadSync(file, SECRET);
  t.equal(ring.partPower, 8);
  t.equal(ring.partCount, 256);
  t.equal(ring.replicaCount, 3);
  t.equal(ring.devices.length, 16);
  t.equal(ring.devices[15], null, 'removed id stays null');
  t.same(ring.devices[3], data.devices[3]);
  t.equal(ring.allDevices().length, 15);
  for (let p = 0; p < ring.partCount; p++) {
    t.same(
      ring.primaries(p).map((d) => d.id),
      data.replica2part2dev.map((row) => row[p]),
    );
  }
  t.throws(() => ring.primaries(256), RangeError);
});

t.test('bad ring files are rejected with RING_INVALID', async (t) => {
  const dir = tmp(t);
  const good = gunzipSync(encodeRingData(ringData()));
  const headerLen = good.readUInt32LE(10);
  const body = 14 + headerLen;
  const cases: Record<string, Buffer> = {
    'not gzip': Buffer.from('hello'),
    'empty': gzipSync(Buffer.alloc(0)),
    'wrong magic': gzipSync(Buffer.concat([Buffer.from('NOTARING'), good.subarray(8)])),
    'wrong version': gzipSync(Buffer.concat([good.subarray(0, 8), Buffer.from([9, 0]), good.subarray(10)])),
    'truncated header': gzipSync(good.subarray(0, 20)),
    'truncated assignment': gzipSync(good.subarray(0, good.length - 1)),
    'trailing bytes': gzipSync(Buffer.concat([good, Buffer.alloc(2)])),
  };
  const mutate = (fn: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(good);
    fn(b);
    return gzipSync(b);
  };
  cases['device id out of range'] = mutate((b) => b.writeUInt16LE(999, body));
  cases['partition with duplicate devices'] = mutate((b) => b.writeUInt16LE(b.readUInt16LE(body + 256 * 2), body));
  const badHeader = (h: object): Buffer => {
    const json = Buffer.from(JSON.stringify(h));
    const pre = Buffer.from(good.subarray(0, 14));
    pre.writeUInt32LE(json.length, 10);
    return gzipSync(Buffer.concat([pre, json, good.subarray(body)]));
  };
  const header = JSON.parse(good.toString('utf8', 14, body)) as { devices: RingDevice[] };
  cases['bad header JSON'] = badHeader({ partPower: 'x' });
  cases['device with wrong id'] = badHeader({ ...header, devices: header.devices.map((d, i) => (i === 2 ? { ...d, id: 7 } : d)) });
  cases['assignment on a removed device'] = badHeader({ ...header, devices: header.devices.map(() => null) });
  for (const [name, bytes] of Object.entries(cases)) {
    const f = join(dir, `${name.replace(/ /g, '-')}.ring.gz`);
    writeFileSync(f, bytes);
    t.throws(() => Ring.loadSync(f, SECRET), { code: 'RING_INVALID' }, name);
  }
  t.throws(() => Ring.loadSync(join(dir, 'missing.ring.gz'), SECRET), { code: 'RING_INVALID' }, 'missing file');
});

t.test('partitionFor is the top bits of the salted path hash', async (t) => {
  const ring = Ring.fromData(ringData(), SECRET);
  const paths: Array<[string, string?, string?]> = [['AUTH_a'], ['AUTH_a', 'c'], ['AUTH_a', 'c', 'o'], ['AUTH_a', 'c', 'dir/obj ☃'], ['x', 'y', 'z']];
  for (const [a, c, o] of paths) {
    const want = partitionOfHash(hashPath(SECRET, a, c, o), 8);
    t.equal(ring.partitionFor(a, c, o), want, [a, c, o].filter(Boolean).join('/'));
    const nodes = ring.getNodes(a, c, o);
    t.equal(nodes.partition, want);
    t.same(nodes.primaries, ring.primaries(want));
  }
  const other = Ring.fromData(ringData(), { prefix: 'other', suffix: '' });
  const differs = Array.from({ length: 20 }, (_, i) => `o${i}`).some((o) => other.partitionFor('a', 'c', o) !== ring.partitionFor('a', 'c', o));
  t.ok(differs, 'the secret changes the partitions');
});

t.test('handoffs: deterministic, never primaries, other zones first, spread per partition', async (t) => {
  const ring = Ring.fromData(ringData(3, 8, true), SECRET);
  const orders = new Set<string>();
  for (let p = 0; p < ring.partCount; p++) {
    const prim = ring.primaries(p);
    const hand = [...ring.handoffs(p)];
    t.same(
      [...ring.handoffs(p)].map((d) => d.id),
      hand.map((d) => d.id),
      'same order every time',
    );
    const ids = hand.map((d) => d.id);
    t.equal(new Set(ids).size, ids.length, 'no repeats');
    t.notOk(ids.some((id) => prim.some((d) => d.id === id)), 'no primaries');
    t.notOk(ids.includes(15) || ids.includes(14), 'no removed or zero-weight devices');
    t.equal(ids.length + prim.length + (prim.some((d) => d.id === 14) ? 0 : 1), 15, 'every other weighted device');
    const primZones = new Set(prim.map((d) => d.zone));
    const primIps = new Set(prim.map((d) => d.ip));
    const group = (d: RingDevice): number => (!primZones.has(d.zone) ? 0 : !primIps.has(d.ip) ? 1 : 2);
    const groups = hand.map(group);
    t.same(groups, [...groups].sort((a, b) => a - b), `partition ${p}: unused zones, then unused servers, then the rest`);
    orders.add(ids.join(','));
  }
  t.ok(orders.size > ring.partCount / 4, `handoff orders vary between partitions (${orders.size})`);
});

t.test('handoffs prefer regions the primaries do not use', async (t) => {
  const b = new RingBuilder(6, 2, 1);
  for (let r = 1; r <= 4; r++) for (let d = 0; d < 2; d++) b.addDevice({ region: r, zone: 1, ip: `10.${r}.0.1`, port: 6200, device: `sd${d}`, weight: 1 });
  b.rebalance({ seed: 1, now: T0 });
  const ring = Ring.fromData(b.toRingData(), SECRET);
  for (let p = 0; p < ring.partCount; p++) {
    const primRegions = new Set(ring.primaries(p).map((d) => d.region));
    t.equal(primRegions.size, 2);
    const first4 = [...ring.handoffs(p)].slice(0, 4);
    t.ok(
      first4.every((d) => !primRegions.has(d.region)),
      `partition ${p}`,
    );
  }
});

t.test('RingHolder keeps the old ring when the new file is invalid and reloads a good one', async (t) => {
  const dir = tmp(t);
  const file = ringFile(dir, 'object');
  writeRingFile(file, ringData(1));
  const logged: string[] = [];
  const log = { info: (_o: object, msg?: string) => void logged.push(`info ${msg}`), error: (_o: object, msg?: string) => void logged.push(`error ${msg}`) };
  const holder = new RingHolder(file, SECRET, { checkIntervalMs: 10, log: log as unknown as RingHolderOptions['log'] });
  const first = holder.ring;
  t.equal(holder.reloadIfChanged(), false, 'unchanged file: no reload');

  writeFileSync(file, gzipSync(Buffer.from('SWLTRING garbage')));
  t.equal(holder.reloadIfChanged(), false, 'bad file: not loaded');
  t.equal(holder.ring, first, 'old ring kept');
  t.match(logged.join('\n'), /error .*invalid/);
  t.equal(holder.reloadIfChanged(), false, 'the same bad file is not retried');

  const next = ringData(2);
  writeRingFile(file, next);
  t.equal(holder.reloadIfChanged(), true, 'good file: reloaded');
  t.not(holder.ring, first);
  t.same(holder.ring.primaries(0).map((d) => d.id), next.replica2part2dev.map((r) => r[0]));

  // The timer picks up changes on its own and does not keep the process alive.
  holder.start();
  writeRingFile(file, ringData(3));
  const before = holder.ring;
  await new Promise((r) => setTimeout(r, 60));
  holder.stop();
  t.not(holder.ring, before, 'timer reloaded');
  t.throws(() => new RingHolder(join(dir, 'nope.ring.gz'), SECRET), { code: 'RING_INVALID' }, 'a service cannot start without a ring');
});

t.test('createClusterRings writes three builders and three rings', async (t) => {
  const dir = join(tmp(t), 'rings');
  const devices = [1, 2, 3, 4].map((i) => ({ region: 1, zone: i, ip: '127.0.0.1', port: 6200 + i, device: `d${i}`, weight: 100 }));
  const files = createClusterRings(dir, devices, { partPower: 8, replicas: 3, minPartHours: 1, seed: 42, now: T0 });
  for (const name of ['account', 'container', 'object'] as const) {
    t.equal(files[name], ringFile(dir, name));
    const ring = Ring.loadSync(files[name], SECRET);
    t.equal(ring.allDevices().length, 4);
    t.equal(ring.replicaCount, 3);
    RingBuilder.loadBuilder(builderFile(dir, name)).validate();
  }
  const again = join(tmp(t), 'rings');
  createClusterRings(again, devices, { partPower: 8, replicas: 3, minPartHours: 1, seed: 42, now: T0 });
  t.same(
    gunzipSync(readFileSync(ringFile(again, 'object'))),
    gunzipSync(readFileSync(ringFile(dir, 'object'))),
    'seeded: the same rings again',
  );
});
