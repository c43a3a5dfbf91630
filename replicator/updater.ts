import { mkdir, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { nodePath, withQuery } from '../common/backend-path.js';
import { discardBody } from '../common/http-client.js';
import { isSwiftletError } from '../common/errors.js';
import { Timestamp } from '../common/timestamp.js';
import type { RetryReport } from '../storage-node/db/account-update.js';
import { RETRY_ACCOUNT_UPDATES_PATH } from '../storage-node/db/updater-endpoint.js';
import { listAsyncPendings, loadAsyncPending, removeAsyncPending, sendContainerUpdate, type AsyncPendingEntry, type ContainerUpdate, type SendResult } from '../storage-node/object/container-update.js';
import { containerUpdateTargets, hostOf } from '../ring-builder/update-targets.js';
import type { DaemonContext } from './context.js';
import { SINGLE_POLICY } from '../common/storage-policy.js';
import { startReport, type Daemon, type PassReport } from './daemon.js';
import { localDevices, ringAddress } from './local-devices.js';

/**
 * The updater (Swift's object-updater and the account half of the container-updater):
 *
 * 1. Object → container: every async pending on each local object device is re-sent to the
 *    container replica it was meant for, and removed once that replica answers 2xx.
 *    A 404 means that replica has no such container. It may only be late (the container was
 *    created while it was down and replication has not brought it yet), so, like Swift, we keep
 *    retrying — but only until the update is older than reclaim_age_s: by then replication has
 *    long delivered any container that exists, and deleted rows are reclaimed at the same age, so
 *    the update can no longer matter. Such updates are dropped and counted (`dropped`).
 *    A file that is not an update is moved to `<device>/quarantined/async_pending/` (`corrupt`).
 *    An update saved without a host (an expiring-queue row DELETE, storage-node/object/
 *    expiring-update.ts) goes to every primary of its container by the container ring.
 * 2. Container → account: stats the account servers have not acknowledged live in the storage
 *    node's LevelDB, which only that process may open; we ask it to re-send them with
 *    `POST /recon/retry-account-updates?device=<d>` for each local container device.
 *
 * Counts: asyncPendings, successes, failures, notFound, dropped, corrupt,
 * accountUpdatesSent, accountUpdatesFailed, accountUpdatesNoTarget.
 */

export interface UpdaterOptions {
  /** Where the local storage node answers; default from bind_ip/bind_port (0.0.0.0 → 127.0.0.1). */
  nodeUrl?: string;
}

export function createUpdater(ctx: DaemonContext, opts: UpdaterOptions = {}): Daemon {
  const nodeUrl = opts.nodeUrl ?? localNodeUrl(ctx.config.bind_ip, ctx.config.bind_port);
  return {
    name: 'updater',
    async runOnce(): Promise<PassReport> {
      const pass = startReport('updater', ctx.clock);
      const { ip, port } = ringAddress(ctx.config);
      // A device holds async pendings of whichever policies' objects it stores (one folder per device).
      const objectDevices = new Set<string>();
      for (const { index } of (ctx.policies ?? SINGLE_POLICY).all()) {
        for (const dev of await localDevices(ctx.rings.object(index), ctx.devicesRoot, ip, port)) objectDevices.add(dev.device);
      }
      for (const device of [...objectDevices].sort()) {
        await sendAsyncPendings(ctx, join(ctx.devicesRoot, device), pass);
      }
      for (const dev of await localDevices(ctx.rings.container(), ctx.devicesRoot, ip, port)) {
        await retryAccountUpdates(ctx, nodeUrl, dev.device, pass);
      }
      return pass.finish();
    },
  };
}

type Pass = ReturnType<typeof startReport>;

function localNodeUrl(bindIp: string, bindPort: number): string {
  if (bindIp === '0.0.0.0' || bindIp === '') return `http://127.0.0.1:${bindPort}`;
  if (bindIp === '::') return `http://[::1]:${bindPort}`;
  return bindIp.includes(':') ? `http://[${bindIp}]:${bindPort}` : `http://${bindIp}:${bindPort}`;
}

async function sendAsyncPendings(ctx: DaemonContext, devicePath: string, pass: Pass): Promise<void> {
  let entries: AsyncPendingEntry[];
  try {
    entries = await listAsyncPendings(devicePath);
  } catch (err) {
    ctx.log.error({ err, devicePath }, 'updater: cannot list async pendings');
    pass.error(`list ${devicePath}: ${String(err)}`);
    return;
  }
  for (const e of entries) {
    pass.count('asyncPendings');
    await sendOne(ctx, devicePath, e, pass);
  }
}

async function sendOne(ctx: DaemonContext, devicePath: string, e: AsyncPendingEntry, pass: Pass): Promise<void> {
  let update;
  try {
    update = await loadAsyncPending(e.path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // sent by a racing pass
    if (isSwiftletError(err, 'CORRUPT')) {
      ctx.log.error({ err, path: e.path }, 'updater: unreadable async pending, quarantined');
      await quarantinePending(devicePath, e.path);
      pass.count('corrupt');
      return;
    }
    pass.error(`load ${e.path}: ${String(err)}`);
    return;
  }
  const r = update.host ? await sendContainerUpdate(ctx.backend, update, ctx.config.node_timeout_ms) : await sendToEveryPrimary(ctx, update);
  const what = { path: e.path, host: update.host, device: update.device, obj: `/${update.account}/${update.container}/${update.obj}` };
  if (r.ok) {
    await removeAsyncPending(e.path);
    pass.count('successes');
    return;
  }
  if (r.status === 404) {
    pass.count('notFound');
    if (olderThanReclaimAge(ctx, e.timestamp)) {
      ctx.log.warn(what, 'updater: container still missing after reclaim_age, dropping the update');
      await removeAsyncPending(e.path);
      pass.count('dropped');
      return;
    }
  }
  ctx.log.warn({ ...what, status: r.status, err: r.error }, 'updater: container update failed, will retry');
  pass.error(`${what.obj} → ${update.host}/${update.device}: ${r.status ?? String(r.error)}`);
}

/**
 * An update saved without a host (an expiring-queue row DELETE: the object server knows the row,
 * not where its container lives): sent to every primary of the container, with the account
 * replica each would tell. Succeeds once all of them took it; a retry resends to all (idempotent).
 */
async function sendToEveryPrimary(ctx: DaemonContext, u: ContainerUpdate): Promise<SendResult> {
  const ring = ctx.rings.container();
  const partition = ring.partitionFor(u.account, u.container);
  const accountTargets = containerUpdateTargets(ctx.rings, u.account);
  const results = await Promise.all(
    ring
      .primaries(partition)
      .map((d, i) => sendContainerUpdate(ctx.backend, { ...u, headers: { ...u.headers, ...accountTargets(i) }, host: hostOf(d), device: d.device, partition }, ctx.config.node_timeout_ms)),
  );
  return results.find((r) => !r.ok) ?? results[0] ?? { ok: false, error: new Error('no primaries') };
}

function olderThanReclaimAge(ctx: DaemonContext, timestamp: string): boolean {
  const ts = Timestamp.tryParse(timestamp);
  return ts !== undefined && ts.seconds * 1000 < ctx.clock() - ctx.config.reclaim_age_s * 1000;
}

/** Moves an unreadable pending aside (never deletes it: someone may want to look at it). */
async function quarantinePending(devicePath: string, path: string): Promise<void> {
  const dir = join(devicePath, 'quarantined', 'async_pending');
  try {
    await mkdir(dir, { recursive: true });
    await rename(path, join(dir, basename(path)));
    await removeAsyncPending(path); // removes the now empty suffix folder
  } catch {
    /* already gone */
  }
}

/** How long a refused local node is given before it is asked once more. */
const LOCAL_NODE_RETRY_MS = 1000;

async function retryAccountUpdates(ctx: DaemonContext, nodeUrl: string, device: string, pass: Pass): Promise<void> {
  const path = withQuery(nodePath(...RETRY_ACCOUNT_UPDATES_PATH.split('/').slice(1)), { device });
  const url = `${nodeUrl}${path}`;
  // The node sends one update per pending marker before it answers.
  const ask = () => ctx.backend.request(nodeUrl, 'POST', path, { headersTimeout: ctx.config.node_timeout_ms * 10 });
  let res;
  try {
    res = await ask().catch(async (err: unknown) => {
      // A refused connection is what a node restarting, or stopping beside us (Ctrl-C reaches the
      // whole all-in-one at once), looks like: asked again a second later before it is reported.
      if ((err as { code?: string }).code !== 'ECONNREFUSED') throw err;
      await new Promise((r) => setTimeout(r, LOCAL_NODE_RETRY_MS));
      return ask();
    });
  } catch (err) {
    ctx.log.error({ err, url }, 'updater: local storage node unreachable for account updates');
    pass.error(`account updates on ${device}: ${String(err)}`);
    return;
  }
  if (res.statusCode !== 200) {
    await discardBody(res.body);
    // 404 here means the node does not have the endpoint wired (servers.extra).
    pass.error(`account updates on ${device}: node answered ${res.statusCode}`);
    return;
  }
  const r = (await res.body.json()) as RetryReport;
  pass.count('accountUpdatesSent', r.succeeded);
  pass.count('accountUpdatesFailed', r.failed);
  pass.count('accountUpdatesNoTarget', r.noTarget);
  if (r.failed > 0) {
    pass.error(`account updates on ${device}: ${r.failed} not acknowledged, will retry`);
    pass.count('failures', r.failed - 1); // error() counted one: every unacknowledged update is a failure
  }
}
