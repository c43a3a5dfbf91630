import t from 'tap';
import { aggregate } from '../../bench/report.js';
import type { RunResult } from '../../bench/result.js';
import { judgeLargeObjects, judgeListing, judgeMemory, judgeRing, judgeSmallObjects, targetsSummary, targetsTable, type MemoryJson, type SideBySideJson } from '../../bench/targets.js';
import { TARGET_PARTS } from '../../bench/suites/targets.js';

function run(opsPerSec: number, p99Ms: number, size: number, errors = 0): RunResult {
  return { driver: 'wrk', ops: opsPerSec * 10, errors, errorKinds: errors ? { '503': errors } : {}, elapsedS: 10, opsPerSec, mbPerSec: (opsPerSec * size) / 1e6, meanMs: 1, p50Ms: p99Ms / 2, p99Ms, p999Ms: p99Ms * 2, maxMs: p99Ms * 3 };
}

/** A side-by-side results.json with Swiftlet at `factor`× Swift's rate and `p99Factor`× its p99, per (op, concurrency). */
function sideBySide(size: number, cells: Array<{ op: string; c: number; factor: number; p99Factor: number; errors?: number }>): SideBySideJson {
  const workloads: SideBySideJson['workloads'] = [];
  const ratios: SideBySideJson['ratios'] = [];
  for (const { op, c, factor, p99Factor, errors } of cells) {
    const a = aggregate([run(100 * factor, 50 * p99Factor, size, errors ?? 0)]);
    const b = aggregate([run(100, 50, size)]);
    workloads.push({ system: 'Swiftlet', op, size, concurrency: c, summary: a }, { system: 'Swift', op, size, concurrency: c, summary: b });
    ratios.push({ op, size, concurrency: c, opsPerSec: factor, mbPerSec: op === 'put' || op === 'get' ? factor : NaN, p50Ms: p99Factor, p99Ms: p99Factor, p999Ms: p99Factor });
  }
  return { failure: null, workloads, ratios };
}

t.test('4 KiB: PUT and GET at both concurrencies against 3×, and every p99 below Swift', async (t) => {
  const good = sideBySide(4096, [
    { op: 'put', c: 16, factor: 3.4, p99Factor: 0.3 },
    { op: 'put', c: 64, factor: 5.1, p99Factor: 0.2 },
    { op: 'get', c: 16, factor: 4.4, p99Factor: 0.4 },
    { op: 'get', c: 64, factor: 6, p99Factor: 0.9 },
    { op: 'head', c: 16, factor: 2.5, p99Factor: 1.2 },
  ]);
  const rows = judgeSmallObjects(good, '../x');
  t.equal(rows.length, 6, 'four rates, the p99 row, the informational row');
  t.same(rows.slice(0, 5).map((r) => r.met), [true, true, true, true, true]);
  t.match(rows[0].measured, /\*\*3\.40×\*\* \(340 vs 100 ops\/s\)/);
  t.equal(rows[5].met, undefined, 'HEAD is shown, not judged');
  t.same(targetsSummary(rows), { judged: 5, met: 5, allMet: true });

  const slowPut = judgeSmallObjects(sideBySide(4096, [
    { op: 'put', c: 16, factor: 2.9, p99Factor: 0.5 },
    { op: 'put', c: 64, factor: 4, p99Factor: 1.1 },
    { op: 'get', c: 16, factor: 4, p99Factor: 0.5 },
    { op: 'get', c: 64, factor: 4, p99Factor: 0.5 },
  ]));
  t.equal(slowPut[0].met, false, '2.9× is under 3×');
  t.equal(slowPut[4].met, false, 'one p99 above Swift fails the latency target');
  t.same(targetsSummary(slowPut), { judged: 5, met: 3, allMet: false });

  const errs = judgeSmallObjects(sideBySide(4096, [{ op: 'put', c: 16, factor: 4, p99Factor: 0.5, errors: 2 }]));
  t.equal(errs[0].met, false, 'a fast run with errors does not count');
  t.match(errs[0].measured, /2 Swiftlet errors/);
  t.equal(errs[1].met, undefined, 'a workload not run is not measured, never met');
  t.equal(errs[4].met, undefined);
});

t.test('64 MiB: MB/s against 1.5×', async (t) => {
  const rows = judgeLargeObjects(sideBySide(64 * 1024 * 1024, [
    { op: 'put', c: 4, factor: 1.58, p99Factor: 0.7 },
    { op: 'get', c: 4, factor: 1.49, p99Factor: 0.7 },
  ]));
  t.same(rows.map((r) => r.met), [true, false]);
  t.match(rows[0].target, /c=4/);
  t.match(rows[1].measured, /1\.49×/);
});

t.test('listing: the whole container page p50 against 3×', async (t) => {
  const walk = (pageMs: number[]) => ({ pageMs, seconds: pageMs.reduce((s, v) => s + v, 0) / 1000, pages: pageMs.length, entries: pageMs.length * 10_000, errors: 0 });
  const j = {
    objects: 1_000_000,
    pageSize: 10_000,
    results: {
      Swiftlet: { 'whole container': [walk([40, 50, 60])], 'delimiter=/': [walk([10])] },
      Swift: { 'whole container': [walk([160, 170, 150])], 'delimiter=/': [walk([11])] },
    },
  };
  const rows = judgeListing(j);
  t.equal(rows[0].met, true, '160 / 50 = 3.2×');
  t.match(rows[0].measured, /3\.20×/);
  t.match(rows[1].measured, /delimiter=\/ 1\.10×/);
  j.results.Swift['whole container'] = [walk([140, 140, 140])];
  t.equal(judgeListing(j)[0].met, false, '140 / 50 = 2.8×');
  t.equal(judgeListing({ ...j, objects: 20_000 })[0].met, undefined, 'a smaller container is not the target');
  t.match(judgeListing({ ...j, objects: 20_000 })[0].target, /not the 10,000 of 1,000,000 asked/);
  t.equal(judgeListing({ ...j, results: {} })[0].met, undefined);
});

t.test('ring: every device count at part power 18 against 10×', async (t) => {
  const row = (devices: number, a: number, b: number) => ({ partPower: 18, devices, times: { Swiftlet: [a], Swift: [b] }, failed: {} });
  t.equal(judgeRing({ rows: [row(10, 1.4, 15.9), row(1000, 0.9, 17.8), { ...row(100, 1, 1), partPower: 16 }] })[0].met, true, 'other part powers are not judged');
  t.equal(judgeRing({ rows: [row(10, 1.4, 15.9), row(100, 2, 15)] })[0].met, false, '7.5× at 100 devices');
  t.equal(judgeRing({ rows: [{ ...row(10, 1, 20), failed: { Swift: 'timed out' } }] })[0].met, undefined);
  t.equal(judgeRing({ rows: [] })[0].met, undefined);
});

t.test('memory: flat and bounded, only at the asked scale', async (t) => {
  const base: MemoryJson = {
    failure: null,
    options: { durationMs: 600_000, bigSize: 5 * 1024 ** 3 },
    verdicts: { flat: 'YES', bounded: 'YES' },
    soak: { figures: [{ proc: 'node1', verdict: 'flat', startMiB: 200, endMiB: 205 }] },
    big: { put: { ok: true, mbPerSec: 200 }, get: { ok: true, mbPerSec: 300 }, figures: [{ proc: 'proxy', put: { growthMiB: 24 }, get: { growthMiB: 3 } }] },
  };
  t.same(judgeMemory(base).map((r) => r.met), [true, true]);
  const growing = { ...base, verdicts: { flat: 'NO', bounded: 'YES' }, soak: { figures: [{ proc: 'node1', verdict: 'growing', startMiB: 150, endMiB: 240 }] } };
  t.equal(judgeMemory(growing)[0].met, false);
  t.match(judgeMemory(growing)[0].measured, /node1 growing/);
  const judgedLessCaches = {
    ...base,
    soak: {
      figures: [{ proc: 'node1', verdict: 'flat', startMiB: 190, endMiB: 192 }],
      rssFigures: [{ proc: 'node1', verdict: 'inconclusive', startMiB: 200, endMiB: 212 }],
      levelDb: [{ node: 'node1', maxMiB: 9, boundMiB: 16, within: true }],
    },
  };
  t.equal(judgeMemory(judgedLessCaches)[0].met, true);
  t.match(judgeMemory(judgedLessCaches)[0].measured, /node1 200→212 MiB; storage nodes judged less LevelDB's caches, at most 9.00 MiB of their 16.0 MiB bound/, 'RSS as measured is shown, and the caches against their bound');
  const overBound = { ...judgedLessCaches, verdicts: { flat: 'NO', bounded: 'YES' }, soak: { ...judgedLessCaches.soak, levelDb: [{ node: 'node1', maxMiB: 20, boundMiB: 16, within: false }] } };
  t.equal(judgeMemory(overBound)[0].met, false);
  t.match(judgeMemory(overBound)[0].measured, /LevelDB above its bound.*node1 above it/);
  const small = { ...base, options: { durationMs: 120_000, bigSize: 256 * 1024 ** 2 } };
  t.same(judgeMemory(small).map((r) => r.met), [undefined, undefined], 'a quick run is never called met');
  t.equal(judgeMemory({ ...base, big: null })[1].met, undefined);
});

t.test('the verdict table', async (t) => {
  const md = targetsTable([
    { target: 'A ≥ 3×', measured: '3.4×', met: true, source: '../d1' },
    { target: 'B ≥ 1.5×', measured: '1.2×', met: false },
    { target: '(not a target) C', measured: '2×', met: undefined },
  ]);
  const lines = md.trim().split('\n');
  t.equal(lines.length, 5);
  t.equal(lines[2], '| A ≥ 3× | 3.4× | **met** | [../d1](../d1/results.md) |');
  t.equal(lines[3], '| B ≥ 1.5× | 1.2× | **NOT met** |  |');
  t.equal(lines[4], '| (not a target) C | 2× |  |  |', 'an informational row has no verdict');
});

t.test('every part has full-scale options at the issue\'s figures and smaller quick ones', async (t) => {
  const full = Object.fromEntries(TARGET_PARTS.map((p) => [p.name, p.options(false)]));
  t.same(full.small, { sizes: '4k', concurrency: '16,64', ops: 'put,get,head,list,delete', duration: '10s', repeat: '3' });
  t.same(full.large, { sizes: '64m', concurrency: '4', count: '16', ops: 'put,get', repeat: '3' });
  t.equal(full.listing.objects, '1000000');
  t.equal(full.listing.page, '10000');
  t.equal(full.ring['part-powers'], '18');
  t.same(full.memory, { duration: '10m', 'big-size': '5g' });
  for (const p of TARGET_PARTS) t.not(JSON.stringify(p.options(true)), JSON.stringify(p.options(false)), `${p.name}: quick differs`);
});
