/** Injected time source: milliseconds since the epoch. Pure cores take one instead of calling Date.now(). */
export type Clock = () => number;
export const systemClock: Clock = () => Date.now();
