import { SwiftletError } from '../common/errors.js';
import type { SeededRandom } from '../common/random.js';
import { NO_DEVICE } from './ring-format.js';
import { LEVELS, type TierTree } from './tiers.js';
import { NeedIndex } from './need-index.js';

/** The builder's mutable assignment, handed to the rebalancer. */
export interface Assignment {
  parts: number;
  replicas: number;
  replica2part2dev: Uint16Array[];
  /** Hours since each partition last moved, saturating at 255. */
  lastMoved: Uint8Array;
  minPartHours: number;
}

const BALANCE_PASSES = 8;

/**
 * One rebalance over a tier tree whose caps and targets are set (tiers.ts). In order:
 *  1. replicas that must move: unassigned, or on devices outside the tree (removed);
 *  2. one replica of each movable partition that breaks a dispersion cap;
 *  3. balance passes: a replica on an over-target device moves only if its best legal place is an
 *     under-target device, so every move strictly reduces imbalance and movement stays minimal;
 *     when no such move is left, also moves from an over-target region/zone/ip to an under-target
 *     one (a later pass then evens out the devices inside it).
 * A partition moves at most one replica per rebalance (except forced moves) and only when it has
 * not moved for minPartHours. Returns the number of partition-replicas whose device changed.
 */
export function rebalanceAssignment(a: Assignment, t: TierTree, rng: SeededRandom): number {
  return new Rebalancer(a, t, rng).run();
}

/** Counts what each tier node holds and clears slots on devices outside the tree. */
export function countAssigned(a: Assignment, t: TierTree): void {
  t.assigned.fill(0);
  const nDev = t.devAnc.length / LEVELS;
  for (const row of a.replica2part2dev) {
    for (let p = 0; p < a.parts; p++) {
      const d = row[p];
      if (d === NO_DEVICE) continue;
      if (d >= nDev || t.devAnc[d * LEVELS] < 0) {
        row[p] = NO_DEVICE;
        continue;
      }
      for (let l = 0; l < LEVELS; l++) t.assigned[t.devAnc[d * LEVELS + l]]++;
    }
  }
}

class Rebalancer {
  private readonly rows: Uint16Array[];
  private readonly R: number;
  /** Scratch: how many of the current partition's replicas sit under each node. */
  private readonly mark: Int32Array;
  /** Bit r set: replica r of the partition moved in this rebalance. */
  private readonly movedNow: Uint16Array;
  private readonly original: Uint16Array[];
  private readonly needs: NeedIndex;
  private totalOver = 0;

  constructor(
    private readonly a: Assignment,
    private readonly t: TierTree,
    private readonly rng: SeededRandom,
  ) {
    this.rows = a.replica2part2dev;
    this.R = a.replicas;
    this.mark = new Int32Array(t.nodeCount);
    this.movedNow = new Uint16Array(a.parts);
    this.original = this.rows.map((row) => row.slice());
    countAssigned(a, t);
    this.needs = new NeedIndex(t);
  }

  run(): number {
    const { a, original } = this;
    const order = permutation(a.parts, this.rng);
    this.placeForced(order);
    this.fixDispersion(order);
    // Direct moves first; only when none is left, moves that shift load between tiers (see improves).
    let relaxed = false;
    for (let pass = 0; pass < BALANCE_PASSES; pass++) {
      this.totalOver = this.computeTotalOver();
      if (this.totalOver === 0) break;
      const moves = this.balancePass(order, relaxed);
      if (moves === 0 && relaxed) break;
      relaxed = moves === 0;
    }
    let moved = 0;
    for (let r = 0; r < this.R; r++) {
      const now = this.rows[r];
      const was = original[r];
      for (let p = 0; p < a.parts; p++) if (now[p] !== was[p]) moved++;
    }
    return moved;
  }

  /**
   * Replica r of p may move if p has not moved for minPartHours and nothing of it moved yet in this
   * rebalance — or if r itself already moved now: moving it on keeps "one replica per rebalance".
   */
  private canMove(p: number, r: number): boolean {
    const m = this.movedNow[p];
    return m === 0 ? this.a.lastMoved[p] >= this.a.minPartHours : (m & (1 << r)) !== 0;
  }

  private markMoved(p: number, r: number): void {
    this.movedNow[p] |= 1 << r;
    this.a.lastMoved[p] = 0;
  }

  private placeForced(order: Uint32Array): void {
    for (const p of order) {
      for (let r = 0; r < this.R; r++) {
        if (this.rows[r][p] !== NO_DEVICE) continue;
        const dest = this.bestDevice(p, r);
        // The caps guarantee a legal device whenever there are `replicas` weighted devices.
        if (dest < 0) throw new SwiftletError('INTERNAL', `rebalance: no device can take partition ${p} replica ${r}`);
        this.assign(p, r, dest);
        this.markMoved(p, r);
      }
    }
  }

  private fixDispersion(order: Uint32Array): void {
    for (const p of order) {
      const r = this.undispersedReplica(p);
      if (r < 0 || !this.canMove(p, r)) continue;
      const dest = this.bestDevice(p, r);
      if (dest >= 0 && dest !== this.rows[r][p]) {
        this.assign(p, r, dest);
        this.markMoved(p, r);
      }
    }
  }

  private balancePass(order: Uint32Array, relaxed: boolean): number {
    const { t } = this;
    let moves = 0;
    for (const p of order) {
      if (this.totalOver === 0) break;
      // Try the replicas on over-target devices, most over first.
      let triedMask = 0;
      for (let tries = 0; tries < this.R; tries++) {
        let r = -1;
        let worst = 0;
        for (let s = 0; s < this.R; s++) {
          const leaf = this.leafOf(this.rows[s][p]);
          const over = t.assigned[leaf] - t.target[leaf];
          if (over > worst && (triedMask & (1 << s)) === 0 && this.canMove(p, s)) {
            worst = over;
            r = s;
          }
        }
        if (r < 0) break;
        triedMask |= 1 << r;
        const src = this.rows[r][p];
        const dest = this.bestDevice(p, r);
        if (dest < 0 || !this.improves(src, dest, relaxed)) continue;
        const leaf = this.leafOf(dest);
        this.totalOver += (t.assigned[leaf] >= t.target[leaf] ? 1 : 0) - 1;
        this.assign(p, r, dest);
        this.markMoved(p, r);
        moves++;
        break;
      }
    }
    return moves;
  }

  /**
   * Where replica r of partition p should go, ignoring where it is now. Walks down the tree; at each
   * level only children holding the fewest replicas of p (and below their cap) qualify. Among
   * children holding none of p, one below target is drawn with probability proportional to its
   * shortfall: random, so a device's partitions share their other replicas with many devices
   * rather than a fixed few (a fixed pattern both funnels a failed device's work onto a few peers
   * and leaves later rebalances with no legal moves). Among children already holding some of p,
   * the one furthest below target is taken: that choice decides how a tier's load is split, and
   * greedy keeps it exact. Returns -1 if nothing is legal.
   */
  private bestDevice(p: number, r: number): number {
    const { t, mark, rows, R, rng, needs } = this;
    const { devAnc, children, cap, target, assigned } = t;
    for (let s = 0; s < R; s++) {
      const d = rows[s][p];
      if (s === r || d === NO_DEVICE) continue;
      for (let l = 1; l < LEVELS; l++) mark[devAnc[d * LEVELS + l]]++;
    }
    const cur = rows[r][p];
    const curBase = cur === NO_DEVICE ? -1 : cur * LEVELS;
    let node = 0;
    for (let l = 1; l < LEVELS && node >= 0; l++) {
      const kids = children[node];
      // The replica being placed no longer counts where it is now.
      const curNode = curBase < 0 ? -1 : devAnc[curBase + l];
      if (needs.isWide(node)) {
        const c = this.drawWide(node, curNode);
        if (c >= 0) {
          node = c;
          continue;
        }
      }
      let minCount = 0x7fffffff;
      let needSum = 0;
      let top = -1;
      let topNeed = -Infinity;
      for (let i = 0; i < kids.length; i++) {
        const c = kids[i];
        const cnt = mark[c];
        if (cnt >= cap[c] || cnt > minCount) continue;
        const need = target[c] - assigned[c] + (c === curNode ? 1 : 0);
        if (cnt < minCount) {
          minCount = cnt;
          needSum = 0;
          topNeed = -Infinity;
        }
        if (need > 0) needSum += need;
        if (need > topNeed) {
          topNeed = need;
          top = c;
        }
      }
      if (needSum > 0 && minCount === 0) {
        let x = rng.next() * needSum;
        for (let i = 0; i < kids.length; i++) {
          const c = kids[i];
          if (mark[c] !== minCount || minCount >= cap[c]) continue;
          const need = target[c] - assigned[c] + (c === curNode ? 1 : 0);
          if (need <= 0) continue;
          top = c;
          if ((x -= need) < 0) break;
        }
      }
      node = top;
    }
    for (let s = 0; s < R; s++) {
      const d = rows[s][p];
      if (s === r || d === NO_DEVICE) continue;
      for (let l = 1; l < LEVELS; l++) mark[devAnc[d * LEVELS + l]]--;
    }
    return node < 0 ? -1 : t.leafDev[node];
  }

  /**
   * Whether moving a replica from an over-target device `src` to `dest` reduces imbalance: dest is
   * under target, or, where the two first part ways in the tree, src's side is over target and
   * dest's side under. The second case moves weight between regions/zones even when no device
   * there can take this partition directly; a later move inside that tier evens its devices out.
   */
  private improves(src: number, dest: number, relaxed: boolean): boolean {
    const { t } = this;
    const { assigned, target, devAnc } = t;
    const destLeaf = this.leafOf(dest);
    if (assigned[destLeaf] < target[destLeaf]) return true;
    if (!relaxed) return false;
    for (let l = 1; l < LEVELS - 1; l++) {
      const a = devAnc[src * LEVELS + l];
      const b = devAnc[dest * LEVELS + l];
      if (a !== b) return assigned[a] > target[a] && assigned[b] < target[b];
    }
    return false;
  }

  /** A replica of p sitting in a node over its cap (highest tier first, then the most over-target device), or -1. */
  private undispersedReplica(p: number): number {
    const { t, rows, R } = this;
    for (let l = 1; l < LEVELS; l++) {
      let pick = -1;
      let pickOver = -Infinity;
      for (let s = 0; s < R; s++) {
        const node = t.devAnc[rows[s][p] * LEVELS + l];
        let cnt = 0;
        for (let q = 0; q < R; q++) if (t.devAnc[rows[q][p] * LEVELS + l] === node) cnt++;
        if (cnt <= t.cap[node]) continue;
        const leaf = this.leafOf(rows[s][p]);
        const over = t.assigned[leaf] - t.target[leaf];
        if (over > pickOver) {
          pick = s;
          pickOver = over;
        }
      }
      if (pick >= 0) return pick;
    }
    return -1;
  }

  private leafOf(dev: number): number {
    return this.t.devAnc[dev * LEVELS + LEVELS - 1];
  }

  /**
   * bestDevice's draw among a wide node's children via the need index: rejection-samples children
   * by shortfall until one holds none of the partition. -1 sends the caller to the full scan
   * (nothing below target, or unlucky draws).
   */
  private drawWide(node: number, curNode: number): number {
    const { t, needs, mark } = this;
    const total = needs.total(node);
    let extra = 0; // the replica being placed frees one unit where it is now
    if (curNode >= 0 && needs.parentOf(curNode) === node) {
      const need = t.target[curNode] - t.assigned[curNode];
      extra = Math.max(0, need + 1) - Math.max(0, need);
    }
    const sum = total + extra;
    if (sum <= 0) return -1;
    for (let tries = 0; tries < 8; tries++) {
      const x = this.rng.next() * sum;
      const c = x >= total ? curNode : needs.find(node, x);
      if (mark[c] === 0 && t.cap[c] > 0) return c;
    }
    return -1;
  }

  private assign(p: number, r: number, dev: number): void {
    const { t, needs } = this;
    const old = this.rows[r][p];
    if (old !== NO_DEVICE) {
      for (let l = 0; l < LEVELS; l++) {
        const node = t.devAnc[old * LEVELS + l];
        t.assigned[node]--;
        needs.assignedChanged(node, -1);
      }
    }
    for (let l = 0; l < LEVELS; l++) {
      const node = t.devAnc[dev * LEVELS + l];
      t.assigned[node]++;
      needs.assignedChanged(node, 1);
    }
    this.rows[r][p] = dev;
  }

  private computeTotalOver(): number {
    const { t } = this;
    let over = 0;
    for (let n = 0; n < t.nodeCount; n++) {
      if (t.leafDev[n] >= 0 && t.assigned[n] > t.target[n]) over += t.assigned[n] - t.target[n];
    }
    return over;
  }
}

/** A seeded random order of 0..n-1 (Fisher–Yates over a typed array: no per-partition objects). */
export function permutation(n: number, rng: SeededRandom): Uint32Array {
  const a = new Uint32Array(n);
  for (let i = 0; i < n; i++) a[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const x = a[i];
    a[i] = a[j];
    a[j] = x;
  }
  return a;
}
