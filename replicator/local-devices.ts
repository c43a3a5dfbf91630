import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Ring, RingDevice } from '../ring-builder/ring.js';

/**
 * The ring devices this node serves: same port (and same ip unless the node binds every address)
 * and a device folder present under devicesRoot. Pass the ring_ip/ring_port the node is known by.
 */
export async function localDevices(ring: Ring, devicesRoot: string, bindIp: string, bindPort: number): Promise<RingDevice[]> {
  const out: RingDevice[] = [];
  for (const d of ring.allDevices()) {
    if (d.port !== bindPort) continue;
    if (bindIp !== '0.0.0.0' && bindIp !== '::' && d.ip !== bindIp) continue;
    try {
      if ((await stat(join(devicesRoot, d.device))).isDirectory()) out.push(d);
    } catch {
      /* not here (or unmounted): skip */
    }
  }
  return out;
}

/** The ip/port a node is listed at in the rings (ring_ip/ring_port override bind_ip/bind_port). */
export function ringAddress(cfg: { bind_ip: string; bind_port: number; ring_ip: string; ring_port: number }): { ip: string; port: number } {
  return { ip: cfg.ring_ip || cfg.bind_ip, port: cfg.ring_port || cfg.bind_port };
}

/** localDevices for a storage node config. */
export function localDevicesFor(
  ring: Ring,
  cfg: { devices: string; bind_ip: string; bind_port: number; ring_ip: string; ring_port: number },
): Promise<RingDevice[]> {
  const { ip, port } = ringAddress(cfg);
  return localDevices(ring, cfg.devices, ip, port);
}

/** Where this node's own storage node answers (bind 0.0.0.0 → loopback). */
export function localNodeHost(bindIp: string, bindPort: number): string {
  if (bindIp === '0.0.0.0' || bindIp === '') return `127.0.0.1:${bindPort}`;
  if (bindIp === '::') return `[::1]:${bindPort}`;
  return bindIp.includes(':') ? `[${bindIp}]:${bindPort}` : `${bindIp}:${bindPort}`;
}
