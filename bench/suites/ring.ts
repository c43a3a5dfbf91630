import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseCount, parseDuration, parseList } from '../args.js';
import { machineAtEnd, machineInfo, machineMarkdown, resultsDir, writeResultFiles } from '../machine.js';
import { Progress } from '../progress.js';
import { svgBarChart } from '../report.js';
import { fmt, fmtSpread, meanSpread, ratio } from '../stats.js';
import { REPO_ROOT } from '../systems.js';
import type { SuiteContext, SuiteOutcome } from './objects.js';

/**
 * Ring rebalance time: the same input (part power P, 3 replicas, D devices of equal weight in
 * 5 zones, 10 servers or D/10 servers of 10 devices) given to `swiftlet ring` and to
 * `swift-ring-builder`, each timed as the wall-clock time of its `rebalance` command (process
 * start, builder load, rebalance, builder and ring write: what an operator waits for).
 */
export interface RingInputDevice {
  spec: string;
  weight: number;
}

/** The devices for one input (exported for tests): loopback addresses only, never contacted. */
export function ringDevices(count: number): RingInputDevice[] {
  const perServer = count <= 10 ? 1 : 10;
  const out: RingInputDevice[] = [];
  for (let i = 0; i < count; i++) {
    const server = Math.floor(i / perServer);
    const zone = (server % 5) + 1;
    const ip = `127.0.${Math.floor(server / 250)}.${(server % 250) + 1}`;
    out.push({ spec: `r1z${zone}-${ip}:6200/d${i}`, weight: 100 });
  }
  return out;
}

interface StepResult {
  ok: boolean;
  seconds: number;
  output: string;
}

function timed(cmd: string, args: string[], timeoutMs: number): Promise<StepResult> {
  return new Promise((res) => {
    const t0 = performance.now();
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      const seconds = (performance.now() - t0) / 1000;
      const code = err ? ((err as { code?: number | string }).code ?? 'killed') : 0;
      // both tools exit 1 for "balanced, but with a warning"
      const ok = code === 0 || code === 1;
      const output = `${stdout}${stderr}`.trim();
      res({ ok: ok && !(err as { killed?: boolean } | null)?.killed, seconds, output: ok ? output : `exit ${code}: ${output.slice(-500)}` });
    });
  });
}

interface Tool {
  name: string;
  cmd: string;
  prefix: string[];
}

async function buildAndRebalance(tool: Tool, dir: string, partPower: number, devs: RingInputDevice[], timeoutMs: number): Promise<StepResult> {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const builder = join(dir, 'object.builder');
  const create = await timed(tool.cmd, [...tool.prefix, builder, 'create', String(partPower), '3', '1'], timeoutMs);
  if (!create.ok) return { ...create, ok: false };
  // add in batches so no command line gets too long
  for (let i = 0; i < devs.length; i += 250) {
    const args = devs.slice(i, i + 250).flatMap((d) => [d.spec, String(d.weight)]);
    const add = await timed(tool.cmd, [...tool.prefix, builder, 'add', ...args], timeoutMs);
    if (!add.ok) return { ...add, ok: false };
  }
  return timed(tool.cmd, [...tool.prefix, builder, 'rebalance', '--seed', '1'], timeoutMs);
}

function lastLine(s: string): string {
  const lines = s.split('\n').filter((l) => /balance|reassigned|partitions/i.test(l));
  return (lines[lines.length - 1] ?? s.split('\n').pop() ?? '').trim().slice(0, 200);
}

export async function ringSuite(ctx: SuiteContext): Promise<SuiteOutcome> {
  const o = ctx.options;
  const partPowers = parseList(o.get('part-powers') ?? '16,17,18,19,20', (s) => parseCount(s, '--part-powers'));
  const deviceCounts = parseList(o.get('devices') ?? '10,100,1000', (s) => parseCount(s, '--devices'));
  const timeoutMs = parseDuration(o.get('timeout') ?? '600s');
  const repeat = parseCount(o.get('repeat') ?? '1', '--repeat');
  const progress = new Progress();
  const m0 = machineInfo(); // the commit being measured: HEAD may move during a long run
  const swiftlet: Tool = { name: 'Swiftlet', cmd: process.execPath, prefix: [join(REPO_ROOT, 'dist', 'bin', 'swiftlet.js'), 'ring'] };
  const swift: Tool = { name: 'Swift', cmd: 'swift-ring-builder', prefix: [] };
  const tools = [swiftlet];
  if (existsSync('/usr/bin/swift-ring-builder')) tools.push(swift);
  else progress.line('swift-ring-builder not found (apt-get install swift): timing Swiftlet only');
  const work = mkdtempSync(join(tmpdir(), 'bench-ring-'));
  interface Row {
    partPower: number;
    devices: number;
    times: Record<string, number[]>;
    notes: Record<string, string>;
    failed: Record<string, string>;
  }
  const rows: Row[] = [];
  try {
    for (const pp of partPowers)
      for (const dc of deviceCounts) {
        const devs = ringDevices(dc);
        const row: Row = { partPower: pp, devices: dc, times: {}, notes: {}, failed: {} };
        for (let rep = 0; rep < repeat; rep++) {
          const order = rep % 2 === 0 ? tools : [...tools].reverse();
          for (const tool of order) {
            if (row.failed[tool.name]) continue;
            progress.tick(`${tool.name} part power ${pp}, ${dc} devices, run ${rep + 1}/${repeat}`);
            const r = await buildAndRebalance(tool, join(work, tool.name), pp, devs, timeoutMs);
            if (!r.ok) {
              row.failed[tool.name] = r.seconds * 1000 >= timeoutMs ? `timed out after ${timeoutMs / 1000} s` : r.output.slice(0, 300);
              progress.line(`${tool.name.padEnd(8)} part power ${pp} devices ${dc}: FAILED ${row.failed[tool.name]}`);
              continue;
            }
            (row.times[tool.name] ??= []).push(r.seconds);
            row.notes[tool.name] = lastLine(r.output);
            progress.line(`${tool.name.padEnd(8)} part power ${pp} devices ${String(dc).padStart(4)}: rebalance ${fmt(r.seconds)} s  (${row.notes[tool.name]})`);
          }
        }
        rows.push(row);
      }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const cell = (row: Row, name: string): string => (row.failed[name] ? `failed: ${row.failed[name]}` : fmtSpread(meanSpread(row.times[name] ?? [])));
  const ratioOf = (row: Row): number => ratio(meanSpread(row.times.Swiftlet ?? []).mean, meanSpread(row.times.Swift ?? []).mean);
  const table =
    '| part power | partitions | devices | Swiftlet rebalance s | Swift rebalance s | Swiftlet/Swift | Swiftlet result | Swift result |\n|---:|---:|---:|---:|---:|---:|---|---|\n' +
    rows
      .map((r) => `| ${r.partPower} | ${2 ** r.partPower} | ${r.devices} | ${cell(r, 'Swiftlet')} | ${cell(r, 'Swift')} | ${Number.isFinite(ratioOf(r)) ? `**${fmt(ratioOf(r))}×**` : '—'} | ${r.notes.Swiftlet ?? ''} | ${r.notes.Swift ?? ''} |`)
      .join('\n') +
    '\n';
  const m = machineAtEnd(m0);
  const md = `# ring rebalance: swiftlet ring vs swift-ring-builder\n\n${machineMarkdown(m)}\n- input: 3 replicas, min_part_hours 1, devices of weight 100 in 5 zones (10 devices: 10 servers of 1; more: servers of 10), seed 1\n- timed: the \`rebalance\` command of each tool, wall clock (process start + load + rebalance + save), ${repeat} run(s)\n- command: \`${ctx.command}\`\n\nBelow 1 in Swiftlet/Swift means Swiftlet is faster.\n\n${table}`;
  const dir = resultsDir(ctx.outRoot, 'ring');
  const chartRows = rows.map((r) => ({ label: `P=${r.partPower} D=${r.devices}`, values: [meanSpread(r.times.Swiftlet ?? []).mean, meanSpread(r.times.Swift ?? []).mean], note: Number.isFinite(ratioOf(r)) ? `${fmt(ratioOf(r))}×` : '' }));
  writeResultFiles(dir, {
    'results.json': JSON.stringify({ suite: 'ring', command: ctx.command, machine: m, repeat, timeoutMs, rows }, null, 2) + '\n',
    'results.md': md,
    'chart.svg': svgBarChart('Ring rebalance time (lower is better)', tools.map((t) => t.name), [{ title: 'rebalance', unit: 's', rows: chartRows }], tools.length === 2 ? 'Swiftlet/Swift' : ''),
  });
  process.stdout.write(`\n${table}\nwrote ${dir}/{results.json,results.md,chart.svg}\n`);
  return { code: rows.some((r) => Object.keys(r.failed).length > 0) ? 1 : 0, dir };
}
