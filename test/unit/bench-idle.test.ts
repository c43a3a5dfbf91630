import t from 'tap';
import { parseArgv } from '../../bench/args.js';
import { parseProcStat, summarizeCpu, swiftLabel, swiftletLabel, windowTicks, type CpuSample } from '../../bench/idle-cpu.js';
import { bodyBlock, bodyOf, defaultPlan, planLine, planObject, planTotals } from '../../bench/idle-plan.js';
import { idleMarkdown, idleOptions, sideBySideTable, type IdleRun } from '../../bench/idle-report.js';
import { main } from '../../bench/main.js';

const USAGE = { code: 'BENCH_USAGE' };

t.test('a /proc stat line: fields after the last parenthesis, a name with spaces and parentheses', async (t) => {
  // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime prio nice threads itreal starttime …
  const line = '4242 (node (daemons) x) S 4000 4242 4242 0 -1 4194560 100 0 0 0 250 50 30 20 20 0 11 0 987654 1000 200 18446744073709551615';
  t.same(parseProcStat(line), { pid: 4242, ppid: 4000, comm: 'node (daemons) x', own: 300, children: 50, starttime: 987654 });
  t.throws(() => parseProcStat('garbage'));
});

t.test('daemon labels from argv: Swiftlet per command and node, Swift per daemon and node', async (t) => {
  t.same(swiftletLabel(['/usr/bin/node', '--initial-old-space-size=64', '/r/dist/bin/swiftlet.js', 'daemons', '--config', '/d/etc/node3.json']), { node: 'node3', daemon: 'daemons' });
  t.same(swiftletLabel(['node', '/r/dist/bin/swiftlet.js', 'auditor', '--config=/d/etc/node1.json']), { node: 'node1', daemon: 'auditor' }, 'a supervisor child');
  t.equal(swiftletLabel(['node', '/r/dist/bin/swiftlet.js', 'daemons']), undefined, 'no config');
  t.equal(swiftletLabel(['rsync', '--daemon']), undefined);
  t.same(swiftLabel(['/usr/bin/python3', '/r/bench/scripts/swift-run.py', '/s/etc', 'object-auditor', '/s/etc/idle/object-2.conf', 'forever']), { node: 'node2', daemon: 'object-auditor' });
  t.same(swiftLabel(['/usr/bin/python3', '/r/bench/scripts/swift-run.py', '/s/etc', 'object-expirer', '/s/etc/idle/object-expirer.conf', 'forever']), { node: 'cluster', daemon: 'object-expirer' });
  t.equal(swiftLabel(['/usr/bin/python3', '/r/bench/scripts/swift-run.py', '/s/etc', 'object-replicator', '/s/etc/object-server-1.conf', 'once']), undefined, 'a one-pass replicator is not a daemon of this suite');
});

const sample = (tMs: number, procs: Array<[string, string, number]>): CpuSample => ({ tMs, procs: procs.map(([id, label, ticks]) => ({ id, label, ticks })) });

t.test('window CPU: differences of per-label sums; a reaped child moves into its parent', async (t) => {
  const a = sample(0, [
    ['1@1', 'node1/object-replicator', 100],
    ['2@5', 'node1/object-replicator', 40], // rsync, a child
    ['3@1', 'node2/object-auditor', 10],
  ]);
  // rsync exited and was reaped: its 40 + 5 more ticks are in the replicator's cutime now
  const b = sample(10_000, [
    ['1@1', 'node1/object-replicator', 100 + 45 + 20],
    ['3@1', 'node2/object-auditor', 60],
  ]);
  const w = windowTicks(a, b);
  t.equal(w.get('node1/object-replicator'), 25, 'own 20 + the child’s last 5');
  t.equal(w.get('node2/object-auditor'), 50);
  const gone = windowTicks(b, sample(20_000, [['1@1', 'node1/object-replicator', 165]]));
  t.equal(gone.get('node2/object-auditor'), 0, 'a process gone outside the tree never counts negative');
});

t.test('summary: mean over the span, p95 over windows, per daemon, per node and in total', async (t) => {
  const samples: CpuSample[] = [];
  // node1 uses 10 ticks per 10 s window (1 % of a core at 100 ticks/s), except one burst of 500
  for (let k = 0; k <= 20; k++) {
    const n1 = k * 10 + (k >= 10 ? 490 : 0);
    samples.push(sample(k * 10_000, [['1@1', 'node1/daemons', n1], ['2@1', 'node2/daemons', k * 30]]));
  }
  const s = summarizeCpu(samples, 100);
  t.equal(s.windows, 20);
  t.equal(s.spanSeconds, 200);
  const n1 = s.perNode.get('node1');
  t.ok(n1);
  t.equal(n1?.cpuSeconds, 6.9);
  t.equal(Math.round((n1?.meanPct ?? 0) * 1000) / 1000, 3.45, '690 ticks in 200 s');
  t.equal(n1?.p95Pct, 1, 'one burst in 20 windows is above the 95th percentile');
  t.equal(n1?.maxPct, 50);
  t.equal(Math.round((s.perDaemon.get('node2/daemons')?.meanPct ?? 0) * 1000) / 1000, 3);
  t.equal(Math.round(s.total.meanPct * 1000) / 1000, 6.45);
  t.equal(summarizeCpu(samples.slice(0, 1), 100).windows, 0, 'one sample: no window');
});

t.test('the plan: deterministic, the shares roughly as asked, bodies from the block', async (t) => {
  const p = defaultPlan(4000, 1_800_000_000_000);
  t.same(planObject(p, 123), planObject(p, 123), 'object i is a function of i');
  t.equal(planObject(p, 5).container, 'idle-1');
  t.equal(planObject(p, 5).name, 'o00000005');
  const tot = planTotals(p);
  t.equal(tot.live + tot.expiring + tot.deleted, 4000);
  t.ok(tot.deleted > 120 && tot.deleted < 300, `deleted ${tot.deleted}`);
  t.ok(tot.expiring > 300 && tot.expiring < 500, `expiring ${tot.expiring}`);
  const sizes = Array.from({ length: 4000 }, (_, i) => planObject(p, i)).filter((o) => o.kind !== 'deleted');
  t.ok(sizes.every((o) => o.size >= 0 && o.size <= 4096));
  t.ok(sizes.every((o) => o.kind !== 'expiring' || (o.deleteAt ?? 0) > 1_800_000_000 + 300 * 86400), 'expiry far ahead');
  t.equal([...tot.perContainer.values()].reduce((a, c) => a + c.objects, 0), tot.live + tot.expiring);
  const block = bodyBlock(p);
  const o = sizes[0];
  t.ok(o);
  if (o) {
    t.equal(bodyOf(block, o).length, o.size);
    t.match(planLine(o, 'e'.repeat(32)), /^idle-\d\to\d{8}\t\d+\t\d+\t(live|expiring)\t\d{10}\.\d{5}\t(\d+|-)\te{32}\n$/);
  }
});

t.test('options: defaults, checks, and the suite is known to the command line', async (t) => {
  const d = idleOptions(new Map());
  t.equal(d.objects, 1_000_000);
  t.equal(d.minutes, 10);
  t.same(d.systems, ['swiftlet', 'swift']);
  t.equal(d.windowMs, 10_000);
  t.equal(d.imageSize, '29G', 'sized for 3 replicas of 1M small files, twice over');
  t.equal(idleOptions(new Map([['objects', '20000']])).imageSize, '16G');
  const o = idleOptions(parseArgv(['--objects', '20k', '--minutes', '0.5', '--systems', 'swift', '--window', '5s'], ['objects', 'minutes', 'systems', 'window']).options);
  t.same([o.objects, o.minutes, o.systems, o.windowMs], [20_000, 0.5, ['swift'], 5000]);
  t.throws(() => idleOptions(new Map([['minutes', '0']])), USAGE);
  t.throws(() => idleOptions(new Map([['systems', 'ceph']])), USAGE);
  t.throws(() => idleOptions(new Map([['window', '100ms']])), USAGE);
  t.throws(() => idleOptions(new Map([['image-size', 'big']])), USAGE);
  await t.rejects(main(['idle', '--bogus', '1']), USAGE, 'unknown options refused');
});

t.test('the report: per node, per daemon, side by side, with the budget', async (t) => {
  const fig = (meanPct: number, p95Pct: number, cpuSeconds: number) => ({ meanPct, p95Pct, maxPct: p95Pct, cpuSeconds });
  const summary = (nodes: Record<string, number>) => ({
    spanSeconds: 600,
    windows: 60,
    perDaemon: new Map(Object.entries(nodes).map(([n, v]) => [`${n}/daemons`, fig(v, v * 2, v * 6)])),
    perNode: new Map(Object.entries(nodes).map(([n, v]) => [n, fig(v, v * 2, v * 6)])),
    total: fig(Object.values(nodes).reduce((a, b) => a + b, 0), 9, 60),
  });
  const run = (system: string, nodes: Record<string, number>): IdleRun => ({
    system,
    fill: { seconds: 100, files: 3000, detail: 'fill detail' },
    firstPass: { seconds: 50, complete: system === 'Swiftlet', cpu: summary(nodes), note: 'note' },
    steady: summary(nodes),
    auditor: { configured: '10 MiB/s', observed: [] },
    daemons: 'defaults',
  });
  const runs = [run('Swiftlet', { node1: 2, node2: 4 }), run('Swift', { node1: 1, node2: 1, cluster: 0.5 })];
  const table = sideBySideTable(runs);
  t.match(table, /\| Swiftlet \| 100 \| 50\.0 \| 60\.0 \| 6\.00 \| 4\.00 \(node2\) \| 8\.00 \| 1\/2 \|/);
  t.match(table, /\| Swift \| 100 \| 50\.0 \(cut\) \|/, 'a first pass cut short says so');
  t.match(table, /\| 1\.00 \(node1\) \| 2\.00 \| 2\/2 \|/, 'the cluster-wide expirer is no node');
  const md = idleMarkdown({ title: 'T', machine: '- m', command: 'npm run bench -- idle', setup: ['s'], runs });
  t.match(md, /## Swiftlet/);
  t.match(md, /\| node2 \| daemons \| 4\.00 \| 8\.00 \| 24\.0 \|/);
  t.match(md, /\| \*\*Swift\*\* \| \*\*total\*\* \| \*\*2\.50\*\*/);
});
