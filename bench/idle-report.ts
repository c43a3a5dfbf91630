import { BenchUsageError, parseCount, parseDuration, parseList } from './args.js';
import type { CpuFigure, CpuSummary } from './idle-cpu.js';
import { fmt } from './stats.js';

/** The idle suite's options and report. Pure: unit tested. */

export const IDLE_SYSTEMS = ['swiftlet', 'swift'] as const;
export type IdleSystem = (typeof IDLE_SYSTEMS)[number];

export interface IdleOptions {
  objects: number;
  /** The steady-state sampling, after the first pass. */
  minutes: number;
  systems: IdleSystem[];
  /** How long to wait for every daemon's first pass before sampling anyway. */
  firstPassMaxMs: number;
  /** Sampling window. */
  windowMs: number;
  /** Each system's sparse XFS image. */
  imageSize: string;
  workDir?: string;
}

/** The criterion: each node's daemons average at most this % of a core, plus the auditor's rate. */
export const NODE_BUDGET_PCT = 3;

export function idleOptions(o: Map<string, string>): IdleOptions {
  const minutes = Number(o.get('minutes') ?? '10');
  if (!Number.isFinite(minutes) || minutes <= 0) throw new BenchUsageError('--minutes must be a number > 0');
  const systems = parseList(o.get('systems') ?? IDLE_SYSTEMS.join(','), (s) => s.toLowerCase());
  for (const s of systems) if (!(IDLE_SYSTEMS as readonly string[]).includes(s)) throw new BenchUsageError(`--systems: ${JSON.stringify(s)} is not one of ${IDLE_SYSTEMS.join(', ')}`);
  const windowMs = parseDuration(o.get('window') ?? '10s');
  if (windowMs < 1000) throw new BenchUsageError('--window must be at least 1s');
  const imageSize = o.get('image-size') ?? '';
  if (imageSize && !/^\d+[GMT]$/.test(imageSize)) throw new BenchUsageError('--image-size: like 40G');
  const objects = parseCount(o.get('objects') ?? '1000000', '--objects');
  const out: IdleOptions = {
    objects,
    minutes,
    systems: systems as IdleSystem[],
    firstPassMaxMs: parseDuration(o.get('first-pass-max') ?? '45m'),
    windowMs,
    // 3 replicas of each object, ~5 KiB on XFS apiece (a block or two, the inode, its hash dir), and room: sparse anyway
    imageSize: imageSize || `${Math.max(16, Math.ceil((objects * 3 * 5 * 1024 * 2) / 1024 ** 3))}G`,
  };
  const wd = o.get('work-dir');
  if (wd) out.workDir = wd;
  return out;
}

/** What one system's run leaves for the report. */
export interface IdleRun {
  system: string;
  fill: { seconds: number; files: number; detail: string };
  firstPass: { seconds: number; complete: boolean; cpu: CpuSummary; note: string };
  steady: CpuSummary;
  /** The auditor's configured rate and what its passes reported, per node. */
  auditor: { configured: string; observed: string[] };
  /** How the daemons ran: intervals and rates. */
  daemons: string;
}

function pct(f: CpuFigure | undefined): string {
  return f ? `${fmt(f.meanPct)} | ${fmt(f.p95Pct)}` : '— | —';
}

/** Per node and per daemon: mean and p95 % of a core in the steady state, and the first pass's CPU. */
export function runTable(r: IdleRun): string {
  const lines = ['| node | daemon | steady mean % of a core | steady p95 % (10 s windows) | first pass CPU s |', '|---|---|---:|---:|---:|'];
  for (const [node, f] of r.steady.perNode) {
    for (const [key, d] of r.steady.perDaemon) {
      if (!key.startsWith(`${node}/`)) continue;
      lines.push(`| ${node} | ${key.slice(node.length + 1)} | ${pct(d)} | ${fmt(r.firstPass.cpu.perDaemon.get(key)?.cpuSeconds ?? NaN)} |`);
    }
    lines.push(`| **${node}** | **all** | **${fmt(f.meanPct)}** | **${fmt(f.p95Pct)}** | **${fmt(r.firstPass.cpu.perNode.get(node)?.cpuSeconds ?? NaN)}** |`);
  }
  lines.push(`| **${r.system}** | **total** | **${fmt(r.steady.total.meanPct)}** | **${fmt(r.steady.total.p95Pct)}** | **${fmt(r.firstPass.cpu.total.cpuSeconds)}** |`);
  return lines.join('\n');
}

/** Both systems' totals and worst node side by side. */
export function sideBySideTable(runs: IdleRun[]): string {
  const lines = ['| system | fill s | first pass s | first pass CPU s | steady total % of a core | worst node mean % | worst node p95 % | nodes ≤ 3 % |', '|---|---:|---:|---:|---:|---:|---:|---|'];
  for (const r of runs) {
    const nodes = [...r.steady.perNode].filter(([n]) => n !== 'cluster');
    const worst = nodes.reduce<[string, CpuFigure] | undefined>((w, x) => (!w || x[1].meanPct > w[1].meanPct ? x : w), undefined);
    const within = nodes.filter(([, f]) => f.meanPct <= NODE_BUDGET_PCT).length;
    lines.push(
      `| ${r.system} | ${fmt(r.fill.seconds)} | ${fmt(r.firstPass.seconds)}${r.firstPass.complete ? '' : ' (cut)'} | ${fmt(r.firstPass.cpu.total.cpuSeconds)} | ${fmt(r.steady.total.meanPct)} | ${worst ? `${fmt(worst[1].meanPct)} (${worst[0]})` : '—'} | ${worst ? fmt(worst[1].p95Pct) : '—'} | ${within}/${nodes.length} |`,
    );
  }
  return lines.join('\n');
}

export function idleMarkdown(o: { title: string; machine: string; command: string; setup: string[]; runs: IdleRun[]; failure?: string }): string {
  const parts = [`# ${o.title}`, '', o.machine, ...o.setup.map((s) => `- ${s}`), `- command: \`${o.command}\``, ''];
  if (o.failure) parts.push(`**The run stopped early:** ${o.failure}`, '');
  parts.push(sideBySideTable(o.runs), '');
  for (const r of o.runs) {
    parts.push(`## ${r.system}`, '', `- fill: ${r.fill.detail}`, `- daemons: ${r.daemons}`, `- first pass: ${r.firstPass.note}`, `- auditor: configured ${r.auditor.configured}${r.auditor.observed.length ? `; observed: ${r.auditor.observed.join('; ')}` : ''}`, `- steady state: ${fmt(r.steady.spanSeconds)} s in ${r.steady.windows} windows`, '', runTable(r), '');
  }
  return parts.join('\n');
}
