import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import type { Bound, Op } from './args.js';
import { agent, encodePath, type Endpoint } from './endpoint.js';
import { payloadMbPerSec, type RunResult } from './result.js';
import { RawHttpConnection } from './raw-http.js';
import { summarizeLatencies } from './stats.js';

/**
 * Workloads driven from Node: large objects' PUT and GET over raw-http.ts (one keep-alive socket
 * per worker; the PUT body written from one shared buffer, the GET body counted, never buffered or
 * copied: on 2 cores the client's CPU is taken from the servers), and with undici HEAD (wrk cannot
 * parse answers to HEAD: wg/wrk#198), DELETE and listings. `concurrency` workers each run one
 * operation at a time; no new operation starts after the deadline or once the count is reached,
 * and every started operation finishes and is counted.
 */
export interface NodeJob {
  op: Op;
  container: string;
  size: number;
  /** PUT: names are `${namePrefix}${i}`. */
  namePrefix: string;
  /** GET/HEAD/DELETE: names that exist (GET/HEAD rotate over them, DELETE uses each once). */
  names?: string[];
  /** LIST: the query string (without '?'), e.g. format=json&limit=100 */
  listQuery?: string;
  concurrency: number;
  bound: Bound;
}

/** Every PUT body is this 1 MiB of random bytes, repeated (random: no compression or dedup can shortcut it). */
const PATTERN = randomBytes(1024 * 1024);

interface OpOutcome {
  ok: boolean;
  kind?: string;
}

async function oneOp(ep: Endpoint, job: NodeJob, i: number, conn: RawHttpConnection): Promise<OpOutcome> {
  const c = `/${encodePath(job.container)}`;
  const headers: Record<string, string> = { 'x-auth-token': ep.token };
  const names = job.names ?? [];
  if (job.op === 'put' || job.op === 'get') {
    const base = new URL(ep.storageUrl).pathname;
    const res =
      job.op === 'put'
        ? await conn.request('PUT', `${base}${c}/${encodePath(job.namePrefix + i)}`, { ...headers, 'content-type': 'application/octet-stream' }, { size: job.size, pattern: PATTERN })
        : await conn.request('GET', `${base}${c}/${encodePath(names[i % names.length]!)}`, headers);
    if (res.status < 200 || res.status > 299) return { ok: false, kind: String(res.status) };
    if (job.op === 'get' && res.bodyBytes !== job.size) return { ok: false, kind: 'short-body' };
    return { ok: true };
  }
  let url: string;
  let method: 'GET' | 'HEAD' | 'DELETE';
  switch (job.op) {
    case 'list':
      method = 'GET';
      url = `${ep.storageUrl}${c}?${job.listQuery ?? 'format=json&limit=100'}`;
      break;
    default:
      method = job.op.toUpperCase() as 'HEAD' | 'DELETE';
      url = `${ep.storageUrl}${c}/${encodePath(names[i % names.length]!)}`;
  }
  const res = await request(url, { method, headers, dispatcher: agent });
  await res.body.dump();
  if (res.statusCode < 200 || res.statusCode > 299) return { ok: false, kind: String(res.statusCode) };
  return { ok: true };
}

export async function runNode(ep: Endpoint, job: NodeJob, onTick?: (elapsedMs: number, done: number) => void): Promise<RunResult> {
  const names = job.names ?? [];
  if ((job.op === 'get' || job.op === 'head' || job.op === 'delete') && names.length === 0) throw new Error(`${job.op}: no object names`);
  let limit = job.bound.kind === 'count' ? job.bound.n : Infinity;
  if (job.op === 'delete') limit = Math.min(limit, names.length);
  const start = performance.now();
  const deadline = start + (job.bound.kind === 'duration' ? job.bound.ms : job.bound.capMs);
  const latencies: number[] = [];
  const errorKinds: Record<string, number> = {};
  let issued = 0;
  let errors = 0;
  let last = start;
  const tick = onTick ? setInterval(() => onTick(performance.now() - start, latencies.length), 1000) : undefined;
  const target = new URL(ep.storageUrl);
  const worker = async (): Promise<void> => {
    const conn = new RawHttpConnection(target.hostname.replace(/^\[|\]$/g, ''), Number(target.port || 80), target.host);
    try {
      await work(conn);
    } finally {
      conn.close();
    }
  };
  const work = async (conn: RawHttpConnection): Promise<void> => {
    while (issued < limit && performance.now() < deadline) {
      const i = issued++;
      const t0 = performance.now();
      let out: OpOutcome;
      try {
        out = await oneOp(ep, job, i, conn);
      } catch (err) {
        out = { ok: false, kind: (err as { code?: string }).code ?? 'exception' };
      }
      const t1 = performance.now();
      latencies.push(t1 - t0);
      last = Math.max(last, t1);
      if (!out.ok) {
        errors++;
        const k = out.kind ?? 'error';
        errorKinds[k] = (errorKinds[k] ?? 0) + 1;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: job.concurrency }, worker));
  } finally {
    if (tick) clearInterval(tick);
  }
  const elapsedS = (last - start) / 1000;
  const s = summarizeLatencies(latencies);
  const opsPerSec = elapsedS > 0 ? latencies.length / elapsedS : 0;
  return {
    driver: 'node',
    ops: latencies.length,
    errors,
    errorKinds,
    elapsedS,
    opsPerSec,
    mbPerSec: payloadMbPerSec(job.op, job.size, opsPerSec),
    meanMs: s.meanMs,
    p50Ms: s.p50Ms,
    p99Ms: s.p99Ms,
    p999Ms: s.p999Ms,
    maxMs: s.maxMs,
  };
}
