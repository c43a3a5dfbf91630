import { saveReport, type PassReport } from '../common/pass-report.js';
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

/** Runs passes forever, `intervalMs` apart (start to start), saving each report. Stops on signal. */
export async function runForever(
  daemon: Daemon,
  opts: { intervalMs: number; devicesRoot: string; log: Logger; signal?: AbortSignal },
): Promise<void> {
  while (!opts.signal?.aborted) {
    const started = Date.now();
    try {
      const report = await daemon.runOnce();
      await saveReport(opts.devicesRoot, report);
      opts.log.info({ daemon: daemon.name, durationMs: report.durationMs, counts: report.counts }, 'pass done');
    } catch (err) {
      opts.log.error({ err, daemon: daemon.name }, 'pass failed');
    }
    await pause(Math.max(0, opts.intervalMs - (Date.now() - started)), opts.signal);
  }
}

/**
 * Waits `ms`, or less if `signal` aborts. Its abort listener goes once the wait is over: one left
 * behind per pass piled up on the daemon's signal (MaxListenersExceededWarning after 11 passes).
 */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
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
