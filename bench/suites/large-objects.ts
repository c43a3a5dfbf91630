import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { formatSize, parseCount, parseSize } from '../args.js';
import { agent, encodePath, ensureContainer, type Endpoint } from '../endpoint.js';
import { machineAtEnd, machineInfo, machineMarkdown, resultsDir, writeResultFiles } from '../machine.js';
import { Progress } from '../progress.js';
import { RawHttpConnection } from '../raw-http.js';
import { aggregate, markdownSideBySide, pairRatios, ratioLines, sideBySideChart, type Pair } from '../report.js';
import type { RunResult, WorkloadRuns } from '../result.js';
import { cpuJiffies, settle, stealPercent } from '../settle.js';
import { SeededObjectData, segmentName, segmentPlan, sloManifest, transferResult, type Segment } from '../slo-data.js';
import { fmt, fmtSpread, meanSpread, ratio } from '../stats.js';
import { daemonsDescription, measureBoth, startBoth, type SuiteContext, type SuiteOutcome } from './objects.js';

/**
 * `large-objects`: a static large object uploaded and downloaded on Swiftlet's and OpenStack
 * Swift's all-in-ones, rounds interleaved. Upload as `swift upload -S <segment> --use-slo` does
 * it: the segments PUT by `--concurrency` workers at once (swift's default 10 threads), then the
 * manifest PUT with `?multipart-manifest=put`; MB/s = object bytes / (first segment PUT sent →
 * manifest's 201). Download: one GET of the manifest (the whole object), the body hashed as it
 * arrives (MD5 checked against the generated data's) and dropped; MB/s = bytes / (request →
 * last byte). Both over bench/raw-http.ts (no copy of the body; hashing is the client's only
 * per-byte work, the same for both systems). The object is seeded data (slo-data.ts), generated
 * as it is sent.
 */

export const LARGE_OBJECT_OPTIONS = ['size', 'segment-size', 'concurrency', 'rounds', 'warmup-rounds', 'swift-port', 'swiftlet-fs', 'work-dir'] as const;
export const LARGE_OBJECT_FLAGS = ['daemons', 'keep'] as const;
/** The issue's speed goal: Swiftlet/Swift MB/s for both upload and download. */
export const GOAL = 1.5;
const SEED = 23;

interface Plan {
  size: number;
  segmentSize: number;
  concurrency: number;
  rounds: number;
  /** Unmeasured rounds on each system first. */
  warmup: number;
}

function planOf(o: Map<string, string>): Plan {
  return {
    size: parseSize(o.get('size') ?? '1GiB'),
    segmentSize: parseSize(o.get('segment-size') ?? '100MiB'),
    concurrency: parseCount(o.get('concurrency') ?? '10', '--concurrency'),
    rounds: parseCount(o.get('rounds') ?? '3', '--rounds'),
    warmup: parseCount(o.get('warmup-rounds') ?? '1', '--warmup-rounds', 0),
  };
}

function connectionTo(ep: Endpoint): { conn: RawHttpConnection; base: string } {
  const u = new URL(ep.storageUrl);
  return { conn: new RawHttpConnection(u.hostname.replace(/^\[|\]$/g, ''), Number(u.port || 80), u.host), base: u.pathname };
}

/** The segments by `concurrency` workers, each on its own keep-alive connection, then the manifest. */
async function upload(ep: Endpoint, data: SeededObjectData, segments: readonly Segment[], etags: readonly string[], concurrency: number, container: string, name: string): Promise<RunResult> {
  const segContainer = `${container}_segments`;
  const total = segments.reduce((a, s) => a + s.length, 0);
  let next = 0;
  let failed: string | undefined;
  const t0 = performance.now();
  const worker = async (): Promise<void> => {
    const { conn, base } = connectionTo(ep);
    try {
      while (next < segments.length && failed === undefined) {
        const s = segments[next++] as Segment;
        const path = `${base}/${encodePath(segContainer)}/${encodePath(segmentName(name, s.index))}`;
        const r = await conn.request('PUT', path, { 'x-auth-token': ep.token, 'content-type': 'application/octet-stream' }, { size: s.length, pieces: data.pieces(s.offset, s.length) });
        if (r.status !== 201) failed = `segment-${r.status}`;
      }
    } catch (err) {
      failed = (err as { code?: string }).code ?? 'segment-exception';
    } finally {
      conn.close();
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, segments.length) }, worker));
  if (failed === undefined) {
    const res = await request(`${ep.storageUrl}/${encodePath(container)}/${encodePath(name)}?multipart-manifest=put`, {
      method: 'PUT',
      headers: { 'x-auth-token': ep.token, 'content-type': 'application/json' },
      body: sloManifest(segContainer, name, segments, etags),
      dispatcher: agent,
    });
    const body = await res.body.text();
    if (res.statusCode !== 201) failed = `manifest-${res.statusCode}`;
    if (failed) process.stderr.write(`${ep.name}: manifest PUT → ${res.statusCode} ${body.slice(0, 300)}\n`);
  }
  return transferResult(total, performance.now() - t0, failed);
}

/** GET of the manifest: the whole object, hashed as it arrives, checked for size and MD5. */
async function download(ep: Endpoint, container: string, name: string, size: number, md5: string): Promise<RunResult> {
  const { conn, base } = connectionTo(ep);
  const h = createHash('md5');
  const t0 = performance.now();
  let failed: string | undefined;
  try {
    const r = await conn.request('GET', `${base}/${encodePath(container)}/${encodePath(name)}`, { 'x-auth-token': ep.token }, undefined, (buf, start, end) => h.update(buf.subarray(start, end)));
    if (r.status !== 200) failed = String(r.status);
    else if (r.bodyBytes !== size) failed = 'short-body';
    else if (h.digest('hex') !== md5) failed = 'md5-mismatch';
  } catch (err) {
    failed = (err as { code?: string }).code ?? 'exception';
  } finally {
    conn.close();
  }
  return transferResult(size, performance.now() - t0, failed);
}

/** `?multipart-manifest=delete`: the manifest and its segments (not measured; frees the disk for the next round). */
async function remove(ep: Endpoint, container: string, name: string): Promise<void> {
  const res = await request(`${ep.storageUrl}/${encodePath(container)}/${encodePath(name)}?multipart-manifest=delete`, { method: 'DELETE', headers: { 'x-auth-token': ep.token, accept: 'application/json' }, dispatcher: agent });
  const body = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`${ep.name}: DELETE ?multipart-manifest=delete → ${res.statusCode} ${body.slice(0, 300)}`);
}

/** The bench process's own CPU (user + system) over `f`, in seconds per GB of `bytes`: whether the client could cap the figure. */
async function clientCpu<T>(bytes: number, f: () => Promise<T>): Promise<{ result: T; cpuSPerGB: number }> {
  const c0 = process.cpuUsage();
  const result = await f();
  const c = process.cpuUsage(c0);
  return { result, cpuSPerGB: (c.user + c.system) / 1e6 / (bytes / 1e9) };
}

/** Each system's upload and download runs, as report.ts's workloads. */
function workloads(system: string, p: Plan): { put: WorkloadRuns; get: WorkloadRuns } {
  return {
    put: { system, op: 'put', size: p.size, concurrency: p.concurrency, client: `SLO, ${formatSize(p.segmentSize)} segments`, runs: [] },
    get: { system, op: 'get', size: p.size, concurrency: 1, client: 'SLO, MD5 checked', runs: [] },
  };
}

/** Round i's MB/s ratio a/b (the two systems ran back to back in each round: the load they shared was closest). */
export function roundRatios(p: Pair): number[] {
  const n = Math.min(p.a.runs.length, p.b.runs.length);
  return Array.from({ length: n }, (_, i) => ratio(p.a.runs[i]?.mbPerSec ?? NaN, p.b.runs[i]?.mbPerSec ?? NaN));
}

/** One line per figure: the ratio of the means, whether it meets the goal, and each round's ratio. */
export function goalLines(pairs: readonly Pair[], goal = GOAL): string[] {
  return pairs.map((p) => {
    const r = pairRatios(p).mbPerSec;
    const verdict = !Number.isFinite(r) ? 'not measured' : r >= goal ? 'met' : 'NOT met';
    const rounds = roundRatios(p).map((x) => (Number.isFinite(x) ? `${fmt(x)}×` : '—'));
    return `- SLO ${p.a.op === 'put' ? 'upload' : 'download'} MB/s, ${p.a.system}/${p.b.system}: ${Number.isFinite(r) ? `${fmt(r)}×` : '—'} (goal ≥ ${goal}×: ${verdict}); per round: ${rounds.join(', ')}`;
  });
}

export async function largeObjectsSuite(ctx: SuiteContext): Promise<SuiteOutcome> {
  const o = ctx.options;
  const p = planOf(o);
  const segments = segmentPlan(p.size, p.segmentSize);
  const progress = new Progress();
  const m0 = machineInfo();
  // the segments' MD5s (the manifest's etags) and the whole object's, computed before anything is timed
  const data = new SeededObjectData(SEED);
  const whole = createHash('md5');
  const etags = segments.map((s) => {
    const h = createHash('md5');
    for (const piece of data.pieces(s.offset, s.length)) {
      h.update(piece);
      whole.update(piece);
    }
    return h.digest('hex');
  });
  const md5 = whole.digest('hex');
  progress.line(`${formatSize(p.size)} in ${segments.length} segments of ≤ ${formatSize(p.segmentSize)}, ${p.concurrency} segment PUTs at once, ${p.rounds} round(s); MD5 ${md5}`);
  const both = await startBoth(o, progress);
  const tag = Date.now().toString(36);
  const container = `lo-${tag}`;
  const w = new Map<string, { put: WorkloadRuns; get: WorkloadRuns }>();
  const cpu = new Map<string, { put: number[]; get: number[] }>();
  const cpuAtStart = cpuJiffies();
  const { a: epA, b: epB, failure } = await measureBoth(both, progress, async (epA, epB) => {
    for (const ep of [epA, epB]) {
      await ensureContainer(ep, container);
      await ensureContainer(ep, `${container}_segments`);
      w.set(ep.name, workloads(ep.name, p));
      cpu.set(ep.name, { put: [], get: [] });
    }
    // warm-up rounds (negative) first, unmeasured: Node's JIT compiles the SLO paths on first use
    for (let round = -p.warmup; round < p.rounds; round++) {
      const measured = round >= 0;
      for (const ep of round % 2 === 0 ? [epA, epB] : [epB, epA]) {
        const runs = w.get(ep.name)!;
        const name = `big-${round + p.warmup}`;
        const label = `${ep.name.padEnd(8)} ${measured ? `round ${round + 1}` : 'warm-up'}`;
        if (measured) await settle();
        const { result: up, cpuSPerGB: upCpu } = await clientCpu(p.size, () => upload(ep, data, segments, etags, p.concurrency, container, name));
        if (measured) cpu.get(ep.name)!.put.push(upCpu);
        progress.line(`${label} SLO upload   ${fmt(up.mbPerSec ?? NaN)} MB/s (${fmt(up.elapsedS)} s; client CPU ${fmt(upCpu)} s/GB)${up.errors ? ` FAILED ${JSON.stringify(up.errorKinds)}` : ''}`);
        if (measured) runs.put.runs.push(up);
        if (up.errors) throw new Error(`${ep.name}: the SLO upload failed (${Object.keys(up.errorKinds).join(', ')})`);
        if (measured) await settle();
        const { result: down, cpuSPerGB: downCpu } = await clientCpu(p.size, () => download(ep, container, name, p.size, md5));
        if (measured) cpu.get(ep.name)!.get.push(downCpu);
        progress.line(`${label} SLO download ${fmt(down.mbPerSec ?? NaN)} MB/s (${fmt(down.elapsedS)} s; client CPU ${fmt(downCpu)} s/GB)${down.errors ? ` FAILED ${JSON.stringify(down.errorKinds)}` : ', MD5 ok'}`);
        if (measured) runs.get.runs.push(down);
        await remove(ep, container, name);
        if (down.errors) throw new Error(`${ep.name}: the SLO download failed (${Object.keys(down.errorKinds).join(', ')})`);
      }
    }
  });
  const a = w.get(epA.name);
  const b = w.get(epB.name);
  const pairs: Pair[] = a && b ? [{ a: a.put, b: b.put }, { a: a.get, b: b.get }] : [];
  const m = machineAtEnd(m0, { stealPct: stealPercent(cpuAtStart, cpuJiffies()) });
  const table = markdownSideBySide(pairs);
  const goals = goalLines(pairs);
  const cpuLines = [...cpu].map(([system, c]) => `- ${system}: upload ${fmtSpread(meanSpread(c.put))}, download ${fmtSpread(meanSpread(c.get))} s of the client's CPU per GB`);
  const md = `# large-objects: SLO upload and download, Swiftlet vs OpenStack Swift\n\n${machineMarkdown(m)}\n- both: 1 proxy + 4 storage nodes (one device, one zone each), 3 replicas, part power 10, fsync on, each on its own XFS image on a loop device${process.env.SWIFTLET_BENCH_LOOP_DIRECT_IO === 'off' ? ' (buffered)' : ' in direct I/O mode'}, tempauth; Swift's proxy with slo in its pipeline, workers = 1, plus memcached; ${daemonsDescription(o)}\n- object: ${formatSize(p.size)} of seeded data in ${segments.length} segments of ≤ ${formatSize(p.segmentSize)}; upload: the segments PUT ${p.concurrency} at a time (as \`swift upload -S --use-slo\` with its 10 threads), then \`?multipart-manifest=put\`, timed from the first segment PUT to the manifest's 201; download: GET of the manifest, the body MD5-checked as it arrives and dropped (bench/raw-http.ts), timed from the request to the last byte; then \`?multipart-manifest=delete\` (not timed)\n- ${p.warmup ? `${p.warmup} unmeasured warm-up round(s) on each system first (Node's JIT; the same transfers), then ` : ''}${p.rounds} round(s), the order alternating (A,B then B,A); before each timed transfer \`sync\` and a wait for a quiet machine (≤ 10 % busy over 0.5 s, at most 10 s)\n- command: \`${ctx.command}\`\n\nRatios are Swiftlet/Swift (MB/s above 1: Swiftlet faster). Figures are mean ± sample standard deviation over the rounds; "ops/s" is transfers of the whole object per second.\n\n${failure ? `**The run stopped early:** ${failure}. The figures below are what was measured until then.\n\n` : ''}${table}\n${goals.join('\n')}\n\nThe bench process's own CPU (user + system) per GB moved, to tell whether the client could cap a figure (a core gives 1 s of CPU per second; the download's MD5 is most of it):\n\n${cpuLines.join('\n')}\n`;
  const dir = resultsDir(ctx.outRoot, 'large-objects');
  writeResultFiles(dir, {
    'results.json':
      JSON.stringify(
        {
          suite: 'large-objects',
          command: ctx.command,
          failure: failure ?? null,
          machine: m,
          options: { ...p, segments: segments.length, md5, daemons: o.get('daemons') === 'true' },
          clientCpuSPerGB: Object.fromEntries(cpu),
          workloads: [...w.values()].flatMap((x) => [x.put, x.get]).map((x) => ({ ...x, summary: aggregate(x.runs) })),
          ratios: pairs.map((q) => ({ op: q.a.op, size: q.a.size, ...pairRatios(q) })),
          goal: GOAL,
        },
        null,
        2,
      ) + '\n',
    'results.md': md,
    'chart.svg': sideBySideChart(pairs, `SLO ${formatSize(p.size)} in ${formatSize(p.segmentSize)} segments: Swiftlet vs OpenStack Swift`),
  });
  process.stdout.write(`\n${table}\n${ratioLines(pairs).join('\n')}\n${goals.join('\n')}\n\nwrote ${dir}/{results.json,results.md,chart.svg}\n`);
  if (failure) process.stderr.write(`run stopped early: ${failure}\n`);
  return { code: failure ? 1 : 0, dir };
}
