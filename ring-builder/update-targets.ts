import { EXPIRING_OBJECTS_ACCOUNT, expirerContainer } from '../common/expiring-queue.js';
import type { HashSecret } from '../common/hash-path.js';
import { quorumSize } from '../common/quorum.js';
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
 * For object writes: the container replicas and account replicas that replica i of the object
 * tells. Given the object's primaries, an object replica whose storage node also holds a replica
 * of the container is paired with that one (its update then stays inside the node process,
 * storage-node/object/container-update.ts); the rest keep Swift's order. Every container replica
 * is told by at least one object replica, and enough are told that a write acknowledged by a
 * quorum of object replicas reached a quorum of container replicas (Swift's
 * num_container_updates: max(Qc + Ro - Qo, Rc)): with more container replicas than object
 * replicas, an object replica names several, comma-separated in X-Container-Host/-Device (and
 * X-Account-Host/-Device, one per container replica), as Swift's _backend_requests does.
 */
export function objectUpdateTargets(rings: UpdateRings, account: string, container: string, objectNodes?: RingDevice[]): (i: number) => Record<string, string> {
  const cring = rings.container();
  const cpart = cring.partitionFor(account, container);
  const cnodes = cring.primaries(cpart);
  const accountTargets = containerUpdateTargets(rings, account);
  const one = (j: number): Record<string, string> => ({ ...updateTargetHeaders('container', cpart, cnodes, j), ...accountTargets(j) });
  if (!objectNodes) return one;
  const replicas = updatePlan(objectNodes, cnodes);
  return (i) => {
    const js = replicas[i % Math.max(1, replicas.length)] ?? [i];
    if (js.length === 1) return one(js[0] as number);
    // Several: each header a comma-separated list, in the same order (the partition is one).
    const out: Record<string, string> = {};
    for (const j of js) {
      for (const [k, v] of Object.entries(one(j))) out[k] = out[k] === undefined || k.endsWith('-partition') ? v : `${out[k]},${v}`;
    }
    return out;
  };
}

/**
 * plan[i]: the container replicas object replica i tells (Swift's _backend_requests: update k
 * goes to object replica k mod Ro and names container replica k mod Rc, for
 * max(Qc + Ro - Qo, Rc) updates), the first round paired by host (pairByHost).
 */
export function updatePlan(objectNodes: RingDevice[], containerNodes: RingDevice[]): number[][] {
  const ro = objectNodes.length;
  const rc = containerNodes.length;
  if (ro === 0 || rc === 0) return objectNodes.map(() => []);
  const updates = Math.max(quorumSize(rc) + ro - quorumSize(ro), rc);
  const pair = pairByHost(objectNodes, containerNodes);
  const plan: number[][] = objectNodes.map(() => []);
  for (let k = 0; k < updates; k++) {
    const i = k % ro;
    const j = ro === rc && k < ro ? (pair[i] as number) : k % rc;
    const mine = plan[i] as number[];
    if (!mine.includes(j)) mine.push(j);
  }
  return plan;
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
 * For object writes whose version has an X-Delete-At (Swift's proxy _config_obj_expiration and
 * _backend_requests): the queue container of `.expiring_objects` the entry goes into, and the
 * replicas of it (and of the account, for its listing) that object replica i tells, as
 * X-Delete-At-Container/-Host/-Device/-Partition and X-Delete-At-Account-Host/-Device/-Partition.
 * Every queue replica is told (deleteAtPlan); a replica that tells several names them
 * comma-separated, as Swift does. `objectReplicas` is the object's replica count (default: as many
 * as the queue container has).
 */
export function deleteAtUpdateTargets(
  rings: UpdateRings,
  secret: HashSecret,
  divisor: number,
  deleteAt: number,
  account: string,
  container: string,
  obj: string,
  objectReplicas?: number,
): (i: number) => Record<string, string> {
  const queue = expirerContainer(secret, deleteAt, divisor, account, container, obj);
  const cring = rings.container();
  const cpart = cring.partitionFor(EXPIRING_OBJECTS_ACCOUNT, queue);
  const cnodes = cring.primaries(cpart);
  const aring = rings.account();
  const apart = aring.partitionFor(EXPIRING_OBJECTS_ACCOUNT);
  const anodes = aring.primaries(apart);
  // The object's container is in the same ring: it has as many replicas as the queue container.
  const plan = deleteAtPlan(objectReplicas ?? cnodes.length, cnodes.length, cnodes.length);
  return (i) => {
    const mine = plan[i % Math.max(1, plan.length)] ?? [];
    const out: Record<string, string> = mine.length ? { 'x-delete-at-container': queue } : {};
    for (const j of mine) {
      const one = { ...updateTargetHeaders('delete-at', cpart, cnodes, j), ...updateTargetHeaders('delete-at-account', apart, anodes, j) };
      for (const [k, v] of Object.entries(one)) out[k] = out[k] === undefined || k.endsWith('-partition') ? v : `${out[k]},${v}`;
    }
    return out;
  };
}

/**
 * plan[i]: the queue container replicas object replica i tells (Swift's _backend_requests: update
 * k, for as many updates as container updates (max(Qc + Ro - Qo, Rc)), goes to object replica
 * Ro - 1 - k mod Ro, "reversed to distribute the updates across all nodes", and names queue
 * replica k mod Rq).
 */
export function deleteAtPlan(objectReplicas: number, containerReplicas: number, queueReplicas: number): number[][] {
  const ro = objectReplicas;
  const plan: number[][] = Array.from({ length: ro }, () => []);
  if (ro === 0 || containerReplicas === 0 || queueReplicas === 0) return plan;
  const updates = Math.max(quorumSize(containerReplicas) + ro - quorumSize(ro), containerReplicas);
  for (let k = 0; k < updates; k++) {
    const mine = plan[ro - 1 - (k % ro)] as number[];
    const j = k % queueReplicas;
    if (!mine.includes(j)) mine.push(j);
  }
  return plan;
}
