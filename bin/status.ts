import { parseArgs } from 'node:util';
import { backendKeyFrom } from '../common/backend-auth.js';
import { nodePath } from '../common/backend-path.js';
import { createBackendClient, originOf } from '../common/http-client.js';
import { parseConfig, readJsonConfigFile, clusterSpec } from '../common/config.js';
import type { PassReport } from '../common/pass-report.js';
import { objectRingName, Ring, ringFile, type RingName } from '../ring-builder/ring.js';
import { parseStoragePolicies } from '../common/storage-policy.js';

/**
 * `swiftlet status --config F [--json]`: the cluster's replication state from every storage
 * node's GET /recon/status — what the daemons last did (and the CPU each pass cost), and what is
 * still waiting.
 */
interface NodeStatus {
  node: string;
  reachable: boolean;
  reports: PassReport[];
  devices: Array<{ device: string; asyncPendings: number; quarantined: number }>;
}

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

/**
 * One daemon's last pass on one line: when, how long, how often, the CPU it cost (user + system
 * seconds of the daemon's process during the pass) and what it did.
 * `object-replicator  last pass 12s ago, took 3.20s every 30s, cpu 1.10s (user 0.90 + sys 0.20)  partitions=64 ...`
 */
export function formatReport(r: PassReport, now: number): string {
  const every = r.intervalS !== undefined ? ` every ${r.intervalS}s` : ' (--once)';
  const cpu =
    r.cpuUserMs !== undefined && r.cpuSystemMs !== undefined
      ? `, cpu ${((r.cpuUserMs + r.cpuSystemMs) / 1000).toFixed(2)}s (user ${(r.cpuUserMs / 1000).toFixed(2)} + sys ${(r.cpuSystemMs / 1000).toFixed(2)})`
      : ', cpu -';
  const counts = Object.entries(r.counts)
    .map(([k, v]) => `${k}=${v}`)
    .join(' ');
  return `${r.daemon.padEnd(18)} last pass ${Math.round((now - r.startedAt) / 1000)}s ago, took ${(r.durationMs / 1000).toFixed(2)}s${every}${cpu}  ${counts}`;
}

export async function statusCli(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, json: { type: 'boolean', default: false } } });
  if (!values.config) {
    console.error('status needs --config FILE (any service config: it gives ring_dir and the cluster secret)');
    return 2;
  }
  const raw = readJsonConfigFile(values.config);
  const cfg = parseConfig(clusterSpec, Object.fromEntries(Object.entries(raw).filter(([k]) => k in clusterSpec)), values.config);
  const secret = { prefix: cfg.swift_hash_path_prefix, suffix: cfg.swift_hash_path_suffix };
  const nodes = new Set<string>();
  const objectRings = parseStoragePolicies(cfg.storage_policies)
    .all()
    .map((p) => objectRingName(p.index));
  for (const name of ['account', 'container', ...objectRings] as RingName[]) {
    for (const d of Ring.loadSync(ringFile(cfg.ring_dir, name), secret).allDevices()) nodes.add(`${d.ip}:${d.port}`);
  }
  const statuses: NodeStatus[] = [];
  const backend = createBackendClient({ connectTimeoutMs: 2000, nodeTimeoutMs: 5000, key: backendKeyFrom(cfg) });
  for (const node of [...nodes].sort()) {
    try {
      const res = await backend.request(originOf(node), 'GET', nodePath('recon', 'status'));
      const body = (await res.body.json()) as Omit<NodeStatus, 'node' | 'reachable'>;
      statuses.push({ node, reachable: res.statusCode === 200, ...body });
    } catch {
      statuses.push({ node, reachable: false, reports: [], devices: [] });
    }
  }
  await backend.close();
  const count = (key: string, daemonPrefix?: string): number =>
    sum(statuses.flatMap((s) => s.reports.filter((r) => !daemonPrefix || r.daemon.includes(daemonPrefix)).map((r) => r.counts[key] ?? 0)));
  const summary = {
    nodes: statuses.length,
    unreachable: statuses.filter((s) => !s.reachable).map((s) => s.node),
    replicasMissing: count('suffixesSynced') + count('dbsSynced'),
    handoffPartitionsPending: count('handoffPartitionsPending') + count('handoffDbsPending'),
    quarantined: sum(statuses.flatMap((s) => s.devices.map((d) => d.quarantined))),
    asyncPendings: sum(statuses.flatMap((s) => s.devices.map((d) => d.asyncPendings))),
    failures: count('failures'),
  };
  if (values.json) {
    console.log(JSON.stringify({ summary, nodes: statuses }, null, 2));
    return 0;
  }
  const now = Date.now();
  for (const s of statuses) {
    console.log(`${s.node}  ${s.reachable ? 'up' : 'UNREACHABLE'}  devices: ${s.devices.map((d) => d.device).join(',') || '-'}`);
    for (const r of s.reports) console.log(`  ${formatReport(r, now)}`);
  }
  console.log(
    `replicas missing (out-of-sync suffixes/dbs found in the last passes): ${summary.replicasMissing}; handoff partitions pending: ${summary.handoffPartitionsPending}; ` +
      `quarantined objects: ${summary.quarantined}; async pendings: ${summary.asyncPendings}; daemon failures: ${summary.failures}` +
      (summary.unreachable.length ? `; unreachable: ${summary.unreachable.join(', ')}` : ''),
  );
  return 0;
}
