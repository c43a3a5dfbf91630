import { SwiftletError } from '../../common/errors.js';
import { changeLogOps, startChanges } from './changes.js';
import { key, keyPrefix } from './keys.js';
import { listRows, type ListingItem, type ListingQuery } from './listing.js';
import {
  chexor,
  clearedMetadata,
  EMPTY_DIGEST,
  mergeMetadata,
  mergeObjectRow,
  mergeRecord,
  newRecord,
  objectRowDigestKey,
  objectRowStats,
  policyOf,
  recordDeleted,
  sameObjectRow,
  type DbRecord,
  type Metadata,
  type ObjectRow,
  ZERO_TS,
} from './merge.js';
import { requireMetadataFits } from './metadata-limits.js';
import { reclaimIndexOps } from './reclaim-index.js';
import { GroupCommitter } from './mutex.js';
import {
  decodeObjectRow,
  encodeObjectRow,
  objectRowSeq,
  type AccountTarget,
  type BatchOp,
  type DeviceDb,
  type PendingUpdate,
  type StoredContainer,
} from './store.js';

/**
 * Container operations on a device database. Each write takes the container's mutex, reads the
 * record, and writes the record (with its stats), the rows and the pending account update in one
 * durable batch.
 */

export function containerLockKey(account: string, container: string): string {
  return `c\0${account}\0${container}`;
}

/** Swift's rule: deleted when the delete is newer than the put and no object is left. */
export function isContainerDeleted(c: StoredContainer): boolean {
  return recordDeleted(c) && c.objectCount === 0;
}

export async function getContainer(db: DeviceDb, account: string, container: string): Promise<StoredContainer | undefined> {
  return db.getJson<StoredContainer>(key('C', account, container));
}

/** The record, the pending-update marker that goes with a change, and the ops writing both. */
function recordOps(account: string, container: string, rec: StoredContainer, pending: PendingUpdate | undefined): BatchOp[] {
  const ops: BatchOp[] = [{ type: 'put', key: key('C', account, container), value: JSON.stringify(rec) }];
  if (pending) ops.push({ type: 'put', key: key('U', account, container), value: JSON.stringify(pending) });
  return ops;
}

/** The U marker for a change at `seq`: the new target if the request named one, else the old one. */
async function pendingFor(db: DeviceDb, account: string, container: string, seq: number, target: AccountTarget | undefined): Promise<PendingUpdate> {
  if (target) return { seq, target };
  const old = await db.getJson<PendingUpdate>(key('U', account, container));
  return old?.target ? { seq, target: old.target } : { seq };
}

function reportedChanged(a: StoredContainer, b: StoredContainer): boolean {
  return a.putTimestamp !== b.putTimestamp || a.deleteTimestamp !== b.deleteTimestamp || a.objectCount !== b.objectCount || a.bytesUsed !== b.bytesUsed;
}

export type PutResult = 'created' | 'accepted';

/** The storage policy a container PUT asks for: the client's choice, else the cluster default. */
export interface PolicyRequest {
  /** X-Backend-Storage-Policy-Index: an existing container with another policy is a CONFLICT. */
  requested?: number;
  /** X-Backend-Storage-Policy-Default: what a new container gets when nothing was requested. */
  fallback: number;
}

/**
 * PUT /d/p/a/c: creates the container, re-creates a deleted one, or merges the newer put
 * timestamp and metadata into an existing one. A new or re-created container takes the requested
 * policy (else the fallback); an existing one keeps its own, and asking it for another is a
 * CONFLICT whose details carry `policyIndex` (Swift's 409 with X-Backend-Storage-Policy-Index).
 * CONFLICT too when it stays deleted (the PUT is older than the delete); BAD_REQUEST (nothing
 * written) when the merged metadata would break Swift's limits (metadata-limits.ts).
 */
export async function putContainer(
  db: DeviceDb,
  account: string,
  container: string,
  timestamp: string,
  metadata: Metadata,
  target?: AccountTarget,
  policy: PolicyRequest = { fallback: 0 },
): Promise<{ result: PutResult; info: StoredContainer }> {
  return db.mutex.run(containerLockKey(account, container), async () => {
    const old = await getContainer(db, account, container);
    const index = policy.requested ?? policy.fallback;
    if (!old) {
      requireMetadataFits({}, metadata);
      const info: StoredContainer = {
        ...newRecord(timestamp),
        metadata,
        policy: { index, after: ZERO_TS, since: timestamp },
        objectCount: 0,
        bytesUsed: 0,
        digest: EMPTY_DIGEST,
        seq: 1,
        reclaimIndex: {},
      };
      await db.write(recordOps(account, container, info, await pendingFor(db, account, container, 1, target)));
      return { result: 'created', info };
    }
    const wasDeleted = isContainerDeleted(old);
    const current = policyOf(old).index;
    if (!wasDeleted && policy.requested !== undefined && policy.requested !== current) {
      throw new SwiftletError('CONFLICT', `container ${account}/${container} has storage policy ${current}`, { details: { policyIndex: current } });
    }
    const next: StoredContainer = {
      ...old,
      putTimestamp: old.putTimestamp >= timestamp ? old.putTimestamp : timestamp,
      metadata: mergeMetadata(old.metadata, metadata),
    };
    if (isContainerDeleted(next)) throw new SwiftletError('CONFLICT', `container ${account}/${container} was deleted after ${timestamp}`);
    // A new life for a deleted container: it takes the policy asked for now.
    if (wasDeleted) next.policy = { index, after: old.deleteTimestamp, since: timestamp };
    requireMetadataFits(old.metadata, next.metadata);
    if (wasDeleted && next.statusChangedAt < timestamp) next.statusChangedAt = timestamp;
    const changed = reportedChanged(old, next);
    if (changed) next.seq = old.seq + 1;
    await db.write(recordOps(account, container, next, changed ? await pendingFor(db, account, container, next.seq, target) : undefined));
    return { result: wasDeleted ? 'created' : 'accepted', info: next };
  });
}

/**
 * POST /d/p/a/c: merges metadata by timestamp and, as Swift's container server does
 * (broker.update_put_timestamp), moves the put timestamp (Last-Modified, X-PUT-Timestamp) to the
 * POST's when that is newer. The account lists that timestamp: a change leaves the pending
 * marker (for `target`, the account replica the proxy names as for a PUT), and the caller sends
 * the stats after answering, where Swift's container updater reports it later. NOT_FOUND when
 * missing or deleted; BAD_REQUEST (nothing written) when the merged metadata would break Swift's
 * limits (metadata-limits.ts).
 */
export async function postContainer(
  db: DeviceDb,
  account: string,
  container: string,
  timestamp: string,
  metadata: Metadata,
  target?: AccountTarget,
): Promise<{ info: StoredContainer; reported: boolean }> {
  return db.mutex.run(containerLockKey(account, container), async () => {
    const old = await getContainer(db, account, container);
    if (!old || isContainerDeleted(old)) throw new SwiftletError('NOT_FOUND', `no container ${account}/${container}`);
    const next: StoredContainer = {
      ...old,
      putTimestamp: old.putTimestamp >= timestamp ? old.putTimestamp : timestamp,
      metadata: mergeMetadata(old.metadata, metadata),
    };
    requireMetadataFits(old.metadata, next.metadata);
    const changed = reportedChanged(old, next);
    if (changed) next.seq = old.seq + 1;
    await db.write(recordOps(account, container, next, changed ? await pendingFor(db, account, container, next.seq, target) : undefined));
    return { info: next, reported: changed };
  });
}

/**
 * DELETE /d/p/a/c: marks the container deleted as of `timestamp` and clears its metadata.
 * 'deleted' if it existed, 'not-found' if it was already deleted (Swift records the newer
 * delete anyway); NOT_FOUND if it never existed; CONFLICT if it still has objects or was
 * re-created after `timestamp`.
 */
export async function deleteContainer(
  db: DeviceDb,
  account: string,
  container: string,
  timestamp: string,
  target?: AccountTarget,
): Promise<{ result: 'deleted' | 'not-found'; info: StoredContainer }> {
  return db.mutex.run(containerLockKey(account, container), async () => {
    const old = await getContainer(db, account, container);
    if (!old) throw new SwiftletError('NOT_FOUND', `no container ${account}/${container}`);
    if (old.objectCount > 0) throw new SwiftletError('CONFLICT', `container ${account}/${container} is not empty`);
    const existed = !isContainerDeleted(old);
    const next: StoredContainer = {
      ...old,
      deleteTimestamp: old.deleteTimestamp >= timestamp ? old.deleteTimestamp : timestamp,
      metadata: mergeMetadata(old.metadata, clearedMetadata(old.metadata, timestamp)),
    };
    if (!isContainerDeleted(next)) throw new SwiftletError('CONFLICT', `container ${account}/${container} was put after ${timestamp}`);
    if (existed && next.statusChangedAt < timestamp) next.statusChangedAt = timestamp;
    const changed = reportedChanged(old, next);
    if (changed) next.seq = old.seq + 1;
    await db.write(recordOps(account, container, next, changed ? await pendingFor(db, account, container, next.seq, target) : undefined));
    return { result: existed ? 'deleted' : 'not-found', info: next };
  });
}

/**
 * Merges a record from another replica (db replicator): timestamps and metadata by merge.ts
 * rules; creates the container if missing. Stats stay local (they follow the rows).
 */
export async function mergeContainerRecord(db: DeviceDb, account: string, container: string, record: DbRecord): Promise<StoredContainer> {
  return db.mutex.run(containerLockKey(account, container), async () => {
    const old = await getContainer(db, account, container);
    // A new database has no rows: its (empty) reclaim index is complete.
    const base = old ?? { ...record, objectCount: 0, bytesUsed: 0, digest: EMPTY_DIGEST, seq: 0, reclaimIndex: {} };
    const next: StoredContainer = { ...base, ...mergeRecord(base, record) };
    const changed = !old || reportedChanged(old, next);
    if (changed) next.seq = base.seq + 1;
    await db.write(recordOps(account, container, next, changed ? await pendingFor(db, account, container, next.seq, undefined) : undefined));
    return next;
  });
}

// ---------------------------------------------------------------------------------------------
// Object rows

export interface RowMergeJob {
  rows: ObjectRow[];
  /**
   * NOT_FOUND unless the container exists and is not deleted (object server updates). False for
   * replication, where rows may land in a deleted container (and bring it back, as in Swift).
   */
  requireLive: boolean;
  target?: AccountTarget;
}

export interface RowMergeResult {
  /** Rows that changed the database (older or identical rows change nothing). */
  changed: number;
  info: StoredContainer;
}

const rowCommitters = new WeakMap<DeviceDb, GroupCommitter<RowMergeJob, RowMergeResult>>();

/**
 * Merges object rows into a container, last writer wins; stats, digest and the pending account
 * update change in the same batch. Concurrent calls for one container are group-committed.
 */
export function mergeObjectRows(db: DeviceDb, account: string, container: string, job: RowMergeJob): Promise<RowMergeResult> {
  let gc = rowCommitters.get(db);
  if (!gc) {
    gc = new GroupCommitter<RowMergeJob, RowMergeResult>(db.mutex, (lockKey, jobs) => applyRowJobs(db, lockKey, jobs));
    rowCommitters.set(db, gc);
  }
  // The account and container ride in the lock key so one committer serves every container.
  return gc.submit(containerLockKey(account, container), job);
}

async function applyRowJobs(db: DeviceDb, lockKey: string, jobs: RowMergeJob[]): Promise<Array<RowMergeResult | Error>> {
  const [, account = '', container = ''] = lockKey.split('\0');
  // One read for the record and every row the batch touches (live and tombstone keys): each
  // LevelDB read is a trip through the thread pool, which costs more than the lookups themselves.
  // `slot`: a row name → the index of its live key in `keys`, its tombstone key right after.
  const slot = new Map<string, number>();
  const keys: Buffer[] = [key('C', account, container)];
  for (const job of jobs) {
    for (const r of job.rows) {
      if (slot.has(r.name)) continue;
      slot.set(r.name, keys.length);
      keys.push(key('O', account, container, r.name), key('T', account, container, r.name));
    }
  }
  const values = await db.getMany(keys);
  const oldRaw = values[0];
  const old = oldRaw === undefined ? undefined : (JSON.parse(oldRaw) as StoredContainer);
  const results: Array<RowMergeResult | Error> = new Array(jobs.length);
  const accepted: number[] = [];
  jobs.forEach((job, i) => {
    if (!old || (job.requireLive && isContainerDeleted(old))) results[i] = new SwiftletError('NOT_FOUND', `no container ${account}/${container}`);
    else accepted.push(i);
  });
  if (!old || !accepted.length) return results;

  // Fold every incoming row by name first: merge is associative and commutative.
  const incoming = new Map<string, ObjectRow>();
  let target: AccountTarget | undefined;
  for (const i of accepted) {
    const job = jobs[i] as RowMergeJob;
    if (job.target) target = job.target;
    for (const r of job.rows) {
      const seen = incoming.get(r.name);
      incoming.set(r.name, seen ? mergeObjectRow(seen, r) : r);
    }
  }
  const names = [...incoming.keys()];
  const at = names.map((n) => slot.get(n) as number);
  const liveKeys = at.map((i) => keys[i] as Buffer);
  const deadKeys = at.map((i) => keys[i + 1] as Buffer);
  const live = at.map((i) => values[i]);
  const dead = at.map((i) => values[i + 1]);

  const ops: BatchOp[] = [];
  let dCount = 0;
  let dBytes = 0;
  let digest = old.digest;
  // Every change takes the next sequence number and moves the row's change-log entry (changes.ts).
  const changes = startChanges(old);
  const changedByName = new Set<string>();
  let reclaimIndex = old.reclaimIndex;
  names.forEach((name, i) => {
    const row = incoming.get(name) as ObjectRow;
    const lv = live[i];
    const dv = dead[i];
    // Both present only if something went wrong before; merging them heals it.
    let prev: ObjectRow | undefined = lv === undefined ? undefined : decodeObjectRow(name, lv, false);
    if (dv !== undefined) {
      const t = decodeObjectRow(name, dv, true);
      prev = prev ? mergeObjectRow(prev, t) : t;
    }
    const next = prev ? mergeObjectRow(prev, row) : row;
    if (prev && sameObjectRow(prev, next) && !(lv !== undefined && dv !== undefined)) return;
    changedByName.add(name);
    const [putKey, delKey] = next.deleted ? [deadKeys[i] as Buffer, liveKeys[i] as Buffer] : [liveKeys[i] as Buffer, deadKeys[i] as Buffer];
    const seq = ++changes.rowSeq;
    ops.push({ type: 'put', key: putKey, value: encodeObjectRow(next, seq) });
    if ((next.deleted ? lv : dv) !== undefined) ops.push({ type: 'del', key: delKey });
    const oldSeqs = [lv, dv].map((v) => (v === undefined ? 0 : objectRowSeq(v)));
    ops.push(...changeLogOps('Q', [account, container], name, oldSeqs, seq));
    // The tombstone's entry in the reclaim index moves with it (reclaim-index.ts).
    const indexed = reclaimIndexOps('X', [account, container], name, dv === undefined ? undefined : decodeObjectRow(name, dv, true).timestamp, next.deleted ? next.timestamp : undefined, reclaimIndex);
    ops.push(...indexed.ops);
    reclaimIndex = indexed.state;
    const before = objectRowStats(prev);
    const after = objectRowStats(next);
    dCount += after.count - before.count;
    dBytes += after.bytes - before.bytes;
    if (prev) digest = chexor(digest, objectRowDigestKey(prev));
    digest = chexor(digest, objectRowDigestKey(next));
  });

  let info = old;
  if (ops.length) {
    info = { ...old, objectCount: old.objectCount + dCount, bytesUsed: old.bytesUsed + dBytes, digest, ...changes };
    if (reclaimIndex) info.reclaimIndex = reclaimIndex;
    const reported = dCount !== 0 || dBytes !== 0;
    if (reported) info.seq = old.seq + 1;
    const pending = reported ? await pendingFor(db, account, container, info.seq, target) : undefined;
    ops.push(...recordOps(account, container, info, pending));
    await db.write(ops);
  }
  for (const i of accepted) {
    const job = jobs[i] as RowMergeJob;
    results[i] = { changed: job.rows.filter((r) => changedByName.has(r.name)).length, info };
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// Reads

export async function listObjects(db: DeviceDb, account: string, container: string, q: ListingQuery): Promise<Array<ListingItem<ObjectRow>>> {
  const prefix = keyPrefix('O', account, container);
  return listRows((bounds, reverse) => db.cursor(prefix, bounds, reverse, (name, v) => decodeObjectRow(name, v, false)), q, (r) => r.deleted);
}

/** Every row of a container in name order, live ones or tombstones (replication, reclaim). */
export async function* objectRows(db: DeviceDb, account: string, container: string, which: 'live' | 'deleted'): AsyncGenerator<ObjectRow> {
  const deleted = which === 'deleted';
  for await (const { names, value } of db.scan(deleted ? 'T' : 'O', [account, container])) {
    yield decodeObjectRow(names[2] as string, value, deleted);
  }
}

// ---------------------------------------------------------------------------------------------
// Pending account updates (the U markers)

export interface PendingAccountUpdate extends PendingUpdate {
  account: string;
  container: string;
}

/** Containers whose latest stats the account server has not acknowledged yet. */
export async function listPendingAccountUpdates(db: DeviceDb, limit = Infinity): Promise<PendingAccountUpdate[]> {
  const out: PendingAccountUpdate[] = [];
  for await (const { names, value } of db.scan('U', [])) {
    const p = JSON.parse(value) as PendingUpdate;
    out.push({ account: names[0] as string, container: names[1] as string, ...p });
    if (out.length >= limit) break;
  }
  return out;
}

/**
 * The account server took stats as of `seq`: drop the marker unless a newer change came in
 * meanwhile. Not fsynced: losing the delete only means one more (harmless) update.
 */
export async function ackAccountUpdate(db: DeviceDb, account: string, container: string, seq: number): Promise<void> {
  await db.mutex.run(containerLockKey(account, container), async () => {
    const k = key('U', account, container);
    const p = await db.getJson<PendingUpdate>(k);
    if (p && p.seq <= seq) await db.write([{ type: 'del', key: k }], { sync: false });
  });
}
