import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { once } from 'node:events';
import type { Bound } from './args.js';
import { encodePath, type Endpoint } from './endpoint.js';
import { payloadMbPerSec, type RunResult } from './result.js';
import { summarizeLatencies } from './stats.js';

/**
 * Large-object PUT and GET driven by `curl`, as a user runs it: `concurrency` workers, each running
 * one `curl` process per object after the other (PUT `-T file`, GET `-o /dev/null`, the token in
 * X-Auth-Token, curl's own defaults otherwise: a new connection per process, `Expect:
 * 100-continue` before a large upload, its 16 KiB-at-a-time receive loop). MB/s is from wall time:
 * payload bytes of the operations that completed over first start → last end.
 */
export type CurlOp = 'put' | 'get';

export interface CurlJob {
  op: CurlOp;
  container: string;
  size: number;
  /** PUT: names are `${namePrefix}${i}`. */
  namePrefix: string;
  /** GET: names that exist (rotated over). */
  names?: string[];
  concurrency: number;
  bound: Bound;
  /** A folder for the upload file (`size` random bytes, written once per size). */
  workDir: string;
}

/** What curl prints after each transfer (`-w`): status, bytes up, bytes down, seconds. */
export const CURL_WRITE_OUT = '%{http_code} %{size_upload} %{size_download} %{time_total}\n';

/** The argument list of one curl process for one operation (pure: unit tested). */
export function curlArgs(op: CurlOp, url: string, token: string, uploadFile?: string): string[] {
  const common = ['-sS', '-o', '/dev/null', '-w', CURL_WRITE_OUT, '-H', `X-Auth-Token: ${token}`, '--max-time', '600'];
  if (op === 'put') {
    if (!uploadFile) throw new Error('a curl PUT needs a file to upload');
    return [...common, '-H', 'Content-Type: application/octet-stream', '-T', uploadFile, url];
  }
  return [...common, url];
}

export interface CurlTransfer {
  status: number;
  uploaded: number;
  downloaded: number;
  seconds: number;
}

/** Parses curl's `-w` line (CURL_WRITE_OUT); undefined when it is not one (curl failed before printing). */
export function parseCurlWriteOut(line: string): CurlTransfer | undefined {
  const m = /^\s*(\d{3})\s+(\d+)\s+(\d+)\s+(\d+(?:[.,]\d+)?)\s*$/.exec(line);
  if (!m) return undefined;
  return { status: Number(m[1]), uploaded: Number(m[2]), downloaded: Number(m[3]), seconds: Number(m[4]!.replace(',', '.')) };
}

/** Whether one transfer did what was asked: a 2xx, and every payload byte moved. */
export function transferOk(op: CurlOp, size: number, t: CurlTransfer | undefined): { ok: boolean; kind?: string } {
  if (!t) return { ok: false, kind: 'curl' };
  if (t.status === 0) return { ok: false, kind: 'connect' };
  if (t.status < 200 || t.status > 299) return { ok: false, kind: String(t.status) };
  if ((op === 'put' ? t.uploaded : t.downloaded) !== size) return { ok: false, kind: 'short-body' };
  return { ok: true };
}

export interface OpSample {
  /** ms since the run's start. */
  startMs: number;
  endMs: number;
  ok: boolean;
  kind?: string;
}

/**
 * The run's figures from its samples (pure: unit tested). Ops/s and MB/s count every operation
 * that completed (errors included, as node-runner.ts does) over first start → last end: the
 * wall time a user waits for the whole batch.
 */
export function curlRunResult(op: CurlOp, size: number, samples: readonly OpSample[]): RunResult {
  const errorKinds: Record<string, number> = {};
  let errors = 0;
  for (const s of samples) {
    if (s.ok) continue;
    errors++;
    const k = s.kind ?? 'error';
    errorKinds[k] = (errorKinds[k] ?? 0) + 1;
  }
  const first = samples.length ? Math.min(...samples.map((s) => s.startMs)) : 0;
  const last = samples.length ? Math.max(...samples.map((s) => s.endMs)) : 0;
  const elapsedS = (last - first) / 1000;
  const opsPerSec = elapsedS > 0 ? samples.length / elapsedS : 0;
  const lat = summarizeLatencies(samples.map((s) => s.endMs - s.startMs));
  return {
    driver: 'curl',
    ops: samples.length,
    errors,
    errorKinds,
    elapsedS,
    opsPerSec,
    mbPerSec: payloadMbPerSec(op, size, opsPerSec),
    meanMs: lat.meanMs,
    p50Ms: lat.p50Ms,
    p99Ms: lat.p99Ms,
    p999Ms: lat.p999Ms,
    maxMs: lat.maxMs,
  };
}

const uploadFiles = new Map<string, Promise<string>>();

/** `size` random bytes in a file under workDir (made once per folder and size). */
function uploadFile(workDir: string, size: number): Promise<string> {
  const path = join(workDir, `curl-upload-${size}.bin`);
  let p = uploadFiles.get(path);
  if (!p) {
    p = (async () => {
      const { randomBytes } = await import('node:crypto');
      const out = createWriteStream(path);
      const block = randomBytes(1024 * 1024);
      for (let left = size; left > 0; left -= block.length) {
        if (!out.write(left >= block.length ? block : block.subarray(0, left))) await once(out, 'drain');
      }
      out.end();
      await once(out, 'finish');
      return path;
    })();
    uploadFiles.set(path, p);
  }
  return p;
}

function runCurlProcess(args: string[]): Promise<CurlTransfer | undefined> {
  return new Promise((resolve) => {
    const child = spawn('curl', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (d: string) => (out += d));
    child.on('error', () => resolve(undefined));
    child.on('close', () => resolve(parseCurlWriteOut(out.trim().split('\n').pop() ?? '')));
  });
}

export async function runCurl(ep: Endpoint, job: CurlJob, onTick?: (elapsedMs: number, done: number) => void): Promise<RunResult> {
  const names = job.names ?? [];
  if (job.op === 'get' && names.length === 0) throw new Error('get: no object names');
  const file = job.op === 'put' ? await uploadFile(job.workDir, job.size) : undefined;
  const limit = job.bound.kind === 'count' ? job.bound.n : Infinity;
  const start = performance.now();
  const deadline = start + (job.bound.kind === 'duration' ? job.bound.ms : job.bound.capMs);
  const samples: OpSample[] = [];
  let issued = 0;
  const tick = onTick ? setInterval(() => onTick(performance.now() - start, samples.length), 1000) : undefined;
  const worker = async (): Promise<void> => {
    while (issued < limit && performance.now() < deadline) {
      const i = issued++;
      const name = job.op === 'put' ? job.namePrefix + i : names[i % names.length]!;
      const url = `${ep.storageUrl}/${encodePath(job.container)}/${encodePath(name)}`;
      const t0 = performance.now();
      const t = await runCurlProcess(curlArgs(job.op, url, ep.token, file));
      const t1 = performance.now();
      samples.push({ startMs: t0 - start, endMs: t1 - start, ...transferOk(job.op, job.size, t) });
    }
  };
  try {
    await Promise.all(Array.from({ length: job.concurrency }, worker));
  } finally {
    if (tick) clearInterval(tick);
  }
  return curlRunResult(job.op, job.size, samples);
}
