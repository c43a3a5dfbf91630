import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { parseCount, parseDuration } from '../args.js';
import { agent, containerObjectCount, ensureContainer, v1Auth, type Endpoint } from '../endpoint.js';
import { machineInfo, machineMarkdown, resultsDir, writeResultFiles } from '../machine.js';
import { Progress } from '../progress.js';
import { svgBarChart } from '../report.js';
import { fmt, fmtSpread, meanSpread, ratio, summarizeLatencies } from '../stats.js';
import { runWrk } from '../wrk.js';
import { startBoth, type SuiteContext } from './objects.js';

/**
 * Listing a big container: fill it with N empty objects named d<i % 100>/o<i> through the
 * public API (concurrent 0-byte PUTs from wrk, the same way for both systems), then time
 * 10,000-entry pages (JSON) walking the whole container with markers, and with prefix and/or
 * delimiter.
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

interface FillResult {
  seconds: number;
  opsPerSec: number;
  errors: number;
  errorKinds: Record<string, number>;
}

async function fill(ep: Endpoint, container: string, n: number, concurrency: number, progress: Progress, capMs: number): Promise<FillResult | undefined> {
  await ensureContainer(ep, container);
  let have = (await containerObjectCount(ep, container)) ?? 0;
  if (have >= n) {
    progress.line(`${ep.name}: ${container} already holds ${have} objects`);
    return undefined;
  }
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
  return { seconds, opsPerSec: (have - initial) / seconds, errors, errorKinds };
}

export async function listingSuite(ctx: SuiteContext): Promise<number> {
  const o = ctx.options;
  const n = parseCount(o.get('objects') ?? '1000000', '--objects');
  const pageSize = parseCount(o.get('page') ?? '10000', '--page');
  const repeat = parseCount(o.get('repeat') ?? '3', '--repeat');
  const fillConc = parseCount(o.get('fill-concurrency') ?? '64', '--fill-concurrency');
  const capMs = parseDuration(o.get('max-fill-time') ?? '4h');
  const progress = new Progress();
  const m0 = machineInfo(); // the commit being measured: HEAD may move during a long run
  const container = `listing-${n}`;
  const eps: Endpoint[] = [];
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
      eps.push(await v1Auth(both.a.name, both.a.authUrl, both.a.user, both.a.key));
      eps.push(await v1Auth(both.b.name, both.b.authUrl, both.b.user, both.b.key));
    }
    for (const ep of eps) {
      const f = await fill(ep, container, n, fillConc, progress, capMs);
      fills[ep.name] = f;
      if (f) progress.line(`${ep.name}: filled to ${n} objects in ${fmt(f.seconds)} s (${fmt(f.opsPerSec)} PUT/s), ${f.errors} errors${f.errors ? ` ${JSON.stringify(f.errorKinds)}` : ''}`);
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
  const fillLines = names.map((nm) => (fills[nm] ? `- ${nm}: filled to ${n} empty objects in ${fmt(fills[nm]!.seconds)} s (${fmt(fills[nm]!.opsPerSec)} PUT/s, ${fills[nm]!.errors} errors${fills[nm]!.errors ? ` ${JSON.stringify(fills[nm]!.errorKinds)}` : ''})` : `- ${nm}: container was already full`)).join('\n');
  const m = { ...m0, loadAvg1: machineInfo().loadAvg1 };
  const md = `# listing: ${n} objects, pages of ${pageSize}\n\n${machineMarkdown(m)}\n- container: ${n} empty objects named d<i mod 100>/o<i> (100 "directories" of ${Math.floor(n / 100)}), filled through the API with wrk (0-byte PUTs, ${fillConc} connections)\n- timed: walking every page of each query (format=json, limit=${pageSize}, marker paging), ${repeat} run(s), systems alternating\n- command: \`${ctx.command}\`\n\n${fillLines}\n\nRatios are ${names.join('/')}: below 1 for times means ${names[0]} is faster.\n\n${table}`;
  const dir = resultsDir(ctx.outRoot, 'listing');
  writeResultFiles(dir, {
    'results.json': JSON.stringify({ suite: 'listing', command: ctx.command, machine: m, objects: n, pageSize, repeat, fills, results }, null, 2) + '\n',
    'results.md': md,
    'chart.svg': svgBarChart(`Listing ${n} objects, ${pageSize}-entry pages (total ms, lower is better)`, names, [{ title: 'time to list', unit: 'ms', rows: chartRows }], names.length === 2 ? names.join('/') : ''),
  });
  process.stdout.write(`\n${fillLines}\n\n${table}\nwrote ${dir}/{results.json,results.md,chart.svg}\n`);
  return 0;
}
