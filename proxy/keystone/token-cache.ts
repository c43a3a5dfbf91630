import type { Clock } from '../../common/clock.js';

/**
 * A bounded map whose entries expire (keystonemiddleware's token cache, in process): each entry
 * lives until its own deadline, the least recently used goes first when the cache is full. A Map
 * keeps insertion order, so re-inserting on a hit is the LRU bookkeeping; no dependency needed.
 */
export class ExpiringCache<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();

  constructor(
    private readonly maxEntries: number,
    private readonly clock: Clock,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    this.entries.delete(key);
    if (e.until <= this.clock()) return undefined;
    this.entries.set(key, e);
    return e.value;
  }

  /** Keeps `value` until `until` (ms since the epoch); a deadline already past stores nothing. */
  set(key: string, value: V, until: number): void {
    this.entries.delete(key);
    if (until <= this.clock() || this.maxEntries < 1) return;
    this.entries.set(key, { value, until });
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
