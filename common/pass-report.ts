import { mkdir, readFile, readdir, rename, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The report a daemon pass leaves beside the devices: the daemons write it, the storage node
 * serves it (GET /recon/status) and `swiftlet status` sums the cluster up.
 */
export interface PassReport {
  daemon: string;
  startedAt: number;
  durationMs: number;
  /** Daemon-specific counters: partitions, suffixesSynced, objectsPushed, failures, quarantined... */
  counts: Record<string, number>;
  errors: string[];
  /**
   * CPU the daemon's process spent during the pass (process.cpuUsage() deltas), in ms. Exact only
   * when no other pass ran in that process meanwhile, which is how `swiftlet daemons` runs them
   * (one child process per daemon, passes one after another): absent otherwise.
   */
  cpuUserMs?: number;
  cpuSystemMs?: number;
  /** Seconds from the start of one pass to the next (absent for a `--once`). */
  intervalS?: number;
  /** The process that ran the pass. */
  pid?: number;
  /** Set when the pass did not run: another process's pass of this daemon held its lock (never saved). */
  skipped?: string;
}

/** Where pass reports live: a folder next to the devices (not inside one, so it is never a device). */
export function statusDir(devicesRoot: string): string {
  return join(devicesRoot, '.swiftlet-status');
}

let saves = 0;

/**
 * Replaces the daemon's report atomically. The temp name is the writer's own: two processes
 * running the same daemon (the daemons and a `--once`) save at the same moment, and with one
 * shared name the second rename found the file already moved (ENOENT) and failed its pass.
 */
export async function saveReport(devicesRoot: string, report: PassReport): Promise<void> {
  const dir = statusDir(devicesRoot);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${report.daemon}.json.${process.pid}-${saves++}.tmp`);
  try {
    await writeFile(tmp, JSON.stringify(report));
    await rename(tmp, join(dir, `${report.daemon}.json`));
  } catch (e) {
    await unlink(tmp).catch(() => undefined);
    throw e;
  }
}

export async function loadReports(devicesRoot: string): Promise<PassReport[]> {
  const dir = statusDir(devicesRoot);
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return [];
  }
  const out: PassReport[] = [];
  for (const n of names.sort()) {
    if (!n.endsWith('.json') || n.startsWith('.')) continue;
    try {
      out.push(JSON.parse(await readFile(join(dir, n), 'utf8')) as PassReport);
    } catch {
      /* being replaced */
    }
  }
  return out;
}

