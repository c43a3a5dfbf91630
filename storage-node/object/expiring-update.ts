import type { IncomingHttpHeaders } from 'node:http';
import { DEFAULT_EXPIRER_DIVISOR, EXPIRING_OBJECTS_ACCOUNT, expirerContainer, queueRowContentType, queueRowName } from '../../common/expiring-queue.js';
import { hashPath } from '../../common/hash-path.js';
import { H } from '../../common/headers.js';
import type { Timestamp } from '../../common/timestamp.js';
import { saveAsyncPending, updateContainerOrSave, type ContainerUpdate } from './container-update.js';
import { header, type ObjectRequest } from './request.js';

/**
 * The expiring-objects queue rows an object write changes (Swift's obj/server.py
 * delete_at_update; docs/BACKEND.md):
 *
 * - the new version has an X-Delete-At: a row PUT `<delete-at>-<a>/<c>/<o>` into the queue
 *   container the proxy named (X-Delete-At-Container/-Partition, and X-Delete-At-Host/-Device:
 *   comma-separated lists when this replica tells several replicas of it, zipped as Swift's
 *   delete_at_update does; the account replica each tells in X-Delete-At-Account-*), sent like a
 *   container update (async pending on failure);
 * - the version it replaces had another X-Delete-At (or the write is a DELETE): a row DELETE for
 *   the old one. Only this node knows the old time, not which nodes hold that queue container, so
 *   it is always saved as an async pending without a host, and the updater sends it to every
 *   primary of the queue container (Swift does the same).
 *
 * The expirer's own DELETE says X-Backend-Clean-Expiring-Object-Queue: no; it removes the row itself.
 */
export interface QueueUpdates {
  /** Sent now, together (one queue container's replicas); saved for the updater when that fails. */
  send: ContainerUpdate[];
  /** Saved for the updater straight away (no host: resolved from the container ring). */
  save: ContainerUpdate[];
}

const EMPTY_MD5 = 'd41d8cd98f00b204e9800998ecf8427e';

function seconds(v: string | undefined): number | undefined {
  return v !== undefined && /^\d+$/.test(v.trim()) ? Number(v) : undefined;
}

/** The queue updates of a write stamped `ts` whose new version has `newAt` and whose old one had `oldAt`. */
export function queueUpdatesFor(o: ObjectRequest, ts: Timestamp, newAt: string | undefined, oldAt: string | undefined): QueueUpdates {
  const h = o.r.req.headers;
  const out: QueueUpdates = { send: [], save: [] };
  const now = seconds(newAt);
  const old = seconds(oldAt);
  if (now !== undefined) {
    for (const u of rowPuts(o, h, ts, now)) (u.host ? out.send : out.save).push(u);
  }
  if (old !== undefined && old !== now && (header(h, H.cleanExpiringQueue) ?? '').toLowerCase() !== 'no') {
    const container = expirerContainer(o.ctx.secret, old, o.ctx.expirerDivisor ?? DEFAULT_EXPIRER_DIVISOR, o.account, o.container, o.obj);
    out.save.push({
      op: 'DELETE',
      account: EXPIRING_OBJECTS_ACCOUNT,
      container,
      obj: queueRowName(old, o.account, o.container, o.obj),
      headers: { [H.timestamp]: ts.internal, [H.backendSource]: 'object-server', ...transId(h) },
      host: '',
      device: '',
      partition: 0,
    });
  }
  return out;
}

function transId(h: IncomingHttpHeaders): Record<string, string> {
  const txn = header(h, H.transId);
  return txn ? { [H.transId]: txn } : {};
}

const list = (v: string | undefined): string[] => (v === undefined ? [] : v.split(',').map((x) => x.trim()));

/**
 * The row PUTs, one per queue replica the proxy named (Swift: no X-Delete-At-Host, no update:
 * other replicas send it). Hosts and devices are zipped, pairs with an empty half dropped; when
 * none is left (or no partition) the row is saved without a host, and the updater sends it to
 * every primary of the queue container, as Swift's async_update with no host.
 */
function rowPuts(o: ObjectRequest, h: IncomingHttpHeaders, ts: Timestamp, deleteAt: number): ContainerUpdate[] {
  const container = header(h, H.deleteAtContainer)?.trim();
  const hostsHeader = header(h, H.deleteAtHost);
  if (!container || hostsHeader === undefined) return [];
  const hosts = list(hostsHeader);
  const devices = list(header(h, H.deleteAtDevice));
  const part = header(h, H.deleteAtPartition)?.trim();
  const partOk = part !== undefined && /^\d+$/.test(part);
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < Math.min(hosts.length, devices.length); i++) if (hosts[i] && devices[i] && partOk) pairs.push([hosts[i] as string, devices[i] as string]);
  const headers: Record<string, string> = {
    [H.timestamp]: ts.internal,
    [H.size]: '0',
    [H.contentType]: queueRowContentType(ts, o.loc.policy),
    [H.etag]: EMPTY_MD5,
    [H.backendSource]: 'object-server',
    ...transId(h),
  };
  const row = { op: 'PUT' as const, account: EXPIRING_OBJECTS_ACCOUNT, container, obj: queueRowName(deleteAt, o.account, o.container, o.obj) };
  if (pairs.length === 0) return [{ ...row, headers, host: '', device: '', partition: 0 }];
  // The account replica each queue replica tells (for the queue container's account listing):
  // one per host, or one for all.
  const accountHosts = list(header(h, H.deleteAtAccountHost));
  const accountDevices = list(header(h, H.deleteAtAccountDevice));
  const accountPart = header(h, H.deleteAtAccountPartition);
  const nth = (l: string[], i: number): string | undefined => (l.length === pairs.length ? l[i] : l.length === 1 ? l[0] : undefined);
  return pairs.map(([host, device], i) => {
    const own = { ...headers };
    const ah = nth(accountHosts, i);
    const ad = nth(accountDevices, i);
    if (ah && ad && accountPart !== undefined) Object.assign(own, { [H.accountHost]: ah, [H.accountDevice]: ad, [H.accountPartition]: accountPart });
    return { ...row, headers: own, host, device, partition: Number(part) };
  });
}

/**
 * Delivers the updates before the write is answered: each is sent (or saved when that fails) or
 * saved, durably. Saved under the hash of the row's own path, as Swift's async_update does, so
 * they never collide with the object's container update.
 */
export async function applyQueueUpdates(o: ObjectRequest, ts: Timestamp, q: QueueUpdates): Promise<void> {
  if (!q.send.length && !q.save.length) return;
  const { ctx, r } = o;
  const hashOf = (u: ContainerUpdate): string => hashPath(ctx.secret, u.account, u.container, u.obj);
  const first = q.send[0];
  await Promise.all([
    // One call for the replicas of one row: what fails is saved once (one file per row and time).
    ...(first ? [updateContainerOrSave({ ...ctx, log: r.log }, r.devicePath, hashOf(first), ts, q.send)] : []),
    ...q.save.map((u) => saveAsyncPending(r.devicePath, hashOf(u), ts, u, ctx.fsync)),
  ]);
}
