import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/log.js';
import { saveReport, type PassReport } from '../common/pass-report.js';
import { isDeviceDir } from './devices.js';
import { sweepTempDir } from './object/tmp-sweep.js';

/**
 * The storage node's sweep of its devices' tmp/ folders (object/tmp-sweep.ts), at start and then
 * every half `tmp_reclaim_age_s` (at most hourly). It runs in the node process, the only writer of
 * tmp/, because only that process knows which temp files are open right now. Each sweep leaves a
 * pass report (daemon `tmp-sweeper`) beside the daemons' ones, so GET /recon/status and
 * `swiftlet status` show it.
 */
export interface TmpSweeperOptions {
  devicesRoot: string;
  /** Files untouched this long (and not open here) are removed; 0 turns sweeping off. */
  ageS: number;
  clock: Clock;
  log: Logger;
}

export interface TmpSweeper {
  /** One sweep of every device now (what the timer runs); never throws. Does nothing when off. */
  sweep(): Promise<PassReport>;
  /** Sweeps every interval from now on (the first after one interval). */
  start(): void;
  stop(): void;
}

const MAX_INTERVAL_MS = 3600_000;

export function tmpSweepIntervalMs(ageS: number): number {
  return Math.max(1000, Math.min(MAX_INTERVAL_MS, (ageS * 1000) / 2));
}

export function createTmpSweeper(opts: TmpSweeperOptions): TmpSweeper {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;

  async function sweep(): Promise<PassReport> {
    const startedAt = opts.clock();
    const counts = { devices: 0, tmpFilesRemoved: 0, tmpBytesRemoved: 0, tmpFilesOpen: 0, tmpFilesYoung: 0, failures: 0 };
    const errors: string[] = [];
    if (!(opts.ageS > 0)) return { daemon: 'tmp-sweeper', startedAt, durationMs: 0, counts, errors }; // off
    let devices: string[] = [];
    try {
      devices = (await readdir(opts.devicesRoot)).filter((d) => !d.startsWith('.')).sort();
    } catch (err) {
      errors.push(`cannot list ${opts.devicesRoot}: ${String(err)}`);
      counts.failures++;
    }
    const before = startedAt - opts.ageS * 1000;
    for (const device of devices) {
      const devicePath = join(opts.devicesRoot, device);
      if (!isDeviceDir(devicePath)) continue;
      counts.devices++;
      try {
        const r = await sweepTempDir(devicePath, { before });
        counts.tmpFilesRemoved += r.removed;
        counts.tmpBytesRemoved += r.bytesRemoved;
        counts.tmpFilesOpen += r.open;
        counts.tmpFilesYoung += r.young;
        if (r.removed > 0) opts.log.info({ device, removed: r.removed, bytes: r.bytesRemoved }, 'removed dead temp files');
      } catch (err) {
        opts.log.error({ err, device }, 'tmp sweep failed');
        if (errors.length < 50) errors.push(`${device}: ${String(err)}`);
        counts.failures++;
      }
    }
    const report: PassReport = { daemon: 'tmp-sweeper', startedAt, durationMs: opts.clock() - startedAt, counts, errors };
    await saveReport(opts.devicesRoot, report).catch((err: unknown) => opts.log.warn({ err }, 'cannot save the tmp sweep report'));
    return report;
  }

  const schedule = (): void => {
    if (stopped || !(opts.ageS > 0)) return;
    timer = setTimeout(() => void sweep().finally(schedule), tmpSweepIntervalMs(opts.ageS));
    timer.unref();
  };

  return {
    sweep,
    start: schedule,
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
    },
  };
}
