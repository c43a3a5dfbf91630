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
import { createAuditor } from './auditor.js';
import type { DaemonContext } from './context.js';
import { runForever, saveReport, type Daemon } from './daemon.js';
import { createDbReplicator } from './db-replicator.js';
import { createExpirer } from './expirer.js';
import { createObjectReplicator } from './object-replicator.js';
import { createUpdater } from './updater.js';

/**
 * `swiftlet replicator|updater|auditor|expirer|daemons --config F [--once]`: the background daemons
 * of one storage node, reading that node's config file. `replicator` covers objects, containers
 * and accounts; `daemons` runs all four in one process (what the all-in-one starts per node).
 */
export const DAEMON_NAMES = ['replicator', 'updater', 'auditor', 'expirer', 'daemons'] as const;
export type DaemonCommand = (typeof DAEMON_NAMES)[number];

function intervalFor(name: string, cfg: StorageNodeConfig): number {
  switch (name) {
    case 'updater':
      return cfg.updater_interval_s;
    case 'auditor':
      return cfg.auditor_interval_s;
    case 'expirer':
      return cfg.expirer_interval_s;
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

export function buildDaemons(name: DaemonCommand, ctx: DaemonContext): Daemon[] {
  switch (name) {
    case 'replicator':
      return [createObjectReplicator(ctx), createDbReplicator(ctx)];
    case 'updater':
      return [createUpdater(ctx)];
    case 'auditor':
      return [createAuditor(ctx)];
    case 'expirer':
      return [createExpirer(ctx)];
    case 'daemons':
      return [createUpdater(ctx), createObjectReplicator(ctx), createDbReplicator(ctx), createExpirer(ctx), createAuditor(ctx)];
  }
}

export async function runDaemonCommand(name: DaemonCommand, argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, once: { type: 'boolean', default: false } } });
  if (!values.config) throw new Error(`${name} needs --config FILE (the storage node's config)`);
  const parsed = parseConfig(storageNodeSpec, readJsonConfigFile(values.config), values.config);
  const log = createLogger(name, parsed.log_level);
  // The daemons know their node by the address it binds (the rings' address when bind_ip is empty).
  const bind = await resolveBindIp({ ...parsed, secret: { prefix: parsed.swift_hash_path_prefix, suffix: parsed.swift_hash_path_suffix } });
  if ('error' in bind) throw new SwiftletError('CONFIG', `${name}: ${bind.error}`);
  const cfg = { ...parsed, bind_ip: bind.ip };
  const { ctx, close } = daemonContext(cfg, log);
  const daemons = buildDaemons(name, ctx);
  if (values.once) {
    let failures = 0;
    for (const d of daemons) {
      const report = await d.runOnce();
      await saveReport(cfg.devices, report);
      failures += report.counts.failures ?? 0;
      console.log(JSON.stringify(report));
    }
    for (const d of daemons) await d.close?.();
    await close();
    return failures > 0 ? 1 : 0;
  }
  const stop = new AbortController();
  process.on('SIGTERM', () => stop.abort());
  process.on('SIGINT', () => stop.abort());
  log.info({ daemons: daemons.map((d) => d.name) }, 'daemons started');
  await Promise.all(
    daemons.map((d) =>
      runForever(d, { intervalMs: intervalFor(d.name, cfg) * 1000, devicesRoot: cfg.devices, log, signal: stop.signal }),
    ),
  );
  for (const d of daemons) await d.close?.();
  await close();
  return 0;
}
