import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, totalmem } from 'node:os';
import { join } from 'node:path';

/** What the figures were taken on. */
export interface MachineInfo {
  date: string;
  nproc: number;
  cpu: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  swift: string;
  wrk: string;
  gitCommit: string;
  gitDirty: boolean;
  /** 1-minute load average when the report was written: other work on the machine skews figures. */
  loadAvg1: number;
  /** Share of CPU time (%) the hypervisor took during the runs (side-by-side): host noise on a VM. */
  stealPct?: number;
}

function tryRun(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return (e.stdout || e.stderr || '').toString().trim();
  }
}

export function machineInfo(): MachineInfo {
  return {
    date: new Date().toISOString(),
    nproc: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    kernel: release(),
    node: process.version,
    swift: tryRun('dpkg-query', ['-W', '-f=${Version}', 'swift']) || 'not installed',
    wrk: (tryRun('wrk', ['--version']).split('\n')[0] ?? '').replace(/ Copyright.*/, '') || 'not installed',
    gitCommit: tryRun('git', ['rev-parse', '--short', 'HEAD']) || 'unknown',
    gitDirty: tryRun('git', ['status', '--porcelain', '--', '.', ':!bench/results']) !== '',
    loadAvg1: Math.round(loadavg()[0] * 100) / 100,
  };
}

/**
 * The report's machine facts: the commit as it was when the run started (HEAD may move during a
 * long run), the load and the Swift and wrk versions as they are at the end (the first run on a machine
 * installs their packages after it started).
 */
export function machineAtEnd(start: MachineInfo, extra: Partial<MachineInfo> = {}): MachineInfo {
  const now = machineInfo();
  return { ...start, loadAvg1: now.loadAvg1, swift: now.swift, wrk: now.wrk, ...extra };
}

export function machineMarkdown(m: MachineInfo): string {
  return [
    `- date: ${m.date}`,
    `- machine: ${m.nproc} cores (${m.cpu}), ${m.memoryGiB} GiB RAM, Linux ${m.kernel}`,
    `- Node ${m.node}, OpenStack Swift ${m.swift} (Debian), ${m.wrk}`,
    `- Swiftlet commit ${m.gitCommit}${m.gitDirty ? ' (with uncommitted changes in the work tree)' : ''}`,
    `- 1-minute load average at the end: ${m.loadAvg1}`,
    ...(m.stealPct === undefined ? [] : [`- CPU time taken by the hypervisor (steal) during the runs: ${m.stealPct} %`]),
  ].join('\n');
}

/** bench/results/<timestamp>-<suite>/ */
export function resultsDir(root: string, suite: string): string {
  const ts = new Date().toISOString().replace(/[:.]/g, '-').replace(/-\d{3}Z$/, 'Z');
  const dir = join(root, `${ts}-${suite}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function writeResultFiles(dir: string, files: Record<string, string>): void {
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
}
