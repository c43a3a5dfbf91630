import { request } from 'undici';
import type { MemoryReport } from '../storage-node/memory-report.js';

/**
 * Where a storage node's memory is, from its `GET /recon/memory`: V8's young generation, the rest
 * of V8's heap, what the C heap has allocated (Buffers, LevelDB's memtables and block cache, …;
 * LevelDB's share shown on its own too), and everything else (code, stacks, mapped files, and
 * memory the C heap keeps free for reuse). The memory soak reads it after every phase, so a node whose RSS
 * rises can be told apart: a cache or generation filling to its bound, or something else growing.
 */

const MiB = 1024 ** 2;

export interface MemoryParts {
  rssMiB: number;
  /** V8's new_space, backed bytes: up to two semi-spaces. */
  youngMiB: number;
  /** V8's other spaces (old, code, large objects, …), backed bytes. */
  v8OtherMiB: number;
  /** What the C heap has allocated (glibc's mallinfo2: in use + mapped on their own); NaN when the node cannot tell. */
  cHeapMiB: number;
  /** LevelDB's memtables and block cache, all devices (inside the C heap's figure). */
  levelDbMiB: number;
  /** How many LevelDB databases that is (one per device). */
  levelDbCount: number;
  /** RSS less V8's spaces and the C heap's allocations (less LevelDB's where the C heap is unknown). */
  restMiB: number;
}

export interface BreakdownSample {
  /** Seconds since the soak started. */
  t: number;
  /** Storage node name (node1…) → parts; a node that did not answer is left out. */
  nodes: Record<string, MemoryParts>;
}

export function memoryParts(r: MemoryReport): MemoryParts {
  let youngMiB = 0;
  let v8OtherMiB = 0;
  for (const [space, s] of Object.entries(r.v8Spaces)) {
    if (space === 'new_space') youngMiB += s.physical / MiB;
    else v8OtherMiB += s.physical / MiB;
  }
  const levelDbMiB = Object.values(r.levelDb).reduce((a, b) => a + b, 0) / MiB;
  const rssMiB = r.rss / MiB;
  // reports from before the C heap's figures: LevelDB is the only native part known
  const cHeapMiB = r.malloc ? (r.malloc.inUseBytes + r.malloc.mmappedBytes) / MiB : NaN;
  const native = Number.isFinite(cHeapMiB) ? cHeapMiB : levelDbMiB;
  return { rssMiB, youngMiB, v8OtherMiB, cHeapMiB, levelDbMiB, levelDbCount: Object.keys(r.levelDb).length, restMiB: rssMiB - youngMiB - v8OtherMiB - native };
}

/**
 * LevelDB's bound per database: two 4 MiB memtables (the one being written and the one being
 * flushed) and its 8 MiB block cache (storage-node/db/store.ts opens it with LevelDB's defaults).
 */
export const LEVELDB_BOUND_MIB = 2 * 4 + 8;

/**
 * A node's LevelDB memory at any time of the soak, interpolated between the reports (held at the
 * first and the last outside them); undefined when the node never answered. The soak judges a
 * storage node's RSS less this: LevelDB's caches fill towards their bound over tens of minutes
 * (a memtable flushes every ~2 minutes under the soak's writes, and each flush brings new tables to
 * cache), which is a cache filling, not growth, and is checked against its bound on its own.
 */
export function levelDbOffset(samples: readonly BreakdownSample[], node: string): ((t: number) => number) | undefined {
  const pts = samples.filter((s) => s.nodes[node]).map((s) => ({ t: s.t, y: s.nodes[node].levelDbMiB }));
  if (pts.length === 0) return undefined;
  return (t: number): number => {
    if (t <= pts[0].t) return pts[0].y;
    for (let i = 1; i < pts.length; i++) {
      const a = pts[i - 1];
      const b = pts[i];
      if (t <= b.t) return b.t === a.t ? b.y : a.y + ((b.y - a.y) * (t - a.t)) / (b.t - a.t);
    }
    return pts[pts.length - 1].y;
  };
}

/** Per node: the most LevelDB memory any report showed, and its bound (LEVELDB_BOUND_MIB per database). */
export function levelDbPeaks(samples: readonly BreakdownSample[]): Array<{ node: string; maxMiB: number; boundMiB: number; within: boolean }> {
  const out = new Map<string, { maxMiB: number; boundMiB: number }>();
  for (const s of samples)
    for (const [node, p] of Object.entries(s.nodes)) {
      const cur = out.get(node) ?? { maxMiB: 0, boundMiB: 0 };
      out.set(node, { maxMiB: Math.max(cur.maxMiB, p.levelDbMiB), boundMiB: Math.max(cur.boundMiB, LEVELDB_BOUND_MIB * p.levelDbCount) });
    }
  return [...out.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([node, v]) => ({ node, ...v, within: v.maxMiB <= v.boundMiB }));
}

/** Every node's report now, by name (node1 = the first port). */
export async function readBreakdown(ports: readonly number[], t: number): Promise<BreakdownSample> {
  const nodes: Record<string, MemoryParts> = {};
  await Promise.all(
    ports.map(async (port, i) => {
      try {
        const res = await request(`http://127.0.0.1:${port}/recon/memory`, { headersTimeout: 5000, bodyTimeout: 5000 });
        if (res.statusCode !== 200) return void (await res.body.dump());
        nodes[`node${i + 1}`] = memoryParts((await res.body.json()) as MemoryReport);
      } catch {
        /* a node too busy to answer in 5 s is left out of this sample */
      }
    }),
  );
  return { t, nodes };
}

const PARTS: Array<[keyof MemoryParts, string]> = [
  ['rssMiB', 'RSS'],
  ['youngMiB', 'V8 young generation'],
  ['v8OtherMiB', 'V8 other spaces'],
  ['cHeapMiB', 'C heap in use'],
  ['levelDbMiB', '(of it LevelDB)'],
  ['restMiB', 'the rest'],
];

/**
 * Per node, each part at the first sample at or after `fromS` and at the last sample, and the
 * change between them. Empty when no node answered.
 */
export function breakdownTable(samples: readonly BreakdownSample[], fromS: number): string {
  const first = samples.find((s) => s.t >= fromS);
  const last = samples.at(-1);
  if (!first || !last || first === last) return '';
  const nodes = Object.keys(first.nodes).filter((n) => last.nodes[n]).sort();
  if (nodes.length === 0) return '';
  const head = `| node | ${PARTS.map(([, label]) => `${label} MiB`).join(' | ')} |\n|---|${PARTS.map(() => '---:').join('|')}|\n`;
  const cell = (a: number, b: number): string => (Number.isFinite(a) && Number.isFinite(b) ? `${a.toFixed(0)} → ${b.toFixed(0)} (${b - a >= 0 ? '+' : ''}${(b - a).toFixed(1)})` : '—');
  const rows = nodes.map((n) => `| ${n} | ${PARTS.map(([k]) => cell(first.nodes[n][k], last.nodes[n][k])).join(' | ')} |`);
  return `Storage nodes' memory by part (\`GET /recon/memory\`), at ${first.t.toFixed(0)} s → at ${last.t.toFixed(0)} s:\n\n${head}${rows.join('\n')}\n`;
}
