import { execFile } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { Agent } from 'undici';
import { backendKeyFrom } from '../common/backend-auth.js';
import { requireHashSecret } from '../common/config.js';
import { hashPath } from '../common/hash-path.js';
import { backendClientOver } from '../common/http-client.js';
import { Ring, ringFile } from '../ring-builder/ring.js';
import type { ObjectRow } from '../storage-node/db/merge.js';
import { httpReplicaClient, type DbReplicaClient } from '../storage-node/db/replication-client.js';
import { DataFileWriter, finishWrite, writeTombstone } from '../storage-node/object/diskfile.js';
import { objectLocation } from '../storage-node/object/layout.js';
import { M, type ObjectMetadata } from '../storage-node/object/metadata.js';
import { EMPTY_ETAG, MERGE_ROWS_MAX } from './direct-fill.js';
import { bodyBlock, bodyOf, CONTENT_TYPE, md5Hex, planLine, planObject, type IdlePlanOptions } from './idle-plan.js';

const execFileP = promisify(execFile);

/**
 * The idle suite's fast fill for Swiftlet: every object of the plan written on each of its
 * primaries with the storage node's own disk writer (storage-node/object/diskfile.ts
 * DataFileWriter.commit / writeTombstone, then finishWrite: the suffix invalidation a PUT or
 * DELETE leaves in hashes.invalid), in this process, without an fsync per file: one syncfs of
 * the data's filesystem at the end. Then the listing rows those writes would have sent, merged
 * into each container replica with the db replication verb `merge` (as bench/direct-fill.ts),
 * and the account stats (afterRows), so the accounts hold the containers' counts before the
 * daemons start.
 * The aio must be running (for the merges), its daemons not.
 */
export interface SwiftletIdleFillOptions {
  dataDir: string;
  account: string;
  plan: IdlePlanOptions;
  /**
   * Brings the account stats up to date once the rows are in: a container PUT through the API
   * (a container PUT reports the container's stats to its account, as each object PUT's row
   * change would have).
   */
  afterRows(): Promise<void>;
  onProgress?(done: number, phase: string): void;
}

export interface IdleFillResult {
  /** Replica files written (.data and .ts). */
  files: number;
  objectSeconds: number;
  syncSeconds: number;
  rowSeconds: number;
  accountSeconds: number;
  seconds: number;
}

interface NodeConfig {
  bind_ip: string;
  bind_port: number;
  devices: string;
}

function clusterOf(etc: string): { secret: { prefix: string; suffix: string }; key: ReturnType<typeof backendKeyFrom>; nodes: NodeConfig[] } {
  const cluster = JSON.parse(readFileSync(join(etc, 'cluster.json'), 'utf8')) as { swift_hash_path_prefix: string; swift_hash_path_suffix: string; backend_key?: string };
  const nodes = readdirSync(etc)
    .filter((f) => /^node\d+\.json$/.test(f))
    .map((f) => JSON.parse(readFileSync(join(etc, f), 'utf8')) as NodeConfig);
  return { secret: requireHashSecret(cluster), key: backendKeyFrom(cluster), nodes };
}

/** Writes a bounded number of replica files at once: the writer's calls are mostly synchronous. */
const IN_FLIGHT = 32;

export async function fillSwiftletIdle(o: SwiftletIdleFillOptions): Promise<IdleFillResult> {
  const etc = join(o.dataDir, 'etc');
  const { secret, key, nodes } = clusterOf(etc);
  const roots = new Map(nodes.map((n) => [`${n.bind_ip}:${n.bind_port}`, n.devices]));
  const objectRing = Ring.loadSync(ringFile(etc, 'object'), secret);
  const containerRing = Ring.loadSync(ringFile(etc, 'container'), secret);
  const block = bodyBlock(o.plan);
  const agent = new Agent({ connections: 8, keepAliveTimeout: 60_000 });
  const backend = backendClientOver(agent, key);
  const client = httpReplicaClient(backend, { timeoutMs: 300_000 });
  const t0 = performance.now();
  let files = 0;
  let rowSeconds = 0;
  const rows = new Map<string, ObjectRow[]>();
  const merges: Promise<void>[] = [];
  const flushRows = (container: string): void => {
    const batch = rows.get(container);
    if (!batch?.length) return;
    rows.set(container, []);
    merges.push(
      (async () => {
        const r0 = performance.now();
        await mergeRows(client, containerRing, o.account, container, batch);
        rowSeconds += (performance.now() - r0) / 1000;
      })(),
    );
  };
  try {
    const writeOne = async (i: number): Promise<void> => {
      const p = planObject(o.plan, i);
      const body = bodyOf(block, p);
      const etag = md5Hex(body);
      const { partition, primaries } = objectRing.getNodes(o.account, p.container, p.name);
      const hash = hashPath(secret, o.account, p.container, p.name);
      const name = `/${o.account}/${p.container}/${p.name}`;
      for (const d of primaries) {
        const root = roots.get(`${d.ip}:${d.port}`);
        if (!root) throw new Error(`no node config for ${d.ip}:${d.port}`);
        const loc = objectLocation(join(root, d.device), partition, hash, 0);
        if (p.kind === 'deleted') {
          // What PUT then DELETE leaves: the tombstone (the DELETE's cleanup removed the .data).
          await writeTombstone(loc, p.timestamp, { [M.timestamp]: p.timestamp.internal, [M.name]: name }, false, false);
          await finishWrite(loc, { cleanup: false });
        } else {
          const metadata: ObjectMetadata = {
            [M.name]: name,
            [M.timestamp]: p.timestamp.internal,
            [M.contentLength]: String(p.size),
            [M.contentType]: CONTENT_TYPE,
            [M.etag]: etag,
          };
          if (p.deleteAt !== undefined) metadata[M.deleteAt] = String(p.deleteAt);
          const w = new DataFileWriter(loc.devicePath, false, { md5: false, sizeHint: p.size });
          await w.write([body]);
          metadata[M.crc32c] = w.crc32c();
          await w.commit(loc, p.timestamp, metadata, true, false);
          await finishWrite(loc, { cleanup: false });
        }
        files++;
      }
      let batch = rows.get(p.container);
      if (!batch) rows.set(p.container, (batch = []));
      batch.push({ name: p.name, timestamp: p.timestamp.internal, size: p.size, contentType: CONTENT_TYPE, etag: p.kind === 'deleted' ? EMPTY_ETAG : etag, deleted: p.kind === 'deleted' });
      if (batch.length >= MERGE_ROWS_MAX) flushRows(p.container);
    };
    let next = 0;
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < o.plan.n) {
          const i = next++;
          await writeOne(i);
          if (i % 5000 === 0) o.onProgress?.(i, 'objects');
          // keep the merges from piling up in memory
          if (merges.length > 16) await Promise.all(merges.splice(0));
        }
      }),
    );
    const objectSeconds = (performance.now() - t0) / 1000;
    for (const c of [...rows.keys()]) flushRows(c);
    await Promise.all(merges.splice(0));
    const s0 = performance.now();
    // One sync of the whole filesystem instead of one per file (coreutils sync -f: syncfs).
    await execFileP('sync', ['-f', o.dataDir]);
    const syncSeconds = (performance.now() - s0) / 1000;
    const a0 = performance.now();
    await o.afterRows();
    const accountSeconds = (performance.now() - a0) / 1000;
    return { files, objectSeconds, syncSeconds, rowSeconds, accountSeconds, seconds: (performance.now() - t0) / 1000 };
  } finally {
    await agent.close();
  }
}

async function mergeRows(client: DbReplicaClient, ring: Ring, account: string, container: string, rows: ObjectRow[]): Promise<void> {
  const partition = ring.partitionFor(account, container);
  await Promise.all(ring.primaries(partition).map((d) => client.merge('container', { host: `${d.ip}:${d.port}`, device: d.device }, partition, { account, container }, { rows, point: 0 })));
}

/** The plan as TSV for bench/scripts/swift-fill-objects.py, and the body block beside it. */
export async function writePlanFiles(plan: IdlePlanOptions, planPath: string, blockPath: string): Promise<void> {
  const block = bodyBlock(plan);
  writeFileSync(blockPath, block);
  const out = createWriteStream(planPath);
  for (let i = 0; i < plan.n; i++) {
    const p = planObject(plan, i);
    if (!out.write(planLine(p, md5Hex(bodyOf(block, p))))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((res, rej) => out.end((err?: Error | null) => (err ? rej(err) : res())));
}
