import { EXPIRING_OBJECTS_ACCOUNT, expirerContainer } from '../common/expiring-queue.js';
import type { HashSecret } from '../common/hash-path.js';
import type { Ring, RingDevice } from './ring.js';

/**
 * Who tells whom after a write (Swift's update fan-out): object replica i updates container
 * replica i, and a container replica updates account replica i. The proxy and the expirer both
 * send these headers with their writes.
 */
export interface UpdateRings {
  container(): Ring;
  account(): Ring;
}

/** host:port as an HTTP authority (IPv6 in brackets). */
export function hostOf(d: RingDevice): string {
  return d.ip.includes(':') ? `[${d.ip}]:${d.port}` : `${d.ip}:${d.port}`;
}

export function updateTargetHeaders(kind: 'container' | 'account' | 'delete-at' | 'delete-at-account', partition: number, nodes: RingDevice[], i: number): Record<string, string> {
  const n = nodes[i % Math.max(1, nodes.length)];
  if (!n) return {};
  return { [`x-${kind}-host`]: hostOf(n), [`x-${kind}-device`]: n.device, [`x-${kind}-partition`]: String(partition) };
}

/**
 * For object writes: the container replica and account replica that replica i of the object
 * tells. Given the object's primaries, an object replica whose storage node also holds a replica
 * of the container is paired with that one (its update then stays inside the node process,
 * storage-node/object/container-update.ts); the rest keep Swift's order. Each container replica is
 * still told by exactly one object replica, and carries the same account target as before.
 */
export function objectUpdateTargets(rings: UpdateRings, account: string, container: string, objectNodes?: RingDevice[]): (i: number) => Record<string, string> {
  const cring = rings.container();
  const cpart = cring.partitionFor(account, container);
  const cnodes = cring.primaries(cpart);
  const accountTargets = containerUpdateTargets(rings, account);
  const pair = objectNodes ? pairByHost(objectNodes, cnodes) : [];
  return (i) => {
    const j = pair[i] ?? i;
    return { ...updateTargetHeaders('container', cpart, cnodes, j), ...accountTargets(j) };
  };
}

/**
 * pair[i]: the container replica object replica i tells: the one on its own node if there is one
 * not taken yet, else the first left. Identity when the replica counts differ.
 */
export function pairByHost(objectNodes: RingDevice[], containerNodes: RingDevice[]): number[] {
  if (objectNodes.length !== containerNodes.length) return objectNodes.map((_, i) => i);
  const pair: Array<number | undefined> = objectNodes.map(() => undefined);
  const taken = new Set<number>();
  objectNodes.forEach((o, i) => {
    const j = containerNodes.findIndex((c, j) => !taken.has(j) && hostOf(c) === hostOf(o));
    if (j === -1) return;
    pair[i] = j;
    taken.add(j);
  });
  let next = 0;
  return pair.map((j) => {
    if (j !== undefined) return j;
    while (taken.has(next)) next++;
    taken.add(next);
    return next;
  });
}

/** For container writes: the account replica that replica i of the container tells. */
export function containerUpdateTargets(rings: UpdateRings, account: string): (i: number) => Record<string, string> {
  const aring = rings.account();
  const apart = aring.partitionFor(account);
  const anodes = aring.primaries(apart);
  return (i) => updateTargetHeaders('account', apart, anodes, i);
}

/**
 * For object writes whose version has an X-Delete-At (Swift's proxy _config_obj_expiration): the
 * queue container of `.expiring_objects` the entry goes into, and the replica of it (and of the
 * account, for its listing) that object replica i tells, as X-Delete-At-Container/-Host/-Device/
 * -Partition and X-Delete-At-Account-Host/-Device/-Partition.
 */
export function deleteAtUpdateTargets(
  rings: UpdateRings,
  secret: HashSecret,
  divisor: number,
  deleteAt: number,
  account: string,
  container: string,
  obj: string,
): (i: number) => Record<string, string> {
  const queue = expirerContainer(secret, deleteAt, divisor, account, container, obj);
  const cring = rings.container();
  const cpart = cring.partitionFor(EXPIRING_OBJECTS_ACCOUNT, queue);
  const cnodes = cring.primaries(cpart);
  const aring = rings.account();
  const apart = aring.partitionFor(EXPIRING_OBJECTS_ACCOUNT);
  const anodes = aring.primaries(apart);
  return (i) => ({
    'x-delete-at-container': queue,
    ...updateTargetHeaders('delete-at', cpart, cnodes, i),
    ...updateTargetHeaders('delete-at-account', apart, anodes, i),
  });
}
