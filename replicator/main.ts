import { resolveBindIp } from '../ring-builder/node-address.js';
import { SwiftletError } from '../common/errors.js';
import { parseArgs } from 'node:util';
import { systemClock } from '../common/clock.js';
import { parseConfig, readJsonConfigFile, requireHashSecret } from '../common/config.js';
import { backendKeyFrom } from '../common/backend-auth.js';
import { createBackendClient } from '../common/http-client.js';
import { createLogger, type Logger } from '../common/log.js';
import { openRings } from '../ring-builder/rings.js';
import { parseStoragePolicies } from '../common/storage-policy.js';
import { storageNodeSpec, type StorageNodeConfig } from '../storage-node/config.js';
import type { DaemonContext } from './context.js';
import { applyDaemonPriority, type DaemonPriority } from '../common/priority.js';
import { releasePassLocks, runForever, runPass, type Daemon } from './daemon.js';
import { runSupervisor } from './supervisor.js';

/**
 * `swiftlet replicator|updater|auditor|expirer|reaper|daemons --config F [--once]`: the background daemons
 * of one storage node, reading that node's config file. `replicator` covers objects, containers
 * and accounts; `daemons` supervises one child process per daemon (replicator/supervisor.ts; what
 * the all-in-one starts per node). Each daemon process runs its passes one at a time, at its
 * priority (common/priority.ts), each pass under the daemon's lock (replicator/daemon.ts `runPass`).
 */
export const DAEMON_NAMES = ['replicator', 'updater', 'auditor', 'expirer', 'reaper', 'daemons'] as const;
export type DaemonCommand = (typeof DAEMON_NAMES)[number];

function intervalFor(name: string, cfg: StorageNodeConfig): number {
  switch (name) {
    case 'updater':
      return cfg.updater_interval_s;
    case 'auditor':
      return cfg.auditor_interval_s;
    case 'expirer':
      return cfg.expirer_interval_s;
    case 'reaper':
      return cfg.reaper_interval_s;
    default:
      return cfg.replicator_interval_s;
  }
}

export function daemonContext(cfg: StorageNodeConfig, log: Logger): { ctx: DaemonContext; close(): Promise<void> } {
  const secret = requireHashSecret(cfg);
  const policies = parseStoragePolicies(cfg.storage_policies);
  const rings = openRings(cfg.ring_dir, secret, { log, checkIntervalMs: cfg.ring_check_interval_s * 1000 }, policies);
  const backend = createBackendClient({ connectTimeoutMs: cfg.conn_timeout_ms, nodeTimeoutMs: cfg.node_timeout_ms, key: backendKeyFrom(cfg) });
  const ctx: DaemonContext = {
    config: cfg,
    devicesRoot: cfg.devices,
    secret,
    rings,
    policies,
    backend,
    log,
    clock: systemClock,
    fsync: cfg.fsync,
  };
  return {
    ctx,
    close: async () => {
      rings.stop();
      await backend.close();
    },
  };
}

/** A kind's daemons; each process loads only its own daemons' modules (less memory per child). */
export async function buildDaemons(name: Exclude<DaemonCommand, 'daemons'>, ctx: DaemonContext): Promise<Daemon[]> {
  switch (name) {
    case 'replicator': {
      const [{ createObjectReplicator }, { createDbReplicator }] = await Promise.all([import('./object-replicator.js'), import('./db-replicator.js')]);
      return [createObjectReplicator(ctx), createDbReplicator(ctx)];
    }
    case 'updater':
      return [(await import('./updater.js')).createUpdater(ctx)];
    case 'auditor':
      return [(await import('./auditor.js')).createAuditor(ctx)];
    case 'expirer':
      return [(await import('./expirer.js')).createExpirer(ctx)];
    case 'reaper':
      return [(await import('./reaper.js')).createReaper(ctx)];
  }
}

/** The auditor reads all the time: idle CPU and I/O. The others work in proportion to change: low. */
export function priorityFor(name: Exclude<DaemonCommand, 'daemons'>): DaemonPriority {
  return name === 'auditor' ? 'idle' : 'low';
}

export async function runDaemonCommand(name: DaemonCommand, argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, once: { type: 'boolean', default: false } } });
  if (!values.config) throw new Error(`${name} needs --config FILE (the storage node's config)`);
  const parsed = parseConfig(storageNodeSpec, readJsonConfigFile(values.config), values.config);
  const log = createLogger(name, parsed.log_level);
  if (name === 'daemons') {
    requireHashSecret(parsed); // a config no child can start with fails here, not in a restart loop
    return runSupervisor({ configFile: values.config, once: values.once ?? false, log });
  }
  const priority = applyDaemonPriority(priorityFor(name));
  if (priority.errors.length > 0) log.warn({ priority }, 'could not lower every thread\'s priority');
  // The daemons know their node by the address it binds (the rings' address when bind_ip is empty).
  const bind = await resolveBindIp({ ...parsed, secret: { prefix: parsed.swift_hash_path_prefix, suffix: parsed.swift_hash_path_suffix } });
  if ('error' in bind) throw new SwiftletError('CONFIG', `${name}: ${bind.error}`);
  const cfg = { ...parsed, bind_ip: bind.ip };
  const { ctx, close } = daemonContext(cfg, log);
  const daemons = await buildDaemons(name, ctx);
  if (values.once) {
    let failures = 0;
    for (const d of daemons) {
      const report = await runPass(d, { devicesRoot: cfg.devices });
      failures += report.counts.failures ?? 0;
      console.log(JSON.stringify(report));
    }
    for (const d of daemons) await d.close?.();
    await close();
    return failures > 0 ? 1 : 0;
  }
  // Stopped (SIGTERM/SIGINT, or `swiftlet daemons` gone: its IPC channel closes when it dies, even
  // by kill -9): exit now, in the middle of a pass if need be — a pass is safe to cut anywhere, as by
  // kill -9, and one finishing its work against nodes that are stopping too would only log errors.
  const stop = (): void => {
    releasePassLocks();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  if (process.channel) {
    process.on('disconnect', stop);
    if (!process.connected) stop(); // closed already, while this process was loading
  }
  log.info({ daemons: daemons.map((d) => d.name), nice: priority.nice, io: priority.io }, 'daemons started');
  // One pass at a time in this process (the replicator's object pass, then its db pass): each pass's CPU is its own.
  await runForever(daemons, { intervalMs: intervalFor(name, cfg) * 1000, devicesRoot: cfg.devices, log });
  return 0;
}
