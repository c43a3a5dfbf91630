/**
 * `p`, or `fallback()` if `p` has not settled after `ms` (the timer is cleared either way; `p`
 * itself goes on). For promises that never reject.
 */
export function withTimeout<T>(p: Promise<T>, ms: number, fallback: () => T): Promise<T> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(fallback()), ms);
    void p.then((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}
