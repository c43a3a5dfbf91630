import t from 'tap';
import { cpuJiffies, leastStealOf, settle, stealPercent, stealRuleOf } from '../../bench/settle.js';

t.test('settle returns at once on an idle machine and reports quiet', async (t) => {
  // A busy-share threshold of 100 % is met by any window: one window, then done.
  const r = await settle({ maxMs: 5_000, quietBusy: 1, windowMs: 50 });
  t.equal(r.quiet, true);
  t.ok(r.waitedMs < 5_000);
});

t.test('settle gives up after maxMs when the machine never gets quiet enough', async (t) => {
  // No window can be at or below -1 % busy: it must stop at maxMs and say so.
  const r = await settle({ maxMs: 300, quietBusy: -0.01, windowMs: 50 });
  t.equal(r.quiet, false);
  t.ok(r.waitedMs >= 300, `waited ${r.waitedMs} ms`);
});

t.test('stealPercent is the stolen share of the CPU time between two snapshots', async (t) => {
  t.equal(stealPercent({ steal: 10, total: 1000 }, { steal: 60, total: 1500 }), 10);
  t.equal(stealPercent({ steal: 0, total: 100 }, { steal: 0, total: 100 }), 0, 'no time passed');
  const now = cpuJiffies();
  t.ok(now.total >= now.busy + now.steal, 'total covers busy and steal');
});

t.test('a group hit by steal is run again and the attempt with the least kept', async (t) => {
  const rule = stealRuleOf('10', '2');
  t.same(rule, { maxPct: 10, retries: 2 });
  t.same(stealRuleOf(), { maxPct: 10, retries: 2 }, 'the defaults');
  t.same(stealRuleOf('5', '0'), { maxPct: 5, retries: 0 });
  t.throws(() => stealRuleOf('-1'), /max-steal/);
  t.throws(() => stealRuleOf('x'), /max-steal/);
  t.throws(() => stealRuleOf('10', '-1'), /steal-retries/);

  // steal per attempt, worst run of each: 30, 12, 25 → all three tried, the 12 kept
  const worst = [30, 12, 25];
  const retried: Array<[number, number]> = [];
  let calls = 0;
  const kept = await leastStealOf(
    rule,
    async (n) => {
      calls++;
      return { result: `attempt ${n}`, runs: [{ stealPct: 1 }, { stealPct: worst[n] }, {}] };
    },
    (steal, retry) => retried.push([steal, retry]),
  );
  t.equal(kept, 'attempt 1');
  t.equal(calls, 3, 'no more than 1 + retries attempts');
  t.same(retried, [[30, 1], [12, 2]]);

  // within the limit at once: one attempt
  let once = 0;
  t.equal(await leastStealOf(rule, async () => ({ result: ++once, runs: [{ stealPct: 10 }] })), 1);
  t.equal(once, 1);

  // retries 0: the first attempt whatever its steal
  t.equal(await leastStealOf(stealRuleOf('10', '0'), async (n) => ({ result: n, runs: [{ stealPct: 90 }] })), 0);
});
