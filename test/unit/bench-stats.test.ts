import t from 'tap';
import { fmt, fmtSpread, meanSpread, percentile, ratio, summarizeLatencies } from '../../bench/stats.js';

t.test('percentile is nearest-rank', async (t) => {
  const xs = Array.from({ length: 1000 }, (_, i) => i + 1); // 1..1000
  t.equal(percentile(xs, 50), 500);
  t.equal(percentile(xs, 99), 990);
  t.equal(percentile(xs, 99.9), 999);
  t.equal(percentile(xs, 100), 1000);
  t.equal(percentile(xs, 0), 1);
  t.equal(percentile([7], 99.9), 7);
  t.equal(percentile([1, 2], 50), 1);
  t.equal(percentile([1, 2], 51), 2);
  t.ok(Number.isNaN(percentile([], 50)));
});

t.test('summarizeLatencies sorts a copy', async (t) => {
  const input = [5, 1, 4, 2, 3];
  const s = summarizeLatencies(input);
  t.same(input, [5, 1, 4, 2, 3], 'input untouched');
  t.same({ n: s.n, min: s.minMs, max: s.maxMs, mean: s.meanMs, p50: s.p50Ms, p99: s.p99Ms, p999: s.p999Ms }, { n: 5, min: 1, max: 5, mean: 3, p50: 3, p99: 5, p999: 5 });
  t.ok(Number.isNaN(summarizeLatencies([]).p50Ms));
});

t.test('meanSpread: mean ± sample standard deviation, NaN ignored', async (t) => {
  const s = meanSpread([2, 4, 4, 4, 5, 5, 7, 9]);
  t.equal(s.n, 8);
  t.equal(s.mean, 5);
  t.ok(Math.abs(s.stdev - 2.138) < 0.001);
  t.same(meanSpread([3]), { n: 1, mean: 3, stdev: 0, min: 3, max: 3 });
  t.equal(meanSpread([NaN, 1, 3]).mean, 2);
  t.equal(meanSpread([]).n, 0);
});

t.test('ratio and formatting', async (t) => {
  t.equal(ratio(3, 2), 1.5);
  t.ok(Number.isNaN(ratio(1, 0)));
  t.ok(Number.isNaN(ratio(NaN, 1)));
  const table: Array<[number, string]> = [
    [12345.6, '12346'],
    [1234.5, '1235'],
    [123.456, '123'],
    [12.345, '12.3'],
    [1.2345, '1.23'],
    [0.012345, '0.0123'],
    [0, '0'],
    [-2.5, '-2.50'],
    [NaN, '—'],
  ];
  for (const [x, want] of table) t.equal(fmt(x), want, String(x));
  t.equal(fmtSpread(meanSpread([10, 12])), '11.0 ± 1.4');
  t.equal(fmtSpread(meanSpread([10])), '10.0');
  t.equal(fmtSpread(meanSpread([])), '—');
});
