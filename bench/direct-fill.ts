import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Agent } from 'undici';
import { requireHashSecret } from '../common/config.js';
import { backendKeyFrom } from '../common/backend-auth.js';
import { backendClientOver, originOf } from '../common/http-client.js';
import { backendPath } from '../common/backend-path.js';
import { Timestamp } from '../common/timestamp.js';
import { Ring, ringFile } from '../ring-builder/ring.js';
import type { ObjectRow } from '../storage-node/db/merge.js';
import { httpReplicaClient, type ReplicaNode } from '../storage-node/db/replication-client.js';
import { ROWS_PER_BATCH, type DbRef } from '../storage-node/db/replication-wire.js';

/**
 * The listing suite's fast fill: an existing container (PUT through the API first) gets N empty
 * objects' listing rows, written straight into the container databases of every primary, without
 * the objects themselves (a listing never reads them). The rows are those the 0-byte PUTs of the
 * API fill would have left: name, timestamp, size 0, content type, the MD5 of an empty body.
 *
 * Swiftlet: merged with the db replication verb `merge` (docs/BACKEND.md, "Replication traffic";
 * the client the replicator uses), so each node applies them like any replicated rows: last
 * writer wins, object count, bytes used, digest and change log updated in one LevelDB batch.
 * Nothing is added to the servers for this.
 * Swift: bench/scripts/swift-fill-container.py, Swift's own ContainerBroker.merge_items.
 */

export const EMPTY_ETAG = 'd41d8cd98f00b204e9800998ecf8427e';
/** What the API fill's PUTs send (bench/wrk.ts). */
export const FILL_CONTENT_TYPE = 'application/octet-stream';
/** The most rows one `merge` takes (replication-wire.ts parseMergeRequest). */
export const MERGE_ROWS_MAX = ROWS_PER_BATCH * 4;

export interface ReplicaFill {
  /** Swiftlet: the node's ip:port; Swift: the database file. */
  location: string;
  device: string;
  /** Time spent in this replica's merge calls. */
  seconds: number;
  /** Object count the replica reported after its last merge. */
  objectCount: number;
}

export interface DirectFillResult {
  partition: number;
  replicas: ReplicaFill[];
  seconds: number;
}

export interface SwiftletFillOptions {
  /** The aio's --data directory (rings and cluster secret under etc/). */
  dataDir: string;
  account: string;
  container: string;
  n: number;
  /** Row i gets timestamp firstTick + i (1e-5 s ticks). */
  firstTick: number;
  name(i: number): string;
  batchRows?: number;
  onProgress?(done: number): void;
}

export async function fillSwiftletContainer(o: SwiftletFillOptions): Promise<DirectFillResult> {
  const etc = join(o.dataDir, 'etc');
  const cluster = JSON.parse(readFileSync(join(etc, 'cluster.json'), 'utf8')) as { swift_hash_path_prefix: string; swift_hash_path_suffix: string; backend_key?: string };
  const secret = requireHashSecret(cluster);
  const ring = Ring.loadSync(ringFile(etc, 'container'), secret);
  const partition = ring.partitionFor(o.account, o.container);
  const nodes: ReplicaNode[] = ring.primaries(partition).map((d) => ({ host: `${d.ip}:${d.port}`, device: d.device }));
  const batch = Math.min(o.batchRows ?? MERGE_ROWS_MAX, MERGE_ROWS_MAX);
  const agent = new Agent({ connections: 4, keepAliveTimeout: 30_000 });
  const backend = backendClientOver(agent, backendKeyFrom(cluster));
  const client = httpReplicaClient(backend, { timeoutMs: 120_000 });
  const ref: DbRef = { account: o.account, container: o.container };
  const replicas: ReplicaFill[] = nodes.map((nd) => ({ location: nd.host, device: nd.device, seconds: 0, objectCount: 0 }));
  const t0 = performance.now();
  try {
    for (let lo = 0; lo < o.n; lo += batch) {
      const rows: ObjectRow[] = [];
      for (let i = lo; i < Math.min(o.n, lo + batch); i++) {
        rows.push({ name: o.name(i), timestamp: new Timestamp(o.firstTick + i).normal, size: 0, contentType: FILL_CONTENT_TYPE, etag: EMPTY_ETAG, deleted: false });
      }
      // The replicas live on different nodes: one batch goes to all of them at once. No
      // replicaId: the bench is no replica, so no sync point is recorded for it.
      await Promise.all(
        nodes.map(async (nd, k) => {
          const b0 = performance.now();
          await client.merge('container', nd, partition, ref, { rows, point: 0 });
          replicas[k].seconds += (performance.now() - b0) / 1000;
        }),
      );
      o.onProgress?.(lo + rows.length);
    }
    // Each replica's own count: the backend HEAD of the container on its node.
    await Promise.all(
      nodes.map(async (nd, k) => {
        const res = await backend.request(originOf(nd.host), 'HEAD', backendPath(nd.device, partition, o.account, o.container));
        await res.body.dump();
        if (res.statusCode !== 204) throw new Error(`Swiftlet fill: HEAD container on ${nd.host}/${nd.device} → ${res.statusCode}`);
        replicas[k].objectCount = Number(res.headers['x-container-object-count']);
      }),
    );
  } finally {
    await agent.close();
  }
  for (const r of replicas) r.seconds = Math.round(r.seconds * 1000) / 1000;
  const bad = replicas.filter((r) => r.objectCount < o.n);
  if (bad.length) throw new Error(`Swiftlet fill: replicas short of ${o.n} objects after the merge: ${JSON.stringify(bad)}`);
  return { partition, replicas, seconds: (performance.now() - t0) / 1000 };
}

/** The Swift side: bench/scripts/swift-fill-container.py (Swift's own ContainerBroker.merge_items). */
export interface SwiftFillOptions {
  /** The swift-aio.sh directory of the run (etc/ holds swift.conf, rings and server configs). */
  swiftDir: string;
  /** bench/scripts/swift-fill-container.py */
  script: string;
  account: string;
  container: string;
  n: number;
  firstTick: number;
  batchRows: number;
}

export const SWIFT_PYTHON = '/usr/bin/python3';

/** Runs the script with Debian's python (its swift modules); its progress goes to our stderr. */
export async function fillSwiftContainer(o: SwiftFillOptions): Promise<DirectFillResult> {
  const t0 = performance.now();
  const args = [o.script, o.swiftDir, o.account, o.container, String(o.n), String(o.firstTick), String(o.batchRows)];
  const child = spawn(SWIFT_PYTHON, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  // Ctrl-C stops the suite with process.exit(): take the filler down with it, or it keeps the
  // Swift image busy (and mounted) after everything else has stopped.
  const killChild = (): void => void child.kill();
  process.once('exit', killChild);
  const code = await new Promise<number | null>((res, rej) => {
    child.once('error', rej);
    child.once('close', (c) => res(c));
  }).finally(() => process.off('exit', killChild));
  if (code !== 0) throw new Error(`Swift fill: ${SWIFT_PYTHON} ${args.join(' ')} exited ${code}`);
  const line = out.trim().split('\n').pop() ?? '';
  const r = JSON.parse(line) as { partition: number; replicas: Array<{ device: string; db: string; seconds: number; object_count: number }> };
  return {
    partition: r.partition,
    replicas: r.replicas.map((x) => ({ location: x.db, device: x.device, seconds: x.seconds, objectCount: x.object_count })),
    seconds: (performance.now() - t0) / 1000,
  };
}
