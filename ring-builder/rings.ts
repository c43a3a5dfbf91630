import type { HashSecret } from '../common/hash-path.js';
import { RingHolder, type RingHolderOptions } from './ring-holder.js';
import { ringFile, type Ring, type RingName } from './ring.js';

/** The three rings a service reads, each reloaded in the background when its file changes and validates. */
export interface LiveRings {
  account(): Ring;
  container(): Ring;
  object(): Ring;
  stop(): void;
}

export function openRings(ringDir: string, secret: HashSecret, opts: RingHolderOptions = {}): LiveRings {
  const holder = (name: RingName): RingHolder => {
    const h = new RingHolder(ringFile(ringDir, name), secret, opts);
    h.start();
    return h;
  };
  const account = holder('account');
  const container = holder('container');
  const object = holder('object');
  return {
    account: () => account.ring,
    container: () => container.ring,
    object: () => object.ring,
    stop() {
      account.stop();
      container.stop();
      object.stop();
    },
  };
}
