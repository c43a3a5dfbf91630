import { SwiftletError } from '../../common/errors.js';
import { changeLogOps, startChanges } from './changes.js';
import { key, keyPrefix } from './keys.js';
import { listRows, type ListingItem, type ListingQuery } from './listing.js';
import {
  chexor,
  clearedMetadata,
  containerRowDigestKey,
  containerRowStats,
  EMPTY_DIGEST,
  mergeContainerRow,
  mergeMetadata,
  mergeRecord,
  newRecord,
  recordDeleted,
  sameContainerRow,
  type ContainerRow,
  type DbRecord,
  type Metadata,
} from './merge.js';
import { reclaimIndexOps } from './reclaim-index.js';
import { requireMetadataFits } from './metadata-limits.js';
import { GroupCommitter } from './mutex.js';
import { containerRowSeq, decodeContainerRow, encodeContainerRow, type BatchOp, type DeviceDb, type StoredAccount } from './store.js';

/**
 * Account operations on a device database: the account record with its stats, and the
 * container rows that container servers report. Same pattern as container-db.ts.
 */

export function accountLockKey(account: string): string {
  return `a\0${account}`;
}

/** Deleted once a DELETE is newer than the last PUT (Swift's status DELETED). */
export const isAccountDeleted = recordDeleted;

export async function getAccount(db: DeviceDb, account: string): Promise<StoredAccount | undefined> {
  return db.getJson<StoredAccount>(key('A', account));
}

function putRecord(account: string, rec: StoredAccount): BatchOp {
  return { type: 'put', key: key('A', account), value: JSON.stringify(rec) };
}

/**
 * PUT /d/p/a: creates the account, or merges the put timestamp and metadata. A deleted account is
 * not re-created ('deleted', nothing written): Swift answers 403 "Recently deleted" until the
 * reaper has emptied it and the db replicator has reclaimed its database (reclaim_age), and only
 * then may the name be used again. BAD_REQUEST (nothing written) when the merged metadata would
 * break Swift's limits (metadata-limits.ts).
 */
export async function putAccount(db: DeviceDb, account: string, timestamp: string, metadata: Metadata): Promise<{ result: 'created' | 'accepted' | 'deleted'; info: StoredAccount }> {
  return db.mutex.run(accountLockKey(account), async () => {
    const old = await getAccount(db, account);
    if (!old) {
      requireMetadataFits({}, metadata);
      const info: StoredAccount = { ...newRecord(timestamp), metadata, containerCount: 0, objectCount: 0, bytesUsed: 0, digest: EMPTY_DIGEST, reclaimIndex: {} };
      await db.write([putRecord(account, info)]);
      return { result: 'created', info };
    }
    if (isAccountDeleted(old)) return { result: 'deleted', info: old };
    const next: StoredAccount = {
      ...old,
      putTimestamp: old.putTimestamp >= timestamp ? old.putTimestamp : timestamp,
      metadata: mergeMetadata(old.metadata, metadata),
    };
    requireMetadataFits(old.metadata, next.metadata);
    await db.write([putRecord(account, next)]);
    return { result: 'accepted', info: next };
  });
}

/** POST /d/p/a: merges metadata. NOT_FOUND when missing or deleted; BAD_REQUEST as putAccount. */
export async function postAccount(db: DeviceDb, account: string, metadata: Metadata): Promise<StoredAccount> {
  return db.mutex.run(accountLockKey(account), async () => {
    const old = await getAccount(db, account);
    if (!old || isAccountDeleted(old)) throw new SwiftletError('NOT_FOUND', `no account ${account}`);
    const next = { ...old, metadata: mergeMetadata(old.metadata, metadata) };
    requireMetadataFits(old.metadata, next.metadata);
    await db.write([putRecord(account, next)]);
    return next;
  });
}

/**
 * DELETE /d/p/a: marks the account deleted and clears its metadata. Its containers stay (Swift's
 * reaper removes them). NOT_FOUND when missing or already deleted; CONFLICT if put after `timestamp`.
 */
export async function deleteAccount(db: DeviceDb, account: string, timestamp: string): Promise<StoredAccount> {
  return db.mutex.run(accountLockKey(account), async () => {
    const old = await getAccount(db, account);
    if (!old || isAccountDeleted(old)) throw new SwiftletError('NOT_FOUND', `no account ${account}`);
    const next: StoredAccount = {
      ...old,
      deleteTimestamp: old.deleteTimestamp >= timestamp ? old.deleteTimestamp : timestamp,
      metadata: mergeMetadata(old.metadata, clearedMetadata(old.metadata, timestamp)),
    };
    if (!isAccountDeleted(next)) throw new SwiftletError('CONFLICT', `account ${account} was put after ${timestamp}`);
    if (next.statusChangedAt < timestamp) next.statusChangedAt = timestamp;
    await db.write([putRecord(account, next)]);
    return next;
  });
}

/** Merges a record from another replica (db replicator); creates the account if missing. */
export async function mergeAccountRecord(db: DeviceDb, account: string, record: DbRecord): Promise<StoredAccount> {
  return db.mutex.run(accountLockKey(account), async () => {
    const old = await getAccount(db, account);
    // A new database has no rows: its (empty) reclaim index is complete.
    const base: StoredAccount = old ?? { ...record, containerCount: 0, objectCount: 0, bytesUsed: 0, digest: EMPTY_DIGEST, reclaimIndex: {} };
    const next: StoredAccount = { ...base, ...mergeRecord(base, record) };
    await db.write([putRecord(account, next)]);
    return next;
  });
}

// ---------------------------------------------------------------------------------------------
// Container rows

export interface ContainerRowJob {
  rows: ContainerRow[];
  /** NOT_FOUND unless the account exists and is not deleted (container server updates). */
  requireLive: boolean;
}

const committers = new WeakMap<DeviceDb, GroupCommitter<ContainerRowJob, StoredAccount>>();

/** Merges container rows into an account; its stats and digest change in the same batch. */
export function mergeContainerRows(db: DeviceDb, account: string, job: ContainerRowJob): Promise<StoredAccount> {
  let gc = committers.get(db);
  if (!gc) {
    gc = new GroupCommitter<ContainerRowJob, StoredAccount>(db.mutex, (lockKey, jobs) => applyContainerRowJobs(db, lockKey.slice(2), jobs));
    committers.set(db, gc);
  }
  return gc.submit(accountLockKey(account), job);
}

async function applyContainerRowJobs(db: DeviceDb, account: string, jobs: ContainerRowJob[]): Promise<Array<StoredAccount | Error>> {
  const old = await getAccount(db, account);
  const results: Array<StoredAccount | Error> = new Array(jobs.length);
  const incoming = new Map<string, ContainerRow>();
  const accepted: number[] = [];
  jobs.forEach((job, i) => {
    if (!old || (job.requireLive && isAccountDeleted(old))) {
      results[i] = new SwiftletError('NOT_FOUND', `no account ${account}`);
      return;
    }
    accepted.push(i);
    for (const r of job.rows) {
      const seen = incoming.get(r.name);
      incoming.set(r.name, seen ? mergeContainerRow(seen, r) : r);
    }
  });
  if (!old || !accepted.length) return results;

  const names = [...incoming.keys()];
  const keys = names.map((n) => key('K', account, n));
  const existing = await db.getMany(keys);
  const ops: BatchOp[] = [];
  const next: StoredAccount = { ...old };
  // Every change takes the next sequence number and moves the row's change-log entry (changes.ts).
  const changes = startChanges(old);
  names.forEach((name, i) => {
    const v = existing[i];
    const prev = v === undefined ? undefined : decodeContainerRow(name, v);
    const row = incoming.get(name) as ContainerRow;
    const merged = prev ? mergeContainerRow(prev, row) : row;
    if (prev && sameContainerRow(prev, merged)) return;
    const seq = ++changes.rowSeq;
    ops.push({ type: 'put', key: keys[i] as Buffer, value: encodeContainerRow(merged, seq) });
    ops.push(...changeLogOps('R', [account], name, [v === undefined ? 0 : containerRowSeq(v)], seq));
    // A deleted container row's entry in the reclaim index moves with it (reclaim-index.ts).
    const indexed = reclaimIndexOps('W', [account], name, prev?.deleted ? prev.deleteTimestamp : undefined, merged.deleted ? merged.deleteTimestamp : undefined, next.reclaimIndex);
    ops.push(...indexed.ops);
    if (indexed.state) next.reclaimIndex = indexed.state;
    const before = containerRowStats(prev);
    const after = containerRowStats(merged);
    next.containerCount += after.containers - before.containers;
    next.objectCount += after.objects - before.objects;
    next.bytesUsed += after.bytes - before.bytes;
    if (prev) next.digest = chexor(next.digest, containerRowDigestKey(prev));
    next.digest = chexor(next.digest, containerRowDigestKey(merged));
  });
  if (ops.length) {
    Object.assign(next, changes);
    ops.push(putRecord(account, next));
    await db.write(ops);
  }
  for (const i of accepted) results[i] = ops.length ? next : old;
  return results;
}

// ---------------------------------------------------------------------------------------------
// Reads

export async function listContainers(db: DeviceDb, account: string, q: ListingQuery): Promise<Array<ListingItem<ContainerRow>>> {
  const prefix = keyPrefix('K', account);
  return listRows((bounds, reverse) => db.cursor(prefix, bounds, reverse, decodeContainerRow), q, (r) => r.deleted);
}

/** Every container row of an account in name order, deleted ones included (replication). */
export async function* containerRows(db: DeviceDb, account: string): AsyncGenerator<ContainerRow> {
  for await (const { names, value } of db.scan('K', [account])) yield decodeContainerRow(names[1] as string, value);
}
