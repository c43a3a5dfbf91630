import t from 'tap';
import { linearFit, soakFigures, transferFigures, type FlatCriterion, type RssSample } from '../../bench/rss.js';
import { SeededRandom } from '../../common/random.js';

/** The memory suite's verdicts on synthetic RSS series: a leak must read "growing", noise "flat". */
const CRIT: FlatCriterion = { warmUpS: 30, maxSlopeMiBPerMin: 2, maxEndOverFirstHalfMax: 1.1, minJudgedS: 120 };

function soak(rssAt: (t: number) => number, seconds = 600, step = 5): RssSample[] {
  const out: RssSample[] = [];
  for (let t = 0; t <= seconds; t += step) out.push({ t, procs: { proxy: { rssMiB: rssAt(t), hwmMiB: 200 } } });
  return out;
}

t.test('least squares: slope in MiB/min', async (t) => {
  const f = linearFit([0, 60, 120].map((s) => ({ t: s, y: 100 + s / 60 })));
  t.ok(Math.abs(f.slope - 1) < 1e-9);
  t.ok(Number.isNaN(linearFit([{ t: 1, y: 1 }]).slope), 'one point has no slope');
});

t.test('flat, growing and inconclusive', async (t) => {
  const rnd = new SeededRandom(7);
  const noisy = soak(() => 140 + rnd.next() * 6); // GC sawtooth of a few MiB, no trend
  t.equal(soakFigures(noisy, 'proxy', CRIT).verdict, 'flat', 'noise around a level is flat');
  const leak = soak((s) => 140 + (s / 60) * 5 + rnd.next() * 2); // 5 MiB/min
  t.equal(soakFigures(leak, 'proxy', CRIT).verdict, 'growing', 'a steady 5 MiB/min leak is growing');
  const jump = soak((s) => (s > 500 ? 200 : 140));
  t.equal(soakFigures(jump, 'proxy', CRIT).verdict, 'growing', 'ending far above the first half is growing');
  const short = soak(() => 140, 100);
  t.equal(soakFigures(short, 'proxy', CRIT).verdict, 'inconclusive', 'too short a window');
  t.equal(soakFigures(noisy, 'node9', CRIT).verdict, 'inconclusive', 'a process never sampled');
});

t.test('with an offset, the verdict is on RSS less that part', async (t) => {
  const rnd = new SeededRandom(11);
  const cache = (s: number): number => Math.min(32, s / 20); // a cache filling by 3 MiB/min to its 32 MiB bound
  const filling = soak((s) => 140 + cache(s) + rnd.next() * 2);
  t.not(soakFigures(filling, 'proxy', CRIT).verdict, 'flat', 'RSS as it is: the cache filling reads as growth');
  const less = soakFigures(filling, 'proxy', CRIT, cache);
  t.equal(less.verdict, 'flat', 'less the cache: flat');
  t.ok(less.endMiB < 143, 'the figures are of RSS less the cache');
  const leak = soak((s) => 140 + cache(s) + (s / 60) * 5);
  t.equal(soakFigures(leak, 'proxy', CRIT, cache).verdict, 'growing', 'a leak beside the cache still reads as growing');
});

t.test('transfer growth over the idle median', async (t) => {
  const s = soak((x) => (x >= 50 && x <= 80 ? 180 : 140), 100, 1);
  const f = transferFigures(s, 'proxy', 0, 40, 90);
  t.equal(f.baselineMiB, 140);
  t.equal(f.growthMiB, 40);
});
