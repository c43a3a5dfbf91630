import type { TierTree } from './tiers.js';

/**
 * For tier nodes with many children (a zone of hundreds of servers, a server of hundreds of
 * disks): a Fenwick tree over the children's shortfalls, max(0, target − assigned), so the
 * rebalancer can draw a child in proportion to its shortfall in O(log n) instead of scanning
 * every child for every partition-replica it places.
 */
export const WIDE = 32;

export class NeedIndex {
  /** Per node: its Fenwick tree (1-based), or undefined for narrow nodes. */
  private readonly fw: Array<Float64Array | undefined>;
  private readonly totals: Float64Array;
  private readonly topBit: Int32Array;
  /** Position of each node among its parent's children. */
  private readonly slot: Int32Array;
  private readonly parent: Int32Array;

  constructor(private readonly t: TierTree) {
    const n = t.nodeCount;
    this.fw = new Array<Float64Array | undefined>(n);
    this.totals = new Float64Array(n);
    this.topBit = new Int32Array(n);
    this.slot = new Int32Array(n).fill(-1);
    this.parent = new Int32Array(n).fill(-1);
    for (let node = 0; node < n; node++) {
      const kids = t.children[node];
      kids.forEach((c, i) => {
        this.slot[c] = i;
        this.parent[c] = node;
      });
      if (kids.length < WIDE) continue;
      const f = new Float64Array(kids.length + 1);
      kids.forEach((c, i) => {
        const v = Math.max(0, t.target[c] - t.assigned[c]);
        this.totals[node] += v;
        for (let j = i + 1; j <= kids.length; j += j & -j) f[j] += v;
      });
      this.fw[node] = f;
      this.topBit[node] = 1 << (31 - Math.clz32(kids.length));
    }
  }

  isWide(node: number): boolean {
    return this.fw[node] !== undefined;
  }

  parentOf(node: number): number {
    return this.parent[node];
  }

  /** Sum of the shortfalls of a wide node's children. */
  total(node: number): number {
    return this.totals[node];
  }

  /** Call after t.assigned[node] changed by `delta` (±1). */
  assignedChanged(node: number, delta: number): void {
    const par = this.parent[node];
    if (par < 0) return;
    const f = this.fw[par];
    if (!f) return;
    const now = this.t.target[node] - this.t.assigned[node];
    const d = Math.max(0, now) - Math.max(0, now + delta);
    if (d === 0) return;
    this.totals[par] += d;
    for (let j = this.slot[node] + 1; j < f.length; j += j & -j) f[j] += d;
  }

  /** The child of a wide node whose cumulative shortfall range holds x, for 0 ≤ x < total(node). */
  find(node: number, x: number): number {
    const f = this.fw[node] as Float64Array;
    let pos = 0;
    for (let step = this.topBit[node]; step > 0; step >>= 1) {
      if (pos + step < f.length && f[pos + step] <= x) {
        pos += step;
        x -= f[pos];
      }
    }
    return this.t.children[node][Math.min(pos, f.length - 2)];
  }
}
