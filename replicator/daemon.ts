import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { tryLockFile, type HeldLock } from '../common/lock-file.js';
import { saveReport, statusDir, type PassReport } from '../common/pass-report.js';
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/log.js';

export { loadReports, saveReport, statusDir, type PassReport } from '../common/pass-report.js';

/**
 * What every background daemon (replicator, updater, auditor, expirer) looks like: one full pass
 * with `runOnce`, repeated by `runForever`. Each pass's report is saved beside the devices so the
 * storage node can serve it (GET /recon/status) and `swiftlet status` can sum the cluster up.
 */
export interface Daemon {
  readonly name: string;
  /** One full pass over every local device. Never throws for a single bad item: counts it. */
  runOnce(): Promise<PassReport>;
  close?(): Promise<void>;
}

/** A report builder that a pass fills in. */
export function startReport(daemon: string, clock: Clock): { report: PassReport; count(key: string, n?: number): void; error(msg: string): void; finish(): PassReport } {
  const startedAt = clock();
  const report: PassReport = { daemon, startedAt, durationMs: 0, counts: {}, errors: [] };
  return {
    report,
    count(key, n = 1) {
      report.counts[key] = (report.counts[key] ?? 0) + n;
    },
    error(msg) {
      if (report.errors.length < 50) report.errors.push(msg);
      report.counts.failures = (report.counts.failures ?? 0) + 1;
    },
    finish() {
      report.durationMs = clock() - startedAt;
      return report;
    },
  };
}

/** The passes running in this process now: a pass that overlapped another gets no CPU figures. */
const running = new Set<{ shared: boolean }>();
/** The pass locks this process holds. */
const held = new Set<HeldLock>();

/**
 * Releases the locks of the passes running in this process, for a process about to exit in the
 * middle of them (on SIGTERM: a pass is safe to cut anywhere, as it is by kill -9).
 */
export function releasePassLocks(): void {
  for (const lock of held) lock.release();
  held.clear();
}

/** Where a daemon's pass lock lives: beside its report (`<devices>/.swiftlet-status/<daemon>.lock`). */
export function passLockPath(devicesRoot: string, daemon: string): string {
  return join(statusDir(devicesRoot), `${daemon}.lock`);
}

export interface PassOptions {
  devicesRoot: string;
  /** The interval the pass repeats at, recorded in its report. */
  intervalS?: number;
}

/**
 * One pass of `daemon`, as the daemon processes run it: under the daemon's lock (one pass of a
 * daemon at a time on a node, across processes: the daemons' pass and a `--once`), with the CPU the
 * process spent meanwhile, and its report saved. A pass finding the lock held does not run: its
 * report says `skipped` and is not saved (the running pass's report will be).
 */
export async function runPass(daemon: Daemon, opts: PassOptions): Promise<PassReport> {
  const lockPath = passLockPath(opts.devicesRoot, daemon.name);
  mkdirSync(statusDir(opts.devicesRoot), { recursive: true });
  const lock = tryLockFile(lockPath);
  if (!lock) {
    return { daemon: daemon.name, startedAt: Date.now(), durationMs: 0, counts: {}, errors: [], pid: process.pid, skipped: `another pass holds ${lockPath}` };
  }
  held.add(lock);
  const me = { shared: running.size > 0 };
  for (const other of running) other.shared = true;
  running.add(me);
  const cpu = process.cpuUsage();
  try {
    const report = await daemon.runOnce();
    const used = process.cpuUsage(cpu);
    report.pid = process.pid;
    if (opts.intervalS !== undefined) report.intervalS = opts.intervalS;
    if (!me.shared) {
      report.cpuUserMs = Math.round(used.user / 1000);
      report.cpuSystemMs = Math.round(used.system / 1000);
    }
    await saveReport(opts.devicesRoot, report);
    return report;
  } finally {
    running.delete(me);
    held.delete(lock);
    lock.release();
  }
}

/**
 * Runs passes forever, `intervalMs` apart (start to start), saving each report. Stops on signal.
 * Given several daemons (the replicator's object and db passes), runs their passes one after the
 * other, so each pass's CPU is its own.
 */
export async function runForever(
  daemons: Daemon | Daemon[],
  opts: { intervalMs: number; devicesRoot: string; log: Logger; signal?: AbortSignal },
): Promise<void> {
  const list = Array.isArray(daemons) ? daemons : [daemons];
  while (!opts.signal?.aborted) {
    const started = Date.now();
    for (const daemon of list) {
      if (opts.signal?.aborted) break;
      try {
        const report = await runPass(daemon, { devicesRoot: opts.devicesRoot, intervalS: opts.intervalMs / 1000 });
        if (report.skipped) opts.log.info({ daemon: daemon.name, skipped: report.skipped }, 'pass skipped');
        else opts.log.info({ daemon: daemon.name, durationMs: report.durationMs, cpuUserMs: report.cpuUserMs, cpuSystemMs: report.cpuSystemMs, counts: report.counts }, 'pass done');
      } catch (err) {
        opts.log.error({ err, daemon: daemon.name }, 'pass failed');
      }
    }
    await pause(Math.max(0, opts.intervalMs - (Date.now() - started)), opts.signal);
  }
}
/**
 * Waits `ms`, or less if `signal` aborts (not at all if it has). Its abort listener goes once the wait is over: one left
 * behind per pass piled up on the daemon's signal (MaxListenersExceededWarning after 11 passes).
 */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  // Aborted already (a signal during the pass): its abort event has been and gone.
  if (signal?.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}
