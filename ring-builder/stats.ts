import { NO_DEVICE, type RingDevice } from './ring-format.js';
import { LEVELS, type TierTree } from './tiers.js';

/** What swift reports for a device that holds partitions it should not have at all. */
export const MAX_BALANCE = 999.99;

/** Partition-replicas held by each device id. */
export function partsPerDevice(rows: ReadonlyArray<Uint16Array>, devCount: number): Int32Array {
  const out = new Int32Array(devCount);
  for (const row of rows) {
    for (let p = 0; p < row.length; p++) {
      const d = row[p];
      if (d !== NO_DEVICE && d < devCount) out[d]++;
    }
  }
  return out;
}

/** Weighted share of each device, capped by dispersion (0 for devices outside the tree). */
export function wantedPerDevice(t: TierTree, devCount: number): Float64Array {
  const out = new Float64Array(devCount);
  for (let id = 0; id < devCount; id++) {
    const leaf = id * LEVELS < t.devAnc.length ? t.devAnc[id * LEVELS + LEVELS - 1] : -1;
    if (leaf >= 0) out[id] = t.share[leaf];
  }
  return out;
}

/** Percent a device is above (+) or below (−) its wanted share, like swift's per-device balance. */
export function deviceBalance(parts: number, wanted: number): number {
  if (wanted > 0) return (100 * parts) / wanted - 100;
  return parts > 0 ? MAX_BALANCE : 0;
}

/** The ring's balance: the largest |deviceBalance| over existing devices. */
export function maxBalance(devices: ReadonlyArray<RingDevice | null>, parts: Int32Array, wanted: Float64Array): number {
  let worst = 0;
  for (const d of devices) {
    if (!d) continue;
    worst = Math.max(worst, Math.min(MAX_BALANCE, Math.abs(deviceBalance(parts[d.id], wanted[d.id]))));
  }
  return worst;
}

export interface DispersionStats {
  /** Percent of partitions with some tier holding more replicas than its dispersion cap. */
  percent: number;
  /** Partitions over a cap at each level: [root, region, zone, ip, device]. */
  byLevel: number[];
}

/** Dispersion against the tree's caps; replicas on devices outside the tree are ignored. */
export function dispersion(rows: ReadonlyArray<Uint16Array>, t: TierTree, parts: number): DispersionStats {
  const byLevel = new Array<number>(LEVELS).fill(0);
  const nDev = t.devAnc.length / LEVELS;
  const R = rows.length;
  // per partition: the ancestor offsets of its replicas' devices, gathered once for every level
  const base = new Int32Array(R);
  const nodes = new Int32Array(R);
  let bad = 0;
  for (let p = 0; p < parts; p++) {
    let n = 0;
    for (let r = 0; r < R; r++) {
      const d = rows[r][p];
      if (d !== NO_DEVICE && d < nDev && t.devAnc[d * LEVELS] >= 0) base[n++] = d * LEVELS;
    }
    let partBad = false;
    for (let l = 1; l < LEVELS; l++) {
      for (let i = 0; i < n; i++) nodes[i] = t.devAnc[base[i] + l];
      let levelBad = false;
      for (let i = 0; i < n && !levelBad; i++) {
        let cnt = 0;
        for (let j = 0; j < n; j++) if (nodes[j] === nodes[i]) cnt++;
        if (cnt > t.cap[nodes[i]]) levelBad = true;
      }
      if (levelBad) {
        byLevel[l]++;
        partBad = true;
      }
    }
    if (partBad) bad++;
  }
  return { percent: parts === 0 ? 0 : (100 * bad) / parts, byLevel };
}
