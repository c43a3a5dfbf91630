import { createHash } from 'node:crypto';
import { SwiftletError } from '../../common/errors.js';
import { Timestamp } from '../../common/timestamp.js';
import { validName } from './keys.js';
import { containerRowDeleted, normalRow, type ContainerRow, type DbRecord, type Metadata, type ObjectRow } from './merge.js';

/**
 * What container/account db replication says on the wire (docs/BACKEND.md, "Database
 * replication"), and the checks every incoming message goes through. Both ends import this file.
 */

export type DbKind = 'container' | 'account';

/** One database: an account, or one container of it. */
export interface DbRef {
  account: string;
  container?: string;
}

/** What a replica says about its copy of a database. */
export interface DbState {
  record: DbRecord;
  /** chexor of the rows (merge.ts): equal digests, equal rows. */
  digest: string;
  /** Sequence of the last row change (changes.ts); 0 if none. */
  rowSeq: number;
  /** Names this copy's change log; absent until it has had a row. */
  replicaId?: string;
}

/** One database found on a device (the `list` op). */
export interface DbSummary extends DbRef, DbState {
  /** Deleted by Swift's rules (for containers: deleted and empty). */
  deleted: boolean;
  /**
   * `list` only: reclaim can remove something once its cut-off is past this timestamp (the
   * oldest deleted row or the database's delete); null: nothing to reclaim; absent (an older
   * node): unknown, ask.
   */
  reclaimFrom?: string | null;
}

/** `sync`: the sender's state; the receiver merges the record (creating the database if needed). */
export type SyncRequest = DbState;

export interface SyncResponse extends DbState {
  /** The database did not exist here before this call. */
  created: boolean;
  /** How far the receiver has merged the sender's change log (0: nothing known). */
  point: number;
}

/** `rows`: the rows changed after `since`, in change order. */
export interface RowsPage<R> {
  rows: R[];
  /** The last sequence this page covers (`since` when empty). */
  last: number;
  /** More changes may follow `last`. */
  more: boolean;
}

/** `merge`: rows of the sender's log, covering it up to `point`. */
export interface MergeRequest<R> {
  rows: R[];
  replicaId?: string;
  point: number;
}

export interface MergeResponse {
  digest: string;
  rowSeq: number;
  /** The sync point now recorded for the sender. */
  point: number;
}

/** `remove` only goes ahead if the copy has not changed since the sender pushed it. */
export interface RemoveGuard {
  rowSeq: number;
  recordHash: string;
}

export interface ReclaimResult {
  /** Deleted rows older than the cut-off that were dropped. */
  rows: number;
  /** The whole database was removed (deleted before the cut-off). */
  removed: boolean;
  /** The digest afterwards (reclaimed rows leave it). */
  digest: string;
}

/** Row batches pushed in one `merge` (and read in one `rows` page). */
export const ROWS_PER_BATCH = 500;
/** Databases per `list` page. */
export const DBS_PER_PAGE = 200;
/** Largest request body a replication handler reads. */
export const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** Equal hashes, equal records (metadata in key order; a container's policy when it has one stored). */
export function recordHash(r: DbRecord): string {
  const meta = Object.keys(r.metadata)
    .sort()
    .map((k) => [k, r.metadata[k]]);
  const fields: unknown[] = [r.createdAt, r.putTimestamp, r.deleteTimestamp, r.statusChangedAt, meta];
  if (r.policy) fields.push([r.policy.index, r.policy.after, r.policy.since]);
  return createHash('md5').update(JSON.stringify(fields)).digest('hex');
}

/** Only the mergeable fields: stats, digests and replica ids stay with their copy. */
export function pickRecord(r: DbRecord): DbRecord {
  const out: DbRecord = { createdAt: r.createdAt, putTimestamp: r.putTimestamp, deleteTimestamp: r.deleteTimestamp, statusChangedAt: r.statusChangedAt, metadata: r.metadata };
  if (r.policy) out.policy = r.policy;
  return out;
}

// ---------------------------------------------------------------------------------------------
// Checks on what arrives (a bad message is BAD_REQUEST, never a half-applied merge).

function bad(what: string): never {
  throw new SwiftletError('BAD_REQUEST', `invalid replication message: ${what}`);
}

function obj(x: unknown, what: string): Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) bad(what);
  return x as Record<string, unknown>;
}

/** A timestamp in internal form (the merges compare them as strings). */
function ts(x: unknown, what: string): string {
  if (typeof x !== 'string' || Timestamp.tryParse(x)?.internal !== x) bad(what);
  return x;
}

function str(x: unknown, what: string): string {
  if (typeof x !== 'string') bad(what);
  return x;
}

function count(x: unknown, what: string): number {
  if (typeof x !== 'number' || !Number.isSafeInteger(x) || x < 0) bad(what);
  return x;
}

function name(x: unknown, what: string): string {
  if (typeof x !== 'string' || !validName(x)) bad(what);
  return x;
}

export function parseRecord(x: unknown): DbRecord {
  const o = obj(x, 'record');
  const m = obj(o.metadata, 'metadata');
  const metadata: Metadata = {};
  for (const [k, v] of Object.entries(m)) {
    if (!Array.isArray(v) || v.length !== 2) bad('metadata');
    metadata[k] = [str(v[0], 'metadata value'), ts(v[1], 'metadata timestamp')];
  }
  const out: DbRecord = {
    createdAt: ts(o.createdAt, 'createdAt'),
    putTimestamp: ts(o.putTimestamp, 'putTimestamp'),
    deleteTimestamp: ts(o.deleteTimestamp, 'deleteTimestamp'),
    statusChangedAt: ts(o.statusChangedAt, 'statusChangedAt'),
    metadata,
  };
  if (o.policy !== undefined) {
    const p = obj(o.policy, 'policy');
    out.policy = { index: count(p.index, 'policy index'), after: ts(p.after, 'policy after'), since: ts(p.since, 'policy since') };
  }
  return out;
}

export function parseDbState(x: unknown): DbState {
  const o = obj(x, 'state');
  const out: DbState = { record: parseRecord(o.record), digest: str(o.digest, 'digest'), rowSeq: count(o.rowSeq, 'rowSeq') };
  if (o.replicaId !== undefined) out.replicaId = str(o.replicaId, 'replicaId');
  return out;
}

export function parseObjectRow(x: unknown): ObjectRow {
  const o = obj(x, 'row');
  if (typeof o.deleted !== 'boolean') bad('deleted');
  const row: ObjectRow = {
    name: name(o.name, 'row name'),
    timestamp: ts(o.timestamp, 'timestamp'),
    size: count(o.size, 'size'),
    contentType: str(o.contentType, 'contentType'),
    etag: str(o.etag, 'etag'),
    deleted: o.deleted,
  };
  // A row an object POST touched (merge.ts); absent from rows of older nodes.
  if (o.ctypeTimestamp !== undefined) row.ctypeTimestamp = ts(o.ctypeTimestamp, 'ctypeTimestamp');
  if (o.metaTimestamp !== undefined) row.metaTimestamp = ts(o.metaTimestamp, 'metaTimestamp');
  return normalRow(row);
}

export function parseContainerRow(x: unknown): ContainerRow {
  const o = obj(x, 'row');
  const putTimestamp = ts(o.putTimestamp, 'putTimestamp');
  const deleteTimestamp = ts(o.deleteTimestamp, 'deleteTimestamp');
  const objectCount = count(o.objectCount, 'objectCount');
  return {
    name: name(o.name, 'row name'),
    putTimestamp,
    deleteTimestamp,
    objectCount,
    bytesUsed: count(o.bytesUsed, 'bytesUsed'),
    statsTimestamp: ts(o.statsTimestamp, 'statsTimestamp'),
    // Derived, never trusted from the wire.
    deleted: containerRowDeleted(putTimestamp, deleteTimestamp, objectCount),
  };
}

export function parseMergeRequest<R>(x: unknown, parseRow: (r: unknown) => R): MergeRequest<R> {
  const o = obj(x, 'merge');
  if (!Array.isArray(o.rows) || o.rows.length > ROWS_PER_BATCH * 4) bad('rows');
  const out: MergeRequest<R> = { rows: o.rows.map(parseRow), point: count(o.point, 'point') };
  if (o.replicaId !== undefined) out.replicaId = str(o.replicaId, 'replicaId');
  return out;
}

export function parseRemoveGuard(x: unknown): RemoveGuard {
  const o = obj(x, 'guard');
  return { rowSeq: count(o.rowSeq, 'rowSeq'), recordHash: str(o.recordHash, 'recordHash') };
}

/** The query value of a timestamp (the reclaim cut-off). */
export function parseTimestampParam(x: string | null, what: string): string {
  return ts(x ?? undefined, what);
}
