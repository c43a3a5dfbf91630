import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { request } from 'undici';
import { backendPath } from '../../common/backend-path.js';
import { hashPath } from '../../common/hash-path.js';
import { SeededRandom } from '../../common/random.js';
import { Ring, ringFile } from '../../ring-builder/ring.js';
import { startCluster, type Cluster, type NodeProc } from '../helpers/cluster.js';

/**
 * The seeded fault supervisor: a mixed workload (PUT, overwrite, DELETE, GET, listing) runs
 * against a 4-node cluster while nodes are killed (-9), paused (SIGSTOP) and cut off the network
 * (a TCP forwarder per node); then everything heals, the daemons run to convergence, and the
 * history is checked:
 *  - every key ends at its last acknowledged write, or at a later unacknowledged attempt;
 *  - no acknowledged DELETE is undone;
 *  - no read ever returned bytes that were never written;
 *  - every live object is on exactly its 3 primaries, and every container replica lists the same.
 * The seed decides every choice (keys, ops, sizes, faults and their timing); real processes still
 * interleave as the OS pleases, so a replay repeats the plan, not the exact schedule.
 */
export interface FaultRunOptions {
  seed: number;
  durationMs: number;
  keys?: number;
  workers?: number;
  log?: (line: string) => void;
}

type OpKind = 'put' | 'delete';
interface WriteOp {
  kind: OpKind;
  version?: string;
  /** 'ok' acknowledged; 'failed' answered an error (may or may not have landed). */
  outcome: 'ok' | 'failed';
}

export interface FaultRunResult {
  seed: number;
  ops: number;
  acked: number;
  reads: number;
  faults: string[];
  violations: string[];
}

const CONTAINER = 'faults';

/** The bytes of a version: derivable from its name, so a read can be checked without a table. */
export function bodyOf(key: string, version: string): Buffer {
  const size = parseInt(createHash('md5').update(version).digest('hex').slice(0, 4), 16) % 20_000;
  const head = Buffer.from(`${key}|${version}|`);
  const fill = createHash('sha256').update(version).digest();
  const out = Buffer.alloc(head.length + size);
  head.copy(out);
  for (let i = head.length; i < out.length; i++) out[i] = fill[i % fill.length] as number;
  return out;
}

function versionOf(body: Buffer): { key: string; version: string } | undefined {
  const s = body.subarray(0, 200).toString('latin1').split('|');
  if (s.length < 3) return undefined;
  return { key: s[0] as string, version: s[1] as string };
}

export async function runFaultSimulation(opts: FaultRunOptions): Promise<FaultRunResult> {
  const log = opts.log ?? (() => undefined);
  const rng = new SeededRandom(opts.seed);
  const keys = Array.from({ length: opts.keys ?? 24 }, (_, i) => `k${i}`);
  const cluster = await startCluster({
    links: true,
    partPower: 6,
    proxyConfig: { node_timeout_ms: 2000, conn_timeout_ms: 300, error_suppression_interval_s: 2, recheck_container_existence_s: 1 },
    nodeConfig: { container_update_timeout_ms: 500, node_timeout_ms: 2000, conn_timeout_ms: 300 },
  });
  const result: FaultRunResult = { seed: opts.seed, ops: 0, acked: 0, reads: 0, faults: [], violations: [] };
  try {
    const { token, storageUrl } = await cluster.token();
    const call = async (method: string, path: string, body?: Buffer, headers: Record<string, string> = {}) => {
      const res = await request(`${storageUrl}${path}`, {
        method: method as 'GET',
        headers: { 'x-auth-token': token, ...headers },
        ...(body ? { body } : {}),
        headersTimeout: 15_000,
        bodyTimeout: 15_000,
      });
      const chunks: Buffer[] = [];
      for await (const c of res.body) chunks.push(c as Buffer);
      return { status: res.statusCode, body: Buffer.concat(chunks) };
    };
    if ((await call('PUT', `/${CONTAINER}`)).status >= 300) throw new Error('cannot create the container');

    const history = new Map<string, WriteOp[]>(keys.map((k) => [k, []]));
    const written = new Set<string>();
    const busy = new Set<string>();
    let seq = 0;
    const deadline = Date.now() + opts.durationMs;

    const worker = async (wrng: SeededRandom): Promise<void> => {
      while (Date.now() < deadline) {
        const key = keys[wrng.int(keys.length)] as string;
        if (busy.has(key)) {
          await new Promise((r) => setTimeout(r, 5));
          continue;
        }
        busy.add(key);
        const roll = wrng.next();
        try {
          if (roll < 0.45) {
            const version = `v${opts.seed}-${seq++}`;
            written.add(version);
            const op: WriteOp = { kind: 'put', version, outcome: 'failed' };
            history.get(key)?.push(op);
            const r = await call('PUT', `/${CONTAINER}/${key}`, bodyOf(key, version)).catch(() => ({ status: 599, body: Buffer.alloc(0) }));
            if (r.status === 201) op.outcome = 'ok';
          } else if (roll < 0.6) {
            const op: WriteOp = { kind: 'delete', outcome: 'failed' };
            history.get(key)?.push(op);
            const r = await call('DELETE', `/${CONTAINER}/${key}`).catch(() => ({ status: 599, body: Buffer.alloc(0) }));
            if (r.status === 204 || r.status === 404) op.outcome = 'ok';
          } else if (roll < 0.9) {
            const r = await call('GET', `/${CONTAINER}/${key}`).catch(() => undefined);
            result.reads++;
            if (r && r.status === 200) {
              const v = versionOf(r.body);
              if (!v || v.key !== key || !written.has(v.version) || !r.body.equals(bodyOf(key, v.version))) {
                result.violations.push(`read of ${key} returned bytes never written (${r.body.subarray(0, 40).toString('latin1')}…)`);
              }
            }
          } else {
            await call('GET', `/${CONTAINER}?format=json`).catch(() => undefined);
          }
        } finally {
          busy.delete(key);
          result.ops++;
        }
      }
    };

    const faults = async (): Promise<void> => {
      while (Date.now() < deadline - 1500) {
        await new Promise((r) => setTimeout(r, 400 + rng.int(1600)));
        const node = cluster.nodes[rng.int(cluster.nodes.length)] as NodeProc;
        const holdMs = 300 + rng.int(2500);
        const action = rng.int(4);
        const name = `${node.name}`;
        if (action === 0) {
          result.faults.push(`kill -9 ${name} for ${holdMs}ms`);
          await cluster.kill(node);
          await new Promise((r) => setTimeout(r, holdMs));
          await cluster.restart(node);
        } else if (action === 1) {
          result.faults.push(`SIGSTOP ${name} for ${holdMs}ms`);
          cluster.pause(node);
          await new Promise((r) => setTimeout(r, holdMs));
          cluster.resume(node);
        } else {
          const mode = action === 2 ? 'reset' : 'blackhole';
          result.faults.push(`cut ${name} (${mode}) for ${holdMs}ms`);
          node.link?.setMode(mode);
          await new Promise((r) => setTimeout(r, holdMs));
          node.link?.setMode('pass');
        }
        log(`fault: ${result.faults[result.faults.length - 1]}`);
      }
    };

    const workers = Array.from({ length: opts.workers ?? 6 }, () => worker(new SeededRandom(rng.int(2 ** 31))));
    await Promise.all([...workers, faults()]);

    // Heal: every node up and reachable, then run the daemons until the cluster converges.
    for (const n of cluster.nodes) {
      cluster.resume(n);
      n.link?.setMode('pass');
      if (!n.proc) await cluster.restart(n);
    }
    log('healing: running updater and replicators');
    for (let round = 0; round < 3; round++) await cluster.runDaemonsOnce(['updater', 'replicator']);

    await checkFinalState(cluster, history, storageUrl, token, result);
    result.acked = [...history.values()].flat().filter((o) => o.outcome === 'ok').length;
  } finally {
    await cluster.stop();
  }
  return result;
}

async function checkFinalState(
  cluster: Cluster,
  history: Map<string, WriteOp[]>,
  storageUrl: string,
  token: string,
  result: FaultRunResult,
): Promise<void> {
  const secret = { prefix: cluster.secret.swift_hash_path_prefix, suffix: cluster.secret.swift_hash_path_suffix };
  const objectRing = Ring.loadSync(ringFile(cluster.ringDir, 'object'), secret);
  const containerRing = Ring.loadSync(ringFile(cluster.ringDir, 'container'), secret);
  const account = storageUrl.split('/').pop() as string;
  const live = new Set<string>();
  for (const [key, ops] of history) {
    // What the key may end as: the last acknowledged op's result, or any later attempt's.
    let lastAcked = -1;
    ops.forEach((o, i) => {
      if (o.outcome === 'ok') lastAcked = i;
    });
    const allowed = new Set<string>();
    const tail = lastAcked === -1 ? ops : ops.slice(lastAcked);
    for (const o of tail) allowed.add(o.kind === 'put' ? (o.version as string) : 'deleted');
    if (lastAcked === -1) allowed.add('deleted');
    const res = await request(`${storageUrl}/${CONTAINER}/${key}`, { headers: { 'x-auth-token': token, 'x-newest': 'true' } });
    const body = Buffer.from(await res.body.arrayBuffer());
    let final: string;
    if (res.statusCode === 404) final = 'deleted';
    else if (res.statusCode === 200) final = versionOf(body)?.version ?? 'garbage';
    else final = `status ${res.statusCode}`;
    if (!allowed.has(final)) {
      result.violations.push(`${key} ended as ${final}; allowed ${[...allowed].join(', ')} (history ${ops.map((o) => `${o.kind}${o.version ? ':' + o.version : ''}=${o.outcome}`).join(' ')})`);
    }
    if (final !== 'deleted') live.add(key);
    // Three replicas, on the primaries, all of the final version.
    const hash = hashPath(secret, account, CONTAINER, key);
    const part = objectRing.partitionFor(account, CONTAINER, key);
    const primaries = new Set(objectRing.primaries(part).map((d) => d.device));
    for (const node of cluster.nodes) {
      const dir = join(node.devicesRoot, node.device, 'objects', String(part), hash.slice(-3), hash);
      const files = await readdir(dir).catch(() => [] as string[]);
      const newest = files.filter((f) => f.endsWith('.data') || f.endsWith('.ts')).sort().pop();
      const hasData = newest?.endsWith('.data') ?? false;
      if (final !== 'deleted' && primaries.has(node.device) && !hasData) result.violations.push(`${key}: primary ${node.device} lacks the object`);
      if (final === 'deleted' && hasData) result.violations.push(`${key}: ${node.device} still has data after an acknowledged delete`);
      if (!primaries.has(node.device) && hasData) result.violations.push(`${key}: handoff ${node.device} still holds data after replication`);
    }
  }
  // Every container replica lists exactly the live keys.
  const cpart = containerRing.partitionFor(account, CONTAINER);
  for (const dev of containerRing.primaries(cpart)) {
    const res = await request(`http://${dev.ip}:${dev.port}${backendPath(dev.device, cpart, account, CONTAINER)}?format=json`, { dispatcher: cluster.backendDispatcher });
    const names = res.statusCode === 200 ? ((await res.body.json()) as Array<{ name: string }>).map((o) => o.name).sort() : [];
    if (res.statusCode !== 200) await res.body.dump();
    const want = [...live].sort();
    if (JSON.stringify(names) !== JSON.stringify(want)) {
      result.violations.push(`container replica ${dev.device} lists [${names.join(',')}], live keys are [${want.join(',')}]`);
    }
  }
}

// CLI: node dist/test/faults/supervisor.js [--seed N] [--duration 30] [--keys 24] [--workers 6]
if (process.argv[1]?.endsWith('supervisor.js')) {
  const { values } = parseArgs({
    options: { seed: { type: 'string' }, duration: { type: 'string', default: '30' }, keys: { type: 'string', default: '24' }, workers: { type: 'string', default: '6' } },
  });
  const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
  console.log(`fault supervisor: seed ${seed} (replay with --seed ${seed})`);
  runFaultSimulation({ seed, durationMs: Number(values.duration) * 1000, keys: Number(values.keys), workers: Number(values.workers), log: (l) => console.log(l) }).then(
    (r) => {
      console.log(JSON.stringify({ seed: r.seed, ops: r.ops, acked: r.acked, reads: r.reads, faults: r.faults.length }));
      for (const v of r.violations) console.log(`VIOLATION: ${v}`);
      console.log(r.violations.length === 0 ? `seed ${seed}: OK` : `seed ${seed}: ${r.violations.length} violations`);
      process.exit(r.violations.length === 0 ? 0 : 1);
    },
    (e: unknown) => {
      console.error(e);
      process.exit(2);
    },
  );
}
