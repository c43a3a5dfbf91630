import type { IncomingHttpHeaders } from 'node:http';
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { isSwiftletError, statusForCode } from '../common/errors.js';
import { isDeviceDir, validDeviceName } from './devices.js';
import type { ContainerUpdate, LocalContainerUpdate, SendResult } from './object/container-update.js';

/**
 * A storage node serves object, container and account on one port, so an object replica's
 * container update often targets the node itself (the proxy pairs them that way when it can:
 * ring-builder/update-targets.ts). Such an update is handed straight to the container server's
 * applyObjectRow: the same checks, the same durable row, the same answer, without an HTTP request
 * out of the process and back in (~0.2 ms of CPU on each end per update).
 */
export interface LocalUpdateOptions {
  devicesRoot: string;
  /** The address the rings list this node at (ring_ip, else bind_ip; '0.0.0.0' or '::': any address of this machine). */
  ip: string;
  /** The port the rings list it at (ring_port, else the port it listens on). */
  port: number;
  apply(devicePath: string, account: string, container: string, obj: string, method: string, headers: IncomingHttpHeaders): Promise<number>;
}

/** Headers come from the proxy, but a bound keeps a misbehaving client of the backend from growing the map. */
const MAX_REMEMBERED_HOSTS = 1024;

export function localContainerUpdater(opts: LocalUpdateOptions): LocalContainerUpdate {
  const self = ownAddresses(opts.ip);
  // Asked twice per object write (rowSyncedOnDevice, then send), for the few hosts of the rings.
  const isSelf = new Map<string, boolean>();
  const devicePathOf = (u: ContainerUpdate): string | undefined => {
    let mine = isSelf.get(u.host);
    if (mine === undefined) {
      const target = splitHost(u.host);
      mine = target !== undefined && target.port === opts.port && self.has(target.ip);
      if (isSelf.size < MAX_REMEMBERED_HOSTS) isSelf.set(u.host, mine);
    }
    return mine && validDeviceName(u.device) ? join(opts.devicesRoot, u.device) : undefined;
  };
  return {
    devicePathOf,
    send(u) {
      const devicePath = devicePathOf(u);
      if (devicePath === undefined) return undefined;
      // What the HTTP route answers for a device that is not there; the update is then saved for the updater.
      if (!isDeviceDir(devicePath)) return Promise.resolve({ ok: false, status: 507 });
      const headers: IncomingHttpHeaders = {};
      for (const [k, v] of Object.entries(u.headers)) headers[k.toLowerCase()] = v;
      return apply(opts, devicePath, u, headers);
    },
  };
}

async function apply(opts: LocalUpdateOptions, devicePath: string, u: ContainerUpdate, headers: IncomingHttpHeaders): Promise<SendResult> {
  try {
    const status = await opts.apply(devicePath, u.account, u.container, u.obj, u.op, headers);
    return status >= 200 && status < 300 ? { ok: true, status } : { ok: false, status };
  } catch (error) {
    return isSwiftletError(error) ? { ok: false, status: statusForCode(error.code) } : { ok: false, error };
  }
}

/** "10.0.0.1:6200" or "[fd00::1]:6200". */
export function splitHost(host: string): { ip: string; port: number } | undefined {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(host) ?? /^([^:]+):(\d+)$/.exec(host);
  return m ? { ip: m[1] as string, port: Number(m[2]) } : undefined;
}

function ownAddresses(ip: string): Set<string> {
  if (ip !== '0.0.0.0' && ip !== '::' && ip !== '') return new Set([ip]);
  const all = new Set<string>();
  for (const addrs of Object.values(networkInterfaces())) for (const a of addrs ?? []) all.add(a.address);
  return all;
}
