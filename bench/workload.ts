import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { boundLabel, formatSize, type Bound, type LargeClient, type ObjectWorkloadOptions, type Op } from './args.js';
import { runCurl } from './curl-runner.js';
import { ensureContainer, listAll, type Endpoint } from './endpoint.js';
import { runNode, type NodeJob } from './node-runner.js';
import type { Progress } from './progress.js';
import type { RunResult } from './result.js';
import { fmt } from './stats.js';
import { deviceFlushes } from './devstats.js';
import { cpuJiffies, stealPercent } from './settle.js';
import { runWrk } from './wrk.js';

/**
 * One group of object workloads on one endpoint for one (size, concurrency): PUT to distinct
 * names, then GET, HEAD and LIST of what was written, then DELETE of it, in a fresh container.
 * If PUT is not asked for, the objects are written first without being measured.
 */
export interface GroupSpec {
  size: number;
  concurrency: number;
  container: string;
  opts: ObjectWorkloadOptions;
  /** A folder for the names files wrk reads (and curl's upload file). */
  workDir: string;
  /** Who drives the measured PUT and GET of objects above nodeAbove (default node). */
  client?: LargeClient;
}

const ORDER: Op[] = ['put', 'get', 'head', 'list', 'delete'];

export function describe(op: Op, size: number, concurrency: number, client?: string): string {
  return `${op.toUpperCase().padEnd(6)} ${formatSize(size).padStart(7)} c=${concurrency}${client ? ` ${client}` : ''}`;
}

export function resultLine(r: RunResult): string {
  const mb = r.mbPerSec === null ? '' : ` ${fmt(r.mbPerSec)} MB/s`;
  const err = r.errors ? ` ERRORS ${r.errors} ${JSON.stringify(r.errorKinds)}` : ' errors 0';
  const fl = r.flushesPerOp === undefined ? '' : `, ${fmt(r.flushesPerOp)} disk flushes/op`;
  const st = r.stealPct === undefined ? '' : `, ${r.stealPct} % steal`;
  return `${fmt(r.opsPerSec)} ops/s${mb} p50 ${fmt(r.p50Ms)} ms p99 ${fmt(r.p99Ms)} ms p99.9 ${fmt(r.p999Ms)} ms (${r.ops} ops, ${fmt(r.elapsedS)} s, ${r.driver}${fl}${st})${err}`;
}

function driverFor(op: Op, size: number, opts: ObjectWorkloadOptions): 'wrk' | 'node' {
  if (op === 'head') return 'node'; // wrk waits for a body after HEAD (wg/wrk#198)
  if (op === 'list') return 'wrk';
  return size > opts.nodeAbove ? 'node' : 'wrk';
}

/** runOne, plus the device flushes per operation when the endpoint's data disk is known. */
async function runCounted(ep: Endpoint, op: Op, g: GroupSpec, bound: Bound, names: string[] | undefined, progress: Progress, label: string): Promise<RunResult> {
  const before = ep.device ? deviceFlushes(ep.device) : undefined;
  const cpuBefore = cpuJiffies();
  const r = await runOne(ep, op, g, bound, names, progress, label);
  r.stealPct = stealPercent(cpuBefore, cpuJiffies());
  const after = ep.device ? deviceFlushes(ep.device) : undefined;
  if (before !== undefined && after !== undefined && r.ops > 0) r.flushesPerOp = (after - before) / r.ops;
  return r;
}

async function runOne(ep: Endpoint, op: Op, g: GroupSpec, bound: Bound, names: string[] | undefined, progress: Progress, label: string, measured = true): Promise<RunResult> {
  const driver = driverFor(op, g.size, g.opts);
  if (driver === 'wrk') {
    let namesFile: string | undefined;
    if (names) {
      namesFile = join(g.workDir, `names-${ep.name}-${op}.txt`);
      writeFileSync(namesFile, names.map((n) => n.split('/').map(encodeURIComponent).join('/')).join('\n') + '\n');
    }
    return runWrk(
      {
        op,
        storageUrl: ep.storageUrl,
        token: ep.token,
        container: g.container,
        size: g.size,
        namePrefix: 'o-',
        namesFile,
        listLimit: g.opts.listLimit,
        concurrency: g.concurrency,
        threads: g.opts.wrkThreads,
        bound,
      },
      { onTick: (ms) => progress.tick(`${label} ${(ms / 1000).toFixed(0)}s / ${boundLabel(bound)}`), scriptDir: g.workDir },
    );
  }
  if (g.client === 'curl' && (op === 'put' || op === 'get') && measured) {
    return runCurl(ep, { op, container: g.container, size: g.size, namePrefix: 'o-', names, concurrency: g.concurrency, bound, workDir: g.workDir }, (ms, done) =>
      progress.tick(`${label} ${(ms / 1000).toFixed(0)}s, ${done} ops / ${boundLabel(bound)}`),
    );
  }
  const job: NodeJob = {
    op,
    container: g.container,
    size: g.size,
    namePrefix: 'o-',
    names,
    listQuery: `format=json&limit=${g.opts.listLimit}`,
    concurrency: g.concurrency,
    bound,
  };
  return runNode(ep, job, (ms, done) => progress.tick(`${label} ${(ms / 1000).toFixed(0)}s, ${done} ops / ${boundLabel(bound)}`));
}

/** Runs the group; returns the measured result of each requested op. */
export async function runGroup(ep: Endpoint, g: GroupSpec, progress: Progress): Promise<Map<Op, RunResult>> {
  await ensureContainer(ep, g.container);
  const out = new Map<Op, RunResult>();
  const wanted = new Set(g.opts.ops);
  const needObjects = ['get', 'head', 'delete'].some((o) => wanted.has(o as Op));
  let names: string[] | undefined;
  for (const op of ORDER) {
    if (op === 'put' && !wanted.has('put')) {
      if (!needObjects) continue;
      // unmeasured fill for GET/HEAD/DELETE
      const n = g.size > g.opts.nodeAbove ? Math.max(2 * g.concurrency, 8) : 1000;
      progress.line(`${ep.name}: writing ${n} × ${formatSize(g.size)} objects to read back (not measured)`);
      await runOne(ep, 'put', g, { kind: 'count', n, capMs: 600_000 }, undefined, progress, `${ep.name} fill`, false);
      continue;
    }
    if (!wanted.has(op)) continue;
    if ((op === 'get' || op === 'head' || op === 'delete') && names === undefined) {
      names = await listAll(ep, g.container, 'o-');
      if (names.length === 0) throw new Error(`${ep.name}: no objects were written to ${g.container}`);
    }
    const label = `${ep.name.padEnd(8)} ${describe(op, g.size, g.concurrency, g.size > g.opts.nodeAbove ? g.client : undefined)}`;
    const r = await runCounted(ep, op, g, g.opts.bound, names, progress, label);
    progress.line(`${label}  ${resultLine(r)}`);
    out.set(op, r);
  }
  // big objects left behind (no DELETE asked, or DELETE ran out of time) would fill the disk
  if (g.size > g.opts.nodeAbove) {
    const left = await listAll(ep, g.container, 'o-');
    if (left.length > 0) {
      await runNode(ep, { op: 'delete', container: g.container, size: g.size, namePrefix: 'o-', names: left, concurrency: 4, bound: { kind: 'count', n: left.length, capMs: 600_000 } });
    }
  }
  return out;
}
