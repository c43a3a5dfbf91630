import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';

/**
 * Device flushes (cache flushes / FUA barriers the block layer completed) of the disk a system
 * keeps its data on, so a run can say how many a PUT cost each system: every fsync that has
 * something to commit ends in one, and on this VM each is a trip to the host.
 */

/** The block device ("loop3") holding `path`, or undefined when it is not on one (tmpfs, overlay…). */
export function blockDeviceOf(path: string): string | undefined {
  let source: string;
  try {
    source = execFileSync('findmnt', ['-n', '-o', 'SOURCE', '--target', path], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
  if (!source.startsWith('/dev/')) return undefined;
  const dev = basename(source);
  return existsSync(`/sys/block/${dev}/stat`) ? dev : undefined;
}

/**
 * Flush requests the device has completed since boot: field 16 of /sys/block/<dev>/stat
 * (Documentation/block/stat.rst), undefined on kernels that do not count them.
 */
export function deviceFlushes(dev: string): number | undefined {
  return flushesFromStat(readFileSync(`/sys/block/${dev}/stat`, 'utf8'));
}

/** The flush count in a /sys/block/<dev>/stat line. Exported for tests. */
export function flushesFromStat(stat: string): number | undefined {
  const fields = stat.trim().split(/\s+/).map(Number);
  const flushes = fields[15];
  return fields.length >= 17 && Number.isFinite(flushes) ? flushes : undefined;
}
