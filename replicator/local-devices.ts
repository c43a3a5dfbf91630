import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Ring, RingDevice } from '../ring-builder/ring.js';

/**
 * The ring devices this node serves: same port (and same ip unless the node binds every address)
 * and a device folder present under devicesRoot.
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
