import type { RingDevice } from './ring-format.js';

/**
 * The failure-domain tree the builder places replicas in: root → region → zone → ip → device.
 * Each node carries its dispersion cap (the most replicas of one partition it may hold) and its
 * target (partition-replicas it should hold: weighted share, capped by dispersion). Flat typed
 * arrays indexed by node, because the rebalance inner loop walks this tree millions of times.
 */
export const LEVELS = 5; // root, region, zone, ip, device
export const LEVEL_NAMES = ['root', 'region', 'zone', 'ip', 'device'] as const;

export interface TierTree {
  nodeCount: number;
  level: Uint8Array;
  children: Int32Array[];
  /** Weighted devices under the node: no partition can have more replicas here than that. */
  devCount: Int32Array;
  weight: Float64Array;
  cap: Int32Array;
  /** Integer partition-replica target; the targets of a node's children sum to its own. */
  target: Float64Array;
  /** The same share before rounding, for reporting balance. */
  share: Float64Array;
  /** Partition-replicas currently under the node; kept up to date by the rebalancer. */
  assigned: Int32Array;
  /** Leaf node → device id, -1 for inner nodes. */
  leafDev: Int32Array;
  /** devAnc[id * LEVELS + level] → node of that device at that level, -1 if the device is not in the tree. */
  devAnc: Int32Array;
  label: string[];
}

interface Builder {
  level: number[];
  children: number[][];
  label: string[];
  leafDev: number[];
}

/**
 * Builds the tree over `devices` (null entries and ids in `exclude` are left out: their replicas
 * must move) and computes caps and targets for `replicas` × `parts` partition-replicas.
 * Children are in (region, zone, ip, id) order, so targets do not depend on the seed and a
 * re-rebalance does not shuffle partitions between devices for nothing.
 */
export function buildTierTree(
  devices: ReadonlyArray<RingDevice | null>,
  exclude: ReadonlySet<number>,
  replicas: number,
  parts: number,
): TierTree {
  const b: Builder = { level: [], children: [], label: [], leafDev: [] };
  const add = (level: number, label: string, dev = -1): number => {
    b.level.push(level);
    b.children.push([]);
    b.label.push(label);
    b.leafDev.push(dev);
    return b.level.length - 1;
  };
  const root = add(0, '');
  const devAnc = new Int32Array(devices.length * LEVELS).fill(-1);
  const regions = new Map<number, number>();
  const zones = new Map<string, number>();
  const ips = new Map<string, number>();
  const sorted = devices
    .filter((d): d is RingDevice => d !== null && !exclude.has(d.id))
    .sort((x, y) => x.region - y.region || x.zone - y.zone || (x.ip < y.ip ? -1 : x.ip > y.ip ? 1 : 0) || x.id - y.id);
  for (const d of sorted) {
    let r = regions.get(d.region);
    if (r === undefined) {
      regions.set(d.region, (r = add(1, `r${d.region}`)));
      b.children[root].push(r);
    }
    const zk = `${d.region}/${d.zone}`;
    let z = zones.get(zk);
    if (z === undefined) {
      zones.set(zk, (z = add(2, `r${d.region}z${d.zone}`)));
      b.children[r].push(z);
    }
    const ik = `${zk}/${d.ip}`;
    let i = ips.get(ik);
    if (i === undefined) {
      ips.set(ik, (i = add(3, `r${d.region}z${d.zone}-${d.ip}`)));
      b.children[z].push(i);
    }
    const leaf = add(4, `d${d.id}`, d.id);
    b.children[i].push(leaf);
    devAnc.set([root, r, z, i, leaf], d.id * LEVELS);
  }

  const n = b.level.length;
  const t: TierTree = {
    nodeCount: n,
    level: Uint8Array.from(b.level),
    children: b.children.map((c) => Int32Array.from(c)),
    devCount: new Int32Array(n),
    weight: new Float64Array(n),
    cap: new Int32Array(n),
    target: new Float64Array(n),
    share: new Float64Array(n),
    assigned: new Int32Array(n),
    leafDev: Int32Array.from(b.leafDev),
    devAnc,
    label: b.label,
  };
  for (const d of sorted) {
    if (d.weight <= 0) continue;
    for (let l = 0; l < LEVELS; l++) {
      const node = devAnc[d.id * LEVELS + l] as number;
      t.weight[node] += d.weight;
      t.devCount[node] += 1;
    }
  }
  t.cap[root] = Math.min(replicas, t.devCount[root] as number);
  t.target[root] = t.cap[root] * parts;
  t.share[root] = t.target[root];
  // Parents before children: nodes were created top-down, but not level by level, so recurse.
  const visit = (node: number): void => {
    const kids = t.children[node] as Int32Array;
    if (kids.length === 0) return;
    spreadCaps(t, node, kids);
    const caps = Array.from(kids, (c) => t.cap[c] * parts);
    const weights = Array.from(kids, (c) => t.weight[c]);
    const ints = largestRemainder(waterFill(t.target[node], weights, caps), t.target[node], caps);
    const shares = waterFill(t.share[node], weights, caps);
    kids.forEach((c, i) => {
      t.target[c] = ints[i];
      t.share[c] = shares[i];
    });
    for (const c of kids) visit(c);
  };
  visit(root);
  return t;
}

/**
 * Dispersion caps: spread the parent's cap over its children as evenly as their device counts
 * allow — the smallest level L with Σ min(L, devCount) ≥ cap. So 3 replicas over 4 zones allows
 * 1 per zone, over 2 zones 2 per zone, and a one-device zone never more than 1.
 */
function spreadCaps(t: TierTree, node: number, kids: Int32Array): void {
  const m = t.cap[node];
  let level = 0;
  for (; level < m; level++) {
    let sum = 0;
    for (const c of kids) sum += Math.min(level, t.devCount[c]);
    if (sum >= m) break;
  }
  for (const c of kids) t.cap[c] = Math.min(level, t.devCount[c]);
}

/** Splits `total` in proportion to `weights`, no share above its cap; capped shares' excess goes to the others. */
export function waterFill(total: number, weights: number[], caps: number[]): number[] {
  const out = new Array<number>(weights.length).fill(0);
  const fixed = new Array<boolean>(weights.length).fill(false);
  for (;;) {
    let remaining = total;
    let sumW = 0;
    weights.forEach((w, i) => {
      if (fixed[i]) remaining -= out[i];
      else sumW += w;
    });
    if (sumW <= 0) return out;
    let newlyFixed = false;
    weights.forEach((w, i) => {
      if (fixed[i]) return;
      const v = (remaining * w) / sumW;
      if (v > caps[i]) {
        fixed[i] = true;
        out[i] = caps[i];
        newlyFixed = true;
      } else out[i] = v;
    });
    if (!newlyFixed) return out;
  }
}

/** Rounds shares to integers summing to `total` (largest remainder first), never above a cap. */
export function largestRemainder(values: number[], total: number, caps: number[]): number[] {
  const out = values.map((v) => Math.floor(v + 1e-9));
  let deficit = total - out.reduce((a, b) => a + b, 0);
  const order = values.map((_, i) => i).sort((a, b) => values[b] - out[b] - (values[a] - out[a]) || a - b);
  for (let pass = 0; deficit > 0 && pass < 2; pass++) {
    for (const i of order) {
      if (deficit <= 0) break;
      if (out[i] < caps[i] && (pass === 1 || values[i] > out[i])) {
        out[i] += 1;
        deficit--;
      }
    }
  }
  return out;
}
