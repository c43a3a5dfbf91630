import type { Clock } from '../../common/clock.js';

/**
 * Each proxy's short-lived memory of stored S3 keys: an answer (a key, or "no such key") is
 * trusted for `ttlMs`, then asked for again. So a key created on one proxy works on every other
 * at once (an unknown id is asked for), and a revoked key stops working on every proxy within the
 * TTL (at once on the proxy that revoked it, which forgets it). Concurrent lookups of one id share
 * one fetch; at most `maxEntries` are kept (the oldest go first). A failed fetch is not cached.
 */
export class KeyCache<V> {
  private readonly entries = new Map<string, { value: V | undefined; at: number }>();
  private readonly inflight = new Map<string, Promise<V | undefined>>();

  constructor(
    private readonly ttlMs: number,
    private readonly clock: Clock,
    private readonly maxEntries = 10_000,
  ) {}

  async get(id: string, fetch: () => Promise<V | undefined>): Promise<V | undefined> {
    const hit = this.entries.get(id);
    const now = this.clock();
    if (hit && now - hit.at < this.ttlMs) return hit.value;
    const pending = this.inflight.get(id);
    if (pending) return pending;
    const p = fetch().then(
      (value) => {
        this.inflight.delete(id);
        if (this.ttlMs > 0) this.remember(id, value, now);
        return value;
      },
      (err: unknown) => {
        this.inflight.delete(id);
        throw err;
      },
    );
    this.inflight.set(id, p);
    return p;
  }

  forget(id: string): void {
    this.entries.delete(id);
  }

  private remember(id: string, value: V | undefined, at: number): void {
    this.entries.delete(id);
    if (this.entries.size >= this.maxEntries) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    this.entries.set(id, { value, at });
  }
}
