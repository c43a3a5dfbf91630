import type { BackendClient } from '../common/http-client.js';
import type { Clock } from '../common/clock.js';
import type { HashSecret } from '../common/hash-path.js';
import type { Logger } from '../common/log.js';
import type { StoragePolicies } from '../common/storage-policy.js';
import type { Ring } from '../ring-builder/ring.js';
import type { StorageNodeConfig } from '../storage-node/config.js';

/** The rings, read through holders so a ring change is seen by the next pass. */
export interface DaemonRings {
  account(): Ring;
  container(): Ring;
  /** Storage policy `policy`'s object ring (default 0). */
  object(policy?: number): Ring;
}

/**
 * What a daemon is built from. A daemon runs on one storage node and works on that node's
 * devices (`devicesRoot`); it finds the node's identity in the rings by `ip`/`port` (`bind_ip`,
 * `bind_port`; with bind_ip 0.0.0.0 every ring device with this port and a local device folder counts).
 */
export interface DaemonContext {
  config: StorageNodeConfig;
  devicesRoot: string;
  secret: HashSecret;
  rings: DaemonRings;
  /** The cluster's storage policies: the object daemons walk each one's folders by its ring. Absent: the single Policy-0. */
  policies?: StoragePolicies;
  /** Signed requests to storage nodes (common/http-client.ts). */
  backend: BackendClient;
  log: Logger;
  clock: Clock;
  fsync: boolean;
}
