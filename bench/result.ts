import type { Op } from './args.js';

/** One measured run of one workload against one system. */
export interface RunResult {
  driver: 'wrk' | 'node' | 'curl';
  /** Operations that completed (any status). */
  ops: number;
  /** Non-2xx answers, socket errors and timeouts, short bodies. */
  errors: number;
  /** Status codes of the errors, plus "connect"/"read"/"write"/"timeout"/"short-body" counts. */
  errorKinds: Record<string, number>;
  /** First request sent → last response received. */
  elapsedS: number;
  opsPerSec: number;
  /** Payload MB/s (1 MB = 10^6 bytes) for PUT and GET; null for the others. */
  mbPerSec: number | null;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  /** Flushes the system's data disk completed per operation during the run (side-by-side; see devstats.ts). */
  flushesPerOp?: number;
  /** Share of the machine's CPU time (%) the hypervisor took during the run (host noise on a VM). */
  stealPct?: number;
}

export interface WorkloadKey {
  op: Op;
  /** Object size in bytes (for list: the size of the objects in the listed container). */
  size: number;
  concurrency: number;
}

export function workloadId(k: WorkloadKey): string {
  return `${k.op}/${k.size}/${k.concurrency}`;
}

/** Every repetition of one workload on one system. */
export interface WorkloadRuns extends WorkloadKey {
  system: string;
  /** The client that drove a large-object PUT/GET when a run used more than one (`--client node,curl`). */
  client?: string;
  runs: RunResult[];
}

export function payloadMbPerSec(op: Op, size: number, opsPerSec: number): number | null {
  return op === 'put' || op === 'get' ? (opsPerSec * size) / 1e6 : null;
}
