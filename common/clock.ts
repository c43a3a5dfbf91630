import { performance } from 'node:perf_hooks';

/** Injected time source: milliseconds since the epoch. Pure cores take one instead of calling Date.now(). */
export type Clock = () => number;

/** Wall-clock milliseconds with sub-millisecond digits (timestamps have 10 µs resolution). */
export const systemClock: Clock = () => {
  const now = Date.now();
  const frac = performance.now() % 1;
  return now + frac;
};
