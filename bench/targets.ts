import type { Aggregate, PairRatios } from './report.js';
import { fmt, summarizeLatencies } from './stats.js';

/**
 * The performance targets of the benchmark issue, judged from the results.json each suite writes.
 * Pure (no I/O), so every judge is unit tested; bench/suites/targets.ts runs the suites.
 *
 * Each judge returns rows: the target as the issue words it, what this run measured, and whether
 * it holds. `met` is undefined when the suite did not produce the figure (a failed or skipped
 * run): never counted as met.
 */
export interface TargetRow {
  target: string;
  measured: string;
  met: boolean | undefined;
  /** The results folder the figure comes from (relative to the report). */
  source?: string;
}

/** The parts of a side-by-side results.json the judges read. */
export interface SideBySideJson {
  failure: string | null;
  workloads: Array<{ system: string; op: string; size: number; concurrency: number; summary: Aggregate }>;
  ratios: Array<{ op: string; size: number; concurrency: number } & PairRatios>;
}

export interface ListingJson {
  objects: number;
  pageSize: number;
  results: Record<string, Record<string, Array<{ pageMs: number[]; seconds: number; pages: number; entries: number; errors: number }>>>;
}

export interface RingJson {
  rows: Array<{ partPower: number; devices: number; times: Record<string, number[]>; failed: Record<string, string> }>;
}

export interface MemoryJson {
  failure: string | null;
  options: { durationMs: number; bigSize: number };
  verdicts: { flat: string; bounded: string };
  soak: {
    /** The judged series: the proxy's RSS, the storage nodes' less LevelDB's caches (absent before 2026-12-06: RSS alone). */
    figures: Array<{ proc: string; verdict: string; startMiB: number; endMiB: number }>;
    rssFigures?: Array<{ proc: string; verdict: string; startMiB: number; endMiB: number }>;
    levelDb?: Array<{ node: string; maxMiB: number; boundMiB: number; within: boolean }>;
  };
  big: { put: { ok: boolean; mbPerSec: number }; get?: { ok: boolean; mbPerSec: number }; figures: Array<{ proc: string; put: { growthMiB: number }; get?: { growthMiB: number } }> } | null;
}

/** The figures the issue asks for. */
export const TARGETS = {
  smallOpsRatio: 3,
  smallOpsAim: 5,
  largeMbRatio: 1.5,
  listingPageSpeedup: 3,
  ringSpeedup: 10,
  ringPartPower: 18,
} as const;

const KiB4 = 4096;
const MiB64 = 64 * 1024 * 1024;

function summaryOf(j: SideBySideJson, system: string, op: string, size: number, c: number): Aggregate | undefined {
  return j.workloads.find((w) => w.system === system && w.op === op && w.size === size && w.concurrency === c)?.summary;
}

function ratioOf(j: SideBySideJson, op: string, size: number, c: number): PairRatios | undefined {
  return j.ratios.find((r) => r.op === op && r.size === size && r.concurrency === c);
}

const x = (v: number): string => `${fmt(v)}×`;

/** A ratio row: `ratio` of Swiftlet/Swift against `min`, with both systems' figures. */
function ratioRow(j: SideBySideJson, target: string, op: string, size: number, c: number, figure: 'opsPerSec' | 'mbPerSec', min: number, unit: string, source?: string): TargetRow {
  const r = ratioOf(j, op, size, c);
  const a = summaryOf(j, 'Swiftlet', op, size, c);
  const b = summaryOf(j, 'Swift', op, size, c);
  if (!r || !a || !b || !Number.isFinite(r[figure])) return { target, measured: 'not measured', met: undefined, source };
  const errors = a.errors ? `; **${a.errors} Swiftlet errors**` : '';
  return { target, measured: `**${x(r[figure])}** (${fmt(a[figure].mean)} vs ${fmt(b[figure].mean)} ${unit})${errors}`, met: r[figure] >= min && a.errors === 0, source };
}

/** 4 KiB: PUT and GET ops/s ≥ 3× Swift's at c=16 and c=64; p99 lower than Swift's. */
export function judgeSmallObjects(j: SideBySideJson, source?: string): TargetRow[] {
  const rows: TargetRow[] = [];
  for (const op of ['put', 'get'])
    for (const c of [16, 64])
      rows.push(ratioRow(j, `4 KiB ${op.toUpperCase()} ops/s ≥ ${TARGETS.smallOpsRatio}× Swift's at c=${c} (aim ${TARGETS.smallOpsAim}×)`, op, KiB4, c, 'opsPerSec', TARGETS.smallOpsRatio, 'ops/s', source));
  const p99 = ['put', 'get'].flatMap((op) => [16, 64].map((c) => ({ op, c, r: ratioOf(j, op, KiB4, c)?.p99Ms })));
  const missing = p99.some((p) => p.r === undefined || !Number.isFinite(p.r));
  rows.push({
    target: "4 KiB p99 latency lower than Swift's (PUT and GET, c=16 and c=64)",
    measured: missing ? 'not measured' : p99.map((p) => `${p.op.toUpperCase()} c=${p.c} ${x(p.r as number)}`).join(', '),
    met: missing ? undefined : p99.every((p) => (p.r as number) < 1),
    source,
  });
  // the other ops are not targets; shown so a regression there is seen
  const others = j.ratios.filter((r) => r.size === KiB4 && !['put', 'get'].includes(r.op));
  if (others.length)
    rows.push({
      target: '(not a target) 4 KiB HEAD, LIST, DELETE ops/s and p99, Swiftlet/Swift',
      measured: others.map((r) => `${r.op.toUpperCase()} c=${r.concurrency} ${x(r.opsPerSec)} / p99 ${x(r.p99Ms)}`).join(', '),
      met: undefined,
      source,
    });
  return rows;
}

/** 64 MiB: PUT and GET MB/s ≥ 1.5× Swift's. */
export function judgeLargeObjects(j: SideBySideJson, source?: string): TargetRow[] {
  const c = j.ratios.find((r) => r.size === MiB64)?.concurrency ?? 4;
  return ['put', 'get'].map((op) => ratioRow(j, `64 MiB ${op.toUpperCase()} MB/s ≥ ${TARGETS.largeMbRatio}× Swift's (c=${c})`, op, MiB64, c, 'mbPerSec', TARGETS.largeMbRatio, 'MB/s', source));
}

/** A 10,000-entry page of the whole container ≥ 3× faster (page time p50); the walk and prefix/delimiter shown. */
export function judgeListing(j: ListingJson, source?: string): TargetRow[] {
  const pageStats = (system: string, label: string): { p50: number; mean: number; errors: number } | undefined => {
    const runs = j.results[system]?.[label];
    if (!runs?.length) return undefined;
    const pages = runs.flatMap((r) => r.pageMs);
    return { p50: summarizeLatencies(pages).p50Ms, mean: pages.reduce((s, v) => s + v, 0) / pages.length, errors: runs.reduce((s, r) => s + r.errors, 0) };
  };
  const atScale = j.objects >= 1_000_000 && j.pageSize === 10_000;
  const target = `Listing: a ${j.pageSize.toLocaleString('en')}-entry page of a ${j.objects.toLocaleString('en')}-object container ≥ ${TARGETS.listingPageSpeedup}× faster than Swift${atScale ? '' : ' (**not the 10,000 of 1,000,000 asked**)'}`;
  const a = pageStats('Swiftlet', 'whole container');
  const b = pageStats('Swift', 'whole container');
  if (!a || !b) return [{ target, measured: 'not measured', met: undefined, source }];
  const speedup = b.p50 / a.p50;
  const rows: TargetRow[] = [
    {
      target,
      measured: `**${x(speedup)}** faster (page p50 ${fmt(a.p50)} vs ${fmt(b.p50)} ms; mean page ${fmt(a.mean)} vs ${fmt(b.mean)} ms, ${x(b.mean / a.mean)})${a.errors ? `; **${a.errors} Swiftlet errors**` : ''}`,
      met: !atScale ? undefined : speedup >= TARGETS.listingPageSpeedup && a.errors === 0,
      source,
    },
  ];
  const labels = Object.keys(j.results.Swiftlet ?? {}).filter((l) => l !== 'whole container');
  const others = labels.map((l) => ({ l, a: pageStats('Swiftlet', l), b: pageStats('Swift', l) })).filter((o) => o.a && o.b);
  if (others.length)
    rows.push({
      target: '(not a target) listing with prefix / delimiter, mean page time Swift/Swiftlet',
      measured: others.map((o) => `${o.l} ${x((o.b as { mean: number }).mean / (o.a as { mean: number }).mean)}`).join(', '),
      met: undefined,
      source,
    });
  return rows;
}

/** Ring rebalance at part power 18 ≥ 10× faster than swift-ring-builder, for every device count run. */
export function judgeRing(j: RingJson, source?: string): TargetRow[] {
  const target = `Ring rebalance ≥ ${TARGETS.ringSpeedup}× faster than swift-ring-builder at part power ${TARGETS.ringPartPower} (10, 100 and 1,000 devices)`;
  const rows = j.rows.filter((r) => r.partPower === TARGETS.ringPartPower);
  const mean = (v: number[] | undefined): number => (v?.length ? v.reduce((s, t) => s + t, 0) / v.length : NaN);
  const cells = rows.map((r) => ({ devices: r.devices, a: mean(r.times.Swiftlet), b: mean(r.times.Swift), failed: Object.keys(r.failed).length > 0 }));
  if (!cells.length || cells.some((c) => c.failed || !Number.isFinite(c.a) || !Number.isFinite(c.b))) {
    return [{ target, measured: cells.length ? cells.map((c) => `${c.devices} devices: ${c.failed ? 'failed' : 'not measured'}`).join(', ') : 'not measured', met: undefined, source }];
  }
  return [
    {
      target,
      measured: cells.map((c) => `${c.devices} devices **${x(c.b / c.a)}** (${fmt(c.a)} vs ${fmt(c.b)} s)`).join(', '),
      met: cells.every((c) => c.b / c.a >= TARGETS.ringSpeedup),
      source,
    },
  ];
}

/** Memory: the proxy and storage nodes flat over a 10-minute soak; a 5 GiB object streams with bounded memory. */
export function judgeMemory(j: MemoryJson, source?: string): TargetRow[] {
  const minutes = j.options.durationMs / 60_000;
  const flatTarget = `Memory: proxy and storage nodes flat over a ${fmt(minutes)}-minute run${minutes < 10 ? ' (**shorter than the 10 minutes asked**)' : ''}`;
  const growing = j.soak.figures.filter((f) => f.verdict !== 'flat');
  const overBound = (j.soak.levelDb ?? []).filter((l) => !l.within);
  // RSS as measured, start → end; the nodes' verdicts are on RSS less LevelDB's caches when the run says so
  const rss = j.soak.rssFigures ?? j.soak.figures;
  const slopes = rss.map((f) => `${f.proc} ${fmt(f.startMiB)}→${fmt(f.endMiB)} MiB`).join(', ');
  const caches = j.soak.levelDb
    ? `; storage nodes judged less LevelDB's caches, at most ${fmt(Math.max(...j.soak.levelDb.map((l) => l.maxMiB)))} MiB of their ${fmt(Math.max(...j.soak.levelDb.map((l) => l.boundMiB)))} MiB bound${overBound.length ? ` (**${overBound.map((l) => l.node).join(', ')} above it**)` : ''}`
    : '';
  const rows: TargetRow[] = [
    {
      target: flatTarget,
      measured: `${j.verdicts.flat === 'YES' ? 'every process flat' : `**${growing.map((f) => `${f.proc} ${f.verdict}`).join(', ') || 'LevelDB above its bound'}**`} (RSS ${slopes}${caches})${j.failure ? `; run stopped: ${j.failure}` : ''}`,
      met: j.verdicts.flat === 'YES' && minutes >= 10 && !j.failure ? true : j.verdicts.flat === 'NO' ? false : undefined,
      source,
    },
  ];
  const bigTarget = `Memory: a ${fmt(j.options.bigSize / 1024 ** 3)} GiB object streams with bounded memory${j.options.bigSize < 5 * 1024 ** 3 ? ' (**smaller than the 5 GiB asked**)' : ''}`;
  if (!j.big) rows.push({ target: bigTarget, measured: 'not run', met: undefined, source });
  else {
    const growth = Math.max(...j.big.figures.map((f) => Math.max(f.put.growthMiB, f.get?.growthMiB ?? 0)));
    rows.push({
      target: bigTarget,
      measured: `largest growth of any process ${fmt(growth)} MiB; PUT ${fmt(j.big.put.mbPerSec)} MB/s, GET ${j.big.get ? `${fmt(j.big.get.mbPerSec)} MB/s` : 'not run'}; MD5 ${j.big.put.ok && j.big.get?.ok ? 'verified both ways' : '**not verified**'}`,
      met: j.verdicts.bounded === 'YES' && j.options.bigSize >= 5 * 1024 ** 3 ? true : j.verdicts.bounded.startsWith('NO') ? false : undefined,
      source,
    });
  }
  return rows;
}

function metCell(m: boolean | undefined): string {
  return m === true ? '**met**' : m === false ? '**NOT met**' : '—';
}

/** The verdict table: one row per target, the figure measured, met or not, and where it came from. */
export function targetsTable(rows: readonly TargetRow[]): string {
  return (
    '| target (issue) | measured in this run | verdict | results |\n|---|---|---|---|\n' +
    rows.map((r) => `| ${r.target} | ${r.measured} | ${r.target.startsWith('(not a target)') ? '' : metCell(r.met)} | ${r.source ? `[${r.source}](${r.source}/results.md)` : ''} |`).join('\n') +
    '\n'
  );
}

/** Targets judged (informational rows excluded): how many are met, and whether all are. */
export function targetsSummary(rows: readonly TargetRow[]): { judged: number; met: number; allMet: boolean } {
  const judged = rows.filter((r) => !r.target.startsWith('(not a target)'));
  const met = judged.filter((r) => r.met === true).length;
  return { judged: judged.length, met, allMet: judged.length > 0 && met === judged.length };
}
