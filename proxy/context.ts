import type { Agent as HttpAgent } from 'node:http';
import type { BackendClient } from '../common/http-client.js';
import type { Clock } from '../common/clock.js';
import type { Logger } from '../common/log.js';
import type { StoragePolicies } from '../common/storage-policy.js';
import type { Ring } from '../ring-builder/ring.js';
import type { HashPool } from './body-sums.js';
import type { ProxyConfig } from './config.js';
import type { ErrorLimiter } from './error-limiter.js';
import type { InfoCache } from './info-cache.js';
import type { InfoRegistry } from './info.js';
import type { KeystoneClient } from './keystone/client.js';
import type { TempAuth } from './tempauth.js';

/** The rings, read through holders so a reloaded ring is picked up by the next request. */
export interface Rings {
  account(): Ring;
  container(): Ring;
  /** Storage policy `policy`'s object ring (default 0). */
  object(policy?: number): Ring;
}

/** Everything a proxy request needs; built once by buildProxy(). */
export interface ProxyContext {
  config: ProxyConfig;
  rings: Rings;
  /** The cluster's storage policies (from the storage_policies option). */
  policies: StoragePolicies;
  /** Pooled keep-alive client for every backend request but object PUTs; signs every request. */
  backend: BackendClient;
  /** node:http agent for object PUTs, which need Expect: 100-continue (undici has none on HTTP/1.1). */
  putAgent: HttpAgent;
  /** The threads that hash large PUT bodies off the event loop. */
  hashing: HashPool;
  errorLimiter: ErrorLimiter;
  info: InfoCache;
  /** What GET /info advertises: each stage registers its section (proxy/info.ts). */
  capabilities: InfoRegistry;
  /** tempauth's users, tokens and ACL rules (the auth stage, middleware/tempauth.ts, uses it). */
  auth: TempAuth;
  /** With `auth: keystone`: the client that validates tokens with Keystone (middleware/keystone.ts). */
  keystone?: KeystoneClient;
  log: Logger;
  clock: Clock;
}
