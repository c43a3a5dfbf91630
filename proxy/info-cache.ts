import type { Clock } from '../common/clock.js';

/** What the proxy needs to know about a container before touching its objects (Swift's container_info). */
export interface ContainerInfo {
  /** 2xx when it exists, 404 when not, 503 when nobody could say. */
  status: number;
  objectCount: number;
  bytesUsed: number;
  /** The container's storage policy index (X-Backend-Storage-Policy-Index; 0 when not said). */
  storagePolicy: number;
  readAcl?: string;
  writeAcl?: string;
  /** Metadata headers as the container server gave them (Title-Case names). */
  headers: Record<string, string>;
}

export interface AccountInfo {
  status: number;
  headers: Record<string, string>;
}

/**
 * A short-lived in-process cache of container and account info. Concurrent lookups of one key
 * share a single backend request; writes through this proxy invalidate at once.
 */
export class InfoCache {
  private readonly containers = new Map<string, { at: number; value: Promise<ContainerInfo> }>();
  private readonly accounts = new Map<string, { at: number; value: Promise<AccountInfo> }>();

  constructor(
    private readonly containerTtlMs: number,
    private readonly accountTtlMs: number,
    private readonly clock: Clock,
  ) {}

  container(account: string, container: string, fetch: () => Promise<ContainerInfo>): Promise<ContainerInfo> {
    return this.cached(this.containers, `${account}/${container}`, this.containerTtlMs, fetch);
  }

  account(account: string, fetch: () => Promise<AccountInfo>): Promise<AccountInfo> {
    return this.cached(this.accounts, account, this.accountTtlMs, fetch);
  }

  invalidateContainer(account: string, container: string): void {
    this.containers.delete(`${account}/${container}`);
  }

  invalidateAccount(account: string): void {
    this.accounts.delete(account);
  }

  private cached<T extends { status: number }>(
    map: Map<string, { at: number; value: Promise<T> }>,
    key: string,
    ttl: number,
    fetch: () => Promise<T>,
  ): Promise<T> {
    const now = this.clock();
    const hit = map.get(key);
    if (hit && now - hit.at < ttl) return hit.value;
    const value = fetch().then((v) => {
      // Only definite answers are worth keeping; a 503 is retried on the next request.
      if (v.status >= 500) map.delete(key);
      return v;
    });
    map.set(key, { at: now, value });
    if (map.size > 10_000) map.delete(map.keys().next().value as string);
    return value;
  }
}
