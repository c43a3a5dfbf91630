import { createHash } from 'node:crypto';
import { hashPath, type HashSecret } from './hash-path.js';
import { Timestamp } from './timestamp.js';

/**
 * The queue of objects due to expire (Swift's `.expiring_objects` account; swift/obj/expirer.py,
 * swift/common/utils normalize_delete_at_timestamp, proxy get_expirer_container). Pure.
 *
 * Each object with an X-Delete-At has one row in the hidden account `.expiring_objects`, in the
 * container named by `expirerContainer`, with the name `<10-digit delete-at>-<a>/<c>/<o>`. Rows
 * of one container sort by time, so the expirer lists only the due ones (end_marker).
 */

export const EXPIRING_OBJECTS_ACCOUNT = '.expiring_objects';

/** Accounts whose containers a container update creates on the fly (Swift's auto_create_account_prefix). */
export const AUTO_CREATE_ACCOUNT_PREFIX = '.';

export function isAutoCreateAccount(account: string): boolean {
  return account.startsWith(AUTO_CREATE_ACCOUNT_PREFIX);
}

/** Default of expiring_objects_container_divisor: one day. */
export const DEFAULT_EXPIRER_DIVISOR = 86_400;

/** Swift's "%010d": ten digits, the form every queue name uses. */
export function tenDigits(seconds: number): string {
  return String(Math.max(0, Math.floor(seconds))).padStart(10, '0');
}

/**
 * Swift's get_expirer_container: `max(delete_at // divisor * divisor - shard, 0)` with shard =
 * int(hash_path(a, c, o), 16) % 100, so one divisor's worth of entries spreads over 100
 * containers (many partitions and nodes). Every entry of container N has delete_at < N + divisor + 100.
 */
export function expirerContainer(secret: HashSecret, deleteAt: number, divisor: number, account: string, container: string, obj: string): string {
  const shard = Number(BigInt(`0x${hashPath(secret, account, container, obj)}`) % 100n);
  return tenDigits(Math.max(Math.floor(deleteAt / divisor) * divisor - shard, 0));
}

/** A queue row's name: `<10-digit delete-at>-<account>/<container>/<object>`. */
export function queueRowName(deleteAt: number, account: string, container: string, obj: string): string {
  return `${tenDigits(deleteAt)}-${account}/${container}/${obj}`;
}

export interface QueueEntry {
  deleteAt: number;
  account: string;
  container: string;
  obj: string;
}

/** The parts of a row name (Swift's parse_task_obj), or undefined when it is not one. */
export function parseQueueRow(name: string): QueueEntry | undefined {
  const m = /^(\d{10})-([^/]+)\/([^/]+)\/(.+)$/s.exec(name);
  if (!m) return undefined;
  return { deleteAt: Number(m[1]), account: m[2] as string, container: m[3] as string, obj: m[4] as string };
}

/**
 * A row's content type says which version of the object set the X-Delete-At (its timestamp) and
 * the object's storage policy: the expirer sends its DELETE to that policy's replicas and uses the
 * version to tell a newer write from a stale replica.
 */
export function queueRowContentType(version: Timestamp, policy: number): string {
  return `text/plain;swiftlet_version=${version.internal};swiftlet_policy=${policy}`;
}

export function parseQueueRowContentType(contentType: string): { version: Timestamp; policy: number } | undefined {
  const version = Timestamp.tryParse(/;swiftlet_version=([^;]+)/.exec(contentType)?.[1]);
  const policy = /;swiftlet_policy=(\d+)/.exec(contentType)?.[1];
  return version && policy !== undefined ? { version, policy: Number(policy) } : undefined;
}

/**
 * Which primary of a queue container acts on a row first: index md5(name) % replicas. The others
 * take it over only once it is overdue by expirer_takeover_s, so each row is normally worked by
 * one node, and by another when that one is down.
 */
export function entryOwner(name: string, replicas: number): number {
  if (replicas <= 1) return 0;
  return parseInt(createHash('md5').update(name).digest('hex').slice(0, 8), 16) % replicas;
}

/** The end_marker that lists the rows due at `nowS`: names sort by their 10-digit time. */
export function dueEndMarker(nowS: number): string {
  return tenDigits(Math.floor(nowS) + 1);
}
