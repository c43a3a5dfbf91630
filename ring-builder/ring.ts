import { join } from 'node:path';
import { hashPath, partitionOfHash, type HashSecret } from '../common/hash-path.js';
import { readRingFile, validateRingData, type RingData, type RingDevice } from './ring-format.js';

export type { RingData, RingDevice } from './ring-format.js';
export { writeRingFile, readRingFile, encodeRingData, decodeRingData, RING_MAGIC, RING_FORMAT_VERSION } from './ring-format.js';
export { RingHolder, type RingHolderOptions } from './ring-holder.js';

/** `object` is storage policy 0's object ring; `object-<n>` policy n's (Swift's names). */
export type RingName = 'account' | 'container' | 'object' | `object-${number}`;

/** The object ring of storage policy `index`: `object`, `object-1`, `object-2`… */
export function objectRingName(index: number): RingName {
  return index === 0 ? 'object' : `object-${index}`;
}

/** Where every service finds a ring: `<ringDir>/<name>.ring.gz`. */
export function ringFile(ringDir: string, name: RingName): string {
  return join(ringDir, `${name}.ring.gz`);
}

/** Where the builder of a ring lives: `<ringDir>/<name>.builder`. */
export function builderFile(ringDir: string, name: RingName): string {
  return join(ringDir, `${name}.builder`);
}

/**
 * The read-only runtime ring every service loads: path → partition → devices.
 * Built only from validated data, so lookups never meet a missing or duplicate device.
 */
export class Ring {
  readonly partPower: number;
  readonly replicaCount: number;
  readonly partCount: number;
  readonly devices: ReadonlyArray<RingDevice | null>;
  private readonly r2p2d: Uint16Array[];
  private readonly secret: HashSecret;
  /** Per device: small ints for its region, (region, zone) and ip, so handoff ordering compares numbers. */
  private readonly regionKey: Int32Array;
  private readonly zoneKey: Int32Array;
  private readonly ipKey: Int32Array;
  /** Devices that may take handoff writes: present and weighted. */
  private readonly handoffCandidates: RingDevice[];

  private constructor(data: RingData, secret: HashSecret) {
    this.partPower = data.partPower;
    this.replicaCount = data.replicas;
    this.partCount = 2 ** data.partPower;
    this.devices = Object.freeze(data.devices.map((d) => (d ? Object.freeze({ ...d }) : null)));
    this.r2p2d = data.replica2part2dev;
    this.secret = secret;
    const n = this.devices.length;
    this.regionKey = new Int32Array(n);
    this.zoneKey = new Int32Array(n);
    this.ipKey = new Int32Array(n);
    const ids = { region: new Map<string, number>(), zone: new Map<string, number>(), ip: new Map<string, number>() };
    const intern = (m: Map<string, number>, k: string): number => {
      let v = m.get(k);
      if (v === undefined) m.set(k, (v = m.size));
      return v;
    };
    for (const d of this.devices) {
      if (!d) continue;
      this.regionKey[d.id] = intern(ids.region, `${d.region}`);
      this.zoneKey[d.id] = intern(ids.zone, `${d.region}/${d.zone}`);
      this.ipKey[d.id] = intern(ids.ip, d.ip);
    }
    this.handoffCandidates = this.devices.filter((d): d is RingDevice => d !== null && d.weight > 0);
  }

  /** Validates (RING_INVALID) and builds. The typed arrays are adopted, not copied. */
  static fromData(data: RingData, secret: HashSecret): Ring {
    validateRingData(data);
    return new Ring(data, secret);
  }

  /** Reads, decodes and validates a ring file; throws SwiftletError('RING_INVALID') on any defect. */
  static loadSync(file: string, secret: HashSecret): Ring {
    return new Ring(readRingFile(file), secret);
  }

  /** The partition of a path: the top partPower bits of its salted md5. */
  partitionFor(account: string, container?: string, object?: string): number {
    return partitionOfHash(hashPath(this.secret, account, container, object), this.partPower);
  }

  getNodes(account: string, container?: string, object?: string): { partition: number; primaries: RingDevice[] } {
    const partition = this.partitionFor(account, container, object);
    return { partition, primaries: this.primaries(partition) };
  }

  /** The partition's devices in replica order. */
  primaries(part: number): RingDevice[] {
    this.checkPart(part);
    const out: RingDevice[] = [];
    for (const row of this.r2p2d) out.push(this.devices[row[part] as number] as RingDevice);
    return out;
  }

  /**
   * Devices to try when primaries fail, deterministic per partition: first devices in regions the
   * primaries do not use, then in unused zones, then on unused ips, then the rest. Within a group
   * the order is a hash of (partition, device id), so each partition spreads its handoffs differently.
   */
  *handoffs(part: number): Generator<RingDevice> {
    this.checkPart(part);
    const prim = this.r2p2d.map((row) => row[part] as number);
    const cands = this.handoffCandidates;
    // One float per candidate: group, then tie hash, then index — 50 bits, exact in a double,
    // and a typed-array sort is much cheaper than sorting objects.
    const keys = new Float64Array(cands.length);
    let n = 0;
    for (let i = 0; i < cands.length; i++) {
      const id = cands[i].id;
      if (prim.includes(id)) continue;
      let group = 0;
      if (prim.some((p) => this.regionKey[p] === this.regionKey[id])) group = 1;
      if (prim.some((p) => this.zoneKey[p] === this.zoneKey[id])) group = 2;
      if (prim.some((p) => this.ipKey[p] === this.ipKey[id])) group = 3;
      keys[n++] = (group * 2 ** 32 + mix32(part, id)) * 65536 + i;
    }
    const sorted = keys.subarray(0, n).sort();
    for (const k of sorted) yield cands[k % 65536];
  }

  /** Devices that exist (removed ids are null in `devices`). */
  allDevices(): RingDevice[] {
    return this.devices.filter((d): d is RingDevice => d !== null);
  }

  private checkPart(part: number): void {
    if (!Number.isInteger(part) || part < 0 || part >= this.partCount) {
      throw new RangeError(`partition ${part} out of range 0..${this.partCount - 1}`);
    }
  }
}

/** A cheap, well-mixed 32-bit hash of two ints (murmur3 finalizer); only needs to be stable. */
function mix32(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ Math.imul(b + 0x7f4a7c15, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
