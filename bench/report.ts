import { formatSize } from './args.js';
import type { RunResult, WorkloadRuns } from './result.js';
import { fmt, fmtSpread, meanSpread, ratio, type Spread } from './stats.js';

/**
 * Reports: aggregation over repeated runs, markdown tables and a hand-written SVG bar chart.
 * Pure string building, unit tested.
 */
export interface Aggregate {
  opsPerSec: Spread;
  mbPerSec: Spread;
  p50Ms: Spread;
  p99Ms: Spread;
  p999Ms: Spread;
  ops: number;
  errors: number;
  errorKinds: Record<string, number>;
}

export function aggregate(runs: readonly RunResult[]): Aggregate {
  const errorKinds: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + v;
  return {
    opsPerSec: meanSpread(runs.map((r) => r.opsPerSec)),
    mbPerSec: meanSpread(runs.map((r) => r.mbPerSec ?? NaN)),
    p50Ms: meanSpread(runs.map((r) => r.p50Ms)),
    p99Ms: meanSpread(runs.map((r) => r.p99Ms)),
    p999Ms: meanSpread(runs.map((r) => r.p999Ms)),
    ops: runs.reduce((a, r) => a + r.ops, 0),
    errors: runs.reduce((a, r) => a + r.errors, 0),
    errorKinds,
  };
}

function errorsCell(a: Aggregate): string {
  if (a.errors === 0) return `0 / ${a.ops}`;
  const kinds = Object.entries(a.errorKinds)
    .map(([k, v]) => `${k}×${v}`)
    .join(' ');
  return `**${a.errors}** / ${a.ops} (${kinds})`;
}

/** The op's name, with the client that drove it when the run used more than one: `GET (curl)`. */
export function opLabel(w: WorkloadRuns): string {
  return w.client ? `${w.op.toUpperCase()} (${w.client})` : w.op.toUpperCase();
}

function workloadCells(w: WorkloadRuns): string[] {
  return [opLabel(w), formatSize(w.size), String(w.concurrency)];
}

/** One system: one row per workload. */
export function markdownTable(workloads: readonly WorkloadRuns[]): string {
  const head = '| op | size | conc | ops/s | MB/s | p50 ms | p99 ms | p99.9 ms | errors / ops | runs |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n';
  return (
    head +
    workloads
      .map((w) => {
        const a = aggregate(w.runs);
        return `| ${[...workloadCells(w), fmtSpread(a.opsPerSec), fmtSpread(a.mbPerSec), fmtSpread(a.p50Ms), fmtSpread(a.p99Ms), fmtSpread(a.p999Ms), errorsCell(a), String(w.runs.length)].join(' | ')} |`;
      })
      .join('\n') +
    '\n'
  );
}

export interface Pair {
  a: WorkloadRuns;
  b: WorkloadRuns;
}

export interface PairRatios {
  opsPerSec: number;
  mbPerSec: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
}

export function pairRatios(p: Pair): PairRatios {
  const a = aggregate(p.a.runs);
  const b = aggregate(p.b.runs);
  return {
    opsPerSec: ratio(a.opsPerSec.mean, b.opsPerSec.mean),
    mbPerSec: ratio(a.mbPerSec.mean, b.mbPerSec.mean),
    p50Ms: ratio(a.p50Ms.mean, b.p50Ms.mean),
    p99Ms: ratio(a.p99Ms.mean, b.p99Ms.mean),
    p999Ms: ratio(a.p999Ms.mean, b.p999Ms.mean),
  };
}

function ratioCell(x: number): string {
  return Number.isFinite(x) ? `**${fmt(x)}×**` : '—';
}

/**
 * Two systems side by side: for each workload a row per system and a row with the ratio A/B of
 * every figure (ops/s and MB/s: above 1 means A is faster; latencies: below 1 means A is faster).
 */
export function markdownSideBySide(pairs: readonly Pair[]): string {
  if (pairs.length === 0) return '(no workloads)\n';
  const an = pairs[0].a.system;
  const bn = pairs[0].b.system;
  const head = `| op | size | conc | system | ops/s | MB/s | p50 ms | p99 ms | p99.9 ms | errors / ops |\n|---|---|---:|---|---:|---:|---:|---:|---:|---:|\n`;
  const rows: string[] = [];
  for (const p of pairs) {
    const a = aggregate(p.a.runs);
    const b = aggregate(p.b.runs);
    const r = pairRatios(p);
    const w = workloadCells(p.a);
    rows.push(`| ${w.join(' | ')} | ${an} | ${fmtSpread(a.opsPerSec)} | ${fmtSpread(a.mbPerSec)} | ${fmtSpread(a.p50Ms)} | ${fmtSpread(a.p99Ms)} | ${fmtSpread(a.p999Ms)} | ${errorsCell(a)} |`);
    rows.push(`| | | | ${bn} | ${fmtSpread(b.opsPerSec)} | ${fmtSpread(b.mbPerSec)} | ${fmtSpread(b.p50Ms)} | ${fmtSpread(b.p99Ms)} | ${fmtSpread(b.p999Ms)} | ${errorsCell(b)} |`);
    rows.push(`| | | | ${an}/${bn} | ${ratioCell(r.opsPerSec)} | ${ratioCell(r.mbPerSec)} | ${ratioCell(r.p50Ms)} | ${ratioCell(r.p99Ms)} | ${ratioCell(r.p999Ms)} | |`);
  }
  return head + rows.join('\n') + '\n';
}

/** Mean device flushes per operation over the runs that counted them, or undefined. */
function meanFlushes(w: WorkloadRuns): number | undefined {
  const v = w.runs.map((r) => r.flushesPerOp).filter((x): x is number => x !== undefined);
  return v.length ? v.reduce((s, x) => s + x, 0) / v.length : undefined;
}

/** A markdown list of each workload's disk flushes per operation on both systems ('' when not counted). */
export function markdownFlushes(pairs: readonly Pair[]): string {
  const lines: string[] = [];
  for (const p of pairs) {
    const fa = meanFlushes(p.a);
    const fb = meanFlushes(p.b);
    if (fa === undefined || fb === undefined) continue;
    lines.push(`- ${opLabel(p.a)} ${formatSize(p.a.size)} c=${p.a.concurrency}: ${p.a.system} ${fmt(fa)}, ${p.b.system} ${fmt(fb)}`);
  }
  if (!lines.length) return '';
  return `Disk flushes per operation (flush requests each system's data disk completed during its runs, per operation; every fsync with something to commit ends in one):\n\n${lines.join('\n')}\n`;
}

/** Console summary of ratios, one line per workload. */
export function ratioLines(pairs: readonly Pair[]): string[] {
  return pairs.map((p) => {
    const r = pairRatios(p);
    const w = `${opLabel(p.a).padEnd(6)} ${formatSize(p.a.size).padStart(7)} c=${String(p.a.concurrency).padEnd(3)}`;
    const x = (v: number): string => (Number.isFinite(v) ? `${fmt(v)}×` : '—');
    return `${w} ${p.a.system}/${p.b.system}: ops/s ${x(r.opsPerSec)}  MB/s ${x(r.mbPerSec)}  p50 ${x(r.p50Ms)}  p99 ${x(r.p99Ms)}  p99.9 ${x(r.p999Ms)}`;
  });
}

export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

export interface BarRow {
  label: string;
  /** One value per series (NaN = missing). */
  values: number[];
  /** Text at the end of the row, e.g. a ratio. */
  note?: string;
}

export interface BarPanel {
  title: string;
  unit: string;
  rows: BarRow[];
}

const COLORS = ['#2b6cb0', '#dd6b20', '#38a169', '#805ad5'];

/**
 * Horizontal grouped bars, one panel per figure. Each row is scaled to its own largest value
 * (workloads differ by orders of magnitude), and every bar carries its number.
 */
export function svgBarChart(title: string, series: readonly string[], panels: readonly BarPanel[], noteHeader = ''): string {
  const width = 900;
  const labelW = 190;
  const noteW = 90;
  const barMax = width - labelW - noteW - 90;
  const barH = 14;
  const rowGap = 10;
  let y = 30;
  const parts: string[] = [];
  parts.push(`<text x="10" y="${y}" font-size="16" font-weight="bold">${escapeXml(title)}</text>`);
  y += 10;
  series.forEach((s, i) => {
    const x = labelW + i * 150;
    parts.push(`<rect x="${x}" y="${y}" width="12" height="12" fill="${COLORS[i % COLORS.length]}"/>`);
    parts.push(`<text x="${x + 18}" y="${y + 11}" font-size="12">${escapeXml(s)}</text>`);
  });
  if (noteHeader) parts.push(`<text x="${width - noteW}" y="${y + 11}" font-size="12">${escapeXml(noteHeader)}</text>`);
  y += 30;
  for (const panel of panels) {
    parts.push(`<text x="10" y="${y}" font-size="14" font-weight="bold">${escapeXml(panel.title)} (${escapeXml(panel.unit)})</text>`);
    y += 12;
    for (const row of panel.rows) {
      const max = Math.max(...row.values.filter((v) => Number.isFinite(v)), 0);
      const groupH = row.values.length * barH;
      parts.push(`<text x="10" y="${y + groupH / 2 + 4}" font-size="12">${escapeXml(row.label)}</text>`);
      row.values.forEach((v, i) => {
        const by = y + i * barH;
        const w = Number.isFinite(v) && max > 0 ? Math.max(1, (v / max) * barMax) : 0;
        parts.push(`<rect x="${labelW}" y="${by}" width="${w.toFixed(1)}" height="${barH - 2}" fill="${COLORS[i % COLORS.length]}"/>`);
        parts.push(`<text x="${(labelW + w + 4).toFixed(1)}" y="${by + barH - 4}" font-size="11">${Number.isFinite(v) ? fmt(v) : 'n/a'}</text>`);
      });
      if (row.note) parts.push(`<text x="${width - noteW}" y="${y + groupH / 2 + 4}" font-size="12" font-weight="bold">${escapeXml(row.note)}</text>`);
      y += groupH + rowGap;
    }
    y += 14;
  }
  const height = y + 10;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}

function rowLabel(w: WorkloadRuns): string {
  return `${opLabel(w)} ${formatSize(w.size)} c=${w.concurrency}`;
}

/** The side-by-side chart: ops/s and p99 for each workload, with the ratio as the row note. */
export function sideBySideChart(pairs: readonly Pair[], title: string): string {
  if (pairs.length === 0) return svgBarChart(title, [], []);
  const series = [pairs[0].a.system, pairs[0].b.system];
  const ops: BarRow[] = pairs.map((p) => ({
    label: rowLabel(p.a),
    values: [aggregate(p.a.runs).opsPerSec.mean, aggregate(p.b.runs).opsPerSec.mean],
    note: `${fmt(pairRatios(p).opsPerSec)}×`,
  }));
  const p99: BarRow[] = pairs.map((p) => ({
    label: rowLabel(p.a),
    values: [aggregate(p.a.runs).p99Ms.mean, aggregate(p.b.runs).p99Ms.mean],
    note: `${fmt(pairRatios(p).p99Ms)}×`,
  }));
  return svgBarChart(title, series, [
    { title: 'Throughput, higher is better', unit: 'ops/s', rows: ops },
    { title: 'p99 latency, lower is better', unit: 'ms', rows: p99 },
  ], `${series[0]}/${series[1]}`);
}

/** The single-endpoint chart. */
export function objectChart(workloads: readonly WorkloadRuns[], title: string): string {
  const system = workloads[0]?.system ?? '';
  return svgBarChart(title, [system], [
    { title: 'Throughput', unit: 'ops/s', rows: workloads.map((w) => ({ label: rowLabel(w), values: [aggregate(w.runs).opsPerSec.mean] })) },
    { title: 'p99 latency', unit: 'ms', rows: workloads.map((w) => ({ label: rowLabel(w), values: [aggregate(w.runs).p99Ms.mean] })) },
  ]);
}
