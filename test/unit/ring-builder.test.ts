import t, { type Test } from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RingBuilder } from '../../ring-builder/builder.js';
import { buildTierTree } from '../../ring-builder/tiers.js';
import { NeedIndex } from '../../ring-builder/need-index.js';
import { SeededRandom } from '../../common/random.js';

const HOUR = 3_600_000;
type Checker = Pick<Test, 'ok'>;
const T0 = 1_700_000_000_000;

interface Layout {
  regions?: number;
  zones: number;
  servers?: number;
  devs?: number;
  weight?: (region: number, zone: number, server: number, dev: number) => number;
}

/** Adds regions × zones × servers × devs devices; ips are unique per (region, zone, server). */
function addLayout(b: RingBuilder, l: Layout): void {
  for (let r = 1; r <= (l.regions ?? 1); r++)
    for (let z = 1; z <= l.zones; z++)
      for (let s = 0; s < (l.servers ?? 1); s++)
        for (let d = 0; d < (l.devs ?? 1); d++)
          b.addDevice({ region: r, zone: z, ip: `10.${r}.${z}.${s}`, port: 6200, device: `sd${d}`, weight: l.weight?.(r, z, s, d) ?? 100 });
}

function build(partPower: number, l: Layout, opts: { replicas?: number; minPartHours?: number; seed?: number } = {}): RingBuilder {
  const b = new RingBuilder(partPower, opts.replicas ?? 3, opts.minPartHours ?? 1);
  addLayout(b, l);
  b.rebalance({ seed: opts.seed ?? 1, now: T0 });
  return b;
}

function partsPerDevice(b: RingBuilder): Map<number, number> {
  const m = new Map<number, number>();
  for (const row of b.assignment) for (const d of row) m.set(d, (m.get(d) ?? 0) + 1);
  return m;
}

/** Every device's partition count is within `pct`% of weight/Σweight × all replicas. */
function assertWeightedShares(t: Checker, b: RingBuilder, pct: number): void {
  const devs = b.devices.filter((d) => d !== null && d.weight > 0);
  const total = devs.reduce((s, d) => s + d!.weight, 0);
  const counts = partsPerDevice(b);
  for (const d of devs) {
    const want = (d!.weight / total) * b.partCount * b.replicas;
    const got = counts.get(d!.id) ?? 0;
    t.ok(Math.abs(got - want) <= (want * pct) / 100, `d${d!.id} has ${got}, wants ${want.toFixed(1)} (±${pct}%)`);
  }
}

/** For every partition, the largest number of its replicas sharing one key. */
function maxPerKey(b: RingBuilder, key: (id: number) => string): number {
  let worst = 0;
  for (let p = 0; p < b.partCount; p++) {
    const seen = new Map<string, number>();
    for (const row of b.assignment) {
      const k = key(row[p] as number);
      seen.set(k, (seen.get(k) ?? 0) + 1);
    }
    worst = Math.max(worst, ...seen.values());
  }
  return worst;
}

function zoneKey(b: RingBuilder): (id: number) => string {
  const devs = b.devices;
  return (id) => `${devs[id]!.region}/${devs[id]!.zone}`;
}

function snapshot(b: RingBuilder): Uint16Array[] {
  return b.assignment.map((r) => r.slice());
}

function movedParts(before: Uint16Array[], after: ReadonlyArray<Uint16Array>): { replicas: number; maxPerPart: number; parts: Set<number> } {
  let replicas = 0;
  let maxPerPart = 0;
  const parts = new Set<number>();
  for (let p = 0; p < before[0]!.length; p++) {
    let n = 0;
    for (let r = 0; r < before.length; r++) if (before[r]![p] !== after[r]![p]) n++;
    replicas += n;
    maxPerPart = Math.max(maxPerPart, n);
    if (n) parts.add(p);
  }
  return { replicas, maxPerPart, parts };
}

t.test('dispersion: 3 replicas over 4 zones never put 2 replicas of a partition in one zone', async (t) => {
  for (const seed of [1, 2, 3]) {
    const b = build(12, { zones: 4, servers: 2, devs: 2 }, { seed });
    b.validate();
    t.equal(maxPerKey(b, zoneKey(b)), 1, `seed ${seed}`);
    t.equal(maxPerKey(b, (id) => String(id)), 1, 'distinct devices');
  }
});

t.test('dispersion: with 2 zones a zone holds at most 2 replicas, and the servers differ', async (t) => {
  const b = build(12, { zones: 2, servers: 3, devs: 2 });
  t.equal(maxPerKey(b, zoneKey(b)), 2);
  const devs = b.devices;
  t.equal(maxPerKey(b, (id) => devs[id]!.ip), 1, 'two replicas in a zone sit on different servers');
  assertWeightedShares(t, b, 1);
});

t.test('dispersion: regions first, then zones', async (t) => {
  const b = build(12, { regions: 2, zones: 2, devs: 2 });
  const devs = b.devices;
  t.equal(maxPerKey(b, (id) => String(devs[id]!.region)), 2, 'no region has all 3 replicas');
  t.equal(maxPerKey(b, zoneKey(b)), 1, '4 zones: one replica per zone');
  t.equal(b.report().dispersion, 0);
});

t.test('dispersion beats balance: a light zone still gets one replica of every partition', async (t) => {
  const b = build(12, { zones: 3, devs: 2, weight: (_r, z) => (z === 3 ? 10 : 100) });
  t.equal(maxPerKey(b, zoneKey(b)), 1);
  const counts = partsPerDevice(b);
  const devs = b.devices;
  const zone3 = devs.filter((d) => d!.zone === 3).reduce((s, d) => s + (counts.get(d!.id) ?? 0), 0);
  t.equal(zone3, b.partCount, 'zone 3 holds one replica of each partition');
  t.ok(b.report().balance < 1, 'balance counts the dispersion-capped share');
});

t.test('balance: equal weights spread evenly within 1%', async (t) => {
  const b = build(14, { zones: 4, servers: 2, devs: 3 });
  assertWeightedShares(t, b, 1);
  t.ok(b.report().balance < 1);
});

t.test('balance: weights 1:2:3 in separate zones within 1%', async (t) => {
  const w = [1, 2, 3, 1, 2, 3];
  const b = build(14, { zones: 6, weight: (_r, z) => w[z - 1]! });
  assertWeightedShares(t, b, 1);
  const b2 = build(14, { zones: 2, servers: 3, weight: (_r, _z, s) => w[s]! });
  assertWeightedShares(t, b2, 1);
});

t.test('adding a 5th equal device moves about 1/5 of the replicas', async (t) => {
  for (const sameZone of [false, true]) {
    const b = build(14, { zones: 4 });
    const before = snapshot(b);
    b.addDevice({ region: 1, zone: sameZone ? 1 : 5, ip: '10.9.9.9', port: 6200, device: 'new', weight: 100 });
    b.pretendMinPartHoursPassed();
    const res = b.rebalance({ seed: 2, now: T0 });
    // Same zone: zone 1 may hold only one replica per partition, so the new device wants P/2.
    const ideal = sameZone ? b.partCount / 2 : (b.partCount * 3) / 5;
    const m = movedParts(before, b.assignment);
    t.equal(res.moved, m.replicas, 'moved counts changed replicas');
    t.ok(res.moved <= ideal * 1.05 + 8, `moved ${res.moved} <= ideal ${ideal} + 5%`);
    t.ok(res.moved >= ideal * 0.95, `moved ${res.moved} >= ideal ${ideal} - 5%`);
    t.equal(m.maxPerPart, 1, 'one replica per partition');
    if (!sameZone) assertWeightedShares(t, b, 1);
    t.ok(res.balance < 1, `balance ${res.balance}`);
  }
});

t.test('adding a device to a bigger cluster moves close to its share', async (t) => {
  const b = build(14, { regions: 2, zones: 3, servers: 2, devs: 2 });
  const before = snapshot(b);
  b.addDevice({ region: 2, zone: 3, ip: '10.2.3.1', port: 6200, device: 'new', weight: 100 });
  b.pretendMinPartHoursPassed();
  const res = b.rebalance({ seed: 5, now: T0 });
  const ideal = (b.partCount * 3) / 25;
  t.ok(res.moved <= ideal * 1.05 + 8, `moved ${res.moved}, ideal ${ideal.toFixed(0)}`);
  t.equal(movedParts(before, b.assignment).maxPerPart, 1);
  assertWeightedShares(t, b, 1);
});

t.test('removing a device moves about its replicas, and only those when nothing else is needed', async (t) => {
  const b = build(14, { zones: 5, devs: 2 });
  const had = partsPerDevice(b).get(3)!;
  b.pretendMinPartHoursPassed();
  b.removeDevice(3);
  t.same(b.pendingRemovals, [3]);
  const res = b.rebalance({ seed: 3, now: T0 });
  t.ok(res.moved >= had, 'every replica of the removed device moved');
  t.ok(res.moved <= had * 1.05 + 8, `moved ${res.moved}, removed device had ${had}`);
  t.equal(partsPerDevice(b).get(3) ?? 0, 0, 'removed device has no partitions');
  t.equal(b.devices[3], null, 'removed id is null');
  b.validate();
  assertWeightedShares(t, b, 1);
  t.equal(b.addDevice({ region: 1, zone: 1, ip: '10.9.9.9', port: 6200, device: 'x', weight: 100 }), 10, 'ids are not reused');
});

t.test('removed devices move even within min_part_hours, several replicas of a partition if needed', async (t) => {
  const b = build(10, { zones: 6 }, { minPartHours: 24 });
  b.removeDevice(0);
  b.removeDevice(1);
  const res = b.rebalance({ seed: 4, now: T0 + HOUR });
  const counts = partsPerDevice(b);
  t.equal(counts.get(0) ?? 0, 0);
  t.equal(counts.get(1) ?? 0, 0);
  t.ok(res.moved > 0);
  b.validate();
  t.equal(maxPerKey(b, zoneKey(b)), 1);
});

t.test('min_part_hours: recently moved partitions stay put until the hours pass', async (t) => {
  const b = build(12, { zones: 4 }, { minPartHours: 24 });
  b.addDevice({ region: 1, zone: 5, ip: '10.9.9.9', port: 6200, device: 'new', weight: 100 });
  const first = b.rebalance({ seed: 2, now: T0 + HOUR });
  t.equal(first.moved, 0, 'every partition moved at T0: nothing may move 1h later');
  t.equal(b.minPartHoursRemaining(T0 + HOUR), 23);

  const before = snapshot(b);
  const second = b.rebalance({ seed: 2, now: T0 + 25 * HOUR });
  t.ok(second.moved > 0, 'after 25h partitions move');
  const moved = movedParts(before, b.assignment);
  t.equal(moved.maxPerPart, 1, 'at most one replica per partition per rebalance');

  // Another change right away: the partitions that just moved must not move again.
  b.addDevice({ region: 1, zone: 6, ip: '10.9.9.8', port: 6200, device: 'new', weight: 100 });
  const before3 = snapshot(b);
  const third = b.rebalance({ seed: 3, now: T0 + 26 * HOUR });
  t.ok(third.moved > 0, 'partitions that did not move recently may move');
  const again = movedParts(before3, b.assignment).parts;
  t.equal([...again].filter((p) => moved.parts.has(p)).length, 0, 'no partition moved twice within min_part_hours');
  t.equal(b.minPartHoursRemaining(T0 + 26 * HOUR), 24);
});

t.test('pretendMinPartHoursPassed lets a rebalance proceed at once', async (t) => {
  const b = build(12, { zones: 4 }, { minPartHours: 24 });
  b.addDevice({ region: 1, zone: 5, ip: '10.9.9.9', port: 6200, device: 'new', weight: 100 });
  t.equal(b.rebalance({ seed: 2, now: T0 }).moved, 0);
  b.pretendMinPartHoursPassed();
  t.equal(b.minPartHoursRemaining(T0), 0);
  const res = b.rebalance({ seed: 2, now: T0 });
  t.ok(res.moved > 0);
  assertWeightedShares(t, b, 1);
});

t.test('growing from 3 to 6 zones: one replica per partition per rebalance, converging', async (t) => {
  const b = build(12, { zones: 3 });
  for (let z = 4; z <= 6; z++) b.addDevice({ region: 1, zone: z, ip: `10.1.${z}.0`, port: 6200, device: 'sd0', weight: 100 });
  let res = { moved: 0, balance: 100, dispersion: 0 };
  for (let i = 0; i < 4 && res.balance > 1; i++) {
    b.pretendMinPartHoursPassed();
    const before = snapshot(b);
    res = b.rebalance({ seed: 10 + i, now: T0 });
    t.equal(movedParts(before, b.assignment).maxPerPart, 1, `round ${i}`);
  }
  t.ok(res.balance < 1, `balance ${res.balance}`);
  assertWeightedShares(t, b, 1);
});

t.test('a zero-weight device drains', async (t) => {
  const b = build(12, { regions: 2, zones: 3 });
  b.setWeight(0, 0);
  b.pretendMinPartHoursPassed();
  const res = b.rebalance({ seed: 2, now: T0 });
  t.equal(partsPerDevice(b).get(0) ?? 0, 0);
  t.ok(res.moved <= b.partCount / 2 + 8, `moved ${res.moved}`);
  assertWeightedShares(t, b, 1);
});

t.test('reproducible: same seed, same ring; another seed, another ring', async (t) => {
  const mk = (seed: number): RingBuilder => {
    const b = build(12, { zones: 4, devs: 3 }, { seed });
    b.addDevice({ region: 1, zone: 2, ip: '10.9.9.9', port: 6200, device: 'new', weight: 150 });
    b.pretendMinPartHoursPassed();
    b.rebalance({ seed: seed + 1, now: T0 + HOUR });
    return b;
  };
  const bytes = (b: RingBuilder): Buffer => Buffer.concat(b.assignment.map((r) => Buffer.from(r.buffer, r.byteOffset, r.byteLength)));
  t.ok(bytes(mk(7)).equals(bytes(mk(7))));
  t.notOk(bytes(mk(7)).equals(bytes(mk(8))));
});

t.test('validate() reports a corrupted assignment', async (t) => {
  const b = build(8, { zones: 4 });
  b.validate();
  const rows = b.assignment;
  const saved = rows[0]![5]!;
  const check = (what: string): void => {
    t.throws(
      () => b.validate(),
      { code: 'RING_INVALID' },
      what,
    );
  };
  rows[0]![5] = rows[1]![5]!;
  check('two replicas on one device');
  rows[0]![5] = 999;
  check('device id out of range');
  rows[0]![5] = 0xffff;
  check('unassigned replica');
  rows[0]![5] = saved;
  b.validate();
  t.throws(() => new RingBuilder(8, 3, 1).toRingData(), { code: 'RING_INVALID' }, 'never rebalanced');
});

t.test('rebalance refuses with fewer weighted devices than replicas', async (t) => {
  const b = new RingBuilder(8, 3, 1);
  addLayout(b, { zones: 2 });
  t.throws(() => b.rebalance({ seed: 1, now: T0 }), { code: 'RING_INVALID' });
});

t.test('addDevice checks its input; ids are never reused', async (t) => {
  const b = new RingBuilder(8, 3, 1);
  const dev = { region: 1, zone: 1, ip: '10.0.0.1', port: 6200, device: 'sda', weight: 100 };
  t.equal(b.addDevice(dev), 0);
  t.throws(() => b.addDevice(dev), { code: 'BAD_REQUEST' }, 'duplicate ip:port/device');
  t.throws(() => b.addDevice({ ...dev, device: 'sdb', port: 0 }), { code: 'BAD_REQUEST' });
  t.throws(() => b.addDevice({ ...dev, device: 'sdb', weight: -1 }), { code: 'BAD_REQUEST' });
  t.throws(() => b.addDevice({ ...dev, device: 'sdb', id: 0 }), { code: 'BAD_REQUEST' });
  t.equal(b.addDevice({ ...dev, device: 'sdc', id: 5 }), 5);
  t.equal(b.addDevice({ ...dev, device: 'sdd' }), 6);
  t.throws(() => b.setWeight(3, 1), { code: 'NOT_FOUND' });
});

t.test('searchDevices understands swift search values', async (t) => {
  const b = new RingBuilder(8, 3, 1);
  addLayout(b, { regions: 2, zones: 2, devs: 2 });
  b.setMeta(3, 'fast');
  const ids = (v: string): number[] => b.searchDevices(v).map((d) => d.id);
  t.same(ids('d3'), [3]);
  t.same(ids('r1z2'), [2, 3]);
  t.same(ids('r2'), [4, 5, 6, 7]);
  t.same(ids('r1z2-10.1.2.0:6200/sd1'), [3]);
  t.same(ids('10.2.1.0'), [4, 5]);
  t.same(ids('/sd0'), [0, 2, 4, 6]);
  t.same(ids('_fast'), [3]);
  t.same(ids('z1-10.1.1.0'), [0, 1]);
  t.same(ids('d99'), []);
  t.throws(() => b.searchDevices('bogus!'), { code: 'BAD_REQUEST' });
});

t.test('report() shows parts, wanted parts, balance and dispersion', async (t) => {
  const b = build(10, { zones: 4, weight: (_r, z) => (z === 4 ? 200 : 100) });
  const r = b.report();
  t.equal(r.partitions, 1024);
  t.equal(r.replicas, 3);
  t.equal(r.zones, 4);
  t.equal(r.devices.length, 4);
  t.equal(r.devices.reduce((s, d) => s + d.parts, 0), 3072);
  // Zone 4 wants 2/5 of 3072 = 1228.8, above its cap of one replica per partition (1024).
  t.equal(r.devices[3]!.wanted, 1024);
  t.ok(r.devices.every((d) => Math.abs(d.balance) < 1));
  t.equal(r.dispersion, 0);
  t.same(r.undispersed, { region: 0, zone: 0, ip: 0, device: 0 });
  t.match(r.text, /1024 partitions, 3 replicas, 1 regions, 4 zones, 4 devices/);
  t.match(r.text, /wanted\s+balance/);
});

t.test('save and load the builder file', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'swiftlet-builder-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const b = build(10, { zones: 4, devs: 2 }, { minPartHours: 6 });
  b.removeDevice(2);
  const file = join(dir, 'object.builder');
  b.saveBuilder(file);
  const c = RingBuilder.loadBuilder(file);
  t.same(c.devices, b.devices);
  t.same(c.pendingRemovals, [2]);
  t.equal(c.minPartHours, 6);
  t.same(snapshot(c), snapshot(b));
  // Both continue identically.
  const rb = b.rebalance({ seed: 9, now: T0 + 7 * HOUR });
  const rc = c.rebalance({ seed: 9, now: T0 + 7 * HOUR });
  t.same(rc, rb);
  t.same(snapshot(c), snapshot(b));
});

t.test('a wide tier (one zone of 40 servers) balances and moves minimally', async (t) => {
  const b = build(13, { zones: 1, servers: 40 });
  assertWeightedShares(t, b, 1);
  t.equal(maxPerKey(b, (id) => String(id)), 1);
  const before = snapshot(b);
  b.addDevice({ region: 1, zone: 1, ip: '10.9.9.9', port: 6200, device: 'new', weight: 100 });
  b.pretendMinPartHoursPassed();
  const res = b.rebalance({ seed: 2, now: T0 });
  const ideal = (b.partCount * 3) / 41;
  t.ok(res.moved <= ideal * 1.05 + 8, `moved ${res.moved}, ideal ${ideal.toFixed(0)}`);
  t.equal(movedParts(before, b.assignment).maxPerPart, 1);
  assertWeightedShares(t, b, 1);
});

t.test('need index agrees with a full scan', async (t) => {
  const devices = Array.from({ length: 70 }, (_, id) => ({ id, region: 1, zone: 1, ip: '10.0.0.1', port: 6200, device: `d${id}`, weight: 1 + (id % 3), meta: '' }));
  const tree = buildTierTree(devices, new Set(), 3, 1024);
  const idx = new NeedIndex(tree);
  const ipNode = tree.devAnc[0 * 5 + 3]!;
  t.ok(idx.isWide(ipNode));
  const kids = tree.children[ipNode]!;
  const rng = new SeededRandom(5);
  for (let step = 0; step < 3000; step++) {
    const c = kids[rng.int(kids.length)]!;
    const delta = rng.next() < 0.6 ? 1 : -1;
    tree.assigned[c]! += delta;
    idx.assignedChanged(c, delta);
    if (step % 100 !== 0) continue;
    const short = Array.from(kids, (k) => Math.max(0, tree.target[k]! - tree.assigned[k]!));
    const total = short.reduce((a, b) => a + b, 0);
    t.equal(idx.total(ipNode), total, `total at step ${step}`);
    if (total === 0) continue;
    const x = rng.next() * total;
    let acc = 0;
    const want = kids[short.findIndex((v) => (acc += v) > x)];
    t.equal(idx.find(ipNode, x), want, `find at step ${step}`);
  }
});

t.test('part power 16 × 3 replicas over 100 devices rebalances and validates', async (t) => {
  const b = build(16, { zones: 10, servers: 5, devs: 2 });
  b.validate();
  const r = b.report();
  t.ok(r.balance < 1, `balance ${r.balance}`);
  t.equal(r.dispersion, 0);
  t.equal(maxPerKey(b, zoneKey(b)), 1);
});

t.test('part power 18 × 3 replicas over 100 devices in 2 regions rebalances and validates', async (t) => {
  const b = build(18, { regions: 2, zones: 5, servers: 10 });
  b.validate();
  const data = b.toRingData();
  t.equal(data.replica2part2dev.length, 3);
  t.equal(data.replica2part2dev[0]!.length, 2 ** 18);
  t.ok(b.report().balance < 1);
});
