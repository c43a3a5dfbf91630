import type { Clock } from '../common/clock.js';

/**
 * Nodes that keep failing are skipped for a while (Swift's error_limiter): after `limit` errors
 * within `intervalMs`, or at once for an answer like 507 that will not fix itself soon.
 */
export class ErrorLimiter {
  private readonly state = new Map<string, { errors: number; lastError: number; limitedUntil: number }>();

  constructor(
    private readonly limit: number,
    private readonly intervalMs: number,
    private readonly clock: Clock,
  ) {}

  isLimited(nodeKey: string): boolean {
    const s = this.state.get(nodeKey);
    if (!s) return false;
    const now = this.clock();
    if (s.limitedUntil > now) return true;
    if (now - s.lastError > this.intervalMs) this.state.delete(nodeKey);
    return false;
  }

  /** One more error from this node. */
  recordError(nodeKey: string): void {
    const now = this.clock();
    let s = this.state.get(nodeKey);
    if (!s || now - s.lastError > this.intervalMs) s = { errors: 0, lastError: now, limitedUntil: 0 };
    s.errors++;
    s.lastError = now;
    if (s.errors >= this.limit) s.limitedUntil = now + this.intervalMs;
    this.state.set(nodeKey, s);
  }

  /** Skip this node for the whole interval now (e.g. it answered 507). */
  limitNow(nodeKey: string): void {
    const now = this.clock();
    this.state.set(nodeKey, { errors: this.limit, lastError: now, limitedUntil: now + this.intervalMs });
  }

  limitedNodes(): string[] {
    return [...this.state.keys()].filter((k) => this.isLimited(k));
  }
}
