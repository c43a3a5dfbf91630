import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BackendKey } from '../common/backend-auth.js';
import type { BackendClient } from '../common/http-client.js';
import type { Clock } from '../common/clock.js';
import type { HashSecret } from '../common/hash-path.js';
import type { Logger } from '../common/log.js';
import type { StoragePolicies } from '../common/storage-policy.js';
import type { LocalContainerUpdate } from './object/container-update.js';
import type { RawBodyConnection } from './object/raw-receiver.js';

/** What every server inside a storage node is built from (only main.ts reads config files). */
export interface StorageNodeContext {
  /** Root folder holding one folder per device. */
  devicesRoot: string;
  secret: HashSecret;
  /** fsync files and directories before acknowledging a write. On by default; off only for throwaway tests. */
  fsync: boolean;
  /** Client used for container/account updates to other nodes (keep-alive pool, signed requests). */
  backend: BackendClient;
  /** The cluster's backend key: every request but the health and status reads must be signed with it (common/backend-auth.ts). */
  backendKey: BackendKey;
  log: Logger;
  clock: Clock;
  /** How long an object PUT/DELETE waits for its container update before saving it as an async pending. */
  containerUpdateTimeoutMs: number;
  /** How long a client may go quiet while sending a body before we answer 408. */
  clientTimeoutMs: number;
  /** Object bodies larger than this bypass the page cache (O_DIRECT); 0: never. Default DIRECT_IO_ABOVE_BYTES. */
  directIoAboveBytes?: number;
  /**
   * The cluster's storage policies (common/storage-policy.ts): which object folders exist, which
   * policy index a container may be given. Absent: the single Policy-0.
   */
  policies?: StoragePolicies;
  /** expiring_objects_container_divisor: where the queue row of an object's old X-Delete-At is. Default 86400. */
  expirerDivisor?: number;
  /** Container updates to this node's own container replicas, without HTTP (set once the node listens: local-update.ts). */
  localContainerUpdate?: LocalContainerUpdate;
}

/** One parsed backend request, already routed to a device the node has. */
export interface BackendRequest {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** Device name and its folder (exists: the router answers 507 otherwise). */
  device: string;
  devicePath: string;
  partition: number;
  account: string;
  container?: string;
  object?: string;
  query: URLSearchParams;
  log: Logger;
  /** An object PUT whose body comes raw on an upgraded connection (common/raw-body.ts); `res` answers on it. */
  raw?: RawBodyConnection;
  /**
   * An object PUT sent with `Expect: 100-continue`: says "continue" (once). The object server
   * calls it after its own checks, so a refusal (409, 412: If-None-Match) reaches the proxy
   * before any body byte, as from Swift's object server.
   */
  sendContinue?: () => void;
}

export type BackendHandler = (r: BackendRequest) => Promise<void>;

/** A server living inside the storage node process: the router hands it requests. */
export interface BackendServer {
  handle: BackendHandler;
  close(): Promise<void>;
}
