import { createHash } from 'node:crypto';

/**
 * The merge rules of the container and account databases (pure, no I/O).
 *
 * Every merge below is the join of a semilattice: the result is the maximum of the two inputs
 * under a total order (or a field-wise combination of such maxima). That makes each merge
 *   - commutative:  merge(a, b) = merge(b, a)
 *   - associative:  merge(merge(a, b), c) = merge(a, merge(b, c))
 *   - idempotent:   merge(a, a) = a
 * so replicas converge whatever order or how many times rows arrive (object server updates,
 * async pendings, replication). Ties on the timestamp are broken by comparing the other fields,
 * never by "keep what is there" (Swift's choice), which would not be commutative.
 * test/unit/db-merge.test.ts checks the three laws on seeded random inputs.
 *
 * Timestamps are strings in Timestamp.internal form (fixed width, so they compare lexically).
 */

/** The zero timestamp, Timestamp(0).internal: "never happened". */
export const ZERO_TS = '0000000000.00000';

function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function maxTs(a: string, b: string): string {
  return a >= b ? a : b;
}

function minTs(a: string, b: string): string {
  return a <= b ? a : b;
}

// ---------------------------------------------------------------------------------------------
// Object rows (the container's listing)

/**
 * One object in a container listing; `deleted` rows are tombstones kept so older rows lose.
 *
 * Three timestamps, as Swift's object rows (container/backend.py, the `created_at` column encodes
 * them): the data's (the PUT or DELETE), the content type's (an object POST can change it) and
 * the metadata's (the last POST, shown as the listing's last_modified). The latter two are left
 * out when they equal the one before them (normalRow): a row only a PUT wrote has just `timestamp`.
 */
export interface ObjectRow {
  name: string;
  /** Timestamp.internal of the object PUT/DELETE. */
  timestamp: string;
  size: number;
  contentType: string;
  etag: string;
  deleted: boolean;
  /** When `contentType` was set, if later than `timestamp` (an object POST). */
  ctypeTimestamp?: string;
  /** The object's last POST, if later than the content type's timestamp. */
  metaTimestamp?: string;
}

/** The content type's timestamp: the data's unless a POST set it. */
export function ctypeTimestampOf(r: ObjectRow): string {
  return r.ctypeTimestamp ?? r.timestamp;
}

/** The metadata's timestamp (the listing's last_modified): the content type's unless a POST came later. */
export function metaTimestampOf(r: ObjectRow): string {
  return r.metaTimestamp ?? ctypeTimestampOf(r);
}

/** The one representation of a row: ctype/meta timestamps only where they differ from the one before. */
export function normalRow(r: ObjectRow): ObjectRow {
  const ctype = ctypeTimestampOf(r);
  const meta = metaTimestampOf(r);
  const out: ObjectRow = { name: r.name, timestamp: r.timestamp, size: r.size, contentType: r.contentType, etag: r.etag, deleted: r.deleted };
  if (ctype !== r.timestamp) out.ctypeTimestamp = ctype;
  if (meta !== ctype) out.metaTimestamp = meta;
  return out;
}

/** Total order on the data of rows of one name: timestamp, then tombstone over live, then the data fields. */
function compareData(a: ObjectRow, b: ObjectRow): number {
  return (
    cmpStr(a.timestamp, b.timestamp) ||
    Number(a.deleted) - Number(b.deleted) ||
    a.size - b.size ||
    cmpStr(a.etag, b.etag) ||
    cmpStr(swiftBytesOf(a.contentType), swiftBytesOf(b.contentType))
  );
}

/** Total order on the content types of rows of one name: their timestamps, then the values. */
function compareCtype(a: ObjectRow, b: ObjectRow): number {
  return cmpStr(ctypeTimestampOf(a), ctypeTimestampOf(b)) || cmpStr(bareContentType(a.contentType), bareContentType(b.contentType));
}

const SWIFT_BYTES = /;\s*swift_bytes=([^;]*)/;

/** A content type's `swift_bytes=` parameter (the size large objects report), '' when none. */
function swiftBytesOf(contentType: string): string {
  return SWIFT_BYTES.exec(contentType)?.[1] ?? '';
}

function bareContentType(contentType: string): string {
  return contentType.replace(SWIFT_BYTES, '');
}

/**
 * Swift's update_new_item_from_existing, made commutative: the data fields (size, etag, deleted,
 * swift_bytes) of the newer data timestamp, the content type of the newer content-type timestamp,
 * the newer metadata timestamp. Each part is the maximum of a total order, so the merge is a
 * semilattice join. Both rows must have the same name.
 */
export function mergeObjectRow(a: ObjectRow, b: ObjectRow): ObjectRow {
  if (a.name !== b.name) throw new RangeError(`cannot merge rows of different names ${a.name} / ${b.name}`);
  const data = compareData(a, b) >= 0 ? a : b;
  const ctype = compareCtype(a, b) >= 0 ? a : b;
  const metaA = metaTimestampOf(a);
  const metaB = metaTimestampOf(b);
  const bytes = swiftBytesOf(data.contentType);
  return normalRow({
    name: a.name,
    timestamp: data.timestamp,
    size: data.size,
    etag: data.etag,
    deleted: data.deleted,
    contentType: bytes ? `${bareContentType(ctype.contentType)};swift_bytes=${bytes}` : bareContentType(ctype.contentType),
    ctypeTimestamp: ctypeTimestampOf(ctype),
    metaTimestamp: maxTs(metaA, metaB),
  });
}

export function sameObjectRow(a: ObjectRow, b: ObjectRow): boolean {
  return (
    a.name === b.name &&
    compareData(a, b) === 0 &&
    a.contentType === b.contentType &&
    ctypeTimestampOf(a) === ctypeTimestampOf(b) &&
    metaTimestampOf(a) === metaTimestampOf(b)
  );
}

/** What a row adds to the container's stats: tombstones count for nothing. */
export function objectRowStats(r: ObjectRow | undefined): { count: number; bytes: number } {
  return r && !r.deleted ? { count: 1, bytes: r.size } : { count: 0, bytes: 0 };
}

// ---------------------------------------------------------------------------------------------
// Container rows (the account's listing)

/** One container in an account listing, as last reported by a container server. */
export interface ContainerRow {
  name: string;
  putTimestamp: string;
  deleteTimestamp: string;
  objectCount: number;
  bytesUsed: number;
  /**
   * When the container server took the stats (the X-Timestamp of its update). The stats of the
   * newest report win; Swift keeps "whatever arrived last", which is not commutative.
   */
  statsTimestamp: string;
  /** Derived: deleteTimestamp > putTimestamp and no objects (Swift's rule). */
  deleted: boolean;
}

export function containerRowDeleted(putTimestamp: string, deleteTimestamp: string, objectCount: number): boolean {
  return deleteTimestamp > putTimestamp && objectCount === 0;
}

function compareStats(a: ContainerRow, b: ContainerRow): number {
  return cmpStr(a.statsTimestamp, b.statsTimestamp) || a.objectCount - b.objectCount || a.bytesUsed - b.bytesUsed;
}

/** put/delete timestamps: the newest of each; stats: those of the newest report. */
export function mergeContainerRow(a: ContainerRow, b: ContainerRow): ContainerRow {
  if (a.name !== b.name) throw new RangeError(`cannot merge rows of different names ${a.name} / ${b.name}`);
  const stats = compareStats(a, b) >= 0 ? a : b;
  const putTimestamp = maxTs(a.putTimestamp, b.putTimestamp);
  const deleteTimestamp = maxTs(a.deleteTimestamp, b.deleteTimestamp);
  return {
    name: a.name,
    putTimestamp,
    deleteTimestamp,
    objectCount: stats.objectCount,
    bytesUsed: stats.bytesUsed,
    statsTimestamp: stats.statsTimestamp,
    deleted: containerRowDeleted(putTimestamp, deleteTimestamp, stats.objectCount),
  };
}

export function sameContainerRow(a: ContainerRow, b: ContainerRow): boolean {
  return (
    a.name === b.name &&
    a.putTimestamp === b.putTimestamp &&
    a.deleteTimestamp === b.deleteTimestamp &&
    compareStats(a, b) === 0 &&
    a.deleted === b.deleted
  );
}

/** What a container row adds to the account's stats. */
export function containerRowStats(r: ContainerRow | undefined): { containers: number; objects: number; bytes: number } {
  return r && !r.deleted ? { containers: 1, objects: r.objectCount, bytes: r.bytesUsed } : { containers: 0, objects: 0, bytes: 0 };
}

// ---------------------------------------------------------------------------------------------
// Container and account records

/** Header name (Title-Case) → [value, timestamp]. An empty value is a deletion kept with its timestamp. */
export type Metadata = Record<string, [string, string]>;

/**
 * A container's storage policy, stamped with the life of the container it was given to: a life
 * begins when a PUT creates the container (`since`, its timestamp), or re-creates it after the
 * delete at `after` (ZERO_TS for the first life). Replicas that disagree (one missed the PUT that
 * created the container, or the delete and re-creation) converge by policyOrder: the later life
 * wins; within one life, the policy given first (Swift's cmp_policy_info keeps the oldest too).
 */
export interface PolicyStamp {
  index: number;
  after: string;
  since: string;
}

/** Total order on policy stamps (greater wins): later life, then earlier creation, then lower index. */
export function comparePolicyStamps(a: PolicyStamp, b: PolicyStamp): number {
  return cmpStr(a.after, b.after) || cmpStr(b.since, a.since) || b.index - a.index;
}

/** The policy of a record; a record from before policies (none stored) is policy 0 since its creation. */
export function policyOf(r: Pick<DbRecord, 'policy' | 'createdAt'>): PolicyStamp {
  return r.policy ?? { index: 0, after: ZERO_TS, since: r.createdAt };
}

/** The mergeable part of a container or account: its timestamps and metadata. */
export interface DbRecord {
  /** When this database was first created here (X-Timestamp); the oldest wins. */
  createdAt: string;
  putTimestamp: string;
  deleteTimestamp: string;
  /** When it last went between existing and deleted. */
  statusChangedAt: string;
  metadata: Metadata;
  /** Containers only: the storage policy (absent in databases written before policies: 0). */
  policy?: PolicyStamp;
}

/** Per key, the newest timestamp wins; equal timestamps: the greater value wins. */
export function mergeMetadata(a: Metadata, b: Metadata): Metadata {
  const out: Metadata = { ...a };
  for (const [k, vb] of Object.entries(b)) {
    const va = out[k];
    if (!va || cmpStr(vb[1], va[1]) > 0 || (vb[1] === va[1] && cmpStr(vb[0], va[0]) > 0)) out[k] = vb;
  }
  return out;
}

export function mergeRecord(a: DbRecord, b: DbRecord): DbRecord {
  const out: DbRecord = {
    createdAt: minTs(a.createdAt, b.createdAt),
    putTimestamp: maxTs(a.putTimestamp, b.putTimestamp),
    deleteTimestamp: maxTs(a.deleteTimestamp, b.deleteTimestamp),
    statusChangedAt: maxTs(a.statusChangedAt, b.statusChangedAt),
    metadata: mergeMetadata(a.metadata, b.metadata),
  };
  // Accounts have no policy; a container record without one (an old database) is policy 0.
  if (a.policy || b.policy) {
    const pa = policyOf(a);
    const pb = policyOf(b);
    out.policy = comparePolicyStamps(pa, pb) >= 0 ? pa : pb;
  }
  return out;
}

/** A container/account is deleted when its delete is newer than its put. */
export function recordDeleted(r: Pick<DbRecord, 'putTimestamp' | 'deleteTimestamp'>): boolean {
  return r.deleteTimestamp > r.putTimestamp;
}

/** Metadata to show: the keys whose current value is not a deletion. */
export function liveMetadata(m: Metadata): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [k, [v]] of Object.entries(m)) if (v !== '') out.push([k, v]);
  return out;
}

/** Swift's delete_db: clears every metadata key as of the delete. */
export function clearedMetadata(m: Metadata, timestamp: string): Metadata {
  const out: Metadata = {};
  for (const k of Object.keys(m)) out[k] = ['', timestamp];
  return out;
}

export function newRecord(timestamp: string): DbRecord {
  return { createdAt: timestamp, putTimestamp: timestamp, deleteTimestamp: ZERO_TS, statusChangedAt: timestamp, metadata: {} };
}

// ---------------------------------------------------------------------------------------------
// Set digests, for replicators comparing two databases cheaply

/**
 * Swift's chexor: the XOR of md5(key) over every row, kept up to date incrementally (XOR out the
 * old row, XOR in the new one). Two databases with the same rows have the same digest.
 */
export function chexor(digest: string, key: string): string {
  const h = createHash('md5').update(key).digest();
  const d = Buffer.from(digest, 'hex');
  for (let i = 0; i < 16; i++) h[i] = (h[i] as number) ^ ((d[i] ?? 0) as number);
  return h.toString('hex');
}

export const EMPTY_DIGEST = '00000000000000000000000000000000';

/** Swift's chexor input, name and created_at: the data timestamp, and the others when a POST set them. */
export function objectRowDigestKey(r: ObjectRow): string {
  const ctype = ctypeTimestampOf(r);
  const meta = metaTimestampOf(r);
  return ctype === r.timestamp && meta === ctype ? `${r.name}-${r.timestamp}` : `${r.name}-${r.timestamp}+${ctype}+${meta}`;
}

export function containerRowDigestKey(r: ContainerRow): string {
  return `${r.name}-${r.putTimestamp}-${r.deleteTimestamp}-${r.objectCount}-${r.bytesUsed}`;
}
