import type { Clock } from '../common/clock.js';

/**
 * Keeps a daemon under `perSecond` units (objects, bytes) on average: `take(n)` sleeps just long
 * enough. 0 means unlimited. Like Swift's ratelimit_sleep / garage's tranquilizer.
 */
export class RateLimiter {
  private nextFree = 0;
  constructor(
    private readonly perSecond: number,
    private readonly clock: Clock = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  async take(units = 1): Promise<void> {
    if (this.perSecond <= 0 || units <= 0) return;
    const now = this.clock();
    const start = Math.max(now, this.nextFree);
    this.nextFree = start + (units * 1000) / this.perSecond;
    const wait = start - now;
    // Allow a small burst (one second's worth) before sleeping.
    if (wait > 1000) await this.sleep(wait - 1000);
  }
}
