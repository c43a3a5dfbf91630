import { readdirSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { native } from './native.js';

/**
 * CPU and disk priority of a background daemon's process, so that clients' requests come first
 * (Swift runs its daemons under `nice`/`ionice` from its init scripts). Two levels:
 *
 * - `idle`: nice 19 and the idle I/O class: the process gets the CPU and the disk only when
 *   nothing else wants them. The auditor, the one daemon that reads every byte all the time.
 * - `low`: nice 10 and best-effort I/O at its lowest level (7): the replicator, updater and
 *   expirer, whose work is proportional to change and must still make progress under load.
 *
 * On Linux both are per thread, and a thread takes its creator's: so every thread the process has
 * already (V8's, libuv's) is set, and the ones made later (libuv's pool starts on first use) follow
 * the main thread's. The idle class is honoured by the BFQ and CFQ I/O schedulers (mq-deadline and
 * none ignore classes below real-time). Without the native module, or on another system, only the
 * nice value is set (`io: 'unavailable'`).
 */
export type DaemonPriority = 'idle' | 'low';

export const IOPRIO_CLASS_BEST_EFFORT = 2;
export const IOPRIO_CLASS_IDLE = 3;

export const PRIORITIES: Record<DaemonPriority, { nice: number; ioClass: number; ioLevel: number }> = {
  idle: { nice: 19, ioClass: IOPRIO_CLASS_IDLE, ioLevel: 0 },
  low: { nice: 10, ioClass: IOPRIO_CLASS_BEST_EFFORT, ioLevel: 7 },
};

export interface PriorityResult {
  nice: number;
  /** 'idle', 'best-effort 7', or 'unavailable' (no native module / not Linux). */
  io: string;
  /** Threads set (1 where threads cannot be listed). */
  threads: number;
  /** What failed (per thread, first few), if anything. */
  errors: string[];
}

/** The process's threads (Linux), or [0] (this thread) elsewhere. */
function threadIds(): number[] {
  try {
    return readdirSync('/proc/self/task').map(Number);
  } catch {
    return [0];
  }
}

export function applyDaemonPriority(level: DaemonPriority): PriorityResult {
  const want = PRIORITIES[level];
  const errors: string[] = [];
  const tids = threadIds();
  for (const tid of tids) {
    try {
      // Only ever raised: a process started nicer (under `nice -n 19`) keeps its value.
      if (getPriority(tid) < want.nice) setPriority(tid, want.nice);
    } catch (err) {
      if (errors.length < 5) errors.push(`nice ${tid}: ${(err as Error).message}`);
    }
    try {
      native.ioprioSet?.(tid, want.ioClass, want.ioLevel);
    } catch (err) {
      if (errors.length < 5) errors.push(`ioprio ${tid}: ${(err as Error).message}`);
    }
  }
  const io = native.ioprioSet ? (want.ioClass === IOPRIO_CLASS_IDLE ? 'idle' : `best-effort ${want.ioLevel}`) : 'unavailable';
  return { nice: want.nice, io, threads: tids.length, errors };
}
