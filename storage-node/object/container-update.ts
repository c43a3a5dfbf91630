import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import { H } from '../../common/headers.js';
import { backendPath } from '../../common/backend-path.js';
import { discardBody, originOf, type BackendClient } from '../../common/http-client.js';
import type { Logger } from '../../common/log.js';
import type { Timestamp } from '../../common/timestamp.js';
import { withTimeout } from '../../common/with-timeout.js';
import { saveAsyncPending, type ContainerUpdate } from './async-pending.js';

export type { ContainerUpdate } from './async-pending.js';
export { listAsyncPendings, loadAsyncPending, removeAsyncPending, saveAsyncPending, asyncPendingPath, type AsyncPendingEntry } from './async-pending.js';

/**
 * After an object PUT/DELETE the object server tells one container replica about it
 * (docs/BACKEND.md); an update that fails is saved as an async pending before the client is
 * answered, so a listing is never silently missing an acknowledged write.
 */

function one(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/**
 * The container updates a request asks for: one per host of X-Container-Host, a comma-separated
 * list (Swift's obj/server.py _get_container_updates) zipped with X-Container-Device, all in the
 * partition of X-Container-Partition; none when a header is missing or the lists' lengths differ
 * (logged, as Swift does). X-Account-Host/-Device name the account replica each container replica
 * tells: one per container host, or one for all. `fields` are X-Timestamp and, for PUT, X-Size,
 * X-Content-Type and X-Etag.
 */
export function containerUpdatesFor(
  op: 'PUT' | 'DELETE',
  reqHeaders: IncomingHttpHeaders,
  account: string,
  container: string,
  obj: string,
  fields: Record<string, string>,
  log?: Logger,
): ContainerUpdate[] {
  const hosts = list(one(reqHeaders, H.containerHost));
  const devices = list(one(reqHeaders, H.containerDevice));
  const partStr = one(reqHeaders, H.containerPartition)?.trim();
  if (!hosts.length || !partStr || !/^\d+$/.test(partStr)) return [];
  if (hosts.length !== devices.length) {
    log?.error({ hosts: one(reqHeaders, H.containerHost), devices: one(reqHeaders, H.containerDevice) }, 'container update failed: different numbers of hosts and devices in request');
    return [];
  }
  const headers: Record<string, string> = { ...fields, [H.backendSource]: 'object-server' };
  const txn = one(reqHeaders, H.transId);
  if (txn) headers[H.transId] = txn;
  const accountHosts = list(one(reqHeaders, H.accountHost));
  const accountDevices = list(one(reqHeaders, H.accountDevice));
  const accountPart = one(reqHeaders, H.accountPartition);
  return hosts.map((host, i) => {
    const h = { ...headers };
    const ah = accountHosts.length === hosts.length ? accountHosts[i] : accountHosts.length === 1 ? accountHosts[0] : undefined;
    const ad = accountDevices.length === hosts.length ? accountDevices[i] : accountDevices.length === 1 ? accountDevices[0] : undefined;
    if (ah !== undefined) h[H.accountHost] = ah;
    if (ad !== undefined) h[H.accountDevice] = ad;
    if (accountPart !== undefined) h[H.accountPartition] = accountPart;
    return { op, account, container, obj, headers: h, host, device: devices[i] as string, partition: Number(partStr) };
  });
}

const asList = (u: ContainerUpdate | ContainerUpdate[] | undefined): ContainerUpdate[] => (u === undefined ? [] : Array.isArray(u) ? u : [u]);

/** A comma-separated header as its trimmed, non-empty items. */
function list(v: string | undefined): string[] {
  return v === undefined ? [] : v.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

/**
 * Swift's container update overrides: sysmeta a middleware stored with the object
 * (X-Object-Sysmeta-Container-Update-Override-Etag, -Content-Type, -Size) replaces what the
 * listing shows for it. Symlinks put their target there (`<etag>; symlink_target=c/o`), and the
 * listing turns it into symlink_path (db/listing-format.ts). `metadata` is in Title-Case.
 */
export function withUpdateOverrides(fields: Record<string, string>, metadata: Record<string, string>): Record<string, string> {
  const out = { ...fields };
  const etag = metadata['X-Object-Sysmeta-Container-Update-Override-Etag'];
  const ctype = metadata['X-Object-Sysmeta-Container-Update-Override-Content-Type'];
  const size = metadata['X-Object-Sysmeta-Container-Update-Override-Size'];
  if (etag !== undefined) out[H.etag] = etag;
  if (ctype !== undefined) out[H.contentType] = ctype;
  if (size !== undefined && /^\d+$/.test(size)) out[H.size] = size;
  return out;
}

export type SendResult = { ok: true; status: number } | { ok: false; status?: number; error?: unknown };

/** Sends one container update, giving up after `timeoutMs`. Success is any 2xx. Always consumes the body. */
export async function sendContainerUpdate(backend: BackendClient, u: ContainerUpdate, timeoutMs: number): Promise<SendResult> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(new Error(`container update timed out after ${timeoutMs} ms`)), timeoutMs);
  try {
    const res = await backend.request(originOf(u.host), u.op, backendPath(u.device, u.partition, u.account, u.container, u.obj), {
      headers: u.headers,
      signal: ac.signal,
    });
    await discardBody(res.body);
    const status = res.statusCode;
    return status >= 200 && status < 300 ? { ok: true, status } : { ok: false, status };
  } catch (error) {
    return { ok: false, error };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Updates for container replicas of this very process, delivered without HTTP
 * (storage-node/local-update.ts builds it once the node listens).
 */
export interface LocalContainerUpdate {
  /** The device folder of this process that `u` goes to, or undefined when it goes to another node. */
  devicePathOf(u: ContainerUpdate): string | undefined;
  /** Delivers `u`; undefined when it goes to another node. */
  send(u: ContainerUpdate): Promise<SendResult> | undefined;
}

export interface UpdateContext {
  backend: BackendClient;
  containerUpdateTimeoutMs: number;
  fsync: boolean;
  log: Logger;
  localContainerUpdate?: LocalContainerUpdate;
}

/**
 * Whether `u`'s row is written durably on `devicePath` itself, by this process (a container
 * database on the object's own device). Its LevelDB sync then commits that filesystem's journal
 * past a rename made before it, so the rename's directory fsync is made after the update, in
 * place and without I/O (fsyncDirsSync), instead of as a journal commit and thread-pool round
 * trip of its own. Correct on any filesystem (the fsync still comes before the answer); cheap on
 * a journalling one (XFS, ext4), whose journal commits in order.
 */
export function rowSyncedOnDevice(c: UpdateContext, updates: ContainerUpdate | ContainerUpdate[] | undefined, devicePath: string): boolean {
  return c.fsync && asList(updates).some((u) => c.localContainerUpdate?.devicePathOf(u) === devicePath);
}

/** Sends one update (inside this process when it is for one of its own devices), held to the update timeout. */
function sendUpdate(c: UpdateContext, u: ContainerUpdate): Promise<SendResult> {
  const local = c.localContainerUpdate?.send(u);
  // A local update is held to the same limit as one over HTTP (a slow disk: the row still lands,
  // and the updater's replay of the saved update is idempotent).
  const timedOut = (): SendResult => ({ ok: false, error: new Error(`container update timed out after ${c.containerUpdateTimeoutMs} ms`) });
  return local ? withTimeout(local, c.containerUpdateTimeoutMs, timedOut) : sendContainerUpdate(c.backend, u, c.containerUpdateTimeoutMs);
}

/**
 * Sends the updates (one per container replica named, together); those that fail or are too
 * slow are saved under the object's device for the updater: one that failed with its host, several
 * as one update without a host, which the updater sends to every primary of the container (their
 * file name is the same: one per object and timestamp). Resolves once every update is either
 * delivered or durably saved. Throws only when the save itself fails (e.g. DISK_FULL): the write
 * must then not be acknowledged silently.
 */
export async function updateContainerOrSave(
  c: UpdateContext,
  devicePath: string,
  hash: string,
  timestamp: Timestamp,
  update: ContainerUpdate | ContainerUpdate[],
): Promise<'sent' | 'saved'> {
  const updates = asList(update);
  const results = await Promise.all(updates.map((u) => sendUpdate(c, u)));
  const failed = updates.filter((_, i) => !results[i]?.ok);
  if (!failed.length) return 'sent';
  results.forEach((r, i) => {
    const u = updates[i] as ContainerUpdate;
    if (r.ok) return;
    c.log.warn(
      { host: u.host, device: u.device, partition: u.partition, status: r.status, err: r.error, obj: `/${u.account}/${u.container}/${u.obj}` },
      'container update failed, saving it for the updater',
    );
  });
  const first = failed[0] as ContainerUpdate;
  const save = failed.length === 1 ? first : { ...first, headers: withoutAccountTarget(first.headers), host: '', device: '' };
  await saveAsyncPending(devicePath, hash, timestamp, save, c.fsync);
  return 'saved';
}

/** An update's headers without the account replica it names (the updater picks one per container replica). */
function withoutAccountTarget(h: Record<string, string>): Record<string, string> {
  const out = { ...h };
  delete out[H.accountHost];
  delete out[H.accountDevice];
  delete out[H.accountPartition];
  return out;
}
