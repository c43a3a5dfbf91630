import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { childExited } from '../common/child-exit.js';
import type { Logger } from '../common/log.js';
import { pause } from './daemon.js';

/**
 * `swiftlet daemons`: one child process per daemon kind, as Swift runs one process per daemon.
 * Each child's CPU is then its daemon's alone, so a pass's process.cpuUsage() delta is exactly
 * what that pass cost (replicator/daemon.ts `runPass`), and each runs at its own priority (the
 * auditor idle, the others low: common/priority.ts).
 *
 * The supervisor restarts a child that dies (1 s, doubling to 60 s for one that keeps dying; back to
 * 1 s once a child has run a minute), forwards SIGTERM/SIGINT to the children and exits 0 once
 * they all have. Each child holds an IPC channel to it: when the supervisor dies, even by kill -9,
 * the channel closes and the children stop after their current pass.
 *
 * With `--once` the kinds run one after another (each child one pass, its report on stdout) and
 * the exit status is 1 if any child's was not 0.
 */
export const DAEMON_KINDS = ['replicator', 'updater', 'auditor', 'expirer', 'reaper'] as const;
export type DaemonKind = (typeof DAEMON_KINDS)[number];

/**
 * V8 options of a daemon child: none of the servers' (a daemon's heap is small; their 64 MiB young
 * generation would be resident in each child), and no V8 helper threads: garbage collection and
 * compiling on the main thread, which a daemon never waits for a client on. Measured at idle in
 * the all-in-one: ~9 MiB less private memory per child (30 → 21 MiB).
 */
export const DAEMON_NODE_FLAGS = ['--single-threaded'];

const SWIFTLET_BIN = fileURLToPath(new URL('../bin/swiftlet.js', import.meta.url));

export interface SupervisorOptions {
  configFile: string;
  once: boolean;
  log: Logger;
  kinds?: readonly DaemonKind[];
  /** First restart delay; doubles per quick death up to maxBackoffMs. */
  backoffMs?: number;
  maxBackoffMs?: number;
  /** A child that ran this long is healthy again: the next restart waits backoffMs. */
  stableMs?: number;
  /** After SIGTERM, children still running this long are killed (SIGKILL). */
  stopTimeoutMs?: number;
}

function spawnDaemon(kind: DaemonKind, configFile: string, once: boolean): ChildProcess {
  return spawn(process.execPath, [...DAEMON_NODE_FLAGS, SWIFTLET_BIN, kind, '--config', configFile, ...(once ? ['--once'] : [])], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

export async function runSupervisor(opts: SupervisorOptions): Promise<number> {
  const kinds = opts.kinds ?? DAEMON_KINDS;
  const stop = new AbortController();
  let current: ChildProcess[] = [];
  const onSignal = (): void => {
    if (stop.signal.aborted) return;
    stop.abort();
    opts.log.info('daemons: stopping');
    for (const c of current) c.kill('SIGTERM');
    setTimeout(() => {
      for (const c of current) c.kill('SIGKILL');
    }, opts.stopTimeoutMs ?? 30_000).unref();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    if (opts.once) {
      let status = 0;
      for (const kind of kinds) {
        if (stop.signal.aborted) break;
        const child = spawnDaemon(kind, opts.configFile, true);
        current = [child];
        const { code } = await childExited(child);
        if (code !== 0) status = 1;
      }
      return status;
    }
    await Promise.all(kinds.map((kind) => superviseOne(kind)));
    return 0;
  } finally {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
  }

  /** Keeps one kind's child running until the supervisor stops. */
  async function superviseOne(kind: DaemonKind): Promise<void> {
    const first = opts.backoffMs ?? 1000;
    let backoff = first;
    while (!stop.signal.aborted) {
      const child = spawnDaemon(kind, opts.configFile, false);
      const started = Date.now();
      current.push(child);
      opts.log.info({ daemon: kind, child: child.pid }, 'daemon started');
      const { code, signal } = await childExited(child);
      current = current.filter((c) => c !== child);
      if (stop.signal.aborted) return;
      if (Date.now() - started >= (opts.stableMs ?? 60_000)) backoff = first;
      opts.log.warn({ daemon: kind, child: child.pid, code, signal, restartInMs: backoff }, 'daemon exited, restarting');
      await pause(backoff, stop.signal);
      backoff = Math.min(backoff * 2, opts.maxBackoffMs ?? 60_000);
    }
  }
}
