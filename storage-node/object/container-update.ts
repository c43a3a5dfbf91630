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
 * The container update a request asks for, or undefined when it carries no (complete)
 * X-Container-Host/-Device/-Partition. `fields` are X-Timestamp and, for PUT, X-Size,
 * X-Content-Type and X-Etag.
 */
export function containerUpdateFor(
  op: 'PUT' | 'DELETE',
  reqHeaders: IncomingHttpHeaders,
  account: string,
  container: string,
  obj: string,
  fields: Record<string, string>,
): ContainerUpdate | undefined {
  const host = one(reqHeaders, H.containerHost)?.trim();
  const device = one(reqHeaders, H.containerDevice)?.trim();
  const partStr = one(reqHeaders, H.containerPartition)?.trim();
  if (!host || !device || !partStr || !/^\d+$/.test(partStr)) return undefined;
  const headers: Record<string, string> = { ...fields, [H.backendSource]: 'object-server' };
  const txn = one(reqHeaders, H.transId);
  if (txn) headers[H.transId] = txn;
  for (const name of [H.accountHost, H.accountDevice, H.accountPartition]) {
    const v = one(reqHeaders, name);
    if (v !== undefined) headers[name] = v;
  }
  return { op, account, container, obj, headers, host, device, partition: Number(partStr) };
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
export function rowSyncedOnDevice(c: UpdateContext, u: ContainerUpdate | undefined, devicePath: string): boolean {
  return c.fsync && u !== undefined && c.localContainerUpdate?.devicePathOf(u) === devicePath;
}

/**
 * Sends the update; if it fails or is too slow, saves it under the object's device for the
 * updater. Resolves once the update is either delivered or durably saved. Throws only when the
 * save itself fails (e.g. DISK_FULL): the write must then not be acknowledged silently.
 */
export async function updateContainerOrSave(
  c: UpdateContext,
  devicePath: string,
  hash: string,
  timestamp: Timestamp,
  u: ContainerUpdate,
): Promise<'sent' | 'saved'> {
  const local = c.localContainerUpdate?.send(u);
  // A local update is held to the same limit as one over HTTP (a slow disk: the row still lands,
  // and the updater's replay of the saved update is idempotent).
  const timedOut = (): SendResult => ({ ok: false, error: new Error(`container update timed out after ${c.containerUpdateTimeoutMs} ms`) });
  const r = await (local ? withTimeout(local, c.containerUpdateTimeoutMs, timedOut) : sendContainerUpdate(c.backend, u, c.containerUpdateTimeoutMs));
  if (r.ok) return 'sent';
  c.log.warn(
    { host: u.host, device: u.device, partition: u.partition, status: r.status, err: r.error, obj: `/${u.account}/${u.container}/${u.obj}` },
    'container update failed, saving it for the updater',
  );
  await saveAsyncPending(devicePath, hash, timestamp, u, c.fsync);
  return 'saved';
}
