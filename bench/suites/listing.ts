import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { BenchUsageError, parseCount, parseDuration } from '../args.js';
import { EMPTY_ETAG, FILL_CONTENT_TYPE, fillSwiftContainer, fillSwiftletContainer, MERGE_ROWS_MAX, type DirectFillResult } from '../direct-fill.js';
import { agent, containerObjectCount, encodePath, ensureContainer, simple, v1Auth, type Endpoint } from '../endpoint.js';
import { machineAtEnd, machineInfo, machineMarkdown, resultsDir, writeResultFiles } from '../machine.js';
import { Progress } from '../progress.js';
import { svgBarChart } from '../report.js';
import { fmt, fmtSpread, meanSpread, ratio, summarizeLatencies } from '../stats.js';
import { REPO_ROOT, type RunningSystem } from '../systems.js';
import { runWrk } from '../wrk.js';
import { startBoth, type SuiteContext, type SuiteOutcome } from './objects.js';

/**
 * Listing a big container: fill it with N empty objects named d<i % 100>/o<i>, then time
 * 10,000-entry pages (JSON) walking the whole container with markers, and with prefix and/or
 * delimiter. The fill, the same way for both systems:
 *   direct (default)  the listing rows the PUTs would have left, written straight into the
 *                     container databases of every primary (bench/direct-fill.ts): minutes for 1M
 *   api               concurrent 0-byte PUTs from wrk through the public API: hours for 1M
 * Either way the result is checked through the API (HEAD count, a prefix listing) before timing.
 */
export const LISTING_NAME_LUA = 'string.format("d%03d/o%08d", i % 100, i)';

export function listingName(i: number): string {
  return `d${String(i % 100).padStart(3, '0')}/o${String(i).padStart(8, '0')}`;
}

export interface ListingQuery {
  label: string;
  params: Record<string, string>;
}

export const LISTING_QUERIES: ListingQuery[] = [
  { label: 'whole container', params: {} },
  { label: 'prefix=d042/', params: { prefix: 'd042/' } },
  { label: 'delimiter=/', params: { delimiter: '/' } },
  { label: 'prefix=d042/ delimiter=/', params: { prefix: 'd042/', delimiter: '/' } },
];

export interface WalkResult {
  pages: number;
  entries: number;
  seconds: number;
  pageMs: number[];
  errors: number;
}

/** Walks every page of one query (marker paging), timing each page. */
export async function walk(ep: Endpoint, container: string, q: ListingQuery, pageSize: number): Promise<WalkResult> {
  const pageMs: number[] = [];
  let entries = 0;
  let errors = 0;
  let marker = '';
  const t0 = performance.now();
  for (;;) {
    const qs = new URLSearchParams({ format: 'json', limit: String(pageSize), ...q.params, ...(marker ? { marker } : {}) });
    const p0 = performance.now();
    const res = await request(`${ep.storageUrl}/${encodeURIComponent(container)}?${qs}`, { headers: { 'x-auth-token': ep.token }, dispatcher: agent });
    const text = await res.body.text();
    pageMs.push(performance.now() - p0);
    if (res.statusCode === 204) break;
    if (res.statusCode !== 200) {
      errors++;
      break;
    }
    const page = JSON.parse(text) as Array<{ name?: string; subdir?: string }>;
    entries += page.length;
    if (page.length < pageSize) break;
    const lastEntry = page[page.length - 1];
    marker = lastEntry.name ?? lastEntry.subdir ?? '';
  }
  return { pages: pageMs.length, entries, seconds: (performance.now() - t0) / 1000, pageMs, errors };
}

export type FillMethod = 'direct' | 'api';

type FillResult =
  | { method: 'api'; seconds: number; opsPerSec: number; errors: number; errorKinds: Record<string, number> }
  | ({ method: 'direct'; tool: string; batchRows: number; rowsPerSec: number } & DirectFillResult);

async function apiFill(ep: Endpoint, container: string, n: number, have: number, concurrency: number, progress: Progress, capMs: number): Promise<FillResult> {
  const t0 = performance.now();
  const initial = have;
  let errors = 0;
  const errorKinds: Record<string, number> = {};
  let start = have;
  while (have < n) {
    progress.line(`${ep.name}: filling ${container}: ${have} → ${n} empty objects (wrk, ${concurrency} connections)`);
    const r = await runWrk(
      { op: 'put', storageUrl: ep.storageUrl, token: ep.token, container, size: 0, namePrefix: '', nameLua: LISTING_NAME_LUA, start, concurrency, threads: 1, bound: { kind: 'count', n: n - have, capMs } },
      { onTick: (ms) => progress.tick(`${ep.name} fill ${(ms / 1000).toFixed(0)} s`) },
    );
    errors += r.errors;
    for (const [k, v] of Object.entries(r.errorKinds)) errorKinds[k] = (errorKinds[k] ?? 0) + v;
    start += r.ops;
    const now = (await containerObjectCount(ep, container)) ?? 0;
    if (now <= have) throw new Error(`${ep.name}: fill made no progress (${r.errors} errors: ${JSON.stringify(r.errorKinds)})`);
    have = now;
  }
  const seconds = (performance.now() - t0) / 1000;
  return { method: 'api', seconds, opsPerSec: (have - initial) / seconds, errors, errorKinds };
}

/** Rows per write of the direct fill: Swift's merge_items call, Swiftlet's `merge` request (its cap). */
const SWIFT_FILL_BATCH = 10_000;

async function directFill(ep: Endpoint, sys: RunningSystem, container: string, n: number, progress: Progress): Promise<FillResult> {
  if (!sys.dir) throw new Error(`${ep.name}: no directory known for the direct fill`);
  const account = decodeURIComponent(new URL(ep.storageUrl).pathname.split('/').pop() ?? '');
  // Row i is stamped as if PUT 10 µs after row i-1, the last one now.
  const firstTick = Math.round(Date.now() * 100) - n;
  progress.line(`${ep.name}: filling ${container} with ${n} listing rows on every primary (direct)`);
  if (sys.name === 'Swift') {
    const script = join(REPO_ROOT, 'bench', 'scripts', 'swift-fill-container.py');
    const r = await fillSwiftContainer({ swiftDir: sys.dir, script, account, container, n, firstTick, batchRows: SWIFT_FILL_BATCH });
    return { method: 'direct', tool: 'swift-fill-container.py: ContainerBroker.merge_items on each primary db', batchRows: SWIFT_FILL_BATCH, rowsPerSec: n / r.seconds, ...r };
  }
  const t0 = performance.now();
  const r = await fillSwiftletContainer({
    dataDir: sys.dir,
    account,
    container,
    n,
    firstTick,
    name: listingName,
    onProgress: (done) => progress.tick(`${ep.name} fill ${done} / ${n} rows, ${((performance.now() - t0) / 1000).toFixed(0)} s`),
  });
  return { method: 'direct', tool: 'db replication verb merge (POST ?op=merge) to each primary', batchRows: MERGE_ROWS_MAX, rowsPerSec: n / r.seconds, ...r };
}

/**
 * Through the API: the container holds n objects (exactly, unless `atLeast`: wrk's API fill may
 * overshoot by a few in-flight PUTs), 0 bytes, and a prefix listing starts right. Returns the count.
 */
async function verifyFill(ep: Endpoint, container: string, n: number, atLeast: boolean): Promise<number> {
  const head = await simple(ep, 'HEAD', `/${encodePath(container)}`);
  const count = Number(head.headers['x-container-object-count']);
  const bytes = Number(head.headers['x-container-bytes-used']);
  if (head.status >= 300 || !(atLeast ? count >= n : count === n) || bytes !== 0) {
    throw new Error(`${ep.name}: after the fill, HEAD ${container} → ${head.status}, X-Container-Object-Count ${count}, X-Container-Bytes-Used ${bytes} (want ${atLeast ? '≥ ' : ''}${n}, 0)`);
  }
  const d = 7 % Math.min(n, 100);
  const prefix = listingName(d).split('/')[0] + '/';
  const want: string[] = [];
  for (let i = d; i < n && want.length < 5; i += 100) want.push(listingName(i));
  const r = await simple(ep, 'GET', `/${encodePath(container)}?${new URLSearchParams({ format: 'json', prefix, limit: String(want.length) })}`);
  const got = r.status === 200 ? (JSON.parse(r.body) as Array<{ name: string; bytes: number; hash: string; content_type: string }>) : [];
  const ok = got.length === want.length && got.every((e, k) => e.name === want[k] && e.bytes === 0 && e.hash === EMPTY_ETAG && e.content_type === FILL_CONTENT_TYPE);
  if (!ok) throw new Error(`${ep.name}: after the fill, listing prefix=${prefix} → ${r.status} ${r.body.slice(0, 300)}; want ${JSON.stringify(want)} (0 bytes, etag ${EMPTY_ETAG}, ${FILL_CONTENT_TYPE})`);
  return count;
}

async function fill(ep: Endpoint, sys: RunningSystem | undefined, method: FillMethod, container: string, n: number, concurrency: number, progress: Progress, capMs: number): Promise<FillResult | undefined> {
  await ensureContainer(ep, container);
  const have = (await containerObjectCount(ep, container)) ?? 0;
  if (have >= n) {
    progress.line(`${ep.name}: ${container} already holds ${have} objects`);
    return undefined;
  }
  if (method === 'api') return apiFill(ep, container, n, have, concurrency, progress, capMs);
  if (!sys) throw new Error('the direct fill needs the systems started by this suite');
  return directFill(ep, sys, container, n, progress);
}

function fillLine(name: string, n: number, f: FillResult | undefined): string {
  if (!f) return `- ${name}: container was already full`;
  if (f.method === 'api') return `- ${name}: filled to ${n} empty objects through the API in ${fmt(f.seconds)} s (${fmt(f.opsPerSec)} PUT/s, ${f.errors} errors${f.errors ? ` ${JSON.stringify(f.errorKinds)}` : ''})`;
  const per = f.replicas.map((r) => `${r.device} ${fmt(r.seconds)} s`).join(', ');
  return `- ${name}: filled to ${n} listing rows directly in ${fmt(f.seconds)} s (${fmt(f.rowsPerSec)} rows/s on each of ${f.replicas.length} replicas; ${f.tool}, ${f.batchRows} rows per write; per replica: ${per})`;
}

export async function listingSuite(ctx: SuiteContext): Promise<SuiteOutcome> {
  const o = ctx.options;
  const n = parseCount(o.get('objects') ?? '1000000', '--objects');
  const pageSize = parseCount(o.get('page') ?? '10000', '--page');
  const repeat = parseCount(o.get('repeat') ?? '3', '--repeat');
  const fillConc = parseCount(o.get('fill-concurrency') ?? '64', '--fill-concurrency');
  const capMs = parseDuration(o.get('max-fill-time') ?? '4h');
  // `--fill`, else SWIFTLET_BENCH_FILL
  const fillMethod = o.get('fill') ?? process.env.SWIFTLET_BENCH_FILL ?? (o.has('auth-url') ? 'api' : 'direct');
  if (fillMethod !== 'direct' && fillMethod !== 'api') throw new BenchUsageError('--fill (or SWIFTLET_BENCH_FILL) is direct or api');
  if (fillMethod === 'direct' && o.has('auth-url')) throw new BenchUsageError('--fill direct needs the systems this suite starts (not --auth-url)');
  const progress = new Progress();
  const m0 = machineInfo(); // the commit being measured: HEAD may move during a long run
  const container = `listing-${n}`;
  const eps: Endpoint[] = [];
  const systems = new Map<string, RunningSystem>();
  let cleanup = async (): Promise<void> => undefined;
  const workDir = mkdtempSync(join(tmpdir(), 'bench-listing-'));
  const fills: Record<string, FillResult | undefined> = {};
  const results: Record<string, Record<string, WalkResult[]>> = {};
  try {
    if (o.has('auth-url')) {
      eps.push(await v1Auth(o.get('name') ?? 'endpoint', o.get('auth-url') as string, o.get('user') ?? 'test:tester', o.get('key') ?? 'testing'));
    } else {
      const both = await startBoth(o, progress);
      cleanup = () => both.cleanup();
      for (const sys of [both.a, both.b]) {
        eps.push(await v1Auth(sys.name, sys.authUrl, sys.user, sys.key));
        systems.set(sys.name, sys);
      }
    }
    for (const ep of eps) {
      const f = await fill(ep, systems.get(ep.name), fillMethod, container, n, fillConc, progress, capMs);
      fills[ep.name] = f;
      if (f) progress.line(fillLine(ep.name, n, f).slice(2));
      const count = await verifyFill(ep, container, n, f?.method !== 'direct');
      progress.line(`${ep.name}: checked through the API: ${count} objects, 0 bytes, prefix listing as expected`);
    }
    for (let rep = 0; rep < repeat; rep++) {
      const order = rep % 2 === 0 ? eps : [...eps].reverse();
      for (const q of LISTING_QUERIES)
        for (const ep of order) {
          const r = await walk(ep, container, q, pageSize);
          ((results[ep.name] ??= {})[q.label] ??= []).push(r);
          const s = summarizeLatencies(r.pageMs);
          progress.line(`${ep.name.padEnd(8)} ${q.label.padEnd(26)} ${r.entries} entries, ${r.pages} pages in ${fmt(r.seconds)} s; page p50 ${fmt(s.p50Ms)} ms p99 ${fmt(s.p99Ms)} ms${r.errors ? ` ERRORS ${r.errors}` : ''}`);
        }
    }
  } finally {
    await cleanup();
    rmSync(workDir, { recursive: true, force: true });
  }
  const names = eps.map((e) => e.name);
  const rows: string[] = [];
  const chartRows = [];
  for (const q of LISTING_QUERIES) {
    const per = names.map((nm) => {
      const runs = results[nm]?.[q.label] ?? [];
      const pages = runs.flatMap((r) => r.pageMs);
      return { nm, runs, secs: meanSpread(runs.map((r) => r.seconds)), lat: summarizeLatencies(pages), entries: runs[0]?.entries ?? 0, pages: runs[0]?.pages ?? 0, errors: runs.reduce((a, r) => a + r.errors, 0) };
    });
    for (const p of per) rows.push(`| ${q.label} | ${p.nm} | ${p.entries} | ${p.pages} | ${fmtSpread(p.secs)} | ${fmt(p.lat.p50Ms)} | ${fmt(p.lat.p99Ms)} | ${fmt(p.entries / p.secs.mean)} | ${p.errors} |`);
    if (per.length === 2) {
      rows.push(`| | ${per[0].nm}/${per[1].nm} | | | **${fmt(ratio(per[0].secs.mean, per[1].secs.mean))}×** | **${fmt(ratio(per[0].lat.p50Ms, per[1].lat.p50Ms))}×** | **${fmt(ratio(per[0].lat.p99Ms, per[1].lat.p99Ms))}×** | **${fmt(ratio(per[0].entries / per[0].secs.mean, per[1].entries / per[1].secs.mean))}×** | |`);
    }
    chartRows.push({ label: q.label, values: per.map((p) => p.secs.mean * 1000), note: per.length === 2 ? `${fmt(ratio(per[0].secs.mean, per[1].secs.mean))}×` : '' });
  }
  const table = `| query | system | entries | pages | total s | page p50 ms | page p99 ms | entries/s | errors |\n|---|---|---:|---:|---:|---:|---:|---:|---:|\n${rows.join('\n')}\n`;
  const fillLines = names.map((nm) => fillLine(nm, n, fills[nm])).join('\n');
  const fillHow =
    fillMethod === 'api'
      ? `filled through the API with wrk (0-byte PUTs, ${fillConc} connections)`
      : 'filled directly: the listing rows 0-byte PUTs would have left (timestamp, size 0, application/octet-stream, empty-body MD5) merged into the container database of each of the 3 primaries, no object data (Swift: ContainerBroker.merge_items; Swiftlet: the db replication verb merge); object count checked through the API'
  const m = machineAtEnd(m0);
  const md = `# listing: ${n} objects, pages of ${pageSize}\n\n${machineMarkdown(m)}\n- container: ${n} empty objects named d<i mod 100>/o<i> (100 "directories" of ${Math.floor(n / 100)}), ${fillHow}\n- timed: walking every page of each query (format=json, limit=${pageSize}, marker paging), ${repeat} run(s), systems alternating\n- command: \`${ctx.command}\`\n\n${fillLines}\n\nRatios are ${names.join('/')}: below 1 for times means ${names[0]} is faster.\n\n${table}`;
  const dir = resultsDir(ctx.outRoot, 'listing');
  writeResultFiles(dir, {
    'results.json': JSON.stringify({ suite: 'listing', command: ctx.command, machine: m, objects: n, pageSize, repeat, fillMethod, fills, results }, null, 2) + '\n',
    'results.md': md,
    'chart.svg': svgBarChart(`Listing ${n} objects, ${pageSize}-entry pages (total ms, lower is better)`, names, [{ title: 'time to list', unit: 'ms', rows: chartRows }], names.length === 2 ? names.join('/') : ''),
  });
  process.stdout.write(`\n${fillLines}\n\n${table}\nwrote ${dir}/{results.json,results.md,chart.svg}\n`);
  return { code: 0, dir };
}
