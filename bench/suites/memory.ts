import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable } from 'node:stream';
import { Agent, request } from 'undici';
import { BenchUsageError, formatSize, parseCount, parseDuration, parseSize, type Bound, type Op } from '../args.js';
import { encodePath, ensureContainer, listAll, v1Auth, type Endpoint } from '../endpoint.js';
import { machineAtEnd, machineInfo, machineMarkdown, resultsDir, writeResultFiles } from '../machine.js';
import { runNode } from '../node-runner.js';
import { Progress } from '../progress.js';
import { markdownTable } from '../report.js';
import type { RunResult, WorkloadRuns } from '../result.js';
import { breakdownTable, LEVELDB_BOUND_MIB, levelDbOffset, levelDbPeaks, readBreakdown, type BreakdownSample } from '../memory-breakdown.js';
import { describeFlat, rssLineChart, RssSampler, soakFigures, transferFigures, type FlatCriterion, type RssSample, type SoakFigures, type TransferFigures } from '../rss.js';
import { fmt } from '../stats.js';
import { isRoot, mountXfs, startSwiftlet, umountXfs, type RunningSystem } from '../systems.js';
import { resultLine } from '../workload.js';
import { runWrk, type WrkJob } from '../wrk.js';
import type { SuiteContext, SuiteOutcome } from './objects.js';

/**
 * `memory`: does Swiftlet's all-in-one keep its memory flat under a long mixed workload, and does a
 * (near) 5 GiB object stream through it with bounded memory? Measured from /proc/<pid>/status of
 * the proxy and each storage node (pids from the aio's ready line):
 *  1. soak: phases of concurrent PUT/GET/HEAD/DELETE/LIST of 4 KiB and 64 KiB objects plus 1 MiB
 *     PUT/GET, for --duration; RSS every 5 s; per process start/end/max and least-squares slopes,
 *     judged by a printed criterion (FLAT below);
 *  2. big object: one --big-size object PUT streamed from Node (AES-CTR keystream: pseudo-random,
 *     never held whole), then GET streamed back, byte count and MD5 checked against the ETag; RSS
 *     every second; growth over the idle baseline per process, and MB/s.
 */

const GiB = 1024 ** 3;
const KiB = 1024;
const MiB = 1024 ** 2;
/**
 * RSS every second: the proxy's C heap swings by tens of MiB on a cycle of seconds (young Buffers
 * awaiting a scavenge, and the free memory between two malloc trims), and with samples 5 s apart
 * the slope's standard error alone kept a flat proxy from being called flat.
 */
const SOAK_INTERVAL_MS = 1000;
const BIG_INTERVAL_MS = 1000;
const PHASE_MS = 15_000;
const FLAT: FlatCriterion = { warmUpS: 30, maxSlopeMiBPerMin: 2, maxEndOverFirstHalfMax: 1.1, minJudgedS: 120 };
/** A process that buffered the object would grow by the object's size; one that streams, by its buffers. */
const BOUNDED_GROWTH_MIB = 128;
/** Free space asked for next to the big object's 3 replicas: the soak's objects, the DBs, the logs. */
const SOAK_SPACE = 8 * GiB;

interface Seeds {
  /** size → container, names */
  bySize: Map<number, { container: string; names: string[]; namesFile: string }>;
}

/** A freshly started cluster may answer 503 for a moment. */
async function authRetry(s: RunningSystem): Promise<Endpoint> {
  for (let i = 0; ; i++) {
    try {
      return await v1Auth(s.name, s.authUrl, s.user, s.key);
    } catch (err) {
      if (i >= 20) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
}

/** The pids and storage-node ports in the aio's ready line, which startSwiftlet copies to <work>/swiftlet/aio.log. */
async function aioReady(log: string): Promise<{ pids: Record<string, number>; storageNodePorts: number[] }> {
  for (let i = 0; i < 50; i++) {
    const text = existsSync(log) ? readFileSync(log, 'utf8') : '';
    for (const line of text.split('\n')) {
      if (!line.startsWith('{')) continue;
      try {
        const rec = JSON.parse(line) as { msg?: string; pids?: Record<string, number>; storage_node_ports?: number[] };
        if (rec.msg === 'aio ready' && rec.pids) return { pids: rec.pids, storageNodePorts: rec.storage_node_ports ?? [] };
      } catch {
        /* not the ready line */
      }
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no "aio ready" line with pids in ${log}`);
}

async function maxFileSize(ep: Endpoint): Promise<number> {
  const res = await request(`${new URL(ep.storageUrl).origin}/info`, { method: 'GET' });
  const info = (await res.body.json()) as { swift?: { max_file_size?: number } };
  const n = info.swift?.max_file_size;
  if (typeof n !== 'number') throw new Error(`GET /info gave no swift.max_file_size (status ${res.statusCode})`);
  return n;
}

/** Unmeasured objects that GET/HEAD/LIST read during the soak. */
async function writeSeeds(ep: Endpoint, workDir: string, tag: string, progress: Progress): Promise<Seeds> {
  const bySize = new Map<number, { container: string; names: string[]; namesFile: string }>();
  for (const [size, n] of [
    [4 * KiB, 1000],
    [64 * KiB, 1000],
    [MiB, 16],
  ] as const) {
    const container = `mem-${tag}-seed-${size}`;
    await ensureContainer(ep, container);
    const bound: Bound = { kind: 'count', n, capMs: 300_000 };
    const r =
      size > 64 * KiB
        ? await runNode(ep, { op: 'put', container, size, namePrefix: 'o-', concurrency: 4, bound })
        : await runWrk({ op: 'put', storageUrl: ep.storageUrl, token: ep.token, container, size, namePrefix: 'o-', concurrency: 8, threads: 1, bound }, { scriptDir: workDir });
    const names = await listAll(ep, container, 'o-');
    if (names.length === 0) throw new Error(`seeding ${container}: no objects written (${resultLine(r)})`);
    const namesFile = join(workDir, `names-${size}.txt`);
    writeFileSync(namesFile, names.map(encodePath).join('\n') + '\n');
    bySize.set(size, { container, names, namesFile });
    progress.line(`seeded ${names.length} × ${formatSize(size)} in ${container} (not measured)`);
  }
  return { bySize };
}

interface SoakResult {
  samples: RssSample[];
  /** The storage nodes' own account of their memory, before the first phase and after each. */
  breakdown: BreakdownSample[];
  workloads: WorkloadRuns[];
  phases: number;
  seconds: number;
}

function record(into: Map<string, WorkloadRuns>, op: Op, size: number, concurrency: number, r: RunResult): void {
  const id = `${op}/${size}/${concurrency}`;
  let w = into.get(id);
  if (!w) into.set(id, (w = { system: 'Swiftlet', op, size, concurrency, runs: [] }));
  w.runs.push(r);
}

function rssNow(s: RssSample | undefined): string {
  if (!s) return '';
  return Object.entries(s.procs)
    .map(([p, r]) => `${p} ${fmt(r.rssMiB)}`)
    .join(', ');
}

/**
 * Phases of PHASE_MS until the duration is up; in each, at once: wrk PUT of new objects (4 KiB in
 * even phases, 64 KiB in odd ones), wrk GET of seeds of the other size, wrk LIST of a 1000-object
 * container, Node HEAD of seeds, Node DELETE of everything the earlier phases PUT, and Node PUT and
 * GET of 1 MiB objects (one connection each).
 */
async function soak(ep: Endpoint, pids: Record<string, number>, nodePorts: readonly number[], durationMs: number, c: number, seeds: Seeds, workDir: string, tag: string, progress: Progress): Promise<SoakResult> {
  const churn = `mem-${tag}-churn`;
  await ensureContainer(ep, churn);
  const runs = new Map<string, WorkloadRuns>();
  const sampler = new RssSampler(pids, SOAK_INTERVAL_MS);
  const seed = (size: number): { container: string; names: string[]; namesFile: string } => seeds.bySize.get(size) as { container: string; names: string[]; namesFile: string };
  const end = Date.now() + durationMs;
  const ticker = setInterval(() => progress.tick(`soak ${fmt(sampler.now())}/${durationMs / 1000} s; RSS MiB: ${rssNow(sampler.samples.at(-1))}`), 1000);
  let phase = 0;
  const breakdown = [await readBreakdown(nodePorts, sampler.now())];
  try {
    while (end - Date.now() >= 2000) {
      const ms = Math.min(PHASE_MS, end - Date.now());
      const bound: Bound = { kind: 'duration', ms };
      const leftovers = await listAll(ep, churn);
      const putSize = phase % 2 === 0 ? 4 * KiB : 64 * KiB;
      const getSize = phase % 2 === 0 ? 64 * KiB : 4 * KiB;
      const wrk = (job: Omit<WrkJob, 'storageUrl' | 'token' | 'threads' | 'bound' | 'namePrefix'> & { namePrefix?: string }): Promise<RunResult> =>
        runWrk({ storageUrl: ep.storageUrl, token: ep.token, threads: 1, bound, namePrefix: 'o-', ...job }, { scriptDir: workDir });
      const half = Math.max(1, Math.floor(c / 2));
      const jobs: Array<{ op: Op; size: number; conc: number; run: Promise<RunResult> }> = [
        { op: 'put', size: putSize, conc: c, run: wrk({ op: 'put', container: churn, size: putSize, namePrefix: `p${phase}-`, concurrency: c }) },
        { op: 'get', size: getSize, conc: c, run: wrk({ op: 'get', container: seed(getSize).container, size: getSize, namesFile: seed(getSize).namesFile, concurrency: c }) },
        { op: 'list', size: 4 * KiB, conc: 1, run: wrk({ op: 'list', container: seed(4 * KiB).container, size: 4 * KiB, listLimit: 100, concurrency: 1 }) },
        { op: 'head', size: 64 * KiB, conc: half, run: runNode(ep, { op: 'head', container: seed(64 * KiB).container, size: 64 * KiB, namePrefix: 'o-', names: seed(64 * KiB).names, concurrency: half, bound }) },
        { op: 'put', size: MiB, conc: 1, run: runNode(ep, { op: 'put', container: churn, size: MiB, namePrefix: `p${phase}-m-`, concurrency: 1, bound }) },
        { op: 'get', size: MiB, conc: 1, run: runNode(ep, { op: 'get', container: seed(MiB).container, size: MiB, namePrefix: 'o-', names: seed(MiB).names, concurrency: 1, bound }) },
      ];
      if (leftovers.length > 0) {
        // the churn holds both sizes: the DELETE row counts requests, its size column is nominal
        const del = runNode(ep, { op: 'delete', container: churn, size: 0, namePrefix: 'o-', names: leftovers, concurrency: c, bound: { kind: 'count', n: leftovers.length, capMs: ms } });
        jobs.push({ op: 'delete', size: 0, conc: c, run: del });
      }
      const results = await Promise.all(jobs.map((j) => j.run));
      const parts: string[] = [];
      results.forEach((r, i) => {
        const j = jobs[i];
        record(runs, j.op, j.size, j.conc, r);
        parts.push(`${j.op.toUpperCase()}${j.size ? ' ' + formatSize(j.size) : ''} ${fmt(r.opsPerSec)}/s${r.errors ? ` ERRORS ${r.errors} ${JSON.stringify(r.errorKinds)}` : ''}`);
      });
      progress.line(`phase ${phase} (${fmt(ms / 1000)} s, at ${fmt(sampler.now())} s): ${parts.join('; ')}; RSS MiB: ${rssNow(sampler.samples.at(-1))}`);
      breakdown.push(await readBreakdown(nodePorts, sampler.now()));
      phase++;
    }
  } finally {
    clearInterval(ticker);
  }
  const samples = sampler.stop();
  const order: Op[] = ['put', 'get', 'head', 'list', 'delete'];
  const workloads = [...runs.values()].sort((a, b) => order.indexOf(a.op) - order.indexOf(b.op) || a.size - b.size);
  return { samples, breakdown, workloads, phases: phase, seconds: samples[samples.length - 1].t };
}

/** size bytes of an AES-128-CTR keystream (pseudo-random, cheap), 1 MiB at a time; feeds `md5`. */
async function* pseudoRandom(size: number, md5: ReturnType<typeof createHash>, onChunk: (n: number) => void): AsyncGenerator<Buffer> {
  const cipher = createCipheriv('aes-128-ctr', randomBytes(16), randomBytes(16));
  const zero = Buffer.alloc(MiB);
  for (let left = size; left > 0; left -= MiB) {
    const chunk = cipher.update(left >= MiB ? zero : zero.subarray(0, left));
    md5.update(chunk);
    onChunk(chunk.length);
    yield chunk;
  }
}

interface Transfer {
  op: 'put' | 'get';
  bytes: number;
  seconds: number;
  mbPerSec: number;
  status: number;
  md5: string;
  etag: string;
  ok: boolean;
  /** Sampler times (s) of the transfer. */
  from: number;
  to: number;
}

interface BigResult {
  size: number;
  samples: RssSample[];
  put: Transfer;
  get?: Transfer;
  figures: Array<{ proc: string; put: TransferFigures; get?: TransferFigures }>;
}

const unquote = (s: unknown): string => (typeof s === 'string' ? s.replace(/^"|"$/g, '') : '');

async function bigObject(ep: Endpoint, pids: Record<string, number>, size: number, tag: string, progress: Progress): Promise<BigResult> {
  const container = `mem-${tag}-big`;
  await ensureContainer(ep, container);
  const url = `${ep.storageUrl}/${encodePath(container)}/big`;
  // no header/body timeouts: the PUT's answer comes only after the last byte is stored
  const dispatcher = new Agent({ connections: 1, headersTimeout: 0, bodyTimeout: 0 });
  const sampler = new RssSampler(pids, BIG_INTERVAL_MS);
  const ticker = (what: string, done: () => number, t0: number): NodeJS.Timeout =>
    setInterval(() => {
      const s = (performance.now() - t0) / 1000;
      progress.tick(`${what} ${formatSize(Math.floor(done() / MiB) * MiB)} / ${formatSize(size)}, ${fmt(done() / 1e6 / s)} MB/s; RSS MiB: ${rssNow(sampler.samples.at(-1))}`);
    }, 1000);
  try {
    await new Promise((r) => setTimeout(r, 5000)); // idle baseline
    const transfer = async (op: 'put' | 'get', run: (count: (n: number) => void) => Promise<{ status: number; md5: string; etag: string }>, expectMd5?: string): Promise<Transfer> => {
      let bytes = 0;
      const from = sampler.now();
      const t0 = performance.now();
      const tick = ticker(op.toUpperCase(), () => bytes, t0);
      let r: { status: number; md5: string; etag: string };
      try {
        r = await run((n) => (bytes += n));
      } finally {
        clearInterval(tick);
      }
      const seconds = (performance.now() - t0) / 1000;
      const to = sampler.now();
      const ok = r.status >= 200 && r.status < 300 && bytes === size && r.etag === r.md5 && (expectMd5 === undefined || r.md5 === expectMd5);
      const t: Transfer = { op, bytes, seconds, mbPerSec: bytes / 1e6 / seconds, status: r.status, md5: r.md5, etag: r.etag, ok, from, to };
      progress.line(`${op.toUpperCase()} ${formatSize(size)}: ${r.status}, ${bytes} bytes in ${fmt(seconds)} s = ${fmt(t.mbPerSec)} MB/s; MD5 ${r.md5}, ETag ${r.etag || '(none)'} → ${ok ? 'verified' : 'MISMATCH'}`);
      return t;
    };
    const put = await transfer('put', async (count) => {
      const md5 = createHash('md5');
      const res = await request(url, {
        method: 'PUT',
        headers: { 'x-auth-token': ep.token, 'content-length': String(size), 'content-type': 'application/octet-stream' },
        body: Readable.from(pseudoRandom(size, md5, count), { objectMode: false }),
        dispatcher,
      });
      await res.body.dump();
      return { status: res.statusCode, md5: md5.digest('hex'), etag: unquote(res.headers.etag) };
    });
    let get: Transfer | undefined;
    if (put.status === 201) {
      await new Promise((r) => setTimeout(r, 3000));
      get = await transfer(
        'get',
        async (count) => {
          const md5 = createHash('md5');
          const res = await request(url, { method: 'GET', headers: { 'x-auth-token': ep.token }, dispatcher });
          for await (const chunk of res.body) {
            md5.update(chunk as Buffer);
            count((chunk as Buffer).length);
          }
          return { status: res.statusCode, md5: md5.digest('hex'), etag: unquote(res.headers.etag) };
        },
        put.md5,
      );
    }
    await new Promise((r) => setTimeout(r, 3000));
    const samples = sampler.stop();
    const figures = Object.keys(pids).map((proc) => ({
      proc,
      put: transferFigures(samples, proc, 0, put.from, put.to),
      get: get ? transferFigures(samples, proc, 0, get.from, get.to) : undefined,
    }));
    return { size, samples, put, get, figures };
  } finally {
    sampler.stop();
    await dispatcher.close().catch(() => undefined);
  }
}

function soakTable(figs: readonly SoakFigures[], label: (proc: string) => string = (p) => p): string {
  const slope = (f: { slope: number; stderr: number }): string => `${fmt(f.slope)} ± ${fmt(2 * f.stderr, 2)}`;
  return (
    '| process | RSS start MiB | end MiB | max MiB | first-half max MiB | slope MiB/min (all) | slope MiB/min (2nd half) | VmHWM MiB | samples | verdict |\n' +
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n' +
    figs
      .map((f) => `| ${label(f.proc)} | ${fmt(f.startMiB)} | ${fmt(f.endMiB)} | ${fmt(f.maxMiB)} | ${fmt(f.firstHalfMaxMiB)} | ${slope(f.slope)} | ${slope(f.slopeSecondHalf)} | ${fmt(f.hwmMiB)} | ${f.samples} | **${f.verdict}** |`)
      .join('\n') +
    '\n'
  );
}

function bigTable(b: BigResult): string {
  const g = (t: TransferFigures | undefined): string => (t ? `${fmt(t.maxMiB)} | ${fmt(t.growthMiB)}` : '— | —');
  return (
    '| process | baseline MiB | PUT max MiB | PUT growth MiB | GET max MiB | GET growth MiB | bounded (≤ ' + BOUNDED_GROWTH_MIB + ' MiB) |\n' +
    '|---|---:|---:|---:|---:|---:|---|\n' +
    b.figures.map((f) => `| ${f.proc} | ${fmt(f.put.baselineMiB)} | ${g(f.put)} | ${g(f.get)} | ${bounded(f) ? 'yes' : '**no**'} |`).join('\n') +
    '\n'
  );
}

function bounded(f: { put: TransferFigures; get?: TransferFigures }): boolean {
  return f.put.growthMiB <= BOUNDED_GROWTH_MIB && (f.get === undefined || f.get.growthMiB <= BOUNDED_GROWTH_MIB);
}

function transferLine(t: Transfer | undefined, what: string): string {
  if (!t) return `- ${what}: not run (the PUT failed)`;
  return `- ${what}: HTTP ${t.status}, ${t.bytes} bytes in ${fmt(t.seconds)} s = **${fmt(t.mbPerSec)} MB/s**; MD5 ${t.md5}, ETag ${t.etag || '(none)'}: ${t.ok ? 'verified' : '**MISMATCH**'}`;
}

/** SIGINT to this process's own wrk children (read from /proc: runWrk does not hand out its child). */
function stopWrkChildren(): void {
  let tasks: string[];
  try {
    tasks = readdirSync('/proc/self/task');
  } catch {
    return;
  }
  for (const task of tasks) {
    let children: string[];
    try {
      children = readFileSync(`/proc/self/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      continue;
    }
    for (const pid of children.map(Number)) {
      try {
        if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'wrk') process.kill(pid, 'SIGINT');
      } catch {
        /* already gone */
      }
    }
  }
}

/** Judged processes: the proxy and the storage nodes (daemons, when run, are shown but not judged). */
const isStorageNode = (proc: string): boolean => /^node\d+$/.test(proc);
const judged = (proc: string): boolean => proc === 'proxy' || isStorageNode(proc);
/** A judged series' name in the tables: a storage node's is its RSS less LevelDB's caches. */
const judgedLabel = (proc: string): string => (isStorageNode(proc) ? `${proc} less LevelDB` : proc);

export async function memorySuite(ctx: SuiteContext): Promise<SuiteOutcome> {
  const o = ctx.options;
  const durationMs = parseDuration(o.get('duration') ?? '10m');
  if (durationMs < 2 * FLAT.warmUpS * 1000) throw new BenchUsageError(`--duration must be at least ${2 * FLAT.warmUpS}s (the first ${FLAT.warmUpS} s are warm-up)`);
  const bigSize = o.get('big-size') === '0' ? 0 : parseSize(o.get('big-size') ?? '5g');
  const concurrency = parseCount(o.get('concurrency') ?? '8', '--concurrency');
  const daemons = o.get('daemons') === 'true';
  const keep = o.get('keep') === 'true';
  if (!isRoot()) throw new Error('the memory suite needs root: Swiftlet\'s data goes on a loop-mounted XFS image');
  const progress = new Progress();
  const m0 = machineInfo(); // the commit being measured: HEAD may move during a long run

  const ownDir = !o.has('work-dir');
  const workDir = o.get('work-dir') ?? mkdtempSync(join(tmpdir(), 'swiftlet-bench-mem-'));
  mkdirSync(workDir, { recursive: true });
  const base = join(workDir, 'swiftlet');
  const data = join(base, 'data');
  // the image is sparse: what it needs on the host is what gets written
  const needBytes = 3 * bigSize + SOAK_SPACE;
  const st = statfsSync(workDir);
  const freeBytes = st.bavail * st.bsize;
  const imageGiB = Math.max(40, Math.ceil(needBytes / GiB) + 16);
  let sys: RunningSystem | undefined;
  let cleaning: Promise<void> | undefined;
  let interrupted = false;
  // one cleanup, however many callers: the signal handler's and the run's both wait for its end
  const cleanup = (): Promise<void> => (cleaning ??= stopAll());
  const stopAll = async (): Promise<void> => {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    stopWrkChildren(); // when interrupted mid-phase; wrk would otherwise run out its -d
    if (sys) await sys.stop().catch((e) => progress.line(`stopping Swiftlet: ${String(e)}`));
    await umountXfs(data).catch((e) => progress.line(`unmounting ${data}: ${String(e)}`));
    if (keep) progress.line(`kept ${workDir} (XFS image ${join(base, 'xfs.img')}, aio.log)`);
    else rmSync(ownDir ? workDir : base, { recursive: true, force: true });
  };
  // Ctrl-C: stop the cluster and unmount before leaving (a second one is ignored meanwhile)
  const onSignal = (): void => {
    interrupted = true;
    progress.line('interrupted: stopping the all-in-one');
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  let soakRes: SoakResult | undefined;
  let big: BigResult | undefined;
  let failure: string | undefined;
  let maxSize = NaN;
  try {
    if (freeBytes < needBytes) {
      throw new Error(`not enough free space for ${workDir}: ${fmt(freeBytes / GiB)} GiB free, ${fmt(needBytes / GiB)} GiB needed (3 replicas × ${formatSize(bigSize)} + ${formatSize(SOAK_SPACE)} for the soak); give --work-dir on a bigger disk or a smaller --big-size`);
    }
    progress.line(`work dir ${workDir}: ${fmt(freeBytes / GiB)} GiB free, ${fmt(needBytes / GiB)} GiB needed; data on a ${imageGiB}G sparse XFS image`);
    await mountXfs(join(base, 'xfs.img'), data, `${imageGiB}G`); // startSwiftlet finds it mounted
    sys = await startSwiftlet({ workDir, xfs: true, daemons, progress });
    const { pids, storageNodePorts } = await aioReady(join(base, 'aio.log'));
    progress.line(`sampling ${Object.entries(pids).map(([p, pid]) => `${p}=${pid}`).join(', ')}`);
    const ep = await authRetry(sys);
    maxSize = await maxFileSize(ep);
    if (bigSize > maxSize) throw new BenchUsageError(`--big-size ${formatSize(bigSize)} (${bigSize} bytes) is above the proxy's max_file_size ${maxSize}`);
    const tag = Date.now().toString(36);
    const seeds = await writeSeeds(ep, workDir, tag, progress);
    progress.line(`soak: ${durationMs / 1000} s of ${PHASE_MS / 1000} s phases, concurrency ${concurrency}; RSS every ${SOAK_INTERVAL_MS / 1000} s`);
    soakRes = await soak(ep, pids, storageNodePorts, durationMs, concurrency, seeds, workDir, tag, progress);
    if (bigSize > 0) {
      progress.line(`big object: ${formatSize(bigSize)} (max_file_size ${maxSize}); RSS every ${BIG_INTERVAL_MS / 1000} s`);
      big = await bigObject(ep, pids, bigSize, tag, progress);
    }
  } catch (err) {
    if (err instanceof BenchUsageError) throw err;
    failure = err instanceof Error ? err.message : String(err);
    progress.line(`run stopped: ${failure}`);
  } finally {
    await cleanup();
  }
  if (interrupted) return { code: 130 };
  if (!soakRes) throw new Error(failure ?? 'the soak did not run');

  const procs = Object.keys(soakRes.samples[0]?.procs ?? {});
  // RSS as it is, for every process; the verdict is on the storage nodes' RSS less LevelDB's
  // caches (checked against their bound on their own), the proxy's as it is
  const rssFigs = procs.map((p) => soakFigures(soakRes.samples, p, FLAT));
  const soakFigs = procs.map((p, i) => (isStorageNode(p) ? soakFigures(soakRes.samples, p, FLAT, levelDbOffset(soakRes.breakdown, p)) : rssFigs[i]));
  const levelDb = levelDbPeaks(soakRes.breakdown);
  const judgedFigs = soakFigs.filter((f) => judged(f.proc));
  const cachesOk = levelDb.every((l) => l.within);
  const flatVerdict = !cachesOk || judgedFigs.some((f) => f.verdict === 'growing') ? 'NO' : judgedFigs.every((f) => f.verdict === 'flat') ? 'YES' : 'INCONCLUSIVE';
  const bigOk = big !== undefined && big.put.ok && big.get?.ok === true;
  const boundedVerdict = !big ? 'NOT RUN' : !bigOk ? 'NO (transfer not verified)' : big.figures.filter((f) => judged(f.proc)).every(bounded) ? 'YES' : 'NO';
  const errors = soakRes.workloads.reduce((a, w) => a + w.runs.reduce((b, r) => b + r.errors, 0), 0);
  const m = machineAtEnd(m0);
  const summary = [
    `- Proxy and storage nodes stay flat over the ${fmt(soakRes.seconds / 60)}-minute soak: **${flatVerdict}**`,
    bigSize === 0
      ? '- Big object: not run (--big-size 0)'
      : `- A ${formatSize(bigSize)} object streams with bounded memory: **${boundedVerdict}**${bigSize < 5 * GiB ? ` (note: ${formatSize(bigSize)}, not 5 GiB)` : ''}`,
  ].join('\n');
  const md = [
    `# memory: Swiftlet all-in-one under a soak${bigSize ? ` and a ${formatSize(bigSize)} object` : ''}`,
    '',
    machineMarkdown(m),
    `- Swiftlet all-in-one: 1 proxy + 4 storage nodes, 3 replicas, fsync on, data on a loop-mounted XFS image (loop device ${process.env.SWIFTLET_BENCH_LOOP_DIRECT_IO === 'off' ? 'buffered' : 'in direct I/O mode'}); background daemons ${daemons ? 'ON' : 'off'}`,
    `- command: \`${ctx.command}\``,
    '',
    failure ? `**The run stopped early:** ${failure}. The figures below are what was measured until then.\n` : '',
    '## Verdicts',
    '',
    summary,
    '',
    `Criteria: ${describeFlat(FLAT)}. "Bounded" = during both the PUT and the GET no process's RSS rose more than ${BOUNDED_GROWTH_MIB} MiB above its idle median before the PUT (a process holding the object would grow by its size). Judged: the proxy and the storage nodes.`,
    '',
    `## Soak: ${fmt(soakRes.seconds)} s, ${soakRes.phases} phases of ${PHASE_MS / 1000} s, RSS every ${SOAK_INTERVAL_MS / 1000} s`,
    '',
    `Each phase runs at once: wrk PUT of new objects (4 KiB in even phases, 64 KiB in odd ones, c=${concurrency}), wrk GET of existing objects of the other size (c=${concurrency}), wrk LIST (limit 100) of a 1000-object container, Node HEAD and DELETE (of everything earlier phases PUT), and Node PUT and GET of 1 MiB objects (c=1 each). RSS from /proc/<pid>/status (VmRSS; VmHWM = the peak). Slopes are least squares ± 2 standard errors.`,
    '',
    `Judged: the proxy's RSS, and each storage node's RSS less its LevelDB's memtables and block cache (reported by the node after every phase, interpolated between reports): those fill towards their bound of ${LEVELDB_BOUND_MIB} MiB per database over tens of minutes, which is checked on its own below.`,
    '',
    soakTable(soakFigs, judgedLabel),
    soakFigs.map((f) => `- ${f.proc}: ${f.verdict}: ${f.reason}`).join('\n'),
    '',
    `LevelDB's memory, the most any report showed: ${levelDb.map((l) => `${l.node} ${fmt(l.maxMiB)} MiB (bound ${fmt(l.boundMiB)}${l.within ? '' : ', **above it**'})`).join(', ') || 'no reports'}.`,
    '',
    'RSS as it is (LevelDB included), every process:',
    '',
    soakTable(rssFigs),
    breakdownTable(soakRes.breakdown, FLAT.warmUpS),
    `Workloads (one run = one phase; errors: ${errors}):`,
    '',
    markdownTable(soakRes.workloads),
    big ? `## Big object: ${formatSize(big.size)} (${big.size} bytes; proxy max_file_size ${maxSize}), RSS every ${BIG_INTERVAL_MS / 1000} s\n\nStreamed from Node (AES-128-CTR keystream, 1 MiB chunks, MD5 computed on the fly), then GET streamed back and hashed; baseline = median RSS over 5 s idle before the PUT.\n\n${transferLine(big.put, 'PUT')}\n${transferLine(big.get, 'GET')}\n\n${bigTable(big)}` : '',
  ].join('\n');
  const dir = resultsDir(ctx.outRoot, 'memory');
  const panels = [
    { title: `Soak (${fmt(soakRes.seconds)} s): RSS per process`, samples: soakRes.samples, procs, marks: [{ t: FLAT.warmUpS, label: 'warm-up ends' }] },
    ...(big
      ? [
          {
            title: `${formatSize(big.size)} object: RSS per process`,
            samples: big.samples,
            procs,
            marks: [
              { t: big.put.from, label: 'PUT' },
              { t: big.put.to, label: '' },
              ...(big.get ? [{ t: big.get.from, label: 'GET' }, { t: big.get.to, label: '' }] : []),
            ],
          },
        ]
      : []),
  ];
  writeResultFiles(dir, {
    'results.json':
      JSON.stringify(
        {
          suite: 'memory',
          command: ctx.command,
          failure: failure ?? null,
          machine: m,
          options: { durationMs, bigSize, concurrency, daemons, phaseMs: PHASE_MS },
          criteria: { flat: FLAT, flatText: describeFlat(FLAT), boundedGrowthMiB: BOUNDED_GROWTH_MIB },
          verdicts: { flat: flatVerdict, bounded: boundedVerdict },
          soak: { seconds: soakRes.seconds, phases: soakRes.phases, figures: soakFigs, rssFigures: rssFigs, levelDb, workloads: soakRes.workloads, samples: soakRes.samples, breakdown: soakRes.breakdown },
          big: big ?? null,
        },
        null,
        2,
      ) + '\n',
    'results.md': md,
    'chart.svg': rssLineChart('Swiftlet all-in-one: resident memory (VmRSS)', panels),
  });
  process.stdout.write(`\n${soakTable(soakFigs, judgedLabel)}\n${breakdownTable(soakRes.breakdown, FLAT.warmUpS)}\n${big ? `${transferLine(big.put, 'PUT')}\n${transferLine(big.get, 'GET')}\n\n${bigTable(big)}\n` : ''}${summary}\n\nwrote ${dir}/{results.json,results.md,chart.svg}\n`);
  return { code: failure || errors > 0 || (big && !bigOk) ? 1 : 0, dir };
}
