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

export function updateTargetHeaders(kind: 'container' | 'account', partition: number, nodes: RingDevice[], i: number): Record<string, string> {
  const n = nodes[i % Math.max(1, nodes.length)];
  if (!n) return {};
  return { [`x-${kind}-host`]: hostOf(n), [`x-${kind}-device`]: n.device, [`x-${kind}-partition`]: String(partition) };
}

/** For object writes: the container replica and account replica that replica i of the object tells. */
export function objectUpdateTargets(rings: UpdateRings, account: string, container: string): (i: number) => Record<string, string> {
  const cring = rings.container();
  const cpart = cring.partitionFor(account, container);
  const cnodes = cring.primaries(cpart);
  const accountTargets = containerUpdateTargets(rings, account);
  return (i) => ({ ...updateTargetHeaders('container', cpart, cnodes, i), ...accountTargets(i) });
}

/** For container writes: the account replica that replica i of the container tells. */
export function containerUpdateTargets(rings: UpdateRings, account: string): (i: number) => Record<string, string> {
  const aring = rings.account();
  const apart = aring.partitionFor(account);
  const anodes = aring.primaries(apart);
  return (i) => updateTargetHeaders('account', apart, anodes, i);
}
