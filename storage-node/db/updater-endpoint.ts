import { stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { validDeviceName } from '../devices.js';
import type { DbServers } from './index.js';

/**
 * `POST /recon/retry-account-updates?device=<name>[&limit=<n>]`: re-sends the container stats
 * that an account server has not acknowledged yet (the pending markers in the device's LevelDB).
 *
 * Only the storage-node process may open its LevelDBs (LevelDB holds a lock), so the updater
 * daemon, a separate process, asks the node to do it over HTTP. Answers 200 with the
 * RetryReport as JSON; 400 for a bad device name or limit; 507 when the device is not mounted.
 * A device without a db/ folder never held a container: it answers an empty report rather than
 * creating a database there.
 *
 * Wire it as `servers.extra` of createStorageNodeHttpServer. Answers false for any other request
 * so the router carries on.
 */
export const RETRY_ACCOUNT_UPDATES_PATH = '/recon/retry-account-updates';

export function createAccountUpdateRetryHandler(dbs: DbServers, devicesRoot: string): (req: IncomingMessage, res: ServerResponse) => Promise<boolean> {
  return async (req, res) => {
    // The raw path, not a parsed URL's (which would resolve dot segments).
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    if ((q === -1 ? raw : raw.slice(0, q)) !== RETRY_ACCOUNT_UPDATES_PATH) return false;
    const url = { searchParams: new URLSearchParams(q === -1 ? '' : raw.slice(q + 1)) };
    req.resume(); // no body expected: drain whatever came so the connection stays usable
    if (req.method !== 'POST') {
      reply(res, 405, { error: 'use POST' }, { Allow: 'POST' });
      return true;
    }
    const device = url.searchParams.get('device') ?? '';
    if (!validDeviceName(device)) {
      reply(res, 400, { error: 'device query parameter required' });
      return true;
    }
    const limitStr = url.searchParams.get('limit');
    if (limitStr !== null && !/^[1-9]\d*$/.test(limitStr)) {
      reply(res, 400, { error: 'limit must be a positive integer' });
      return true;
    }
    const devicePath = join(devicesRoot, device);
    if (!(await isDir(devicePath))) {
      reply(res, 507, { error: `${device} is not mounted` });
      return true;
    }
    if (!(await isDir(join(devicePath, 'db')))) {
      reply(res, 200, { attempted: 0, succeeded: 0, failed: 0, noTarget: 0 });
      return true;
    }
    // resolveTarget is left out: the storage node knows nothing of rings, so markers that never
    // had an account target stay pending and are reported as noTarget.
    const report = await dbs.retryPendingAccountUpdates(devicePath, limitStr === null ? {} : { limit: Number(limitStr) });
    reply(res, 200, report);
    return true;
  };
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const buf = Buffer.from(JSON.stringify(body));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(buf.length), ...headers });
  res.end(buf);
}
