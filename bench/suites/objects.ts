import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BenchUsageError, boundLabel, formatSize, objectWorkloadOptions, parseCount, parseDuration, type Bound, type LargeClient, type ObjectWorkloadOptions, type Op } from '../args.js';
import { v1Auth, type Endpoint } from '../endpoint.js';
import { machineAtEnd, machineInfo, machineMarkdown, resultsDir, writeResultFiles } from '../machine.js';
import { Progress } from '../progress.js';
import { markdownFlushes, markdownSideBySide, markdownTable, objectChart, pairRatios, ratioLines, sideBySideChart, aggregate, type Pair } from '../report.js';
import type { RunResult, WorkloadRuns } from '../result.js';
import { isRoot, startSwift, startSwiftlet, type RunningSystem } from '../systems.js';
import { blockDeviceOf } from '../devstats.js';
import { cpuJiffies, leastStealOf, settle, stealPercent, stealRuleOf } from '../settle.js';
import { runGroup } from '../workload.js';

/** What a suite leaves: its exit code, and the folder it wrote results.json / results.md / chart.svg to. */
export interface SuiteOutcome {
  code: number;
  dir?: string;
}

export interface SuiteContext {
  options: Map<string, string>;
  /** The command line as typed, for the report. */
  command: string;
  outRoot: string;
}

function opsDescription(o: ObjectWorkloadOptions): string {
  const large = o.sizes.some((s) => s > o.nodeAbove) ? `; objects above ${formatSize(o.nodeAbove)} driven by ${o.clients.map((c) => (c === 'curl' ? 'curl (one process per object, -T file / -o /dev/null)' : 'Node (bench/raw-http.ts)')).join(' and, in turn, ')}` : '';
  return `sizes ${o.sizes.map(formatSize).join(', ')}; ops ${o.ops.join(', ')}; concurrency ${o.concurrency.join(', ')}; ${boundLabel(o.bound)} per workload; ${o.repeat} run(s)${large}`;
}

function collect(into: Map<string, WorkloadRuns>, system: string, size: number, concurrency: number, results: Map<Op, RunResult>, client?: LargeClient): void {
  for (const [op, r] of results) {
    // HEAD/DELETE/LIST are Node's whichever client drives PUT and GET
    const c = client && (op === 'put' || op === 'get') ? client : undefined;
    const id = `${system}/${op}/${size}/${concurrency}${c ? `/${c}` : ''}`;
    let w = into.get(id);
    if (!w) into.set(id, (w = { system, op, size, concurrency, runs: [], ...(c ? { client: c } : {}) }));
    w.runs.push(r);
  }
}

/**
 * The clients one (size) is run with: objects above --node-above with each of --client (the label
 * kept when more than one, or curl alone); smaller ones by wrk, once.
 */
export function clientsFor(size: number, opts: ObjectWorkloadOptions): Array<LargeClient | undefined> {
  if (size <= opts.nodeAbove) return [undefined];
  return opts.clients;
}

function clientLabel(client: LargeClient | undefined, opts: ObjectWorkloadOptions): LargeClient | undefined {
  return client && (opts.clients.length > 1 || client !== 'node') ? client : undefined;
}

const OP_ORDER: Op[] = ['put', 'get', 'head', 'list', 'delete'];

/**
 * `--warmup 30s` (default; `0` turns it off): before the first measured run of each size and
 * concurrency, each system runs the same ops for that long, unmeasured, in a container of its
 * own. Node's JIT needs several thousand requests before its hot paths are compiled (measured
 * here: Swiftlet's 4 KiB PUT went from ~110 to ~230 ops/s over its first three 10 s runs, and
 * 20 s in, TurboFan compiles were still 12 % of the proxy's CPU); CPython has no JIT, so this
 * changes little for Swift. Objects above --node-above warm up with one round of `concurrency`
 * operations instead. A server runs for days: the steady state is what users get.
 */
export const DEFAULT_WARMUP = '30s';

function warmupOptions(o: Map<string, string>, opts: ObjectWorkloadOptions, size: number, concurrency: number): ObjectWorkloadOptions | undefined {
  const ms = parseDuration(o.get('warmup') ?? DEFAULT_WARMUP);
  if (ms <= 0) return undefined;
  const bound: Bound = size > opts.nodeAbove ? { kind: 'count', n: concurrency, capMs: 120_000 } : { kind: 'duration', ms };
  return { ...opts, bound };
}

async function warmUp(ep: Endpoint, o: Map<string, string>, opts: ObjectWorkloadOptions, size: number, concurrency: number, tag: string, workDir: string, progress: Progress): Promise<void> {
  const w = warmupOptions(o, opts, size, concurrency);
  if (!w) return;
  progress.line(`${ep.name}: warming up (${boundLabel(w.bound)} per op, not measured)`);
  await runGroup(ep, { size, concurrency, container: `bench-${tag}-warmup-${size}-${concurrency}`, opts: w, workDir }, progress);
}
function sortRuns(ws: WorkloadRuns[]): WorkloadRuns[] {
  return ws.sort((a, b) => a.size - b.size || a.concurrency - b.concurrency || OP_ORDER.indexOf(a.op) - OP_ORDER.indexOf(b.op));
}

/** `object`: one Swift endpoint with v1 auth. */
export async function objectSuite(ctx: SuiteContext): Promise<SuiteOutcome> {
  const o = ctx.options;
  const authUrl = o.get('auth-url');
  if (!authUrl) throw new BenchUsageError('object needs --auth-url (e.g. http://127.0.0.1:8080/auth/v1.0)');
  const opts = objectWorkloadOptions(o, { repeat: 1 });
  const name = o.get('name') ?? 'endpoint';
  const progress = new Progress();
  const m0 = machineInfo(); // the commit being measured: HEAD may move during a long run
  const ep = await v1Auth(name, authUrl, o.get('user') ?? 'test:tester', o.get('key') ?? 'testing');
  progress.line(`${name}: ${ep.storageUrl}; ${opsDescription(opts)}`);
  const workDir = mkdtempSync(join(tmpdir(), 'bench-object-'));
  const runs = new Map<string, WorkloadRuns>();
  const tag = Date.now().toString(36);
  try {
    for (const size of opts.sizes)
      for (const c of opts.concurrency) {
        await warmUp(ep, o, opts, size, c, tag, workDir, progress);
        for (let rep = 0; rep < opts.repeat; rep++)
          for (const client of clientsFor(size, opts)) {
            const res = await runGroup(ep, { size, concurrency: c, container: `bench-${tag}-${size}-${c}-${rep}${client ? `-${client}` : ''}`, opts, workDir, ...(client ? { client } : {}) }, progress);
            collect(runs, name, size, c, res, clientLabel(client, opts));
          }
      }
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
  const ws = sortRuns([...runs.values()]);
  const m = machineAtEnd(m0);
  const md = `# object suite: ${name}\n\n${machineMarkdown(m)}\n- endpoint: ${authUrl}\n- workload: ${opsDescription(opts)}; warm-up ${o.get('warmup') ?? DEFAULT_WARMUP} per op before the first run of each size/concurrency (unmeasured, both systems)\n- command: \`${ctx.command}\`\n\n${markdownTable(ws)}`;
  const dir = resultsDir(ctx.outRoot, 'object');
  writeResultFiles(dir, {
    'results.json': JSON.stringify({ suite: 'object', command: ctx.command, machine: m, endpoint: authUrl, options: { ...opts, ops: opts.ops }, workloads: ws.map((w) => ({ ...w, summary: aggregate(w.runs) })) }, null, 2) + '\n',
    'results.md': md,
    'chart.svg': objectChart(ws, `${name}: object workloads`),
  });
  process.stdout.write(`\n${markdownTable(ws)}\nwrote ${dir}/{results.json,results.md,chart.svg}\n`);
  return { code: ws.some((w) => w.runs.some((r) => r.errors > 0)) ? 1 : 0, dir };
}

/** Auth with retries (`attempts` half a second apart): a freshly started cluster may answer 503 for a moment. */
export async function authRetry(s: RunningSystem, attempts = 20): Promise<Endpoint> {
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    try {
      return await v1Auth(s.name, s.authUrl, s.user, s.key);
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  throw last;
}

export interface BothSystems {
  a: RunningSystem;
  b: RunningSystem;
  workDir: string;
  cleanup(): Promise<void>;
}

/** Starts Swiftlet's and Swift's all-in-ones (shared by side-by-side and listing). */
export async function startBoth(o: Map<string, string>, progress: Progress): Promise<BothSystems> {
  if (!isRoot()) throw new Error('side-by-side runs need root: the Swift all-in-one installs Debian packages and loop-mounts XFS');
  const keep = o.get('keep') === 'true';
  const workDir = o.get('work-dir') ?? mkdtempSync(join(tmpdir(), 'swiftlet-bench-'));
  const fs = o.get('swiftlet-fs') ?? 'xfs';
  if (fs !== 'xfs' && fs !== 'dir') throw new BenchUsageError('--swiftlet-fs is xfs or dir');
  const swiftPort = o.has('swift-port') ? parseCount(o.get('swift-port') as string, '--swift-port') : undefined;
  const daemons = o.get('daemons') === 'true';
  const b = await startSwift({ workDir, port: swiftPort, keep, daemons, progress });
  let a: RunningSystem;
  try {
    a = await startSwiftlet({ workDir, xfs: fs === 'xfs', daemons: daemons || o.get('swiftlet-daemons') === 'true', progress });
  } catch (err) {
    await b.stop().catch(() => undefined);
    throw err;
  }
  // Ctrl-C: stop both clusters and unmount before leaving
  // (a second Ctrl-C while cleaning up is ignored, so the unmount is not cut short)
  const onSignal = (): void => {
    if (cleaned) return;
    progress.line('interrupted: stopping both systems');
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let cleaned = false;
  const cleanup = async (): Promise<void> => {
    if (cleaned) return;
    cleaned = true;
    await a.stop().catch((e) => progress.line(`stopping Swiftlet: ${String(e)}`));
    await b.stop().catch((e) => progress.line(`stopping Swift: ${String(e)}`));
    if (!keep && !o.has('work-dir')) rmSync(workDir, { recursive: true, force: true });
    else progress.line(`kept ${workDir}${keep ? ' (Swift still running: bench/scripts/swift-aio.sh purge ' + join(workDir, 'swift') + ')' : ''}`);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  };
  return { a, b, workDir, cleanup };
}

/**
 * Authenticates on both systems, runs `body` with their endpoints and always stops both. A failure
 * inside `body` is returned, not thrown: what was measured until then is still reported, with
 * where and why the run stopped. Throws if the systems could not be reached at all.
 */
export async function measureBoth(both: BothSystems, progress: Progress, body: (a: Endpoint, b: Endpoint) => Promise<void>): Promise<{ a: Endpoint; b: Endpoint; failure?: string }> {
  let a: Endpoint | undefined;
  let b: Endpoint | undefined;
  let failure: string | undefined;
  try {
    a = await authRetry(both.a);
    b = await authRetry(both.b);
    await body(a, b);
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
    progress.line(`run stopped: ${failure}`);
  } finally {
    await both.cleanup();
  }
  if (!a || !b) throw new Error(failure ?? 'systems did not start');
  return { a, b, ...(failure === undefined ? {} : { failure }) };
}

/** What the report says about the background daemons of both systems. */
export function daemonsDescription(o: Map<string, string>): string {
  if (o.get('daemons') === 'true') {
    return "background daemons ON on both, running continuously from before the first run (--daemons): Swift's object, container and account replicators, object and container updaters and object auditor on each node, one object expirer (Swift's defaults, bench/scripts/swift-aio.sh daemons); Swiftlet's aio defaults (per node: replicator, updater, auditor, expirer)";
  }
  return `no background daemons on either (Swiftlet's ${o.get('swiftlet-daemons') === 'true' ? 'were ON: not comparable' : 'off'})`;
}

/** `side-by-side`: Swiftlet and Swift all-in-ones, the same workloads interleaved, ratios. */
export async function sideBySideSuite(ctx: SuiteContext): Promise<SuiteOutcome> {
  const o = ctx.options;
  const opts = objectWorkloadOptions(o, { repeat: 3 });
  const stealRule = stealRuleOf(o.get('max-steal'), o.get('steal-retries'));
  let groupsRunAgain = 0;
  const progress = new Progress();
  const m0 = machineInfo(); // the commit being measured: HEAD may move during a long run
  const both = await startBoth(o, progress);
  const runs = new Map<string, WorkloadRuns>();
  const tag = Date.now().toString(36);
  let cpuAtStart: ReturnType<typeof cpuJiffies> | undefined;
  const { a: epA, b: epB, failure } = await measureBoth(both, progress, async (epA, epB) => {
    for (const [ep, s] of [[epA, both.a], [epB, both.b]] as const) {
      const dev = s.dataPath ? blockDeviceOf(s.dataPath) : undefined;
      if (dev) ep.device = dev;
    }
    progress.line(`workload: ${opsDescription(opts)}; order alternates A,B then B,A`);
    cpuAtStart = cpuJiffies();
    for (const size of opts.sizes)
      for (const c of opts.concurrency) {
        for (const ep of [epA, epB]) await warmUp(ep, o, opts, size, c, tag, both.workDir, progress);
        for (let rep = 0; rep < opts.repeat; rep++) {
          const order = rep % 2 === 0 ? [epA, epB] : [epB, epA];
          for (const client of clientsFor(size, opts))
          for (const ep of order) {
            const res = await leastStealOf(
              stealRule,
              async (attempt) => {
                const s = await settle();
                if (!s.quiet) progress.line(`machine still busy after ${s.waitedMs} ms of waiting: measuring anyway`);
                const container = `bench-${tag}-${size}-${c}-${rep}${client ? `-${client}` : ''}${attempt ? `-again${attempt}` : ''}`;
                const got = await runGroup(ep, { size, concurrency: c, container, opts, workDir: both.workDir, ...(client ? { client } : {}) }, progress);
                return { result: got, runs: [...got.values()] };
              },
              (steal, attempt) => {
                groupsRunAgain++;
                progress.line(`${ep.name}: the hypervisor took ${steal} % of the CPU during one of these runs (limit ${stealRule.maxPct} %): running the group again (${attempt} of ${stealRule.retries})`);
              },
            );
            collect(runs, ep.name, size, c, res, clientLabel(client, opts));
          }
        }
      }
  });
  const ws = sortRuns([...runs.values()]);
  const pairs: Pair[] = [];
  for (const w of ws) {
    if (w.system !== epA.name) continue;
    const b = runs.get(`${epB.name}/${w.op}/${w.size}/${w.concurrency}${w.client ? `/${w.client}` : ''}`);
    if (b) pairs.push({ a: w, b });
  }
  const m = machineAtEnd(m0, cpuAtStart ? { stealPct: stealPercent(cpuAtStart, cpuJiffies()) } : {});
  const table = markdownSideBySide(pairs);
  const flushes = markdownFlushes(pairs);
  const md = `# side-by-side: Swiftlet vs OpenStack Swift\n\n${machineMarkdown(m)}\n- both: 1 proxy + 4 storage nodes (one device, one zone each), 3 replicas, part power 10, fsync on, XFS on a loop device${process.env.SWIFTLET_BENCH_LOOP_DIRECT_IO === 'off' ? ' (buffered: SWIFTLET_BENCH_LOOP_DIRECT_IO=off)' : ' in direct I/O mode'}, tempauth; Swift servers with workers = 1, plus memcached; ${daemonsDescription(o)}\n- workload: ${opsDescription(opts)}; warm-up ${o.get('warmup') ?? DEFAULT_WARMUP} per op before the first run of each size/concurrency (unmeasured, both systems); before each measured group of runs, \`sync\` and a wait for a quiet machine (≤ 10 % busy over 0.5 s, at most 10 s); ${stealRule.retries ? `a group during one of whose runs the hypervisor took more than ${stealRule.maxPct} % of the CPU (steal) is run again, up to ${stealRule.retries} more time(s), on either system, and the attempt with the least steal kept (${groupsRunAgain} group(s) run again)` : 'no group run again for steal'}\n- command: \`${ctx.command}\`\n\nRatios are Swiftlet/Swift: above 1 for ops/s and MB/s means Swiftlet is faster; below 1 for latencies means Swiftlet is faster. Figures are mean ± sample standard deviation over the runs.\n\n${failure ? `**The run stopped early:** ${failure}. The figures below are what was measured until then.\n\n` : ''}${table}${flushes ? `\n${flushes}` : ''}`;
  const dir = resultsDir(ctx.outRoot, 'side-by-side');
  writeResultFiles(dir, {
    'results.json':
      JSON.stringify(
        {
          suite: 'side-by-side',
          command: ctx.command,
          failure: failure ?? null,
          machine: m,
          options: opts,
          systems: [
            { name: epA.name, authUrl: both.a.authUrl },
            { name: epB.name, authUrl: both.b.authUrl },
          ],
          workloads: ws.map((w) => ({ ...w, summary: aggregate(w.runs) })),
          ratios: pairs.map((p) => ({ op: p.a.op, size: p.a.size, concurrency: p.a.concurrency, ...pairRatios(p) })),
        },
        null,
        2,
      ) + '\n',
    'results.md': md,
    'chart.svg': sideBySideChart(pairs, 'Swiftlet vs OpenStack Swift (same machine, interleaved)'),
  });
  process.stdout.write(`\n${table}\n${ratioLines(pairs).join('\n')}\n\nwrote ${dir}/{results.json,results.md,chart.svg}\n`);
  if (failure) process.stderr.write(`run stopped early: ${failure}\n`);
  return { code: failure ? 1 : 0, dir };
}
