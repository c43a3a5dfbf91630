import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

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
