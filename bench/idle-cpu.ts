import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { percentile } from './stats.js';

/**
 * CPU of daemon process trees from /proc, for the idle suite. A tree's CPU so far is the sum,
 * over its live processes, of utime + stime + cutime + cstime (/proc/<pid>/stat): a child that
 * exited and was reaped (rsync under Swift's replicator, the auditor's forks) has moved its time
 * into its parent's cutime/cstime, so the sum only grows and a window's CPU is the difference of
 * two sums. Every process is labelled node/daemon from its own argv, or inherits its parent's
 * (forks, rsync), so a supervisor with one child per daemon kind is attributed per child.
 * Parsing and the window statistics are pure and unit tested.
 */

export interface ProcStat {
  pid: number;
  ppid: number;
  comm: string;
  /** utime + stime, clock ticks. */
  own: number;
  /** cutime + cstime: reaped children's, clock ticks. */
  children: number;
  starttime: number;
}

/** One /proc/<pid>/stat line. The name in parentheses may hold spaces and parentheses: fields follow the last ')'. */
export function parseProcStat(line: string): ProcStat {
  const open = line.indexOf('(');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`bad /proc stat line: ${line.slice(0, 80)}`);
  const f = line
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // f[0] is field 3 (state): field k is f[k - 3]
  const num = (k: number): number => Number(f[k - 3]);
  return { pid: Number(line.slice(0, open).trim()), ppid: num(4), comm: line.slice(open + 1, close), own: num(14) + num(15), children: num(16) + num(17), starttime: num(22) };
}

export function readProcStat(pid: number): ProcStat | undefined {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return undefined;
  }
}

export function readArgv(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter((a) => a !== '');
  } catch {
    return [];
  }
}

/** Children of a process, from every thread's children file (Linux ≥ 3.5 with CONFIG_PROC_CHILDREN), else by ppid. */
export function childrenOf(pid: number): number[] {
  const out = new Set<number>();
  let threads: string[] = [];
  try {
    threads = readdirSync(`/proc/${pid}/task`);
  } catch {
    return [];
  }
  let haveFiles = false;
  for (const t of threads) {
    try {
      const s = readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8');
      haveFiles = true;
      for (const c of s.split(/\s+/)) if (c) out.add(Number(c));
    } catch {
      /* thread gone, or no children files */
    }
  }
  if (!haveFiles) {
    for (const d of readdirSync('/proc')) {
      if (!/^\d+$/.test(d)) continue;
      if (readProcStat(Number(d))?.ppid === pid) out.add(Number(d));
    }
  }
  return [...out];
}

/** Every pid whose argv passes `match` (the daemon roots of one system). */
export function findProcesses(match: (argv: string[]) => boolean): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    if (match(readArgv(Number(d)))) out.push(Number(d));
  }
  return out.sort((a, b) => a - b);
}

export interface DaemonLabel {
  node: string;
  daemon: string;
}

export function labelKey(l: DaemonLabel): string {
  return `${l.node}/${l.daemon}`;
}

/**
 * Swiftlet: `node … swiftlet.js <command> --config …/nodeN.json …` → nodeN/<command> (`daemons`
 * for the all-in-one process, `replicator`, `auditor`… for a supervisor's children).
 */
export function swiftletLabel(argv: string[]): DaemonLabel | undefined {
  const at = argv.findIndex((a) => a.endsWith('swiftlet.js'));
  if (at < 0 || !argv[at + 1]) return undefined;
  const c = argv.indexOf('--config', at);
  const eq = argv.find((a) => a.startsWith('--config='));
  const config = c >= 0 ? argv[c + 1] : eq?.slice('--config='.length);
  if (!config) return undefined;
  return { node: basename(config).replace(/\.json$/, ''), daemon: argv[at + 1] as string };
}

/**
 * Swift: `python3 …/swift-run.py <swift dir> <daemon> <conf> forever` → nodeN/<daemon>, from a
 * conf named …-N.conf; the cluster's single expirer (object-expirer.conf) is `cluster`. A
 * one-pass run (`once`, the bench's `replicate`) is not a daemon of this suite.
 */
export function swiftLabel(argv: string[]): DaemonLabel | undefined {
  const at = argv.findIndex((a) => a.endsWith('swift-run.py'));
  if (at < 0 || argv[at + 4] !== 'forever' || !argv[at + 2] || !argv[at + 3]) return undefined;
  const m = /-(\d+)\.conf$/.exec(argv[at + 3] as string);
  return { node: m ? `node${m[1]}` : 'cluster', daemon: argv[at + 2] as string };
}

export interface TreeProc {
  /** pid and start time: a recycled pid is another process. */
  id: string;
  label: string;
  /** own + reaped children's CPU so far, clock ticks. */
  ticks: number;
}

export interface CpuSample {
  /** Milliseconds since the sampler started. */
  tMs: number;
  procs: TreeProc[];
}

/** Walks each root's tree, labelling every process by its argv or its parent's label. */
export function sampleTrees(roots: number[], labeler: (argv: string[]) => DaemonLabel | undefined, labels: Map<string, string>): TreeProc[] {
  const out: TreeProc[] = [];
  const seen = new Set<number>();
  const visit = (pid: number, parentLabel: string | undefined): void => {
    // a root may also be another root's child (a supervisor's children match too)
    if (seen.has(pid)) return;
    seen.add(pid);
    const st = readProcStat(pid);
    if (!st) return;
    const id = `${pid}@${st.starttime}`;
    let label = labels.get(id);
    if (label === undefined) {
      const l = labeler(readArgv(pid));
      label = l ? labelKey(l) : (parentLabel ?? `unknown/${st.comm}`);
      labels.set(id, label);
    }
    out.push({ id, label, ticks: st.own + st.children });
    for (const c of childrenOf(pid)) visit(c, label);
  };
  for (const r of roots) visit(r, undefined);
  return out;
}

/**
 * CPU ticks per label between two samples: the label's sum now minus its sum then. A process
 * that exited and was reaped within the tree left its time in its parent's cutime, so it is
 * subtracted from its own label (it is gone) and shows in its parent's (the same label for forks
 * and rsync). Never negative.
 */
export function windowTicks(prev: CpuSample, cur: CpuSample): Map<string, number> {
  const sum = (s: CpuSample): Map<string, number> => {
    const m = new Map<string, number>();
    for (const p of s.procs) m.set(p.label, (m.get(p.label) ?? 0) + p.ticks);
    return m;
  };
  const a = sum(prev);
  const b = sum(cur);
  const out = new Map<string, number>();
  for (const k of new Set([...a.keys(), ...b.keys()])) out.set(k, Math.max(0, (b.get(k) ?? 0) - (a.get(k) ?? 0)));
  return out;
}

export interface CpuFigure {
  /** % of one core over the whole span. */
  meanPct: number;
  /** 95th percentile of the windows' % of one core. */
  p95Pct: number;
  maxPct: number;
  /** CPU seconds over the span. */
  cpuSeconds: number;
}

export interface CpuSummary {
  spanSeconds: number;
  windows: number;
  /** node/daemon → figure. */
  perDaemon: Map<string, CpuFigure>;
  /** node → the sum of its daemons. */
  perNode: Map<string, CpuFigure>;
  total: CpuFigure;
}

function figure(windowPcts: number[], cpuSeconds: number, spanSeconds: number): CpuFigure {
  const sorted = [...windowPcts].sort((x, y) => x - y);
  return { meanPct: spanSeconds > 0 ? (cpuSeconds / spanSeconds) * 100 : NaN, p95Pct: percentile(sorted, 95), maxPct: sorted.length ? (sorted[sorted.length - 1] as number) : NaN, cpuSeconds };
}

/** Windows between consecutive samples; % of one core = ticks / clkTck / window seconds × 100. */
export function summarizeCpu(samples: CpuSample[], clkTck: number): CpuSummary {
  const windows: Array<{ seconds: number; ticks: Map<string, number> }> = [];
  for (let k = 1; k < samples.length; k++) {
    const prev = samples[k - 1] as CpuSample;
    const cur = samples[k] as CpuSample;
    const seconds = (cur.tMs - prev.tMs) / 1000;
    if (seconds > 0) windows.push({ seconds, ticks: windowTicks(prev, cur) });
  }
  const spanSeconds = windows.reduce((a, w) => a + w.seconds, 0);
  const group = (keyOf: (label: string) => string): Map<string, CpuFigure> => {
    const keys = new Set<string>();
    for (const w of windows) for (const l of w.ticks.keys()) keys.add(keyOf(l));
    const out = new Map<string, CpuFigure>();
    for (const key of [...keys].sort()) {
      let ticks = 0;
      const pcts = windows.map((w) => {
        let t = 0;
        for (const [l, v] of w.ticks) if (keyOf(l) === key) t += v;
        ticks += t;
        return (t / clkTck / w.seconds) * 100;
      });
      out.set(key, figure(pcts, ticks / clkTck, spanSeconds));
    }
    return out;
  };
  const perDaemon = group((l) => l);
  const perNode = group((l) => l.split('/')[0] as string);
  const total = group(() => 'total').get('total') ?? figure([], 0, spanSeconds);
  return { spanSeconds, windows: windows.length, perDaemon, perNode, total };
}

/** Clock ticks per second (getconf CLK_TCK; 100 on Linux). */
export function clockTicks(): number {
  try {
    const v = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
    return v > 0 ? v : 100;
  } catch {
    return 100;
  }
}

/** Samples the trees every `intervalMs` until stop(); `roots()` is asked again at every sample. */
export class TreeSampler {
  readonly samples: CpuSample[] = [];
  private readonly labels = new Map<string, string>();
  private readonly t0 = Date.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly roots: () => number[],
    private readonly labeler: (argv: string[]) => DaemonLabel | undefined,
    intervalMs: number,
  ) {
    this.sample();
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  sample(): CpuSample {
    const s = { tMs: Date.now() - this.t0, procs: sampleTrees(this.roots(), this.labeler, this.labels) };
    this.samples.push(s);
    return s;
  }

  stop(): CpuSample[] {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.sample();
    return this.samples;
  }
}
