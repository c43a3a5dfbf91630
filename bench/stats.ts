/**
 * Statistics for benchmark figures. Pure functions, unit tested.
 */

/** Nearest-rank percentile of an ascending array (p in 0..100): the smallest value with at least p% of samples ≤ it. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  if (p <= 0) return sorted[0];
  if (p >= 100) return sorted[sorted.length - 1];
  const rank = Math.ceil((p * sorted.length) / 100 - 1e-9); // 99.9 × 1000 / 100 is 999.0000000000001 in floating point
  return sorted[Math.max(0, rank - 1)];
}

export interface LatencySummary {
  n: number;
  meanMs: number;
  minMs: number;
  maxMs: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
}

/** Summary of latency samples in milliseconds (the input is not modified). */
export function summarizeLatencies(samplesMs: ArrayLike<number>): LatencySummary {
  const s = Float64Array.from(samplesMs as ArrayLike<number>).sort();
  let sum = 0;
  for (const v of s) sum += v;
  return {
    n: s.length,
    meanMs: s.length ? sum / s.length : NaN,
    minMs: s.length ? s[0] : NaN,
    maxMs: s.length ? s[s.length - 1] : NaN,
    p50Ms: percentile(s, 50),
    p99Ms: percentile(s, 99),
    p999Ms: percentile(s, 99.9),
  };
}

/** Mean ± spread of one figure over repeated runs: spread is the sample standard deviation (0 for one run). */
export interface Spread {
  n: number;
  mean: number;
  stdev: number;
  min: number;
  max: number;
}

export function meanSpread(values: readonly number[]): Spread {
  const v = values.filter((x) => Number.isFinite(x));
  if (v.length === 0) return { n: 0, mean: NaN, stdev: NaN, min: NaN, max: NaN };
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const variance = v.length > 1 ? v.reduce((a, b) => a + (b - mean) ** 2, 0) / (v.length - 1) : 0;
  return { n: v.length, mean, stdev: Math.sqrt(variance), min: Math.min(...v), max: Math.max(...v) };
}

/** a / b, or NaN when either is missing or b is 0. */
export function ratio(a: number, b: number): number {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b === 0) return NaN;
  return a / b;
}

/** Significant-figure formatting for tables: 12345 → "12345", 123.456 → "123", 1.2345 → "1.23", 0.01234 → "0.0123". */
export function fmt(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return '—';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 10 ** digits) return String(Math.round(x));
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(a)));
  return x.toFixed(Math.min(decimals, 6));
}

/** `mean ± stdev` (just the mean for one run). */
export function fmtSpread(s: Spread, digits = 3): string {
  if (s.n === 0) return '—';
  if (s.n === 1) return fmt(s.mean, digits);
  return `${fmt(s.mean, digits)} ± ${fmt(s.stdev, 2)}`;
}
