import { mkdirSync } from 'node:fs';
import { RingBuilder } from './builder.js';
import { builderFile, objectRingName, ringFile, writeRingFile, type RingName } from './ring.js';

export interface ClusterDevice {
  region: number;
  zone: number;
  ip: string;
  port: number;
  device: string;
  weight: number;
  meta?: string;
}

export interface ClusterRingOptions {
  partPower: number;
  replicas: number;
  minPartHours: number;
  seed: number;
  /** Time given to the builders (min_part_hours bookkeeping); defaults to the system clock. */
  now?: number;
  /** More storage policies' object rings (`object-<index>`, index > 0), each with its own replica count. */
  policyRings?: Array<{ index: number; replicas: number }>;
}

export const RING_NAMES: readonly RingName[] = ['account', 'container', 'object'];

/**
 * Creates the account, container and object builders over the same devices (and one object ring
 * per extra storage policy in `policyRings`), rebalances them and writes
 * `<ringDir>/<name>.builder` and `<ringDir>/<name>.ring.gz`. For the all-in-one start and
 * multi-process tests. Each ring gets its own seed (derived from `seed`), as separately built
 * rings would. Returns the ring file paths.
 */
export function createClusterRings(ringDir: string, devices: ClusterDevice[], opts: ClusterRingOptions): Record<RingName, string> {
  mkdirSync(ringDir, { recursive: true });
  const now = opts.now ?? Date.now();
  const out = {} as Record<RingName, string>;
  const rings: Array<{ name: RingName; replicas: number }> = [
    ...RING_NAMES.map((name) => ({ name, replicas: opts.replicas })),
    ...(opts.policyRings ?? []).filter((p) => p.index > 0).map((p) => ({ name: objectRingName(p.index), replicas: p.replicas })),
  ];
  rings.forEach(({ name, replicas }, i) => {
    const b = new RingBuilder(opts.partPower, replicas, opts.minPartHours);
    for (const d of devices) b.addDevice(d);
    b.rebalance({ seed: (opts.seed + i * 0x9e3779b1) >>> 0, now });
    b.saveBuilder(builderFile(ringDir, name));
    const file = ringFile(ringDir, name);
    writeRingFile(file, b.toRingData());
    out[name] = file;
  });
  return out;
}
