import { readFileSync } from 'node:fs';
import { escapeXml } from './report.js';
import { fmt } from './stats.js';

/**
 * Resident memory of running processes, read from /proc/<pid>/status (VmRSS: resident now; VmHWM:
 * the peak resident size since the process started), sampled on a timer; and the figures a memory
 * report needs from those samples (least-squares slope, halves, verdicts), plus an SVG line chart.
 * The analysis and the chart are pure.
 */
export interface RssReading {
  rssMiB: number;
  hwmMiB: number;
}

/** VmRSS and VmHWM of one process in MiB, or undefined when it is gone. */
export function readRss(pid: number): RssReading | undefined {
  let status: string;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(status);
    return m ? Number(m[1]) / 1024 : NaN;
  };
  return { rssMiB: kb('VmRSS'), hwmMiB: kb('VmHWM') };
}

export interface RssSample {
  /** Seconds since the sampler started. */
  t: number;
  /** Process name → reading (a process that is gone has none). */
  procs: Record<string, RssReading>;
}

/** Samples every process of `pids` every `intervalMs` until stop(). */
export class RssSampler {
  readonly samples: RssSample[] = [];
  private readonly t0 = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pids: Record<string, number>,
    intervalMs: number,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Seconds since the sampler started. */
  now(): number {
    return (Date.now() - this.t0) / 1000;
  }

  sample(): RssSample {
    const procs: Record<string, RssReading> = {};
    for (const [name, pid] of Object.entries(this.pids)) {
      const r = readRss(pid);
      if (r) procs[name] = r;
    }
    const s = { t: this.now(), procs };
    this.samples.push(s);
    return s;
  }

  stop(): RssSample[] {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    return this.samples;
  }
}

export interface Fit {
  /** MiB per minute. */
  slope: number;
  /** Standard error of the slope, MiB per minute (NaN with fewer than 3 points). */
  stderr: number;
}

/** Ordinary least squares of y (MiB) on t (seconds), slope in MiB/min. */
export function linearFit(points: ReadonlyArray<{ t: number; y: number }>): Fit {
  const n = points.length;
  if (n < 2) return { slope: NaN, stderr: NaN };
  const mt = points.reduce((a, p) => a + p.t, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let sxx = 0;
  let sxy = 0;
  for (const p of points) {
    sxx += (p.t - mt) ** 2;
    sxy += (p.t - mt) * (p.y - my);
  }
  if (sxx === 0) return { slope: NaN, stderr: NaN };
  const b = sxy / sxx;
  let sse = 0;
  for (const p of points) sse += (p.y - my - b * (p.t - mt)) ** 2;
  const stderr = n > 2 ? Math.sqrt(sse / (n - 2) / sxx) : NaN;
  return { slope: b * 60, stderr: stderr * 60 };
}

/** MiB to take off a process's RSS at a time (seconds): a part judged on its own, such as a bounded cache. */
export type RssOffset = (t: number) => number;

/** The points of one process between two times (seconds, inclusive), less `offset` when given. */
export function series(samples: readonly RssSample[], proc: string, from = -Infinity, to = Infinity, offset?: RssOffset): Array<{ t: number; y: number }> {
  const out: Array<{ t: number; y: number }> = [];
  for (const s of samples) {
    const r = s.procs[proc];
    if (r && s.t >= from && s.t <= to && Number.isFinite(r.rssMiB)) out.push({ t: s.t, y: r.rssMiB - (offset ? offset(s.t) : 0) });
  }
  return out;
}

/** What "flat" means in a soak; printed next to every verdict. */
export interface FlatCriterion {
  /** Samples before this (seconds) are warm-up and not judged. */
  warmUpS: number;
  /** Largest least-squares slope over the second half of the judged samples, MiB/min. */
  maxSlopeMiBPerMin: number;
  /** The last sample may be at most this × the largest sample of the first half. */
  maxEndOverFirstHalfMax: number;
  /** Shorter judged windows are called inconclusive: a slope over a minute or two is GC noise. */
  minJudgedS: number;
}

export function describeFlat(c: FlatCriterion): string {
  return (
    `"flat" = after a ${c.warmUpS} s warm-up, the least-squares slope of RSS over the second half of the samples, plus 2 standard errors, is below ` +
    `${c.maxSlopeMiBPerMin} MiB/min AND the last sample is at most ${c.maxEndOverFirstHalfMax} × the largest sample of the first half; ` +
    `"growing" = the last sample is above that OR the slope minus 2 standard errors is at or above ${c.maxSlopeMiBPerMin} MiB/min; ` +
    `"inconclusive" otherwise (the slope's ±2 SE band straddles the limit), or when less than ${c.minJudgedS} s was sampled after the warm-up`
  );
}

export type Verdict = 'flat' | 'growing' | 'inconclusive';

export interface SoakFigures {
  proc: string;
  /** RSS at the first sample after the warm-up, MiB. */
  startMiB: number;
  endMiB: number;
  maxMiB: number;
  firstHalfMaxMiB: number;
  /** Slope over every judged sample and over the second half, MiB/min. */
  slope: Fit;
  slopeSecondHalf: Fit;
  /** VmHWM at the end: the largest RSS the process ever had (warm-up included). */
  hwmMiB: number;
  samples: number;
  verdict: Verdict;
  /** Why, in words. */
  reason: string;
}

/** The soak's figures and verdict for one process; with `offset`, of its RSS less that part. */
export function soakFigures(samples: readonly RssSample[], proc: string, c: FlatCriterion, offset?: RssOffset): SoakFigures {
  const pts = series(samples, proc, c.warmUpS, Infinity, offset);
  const last = [...samples].reverse().find((s) => s.procs[proc]);
  const hwmMiB = last?.procs[proc]?.hwmMiB ?? NaN;
  const empty = { proc, startMiB: NaN, endMiB: NaN, maxMiB: NaN, firstHalfMaxMiB: NaN, slope: linearFit([]), slopeSecondHalf: linearFit([]), hwmMiB, samples: pts.length };
  if (pts.length < 4) return { ...empty, verdict: 'inconclusive', reason: `only ${pts.length} samples after the warm-up` };
  const t0 = pts[0].t;
  const t1 = pts[pts.length - 1].t;
  const mid = (t0 + t1) / 2;
  const first = pts.filter((p) => p.t <= mid);
  const second = pts.filter((p) => p.t >= mid);
  const f: Omit<SoakFigures, 'verdict' | 'reason'> = {
    ...empty,
    startMiB: pts[0].y,
    endMiB: pts[pts.length - 1].y,
    maxMiB: Math.max(...pts.map((p) => p.y)),
    firstHalfMaxMiB: Math.max(...first.map((p) => p.y)),
    slope: linearFit(pts),
    slopeSecondHalf: linearFit(second),
  };
  const { slope, stderr } = f.slopeSecondHalf;
  const band = 2 * (Number.isFinite(stderr) ? stderr : Infinity);
  const slopeOk = slope + band < c.maxSlopeMiBPerMin;
  const slopeBad = slope - band >= c.maxSlopeMiBPerMin;
  const endOk = f.endMiB <= c.maxEndOverFirstHalfMax * f.firstHalfMaxMiB;
  const why = `second-half slope ${fmt(slope)} ± ${fmt(band, 2)} MiB/min ${slopeOk ? 'below' : slopeBad ? 'above' : 'around'} ${c.maxSlopeMiBPerMin}; end ${fmt(f.endMiB)} ${endOk ? '≤' : '>'} ${c.maxEndOverFirstHalfMax} × ${fmt(f.firstHalfMaxMiB)} MiB`;
  if (t1 - t0 < c.minJudgedS) return { ...f, verdict: 'inconclusive', reason: `only ${fmt(t1 - t0)} s sampled after the warm-up (${why})` };
  const verdict: Verdict = !endOk || slopeBad ? 'growing' : slopeOk ? 'flat' : 'inconclusive';
  return { ...f, verdict, reason: why };
}

export interface TransferFigures {
  proc: string;
  /** Median RSS over the samples before the transfer, MiB. */
  baselineMiB: number;
  maxMiB: number;
  /** maxMiB − baselineMiB. */
  growthMiB: number;
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length ? (s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2) : NaN;
}

/** RSS growth of one process during [from, to] over its median in [baseFrom, from). */
export function transferFigures(samples: readonly RssSample[], proc: string, baseFrom: number, from: number, to: number): TransferFigures {
  const base = series(samples, proc, baseFrom, from - 1e-9).map((p) => p.y);
  const during = series(samples, proc, from, to).map((p) => p.y);
  const baselineMiB = median(base);
  const maxMiB = during.length ? Math.max(...during) : NaN;
  return { proc, baselineMiB, maxMiB, growthMiB: maxMiB - baselineMiB };
}

const PALETTE = ['#2b6cb0', '#dd6b20', '#38a169', '#805ad5', '#d53f8c', '#718096', '#b7791f', '#319795', '#e53e3e'];

export interface LinePanel {
  title: string;
  samples: readonly RssSample[];
  procs: readonly string[];
  /** Vertical markers: time (s) and label. */
  marks?: ReadonlyArray<{ t: number; label: string }>;
}

/** RSS over time, one line per process, one panel per sampled stretch. */
export function rssLineChart(title: string, panels: readonly LinePanel[]): string {
  const width = 900;
  const left = 70;
  const right = 150;
  const plotW = width - left - right;
  const plotH = 240;
  const parts: string[] = [`<text x="10" y="26" font-size="16" font-weight="bold">${escapeXml(title)}</text>`];
  let y = 50;
  for (const panel of panels) {
    parts.push(`<text x="10" y="${y}" font-size="14" font-weight="bold">${escapeXml(panel.title)}</text>`);
    y += 16;
    const all = panel.procs.flatMap((p) => series(panel.samples, p));
    const tMin = Math.min(...panel.samples.map((s) => s.t));
    const tMax = Math.max(...panel.samples.map((s) => s.t), tMin + 1);
    const yMax = niceCeil(Math.max(...all.map((p) => p.y), 1));
    const px = (t: number): number => left + ((t - tMin) / (tMax - tMin)) * plotW;
    const py = (v: number): number => y + plotH - (v / yMax) * plotH;
    parts.push(`<rect x="${left}" y="${y}" width="${plotW}" height="${plotH}" fill="none" stroke="#ccc"/>`);
    for (let i = 0; i <= 4; i++) {
      const v = (yMax * i) / 4;
      parts.push(`<line x1="${left}" x2="${left + plotW}" y1="${py(v).toFixed(1)}" y2="${py(v).toFixed(1)}" stroke="#eee"/>`);
      parts.push(`<text x="${left - 6}" y="${(py(v) + 4).toFixed(1)}" font-size="11" text-anchor="end">${yMax >= 10 ? Math.round(v) : fmt(v)}</text>`);
    }
    parts.push(`<text x="14" y="${y + plotH / 2}" font-size="11" transform="rotate(-90 14 ${y + plotH / 2})" text-anchor="middle">RSS MiB</text>`);
    for (let i = 0; i <= 5; i++) {
      const t = tMin + ((tMax - tMin) * i) / 5;
      parts.push(`<text x="${px(t).toFixed(1)}" y="${y + plotH + 14}" font-size="11" text-anchor="middle">${fmt(t - tMin)} s</text>`);
    }
    for (const m of panel.marks ?? []) {
      parts.push(`<line x1="${px(m.t).toFixed(1)}" x2="${px(m.t).toFixed(1)}" y1="${y}" y2="${y + plotH}" stroke="#999" stroke-dasharray="4 3"/>`);
      parts.push(`<text x="${(px(m.t) + 3).toFixed(1)}" y="${y + 12}" font-size="10" fill="#555">${escapeXml(m.label)}</text>`);
    }
    panel.procs.forEach((p, i) => {
      const color = PALETTE[i % PALETTE.length];
      const pts = series(panel.samples, p).map((q) => `${px(q.t).toFixed(1)},${py(q.y).toFixed(1)}`);
      if (pts.length) parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${color}" stroke-width="1.5"/>`);
      const ly = y + 14 + i * 18;
      parts.push(`<rect x="${left + plotW + 12}" y="${ly - 9}" width="12" height="12" fill="${color}"/>`);
      parts.push(`<text x="${left + plotW + 30}" y="${ly + 1}" font-size="12">${escapeXml(p)}</text>`);
    });
    y += plotH + 40;
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${y}" viewBox="0 0 ${width} ${y}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${parts.join('\n')}\n</svg>\n`;
}

/** 1, 2, 5 × 10^k at or above x. */
function niceCeil(x: number): number {
  const k = 10 ** Math.floor(Math.log10(x));
  for (const m of [1, 2, 5, 10]) if (m * k >= x) return m * k;
  return 10 * k;
}
