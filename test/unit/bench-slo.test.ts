import { createHash } from 'node:crypto';
import t from 'tap';
import { SeededObjectData, segmentName, segmentPlan, sloManifest, transferResult } from '../../bench/slo-data.js';
import { aggregate, pairRatios } from '../../bench/report.js';
import { goalLines, roundRatios } from '../../bench/suites/large-objects.js';
import type { WorkloadRuns } from '../../bench/result.js';

const MiB = 1024 * 1024;

t.test('segmentPlan cuts the object as swift upload -S does', async (t) => {
  const plan = segmentPlan(1024 * MiB, 100 * MiB);
  t.equal(plan.length, 11);
  t.same(plan[0], { index: 0, offset: 0, length: 100 * MiB });
  t.same(plan[10], { index: 10, offset: 1000 * MiB, length: 24 * MiB });
  t.equal(
    plan.reduce((a, s) => a + s.length, 0),
    1024 * MiB,
  );
  t.same(segmentPlan(8, 4), [
    { index: 0, offset: 0, length: 4 },
    { index: 1, offset: 4, length: 4 },
  ]);
  t.same(segmentPlan(3, 10), [{ index: 0, offset: 0, length: 3 }]);
  t.throws(() => segmentPlan(0, 4), RangeError);
  t.throws(() => segmentPlan(8, 0), RangeError);
});

t.test('segment names sort in upload order', async (t) => {
  t.equal(segmentName('big-0', 3), 'big-0/00000003');
  const names = [10, 2, 1].map((i) => segmentName('p', i)).sort();
  t.same(names, ['p/00000001', 'p/00000002', 'p/00000010']);
});

t.test('SeededObjectData: pieces are the bytes, the same for a seed, every block distinct', async (t) => {
  const d = new SeededObjectData(7, 64);
  const total = 64 * 5 + 13;
  const naive = Buffer.from(Array.from({ length: total }, (_, i) => d.byteAt(i)));
  // any window, across block boundaries, equals the naive bytes
  for (const [off, len] of [
    [0, total],
    [5, 64],
    [60, 70],
    [128, 1],
    [63, 2],
  ] as const) {
    const got = Buffer.concat([...d.pieces(off, len)]);
    t.same(got, naive.subarray(off, off + len), `bytes [${off}, ${off + len})`);
  }
  t.equal(d.md5(0, total), createHash('md5').update(naive).digest('hex'));
  t.equal(new SeededObjectData(7, 64).md5(0, total), d.md5(0, total), 'same seed, same bytes');
  t.not(new SeededObjectData(8, 64).md5(0, total), d.md5(0, total), 'another seed, other bytes');
  const blocks = new Set(Array.from({ length: 5 }, (_, k) => naive.subarray(k * 64, (k + 1) * 64).toString('hex')));
  t.equal(blocks.size, 5, 'no two blocks alike');
  t.throws(() => new SeededObjectData(1, 100), RangeError);
});

t.test('sloManifest lists each segment with its path, etag and size', async (t) => {
  const plan = segmentPlan(10, 4);
  const m = JSON.parse(sloManifest('c_segments', 'big-1', plan, ['a', 'b', 'c'])) as unknown;
  t.same(m, [
    { path: '/c_segments/big-1/00000000', etag: 'a', size_bytes: 4 },
    { path: '/c_segments/big-1/00000001', etag: 'b', size_bytes: 4 },
    { path: '/c_segments/big-1/00000002', etag: 'c', size_bytes: 2 },
  ]);
});

t.test('transferResult: MB/s over wall time; a failed transfer counts as an error, not a figure', async (t) => {
  const ok = transferResult(1e9, 4000);
  t.equal(ok.mbPerSec, 250);
  t.equal(ok.opsPerSec, 0.25);
  t.equal(ok.errors, 0);
  const bad = transferResult(1e9, 4000, 'md5-mismatch');
  t.equal(bad.errors, 1);
  t.same(bad.errorKinds, { 'md5-mismatch': 1 });
  t.ok(Number.isNaN(bad.mbPerSec));
  const a = aggregate([ok, transferResult(1e9, 2000), bad]);
  t.equal(a.mbPerSec.mean, 375, 'the failed round is left out of the mean');
  t.equal(a.errors, 1);
});

t.test('goalLines judges each ratio against 1.5×', async (t) => {
  const w = (system: string, op: 'put' | 'get', ms: number[]): WorkloadRuns => ({ system, op, size: 1e9, concurrency: 1, runs: ms.map((x) => transferResult(1e9, x)) });
  const lines = goalLines([
    { a: w('Swiftlet', 'put', [1000, 1000]), b: w('Swift', 'put', [2000, 2000]) },
    { a: w('Swiftlet', 'get', [1000]), b: w('Swift', 'get', [1200]) },
  ]);
  t.equal(pairRatios({ a: w('Swiftlet', 'put', [1000]), b: w('Swift', 'put', [2000]) }).mbPerSec, 2);
  t.match(lines[0], /upload .*: 2\.00× \(goal ≥ 1\.5×: met\); per round: 2\.00×, 2\.00×$/);
  t.match(lines[1], /download .*: 1\.20× \(goal ≥ 1\.5×: NOT met\); per round: 1\.20×$/);
  // rounds pair up in order; a failed round has no ratio
  const a = w('Swiftlet', 'get', [1000, 1000, 1000]);
  a.runs[1] = transferResult(1e9, 1000, 'short-body');
  t.same(
    roundRatios({ a, b: w('Swift', 'get', [2000, 2000, 500]) }).map((x) => (Number.isFinite(x) ? x : 'none')),
    [2, 'none', 0.5],
  );
});
