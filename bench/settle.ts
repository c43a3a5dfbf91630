import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BenchUsageError, parseCount } from './args.js';

/** Jiffies the CPUs spent working (user, nice, system, irq, softirq), lost to the hypervisor (steal), and in all, from /proc/stat. */
export function cpuJiffies(): { busy: number; steal: number; total: number } {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0] ?? '';
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = line.trim().split(/\s+/).slice(1).map(Number);
  const busy = user + nice + system + irq + softirq;
  return { busy, steal, total: busy + idle + iowait + steal };
}

export interface SettleOptions {
  /** Give up waiting for quiet after this long. */
  maxMs: number;
  /** Quiet: at most this share of the CPUs busy over one `windowMs`. */
  quietBusy: number;
  windowMs: number;
}

export const DEFAULT_SETTLE: SettleOptions = { maxMs: 10_000, quietBusy: 0.1, windowMs: 500 };

/**
 * Before a measured run in a side-by-side: writes back what the previous run left dirty (`sync`)
 * and waits until the machine is quiet, so one system's deferred work (page and journal
 * writeback, background merges) is not billed to the other system's run. Both systems get the
 * same treatment. Resolves with how long it waited and whether quiet was reached.
 */
export async function settle(o: SettleOptions = DEFAULT_SETTLE): Promise<{ waitedMs: number; quiet: boolean }> {
  const start = Date.now();
  spawnSync('sync', { stdio: 'ignore' });
  for (;;) {
    const a = cpuJiffies();
    await sleep(o.windowMs);
    const b = cpuJiffies();
    const total = b.total - a.total;
    const quiet = total > 0 && (b.busy - a.busy) / total <= o.quietBusy;
    const waitedMs = Date.now() - start;
    if (quiet || waitedMs >= o.maxMs) return { waitedMs, quiet };
  }
}

/** The share of CPU time (%) the hypervisor took between two snapshots: host noise on a VM. */
export function stealPercent(a: { steal: number; total: number }, b: { steal: number; total: number }): number {
  const total = b.total - a.total;
  return total > 0 ? Math.round(((b.steal - a.steal) / total) * 1000) / 10 : 0;
}

/**
 * Host noise: on a VM the hypervisor takes CPU time away (steal), on this machine 1–60 % of it in
 * bursts of seconds to minutes, and a run it hits measures the host more than the system. A
 * group of runs during one of which more than `maxPct` % was taken is run again, up to `retries`
 * more times, for either system alike; the attempt with the least steal is kept.
 */
export interface StealRule {
  maxPct: number;
  retries: number;
}

/** From `--max-steal` (default 10 %) and `--steal-retries` (default 2; 0 keeps every first attempt). */
export function stealRuleOf(maxSteal = '10', retries = '2'): StealRule {
  const maxPct = Number(maxSteal);
  if (maxSteal.trim() === '' || !Number.isFinite(maxPct) || maxPct < 0) throw new BenchUsageError('--max-steal must be a percentage ≥ 0');
  return { maxPct, retries: parseCount(retries, '--steal-retries', 0) };
}

/**
 * Runs `attempt` (0, 1, …) until the worst steal among the runs it returns is within the rule or
 * the retries are used up; resolves with the result of the attempt that had the least.
 */
export async function leastStealOf<T>(
  rule: StealRule,
  attempt: (n: number) => Promise<{ result: T; runs: Array<{ stealPct?: number }> }>,
  onRetry: (steal: number, retry: number) => void = () => {},
): Promise<T> {
  let kept: { result: T; steal: number } | undefined;
  for (let n = 0; ; n++) {
    const { result, runs } = await attempt(n);
    const steal = Math.max(0, ...runs.map((r) => r.stealPct ?? 0));
    if (!kept || steal < kept.steal) kept = { result, steal };
    if (steal <= rule.maxPct || n >= rule.retries) return kept.result;
    onRetry(steal, n + 1);
  }
}
