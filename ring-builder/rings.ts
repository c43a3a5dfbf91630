import { SwiftletError } from '../common/errors.js';
import type { HashSecret } from '../common/hash-path.js';
import { SINGLE_POLICY, type StoragePolicies } from '../common/storage-policy.js';
import { RingHolder, type RingHolderOptions } from './ring-holder.js';
import { objectRingName, ringFile, type Ring, type RingName } from './ring.js';

/**
 * The rings a service reads, each reloaded in the background when its file changes and
 * validates: account, container, and one object ring per storage policy.
 */
export interface LiveRings {
  account(): Ring;
  container(): Ring;
  /** The object ring of storage policy `policy` (default 0); throws for a policy the cluster does not have. */
  object(policy?: number): Ring;
  stop(): void;
}

/** Loads every ring now: a missing or invalid one (any policy's too) stops the service from starting, as in Swift. */
export function openRings(ringDir: string, secret: HashSecret, opts: RingHolderOptions = {}, policies: StoragePolicies = SINGLE_POLICY): LiveRings {
  const holder = (name: RingName): RingHolder => {
    const h = new RingHolder(ringFile(ringDir, name), secret, opts);
    h.start();
    return h;
  };
  const account = holder('account');
  const container = holder('container');
  const objects = new Map(policies.all().map((p) => [p.index, holder(objectRingName(p.index))]));
  return {
    account: () => account.ring,
    container: () => container.ring,
    object: (policy = 0) => {
      const h = objects.get(policy);
      if (!h) throw new SwiftletError('INTERNAL', `no storage policy with index ${policy}`);
      return h.ring;
    },
    stop() {
      account.stop();
      container.stop();
      for (const h of objects.values()) h.stop();
    },
  };
}
