import t from 'tap';
import { aggregate, escapeXml, markdownFlushes, markdownSideBySide, markdownTable, pairRatios, ratioLines, sideBySideChart, svgBarChart } from '../../bench/report.js';
import type { RunResult, WorkloadRuns } from '../../bench/result.js';
import { parseWrkOutput, wrkResult, wrkScript } from '../../bench/wrk.js';
import { ringDevices } from '../../bench/suites/ring.js';
import { listingName } from '../../bench/suites/listing.js';
import { flushesFromStat } from '../../bench/devstats.js';

function run(opsPerSec: number, p99Ms: number, errors = 0): RunResult {
  return { driver: 'wrk', ops: opsPerSec * 10, errors, errorKinds: errors ? { '503': errors } : {}, elapsedS: 10, opsPerSec, mbPerSec: (opsPerSec * 4096) / 1e6, meanMs: 1, p50Ms: p99Ms / 2, p99Ms, p999Ms: p99Ms * 2, maxMs: p99Ms * 3 };
}

const a: WorkloadRuns = { system: 'Swiftlet', op: 'put', size: 4096, concurrency: 16, runs: [run(1000, 10), run(1200, 12)] };
const b: WorkloadRuns = { system: 'Swift', op: 'put', size: 4096, concurrency: 16, runs: [run(500, 20, 3), run(500, 20)] };

t.test('aggregate over runs', async (t) => {
  const g = aggregate(a.runs);
  t.equal(g.opsPerSec.mean, 1100);
  t.equal(g.p99Ms.mean, 11);
  t.equal(g.ops, 22000);
  t.same(aggregate(b.runs).errorKinds, { '503': 3 });
});

t.test('ratios are A/B for every figure', async (t) => {
  const r = pairRatios({ a, b });
  t.equal(r.opsPerSec, 2.2);
  t.equal(r.p99Ms, 0.55);
  t.ok(Math.abs(r.mbPerSec - 2.2) < 1e-9);
});

t.test('markdown tables', async (t) => {
  const md = markdownSideBySide([{ a, b }]);
  const lines = md.trim().split('\n');
  t.equal(lines.length, 5, 'header, rule, A, B, ratio');
  t.match(lines[2], /^\| PUT \| 4 KiB \| 16 \| Swiftlet \| 1100 ± 141 \|/);
  t.match(lines[3], /\| Swift \| 500 ± 0 \|.*\*\*3\*\* \/ 10000 \(503×3\) \|$/);
  t.match(lines[4], /\| Swiftlet\/Swift \| \*\*2\.20×\*\* \|/);
  t.equal(markdownSideBySide([]), '(no workloads)\n');
  const single = markdownTable([a]).trim().split('\n');
  t.equal(single.length, 3);
  t.match(single[2], /\| PUT \| 4 KiB \| 16 \| 1100 ± 141 \| 4\.51 ± 0\.58 \|/);
  t.match(ratioLines([{ a, b }])[0], /ops\/s 2\.20×/);
});

t.test('svg chart', async (t) => {
  const svg = sideBySideChart([{ a, b }], 'A & B <test>');
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  t.match(svg, /A &amp; B &lt;test&gt;/);
  t.equal((svg.match(/<rect /g) ?? []).length, 1 + 2 + 4, 'background, 2 legend boxes, 2 bars × 2 panels');
  t.match(svg, />2\.20×</);
  t.match(svg, /<\/svg>\n$/);
  t.equal(escapeXml(`"<&>"`), '&quot;&lt;&amp;&gt;&quot;');
  const empty = svgBarChart('x', ['s'], [{ title: 'p', unit: 'u', rows: [{ label: 'r', values: [NaN] }] }]);
  t.match(empty, /n\/a/);
});

t.test('wrk script and output', async (t) => {
  const lua = wrkScript({ op: 'put', storageUrl: 'http://127.0.0.1:8080/v1/AUTH_test', token: 'AUTH_tk"x', container: 'c 1', size: 4096, namePrefix: 'o-', concurrency: 16, threads: 2, bound: { kind: 'count', n: 101, capMs: 1000 } });
  t.match(lua, /local PREFIX = "\/v1\/AUTH_test\/c%201"/);
  t.match(lua, /local TOKEN = "AUTH_tk\\"x"/);
  t.match(lua, /local QUOTA = 51\n/, 'count split over threads, rounded up');
  t.match(lua, /local CONNS = 8\n/);
  t.match(lua, /local BODY_SIZE = 4096\n/);
  const head = wrkScript({ op: 'list', storageUrl: 'http://127.0.0.1:8080/v1/AUTH_test', token: 't', container: 'c', size: 0, namePrefix: '', listLimit: 50, concurrency: 1, threads: 4, bound: { kind: 'duration', ms: 1000 } });
  t.match(head, /local METHOD = "GET"/);
  t.match(head, /local THREADS = 1\n/, 'never more threads than connections');
  t.match(head, /limit=50/);
  const raw = parseWrkOutput(
    'Running 1s test\nWRKJSON {"requests":110,"duration_us":1000000,"errors":{"connect":0,"read":1,"write":0,"timeout":2,"status":4},"completed":100,"non2xx":4,"first_us":1000,"last_us":501000,"lat":{"min":100,"max":9000,"mean":1500.5,"stdev":3.0,"p50":1000,"p99":5000,"p999":8000},"codes":{"503":4}}\n',
  );
  const r = wrkResult(raw, 'put', 4096);
  t.equal(r.ops, 100);
  t.equal(r.elapsedS, 0.5, 'first request → last response');
  t.equal(r.opsPerSec, 200);
  t.equal(r.errors, 7);
  t.same(r.errorKinds, { '503': 4, read: 1, timeout: 2 });
  t.equal(r.p50Ms, 1);
  t.equal(r.p999Ms, 8);
  t.equal(r.mbPerSec, (200 * 4096) / 1e6);
  t.throws(() => parseWrkOutput('nothing'));
});

t.test('ring and listing inputs', async (t) => {
  const ten = ringDevices(10);
  t.equal(ten.length, 10);
  t.equal(new Set(ten.map((d) => d.spec.split('/')[0])).size, 10, '10 servers of one device');
  const thousand = ringDevices(1000);
  t.equal(new Set(thousand.map((d) => d.spec.split('-')[1].split(':')[0])).size, 100, '100 servers of 10');
  t.ok(thousand.every((d) => /^r1z[1-5]-127\.\d+\.\d+\.\d+:6200\/d\d+$/.test(d.spec)), 'loopback addresses, 5 zones');
  t.equal(listingName(42), 'd042/o00000042');
  t.equal(listingName(1234567), 'd067/o01234567');
});

t.test('disk flushes per operation: a stat line, and the side-by-side list', async (t) => {
  // /sys/block/<dev>/stat: 17 fields on current kernels, flush requests completed is the 16th.
  t.equal(flushesFromStat('  322292 0 126899497 715740 7011590 582706 837750119 16647247 0 3320644 19817516 0 0 0 0 4340870 2454528\n'), 4340870);
  t.equal(flushesFromStat('1 2 3 4 5 6 7 8 9 10 11'), undefined, 'an old kernel without flush counters');
  const fa: WorkloadRuns = { ...a, runs: [{ ...run(1000, 10), flushesPerOp: 7.5 }, { ...run(1000, 10), flushesPerOp: 8.1 }] };
  const fb: WorkloadRuns = { ...b, runs: [{ ...run(500, 20), flushesPerOp: 6 }, { ...run(500, 20), flushesPerOp: 6 }] };
  const md = markdownFlushes([{ a: fa, b: fb }]);
  t.match(md, /^Disk flushes per operation/);
  t.match(md, /^- PUT 4 KiB c=16: Swiftlet 7\.80, Swift 6\.00$/m);
  t.equal(markdownFlushes([{ a, b }]), '', 'nothing when the runs did not count them');
});
