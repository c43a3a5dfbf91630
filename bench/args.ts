/**
 * Command-line parsing for `npm run bench -- <suite> [options]`. Pure: no I/O, so it is unit tested.
 */

export class BenchUsageError extends Error {
  readonly code = 'BENCH_USAGE';
  override readonly name = 'BenchUsageError';
}

const SIZE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1024,
  kb: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

/** `4k` → 4096, `64m` → 67108864, `1MiB` → 1048576, `512` → 512 (binary units throughout). */
export function parseSize(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(s);
  const unit = m ? SIZE_UNITS[m[2].toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new BenchUsageError(`bad size ${JSON.stringify(s)} (try 4k, 64k, 1m, 64m)`);
  const n = Math.round(Number(m[1]) * unit);
  if (!Number.isSafeInteger(n)) throw new BenchUsageError(`size ${JSON.stringify(s)} is too large`);
  return n;
}

/** 4096 → `4 KiB`, 67108864 → `64 MiB`, 100 → `100 B`. */
export function formatSize(n: number): string {
  for (const [unit, f] of [
    ['GiB', 1024 ** 3],
    ['MiB', 1024 ** 2],
    ['KiB', 1024],
  ] as const) {
    if (n >= f && n % (f / 1024) === 0) {
      const v = n / f;
      return `${Number.isInteger(v) ? v : v.toFixed(2).replace(/\.?0+$/, '')} ${unit}`;
    }
  }
  return `${n} B`;
}

/** `10s` → 10000, `500ms` → 500, `2m` → 120000, `1.5s` → 1500; milliseconds. */
export function parseDuration(s: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|min|h)?\s*$/i.exec(s);
  if (!m) throw new BenchUsageError(`bad duration ${JSON.stringify(s)} (try 10s, 500ms, 2m)`);
  const f = { ms: 1, s: 1000, m: 60_000, min: 60_000, h: 3_600_000 }[(m[2] ?? 's').toLowerCase() as 'ms' | 's' | 'm' | 'min' | 'h'];
  return Math.round(Number(m[1]) * f);
}

export function parseCount(s: string, what: string, min = 1): number {
  const m = /^\s*(\d+(?:[_,]\d{3})*)\s*([km]?)\s*$/i.exec(s);
  if (!m) throw new BenchUsageError(`${what}: bad number ${JSON.stringify(s)}`);
  const n = Number(m[1].replace(/[_,]/g, '')) * ({ '': 1, k: 1000, m: 1_000_000 }[m[2].toLowerCase()] ?? 1);
  if (!Number.isSafeInteger(n) || n < min) throw new BenchUsageError(`${what}: ${JSON.stringify(s)} must be an integer ≥ ${min}`);
  return n;
}

/** `a,b, c` → ['a','b','c'], each mapped through `f`; empty items refused. */
export function parseList<T>(s: string, f: (item: string) => T): T[] {
  const items = s.split(',').map((x) => x.trim());
  if (items.some((x) => x === '')) throw new BenchUsageError(`bad list ${JSON.stringify(s)}`);
  return items.map(f);
}

export const OPS = ['put', 'get', 'head', 'delete', 'list'] as const;
export type Op = (typeof OPS)[number];

export function parseOp(s: string): Op {
  const op = s.toLowerCase();
  if (!(OPS as readonly string[]).includes(op)) throw new BenchUsageError(`unknown op ${JSON.stringify(s)} (ops: ${OPS.join(', ')})`);
  return op as Op;
}

export interface ParsedArgv {
  positionals: string[];
  /** Last value wins; flags without a value are 'true'. */
  options: Map<string, string>;
}

/**
 * `--key value`, `--key=value`, and bare `--flag` (when `flags` lists it). Unknown options are
 * refused so a typo never silently runs a default workload.
 */
export function parseArgv(argv: string[], known: readonly string[], flags: readonly string[] = []): ParsedArgv {
  const positionals: string[] = [];
  const options = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const key = a.slice(2, eq === -1 ? undefined : eq);
    if (flags.includes(key)) {
      if (eq !== -1) {
        const v = a.slice(eq + 1);
        if (v !== 'true' && v !== 'false') throw new BenchUsageError(`--${key} takes no value`);
        options.set(key, v);
      } else options.set(key, 'true');
      continue;
    }
    if (!known.includes(key)) throw new BenchUsageError(`unknown option --${key}`);
    let value: string | undefined;
    if (eq !== -1) value = a.slice(eq + 1);
    else {
      value = argv[i + 1];
      i++;
    }
    if (value === undefined) throw new BenchUsageError(`--${key} needs a value`);
    options.set(key, value);
  }
  return { positionals, options };
}

/** How one workload is bounded: by time, or by a number of operations (with a time cap). */
export type Bound = { kind: 'duration'; ms: number } | { kind: 'count'; n: number; capMs: number };

export function boundLabel(b: Bound): string {
  return b.kind === 'duration' ? `${b.ms / 1000}s` : `${b.n} ops`;
}

export interface ObjectWorkloadOptions {
  sizes: number[];
  ops: Op[];
  concurrency: number[];
  bound: Bound;
  /** Objects larger than this are driven from Node (streaming); the rest from wrk. */
  nodeAbove: number;
  repeat: number;
  wrkThreads: number;
  listLimit: number;
  /** The clients that drive objects above nodeAbove (PUT and GET), each run in turn: Node's raw-http client, curl, or both. */
  clients: LargeClient[];
}

export const LARGE_CLIENTS = ['node', 'curl'] as const;
export type LargeClient = (typeof LARGE_CLIENTS)[number];

export function parseClient(s: string): LargeClient {
  const c = s.toLowerCase();
  if (!(LARGE_CLIENTS as readonly string[]).includes(c)) throw new BenchUsageError(`unknown client ${JSON.stringify(s)} (clients: ${LARGE_CLIENTS.join(', ')})`);
  return c as LargeClient;
}

/** The options shared by the `object` and `side-by-side` suites, with their defaults. */
export const OBJECT_OPTIONS = ['sizes', 'ops', 'concurrency', 'duration', 'count', 'node-above', 'repeat', 'wrk-threads', 'list-limit', 'max-time', 'warmup', 'client'] as const;

export function objectWorkloadOptions(o: Map<string, string>, defaults: { repeat: number }): ObjectWorkloadOptions {
  if (o.has('duration') && o.has('count')) throw new BenchUsageError('give --duration or --count, not both');
  const capMs = parseDuration(o.get('max-time') ?? '120s');
  const bound: Bound = o.has('count')
    ? { kind: 'count', n: parseCount(o.get('count') as string, '--count'), capMs }
    : { kind: 'duration', ms: Math.min(parseDuration(o.get('duration') ?? '10s'), capMs) };
  if (bound.kind === 'duration' && bound.ms <= 0) throw new BenchUsageError('--duration must be > 0');
  return {
    sizes: parseList(o.get('sizes') ?? '4k', parseSize),
    ops: parseList(o.get('ops') ?? 'put,get,head,delete', parseOp),
    concurrency: parseList(o.get('concurrency') ?? '16', (s) => parseCount(s, '--concurrency')),
    bound,
    nodeAbove: parseSize(o.get('node-above') ?? '1m'),
    repeat: parseCount(o.get('repeat') ?? String(defaults.repeat), '--repeat'),
    wrkThreads: parseCount(o.get('wrk-threads') ?? '1', '--wrk-threads'),
    listLimit: parseCount(o.get('list-limit') ?? '100', '--list-limit'),
    clients: [...new Set(parseList(o.get('client') ?? 'node', parseClient))],
  };
}
