import { lookup } from 'node:dns/promises';
import { stat } from 'node:fs/promises';
import { isIP } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { HashSecret } from '../common/hash-path.js';
import { objectRingName, Ring, ringFile, type RingDevice, type RingName } from './ring.js';
import { parseStoragePolicies } from '../common/storage-policy.js';

/**
 * Where a storage node listens when its config leaves `bind_ip` empty (the default): the address
 * the rings list it at, and only that one, so its backend API is not offered on every interface
 * of the host (Swift's servers bind 0.0.0.0 unless told otherwise). The node is found in the rings
 * as in Swift: devices at its port whose folder exists under `devices` and whose host is this
 * machine (with `ring_ip` set, that address; behind NAT it is not local: set bind_ip then).
 */
export interface BindAddressInput {
  devices: RingDevice[];
  port: number;
  hasDevice(name: string): Promise<boolean>;
  /** Whether a ring host (an IP or a name) is an address of this machine. */
  isLocal(host: string): Promise<boolean>;
}

export type BindAddress = { ip: string } | { error: string };

/** The pure decision, over the rings' devices. */
export async function ringBindAddress(input: BindAddressInput): Promise<BindAddress> {
  const hosts = new Set<string>();
  for (const d of input.devices) {
    if (d.port !== input.port || hosts.has(d.ip)) continue;
    if (!(await input.hasDevice(d.device))) continue;
    if (await input.isLocal(d.ip)) hosts.add(d.ip);
  }
  if (hosts.size === 1) return { ip: [...hosts][0] as string };
  if (hosts.size === 0) {
    return {
      error: `no ring device at port ${input.port} with a device folder here has an address of this host: set bind_ip (0.0.0.0 for every interface) or ring_ip`,
    };
  }
  return { error: `this host is in the rings at several addresses (${[...hosts].sort().join(', ')}): set bind_ip` };
}

function localAddresses(): Set<string> {
  const out = new Set<string>(['127.0.0.1', '::1']);
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) out.add(a.address);
  return out;
}

/**
 * `bind_ip` for a storage node or its daemons: as configured, else the address the rings at
 * `ring_dir` list this host at (a hostname is resolved and must be one of ours).
 */
export async function resolveBindIp(cfg: {
  bind_ip: string;
  bind_port: number;
  ring_ip: string;
  ring_port: number;
  ring_dir: string;
  devices: string;
  secret: HashSecret;
  /** The cluster's storage policies: each has an object ring to look in. */
  storage_policies?: unknown;
}): Promise<BindAddress> {
  if (cfg.bind_ip) return { ip: cfg.bind_ip };
  const devices: RingDevice[] = [];
  const objectRings = parseStoragePolicies(cfg.storage_policies)
    .all()
    .map((p) => objectRingName(p.index));
  for (const name of [...objectRings, 'container', 'account'] as RingName[]) {
    try {
      // With ring_ip set, only that address is ours to find (and bindable only if it is local).
      devices.push(...Ring.loadSync(ringFile(cfg.ring_dir, name), cfg.secret).allDevices().filter((d) => !cfg.ring_ip || d.ip === cfg.ring_ip));
    } catch {
      /* a ring not written yet: the others may tell */
    }
  }
  if (devices.length === 0) return { error: `no rings in ${cfg.ring_dir} to find this node's address in: set bind_ip` };
  const mine = localAddresses();
  return ringBindAddress({
    devices,
    port: cfg.ring_port || cfg.bind_port,
    hasDevice: async (name) => (await stat(join(cfg.devices, name)).catch(() => undefined))?.isDirectory() ?? false,
    isLocal: async (host) => {
      if (isIP(host)) return mine.has(host);
      const found = await lookup(host, { all: true }).catch(() => []);
      return found.some((a) => mine.has(a.address));
    },
  });
}
