import t from 'tap';
import { cpuJiffies, settle, stealPercent } from '../../bench/settle.js';

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
