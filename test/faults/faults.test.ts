import t from 'tap';
import { runFaultSimulation } from './supervisor.js';

/**
 * A few fixed seeds of the fault supervisor in CI (kept short); a longer soak runs on demand:
 *   node dist/test/faults/supervisor.js --duration 600 [--seed N]
 */
const seeds = (process.env.SWIFTLET_FAULT_SEEDS ?? '1,2').split(',').map(Number);
const duration = Number(process.env.SWIFTLET_FAULT_SECONDS ?? 15) * 1000;

for (const seed of seeds) {
  t.test(`fault run, seed ${seed}`, async (t) => {
    const r = await runFaultSimulation({ seed, durationMs: duration });
    t.comment(`seed ${seed}: ${r.ops} ops, ${r.acked} acknowledged writes, ${r.reads} reads, faults: ${r.faults.join('; ')}`);
    t.ok(r.acked > 10, 'the workload got writes through');
    t.ok(r.faults.length > 0, 'faults were injected');
    t.same(r.violations, [], `no violations (replay: node dist/test/faults/supervisor.js --seed ${seed})`);
  });
}
