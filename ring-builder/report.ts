import type { RingDevice } from './ring-format.js';
import { LEVEL_NAMES, type TierTree } from './tiers.js';
import { deviceBalance, dispersion, maxBalance, partsPerDevice, wantedPerDevice, MAX_BALANCE } from './stats.js';
import { NO_DEVICE } from './ring-format.js';

export interface DeviceReport extends RingDevice {
  /** Partition-replicas on the device. */
  parts: number;
  /** Its weighted share, capped by dispersion. */
  wanted: number;
  /** % above (+) or below (−) wanted. */
  balance: number;
  removing: boolean;
}

export interface RingReport {
  partPower: number;
  partitions: number;
  replicas: number;
  minPartHours: number;
  regions: number;
  zones: number;
  devices: DeviceReport[];
  unassigned: number;
  balance: number;
  dispersion: number;
  /** Partitions with more replicas than allowed in one region / zone / ip / device. */
  undispersed: { region: number; zone: number; ip: number; device: number };
  /** Most replicas of one partition each tier may hold, by tier label (`r1`, `r1z2`, `r1z2-10.0.0.1`). */
  maxReplicasByTier: Record<string, number>;
  /** The report as swift-ring-builder-like text. */
  text: string;
}

export interface ReportInput {
  partPower: number;
  replicas: number;
  minPartHours: number;
  devices: ReadonlyArray<RingDevice | null>;
  removing: ReadonlySet<number>;
  rows: ReadonlyArray<Uint16Array>;
  tree: TierTree;
}

export function buildReport(i: ReportInput): RingReport {
  const n = i.devices.length;
  const partitions = 2 ** i.partPower;
  const parts = partsPerDevice(i.rows, n);
  const wanted = wantedPerDevice(i.tree, n);
  const live = i.devices.map((d) => (d && !i.removing.has(d.id) ? d : null));
  const disp = dispersion(i.rows, i.tree, partitions);
  let unassigned = 0;
  for (const row of i.rows) for (const d of row) if (d === NO_DEVICE) unassigned++;
  const devices: DeviceReport[] = i.devices
    .filter((d): d is RingDevice => d !== null)
    .map((d) => ({
      ...d,
      parts: parts[d.id],
      wanted: round2(wanted[d.id]),
      balance: round2(Math.max(-MAX_BALANCE, Math.min(MAX_BALANCE, deviceBalance(parts[d.id], wanted[d.id])))),
      removing: i.removing.has(d.id),
    }));
  const maxReplicasByTier: Record<string, number> = {};
  for (let node = 1; node < i.tree.nodeCount; node++) {
    if (i.tree.level[node] < 4) maxReplicasByTier[i.tree.label[node]] = i.tree.cap[node];
  }
  const r: Omit<RingReport, 'text'> = {
    partPower: i.partPower,
    partitions,
    replicas: i.replicas,
    minPartHours: i.minPartHours,
    regions: new Set(devices.map((d) => d.region)).size,
    zones: new Set(devices.map((d) => `${d.region}/${d.zone}`)).size,
    devices,
    unassigned,
    balance: round2(maxBalance(live, parts, wanted)),
    dispersion: round2(disp.percent),
    undispersed: { region: disp.byLevel[1], zone: disp.byLevel[2], ip: disp.byLevel[3], device: disp.byLevel[4] },
    maxReplicasByTier,
  };
  return { ...r, text: formatReport(r) };
}

export function formatReport(r: Omit<RingReport, 'text'>): string {
  const lines = [
    `${r.partitions} partitions, ${r.replicas} replicas, ${r.regions} regions, ${r.zones} zones, ${r.devices.length} devices, ` +
      `${r.balance.toFixed(2)} balance, ${r.dispersion.toFixed(2)} dispersion`,
    `The minimum number of hours before a partition can be reassigned is ${r.minPartHours}`,
  ];
  if (r.unassigned > 0) lines.push(`${r.unassigned} partition-replicas are not assigned: run rebalance`);
  const u = r.undispersed;
  lines.push(
    `Partitions with too many replicas in one ${LEVEL_NAMES[1]}: ${u.region}, ${LEVEL_NAMES[2]}: ${u.zone}, ${LEVEL_NAMES[3]}: ${u.ip}, ${LEVEL_NAMES[4]}: ${u.device}`,
  );
  const header = ['id', 'region', 'zone', 'ip address:port', 'name', 'weight', 'partitions', 'wanted', 'balance', 'flags', 'meta'];
  const rows = r.devices.map((d) => [
    String(d.id),
    String(d.region),
    String(d.zone),
    `${d.ip.includes(':') ? `[${d.ip}]` : d.ip}:${d.port}`,
    d.device,
    d.weight.toFixed(2),
    String(d.parts),
    d.wanted.toFixed(2),
    d.balance.toFixed(2),
    d.removing ? 'DEL' : '',
    d.meta,
  ]);
  const widths = header.map((h, c) => Math.max(h.length, ...rows.map((row) => row[c].length)));
  const fmt = (row: string[]): string => row.map((cell, c) => (c === 3 || c === 4 || c >= 9 ? cell.padEnd(widths[c]) : cell.padStart(widths[c]))).join('  ').trimEnd();
  lines.push('Devices:', `  ${fmt(header)}`, ...rows.map((row) => `  ${fmt(row)}`));
  return lines.join('\n') + '\n';
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
