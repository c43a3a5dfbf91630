import { createHash } from 'node:crypto';
import { SeededRandom } from '../common/random.js';
import { Timestamp } from '../common/timestamp.js';

/**
 * The objects of the `idle` suite, the same for both systems: object i is a pure function of the
 * plan's options and i (a seeded generator per object), so Swiftlet's fill (bench/idle-fill.ts)
 * and Swift's (bench/scripts/swift-fill-objects.py, fed the plan as a TSV file) write the same
 * names, sizes, bodies, timestamps and expiry times.
 *
 * Object i lives in container `idle-<i mod containers>`, is named o<i> (8 digits), holds
 * 0…maxSize bytes taken from offset (i mod BODY_OFFSETS) of one seeded block, and is stamped
 * firstTick + i (1e-5 s ticks: as if PUT 10 µs apart). A share is deleted (only the tombstone a
 * DELETE leaves, `.ts`, and a deleted listing row); a share of the rest has an X-Delete-At far in
 * the future (deleteAtBase + i mod 86400 s), so the expirer has queue entries to look at and none
 * to act on.
 */
export interface IdlePlanOptions {
  n: number;
  containers: number;
  seed: number;
  maxSize: number;
  deletedShare: number;
  expiringShare: number;
  firstTick: number;
  /** Unix seconds. */
  deleteAtBase: number;
}

export type ObjectKind = 'live' | 'expiring' | 'deleted';

export interface PlannedObject {
  i: number;
  container: string;
  name: string;
  size: number;
  /** Where the body starts in the body block. */
  offset: number;
  kind: ObjectKind;
  timestamp: Timestamp;
  /** Unix seconds, for kind 'expiring'. */
  deleteAt?: number;
}

/** Bodies start at one of this many offsets of the block. */
export const BODY_OFFSETS = 4096;
export const CONTENT_TYPE = 'application/octet-stream';

export function defaultPlan(n: number, now = Date.now()): IdlePlanOptions {
  return {
    n,
    containers: 4,
    seed: 26,
    maxSize: 4096,
    deletedShare: 0.05,
    expiringShare: 0.1,
    firstTick: Math.round(now * 100) - n,
    // a year ahead, on a whole day: never due during a run
    deleteAtBase: Math.floor(now / 1000 / 86400 + 365) * 86400,
  };
}

export function containerName(k: number): string {
  return `idle-${k}`;
}

export function planObject(p: IdlePlanOptions, i: number): PlannedObject {
  const rnd = new SeededRandom((p.seed * 0x9e3779b1 + i * 2654435761) >>> 0);
  rnd.next(); // mulberry32's first output follows its seed closely
  const size = rnd.int(p.maxSize + 1);
  const r = rnd.next();
  const kind: ObjectKind = r < p.deletedShare ? 'deleted' : r < p.deletedShare + p.expiringShare ? 'expiring' : 'live';
  const o: PlannedObject = {
    i,
    container: containerName(i % p.containers),
    name: `o${String(i).padStart(8, '0')}`,
    size: kind === 'deleted' ? 0 : size,
    offset: i % BODY_OFFSETS,
    kind,
    timestamp: new Timestamp(p.firstTick + i),
  };
  if (kind === 'expiring') o.deleteAt = p.deleteAtBase + (i % 86400);
  return o;
}

/** The block every body is a slice of: seeded bytes, BODY_OFFSETS + maxSize long. */
export function bodyBlock(p: IdlePlanOptions): Buffer {
  const rnd = new SeededRandom(p.seed);
  const b = Buffer.allocUnsafe(BODY_OFFSETS + p.maxSize);
  for (let k = 0; k < b.length; k++) b[k] = rnd.int(256);
  return b;
}

export function bodyOf(block: Buffer, o: PlannedObject): Buffer {
  return block.subarray(o.offset, o.offset + o.size);
}

export function md5Hex(b: Buffer): string {
  return createHash('md5').update(b).digest('hex');
}

/** Counts by kind, bytes of the live and expiring bodies (one replica), and per container. */
export interface PlanTotals {
  live: number;
  expiring: number;
  deleted: number;
  bytes: number;
  perContainer: Map<string, { objects: number; bytes: number }>;
}

export function planTotals(p: IdlePlanOptions): PlanTotals {
  const t: PlanTotals = { live: 0, expiring: 0, deleted: 0, bytes: 0, perContainer: new Map() };
  for (let k = 0; k < p.containers; k++) t.perContainer.set(containerName(k), { objects: 0, bytes: 0 });
  for (let i = 0; i < p.n; i++) {
    const o = planObject(p, i);
    t[o.kind]++;
    if (o.kind === 'deleted') continue;
    t.bytes += o.size;
    const c = t.perContainer.get(o.container) as { objects: number; bytes: number };
    c.objects++;
    c.bytes += o.size;
  }
  return t;
}

/**
 * The plan as the Swift fill script reads it: one line per object,
 * `container \t name \t size \t offset \t kind \t timestamp \t deleteAt (or -) \t etag`.
 */
export function planLine(o: PlannedObject, etag: string): string {
  return `${o.container}\t${o.name}\t${o.size}\t${o.offset}\t${o.kind}\t${o.timestamp.normal}\t${o.deleteAt ?? '-'}\t${etag}\n`;
}
