import { SwiftletError } from '../../common/errors.js';
import { changeKey, seqString, type ChangeLogType } from './changes.js';
import { key, keyPrefix, type KeyType } from './keys.js';
import { chexor, EMPTY_DIGEST, mergeRecord, ZERO_TS, type DbRecord } from './merge.js';
import type { NameBounds } from './listing.js';
import type { BatchOp, DeviceDb } from './store.js';
import { parseIndexEntry, reclaimIndexKey, reclaimIndexPrefix, type ReclaimIndexState, type ReclaimIndexType } from './reclaim-index.js';
import {
  pickRecord,
  recordHash,
  type DbKind,
  type DbRef,
  type DbSummary,
  type MergeRequest,
  type MergeResponse,
  type ReclaimResult,
  type RemoveGuard,
  type RowsPage,
  type SyncRequest,
  type SyncResponse,
} from './replication-wire.js';

/**
 * The replication verbs on one device database, the same for containers and accounts: what
 * differs (keys, rows, merges, when something is reclaimable) is a ReplicaSchema
 * (replica-schemas.ts). The HTTP handlers (replication.ts) and the in-process client call these.
 */

/** A container or account as stored (StoredContainer, StoredAccount). */
export type StoredDb = DbRecord & { digest: string; rowSeq?: number; replicaId?: string; reclaimIndex?: ReclaimIndexState };

export interface ReplicaSchema<Rec extends StoredDb, Row> {
  kind: DbKind;
  /** Key type of the record (C / A), of the change log (Q / R), of the sync points (Y / Z). */
  recordType: KeyType;
  logType: ChangeLogType;
  syncType: KeyType;
  /** Every other key range of a database (rows, log, sync points): all go when it is removed. */
  rangeTypes: KeyType[];
  /** Single keys that go with it too (the container's pending account update). */
  extraKeys(ref: DbRef): Buffer[];
  /** The names under which its keys live: [a, c] or [a]. */
  names(ref: DbRef): string[];
  ref(names: string[]): DbRef;
  lockKey(ref: DbRef): string;
  get(db: DeviceDb, ref: DbRef): Promise<Rec | undefined>;
  /** Merges a record, creating the database if missing. */
  mergeRecord(db: DeviceDb, ref: DbRef, r: DbRecord): Promise<Rec>;
  /** Merges rows (LWW); NOT_FOUND if the database is missing. */
  mergeRows(db: DeviceDb, ref: DbRef, rows: Row[]): Promise<Rec>;
  /** The current rows of these names (those that exist). */
  readRows(db: DeviceDb, ref: DbRef, names: string[]): Promise<Row[]>;
  parseRow(x: unknown): Row;
  isDeleted(rec: Rec): boolean;
  /** The whole database may be removed: deleted before `before`, nothing live left. */
  reclaimable(rec: Rec, before: string): boolean;
  /** When the whole database becomes reclaimable as time passes (its delete), if it ever will as it stands. */
  reclaimableFrom(rec: Rec): string | undefined;
  /** Where deleted rows live, how to tell which are older than the cut-off, and their reclaim index. */
  reclaimRows: {
    type: KeyType;
    indexType: ReclaimIndexType;
    /** The timestamp a row is indexed under (reclaim-index.ts); undefined: not a deleted row. */
    indexedAt(row: Row): string | undefined;
    decode(name: string, v: string): Row;
    reclaimable(row: Row, before: string): boolean;
    digestKey(row: Row): string;
    seqOf(v: string): number;
  };
}

/** A schema whatever its row type (the verbs only pass rows through). */
export type AnySchema = ReplicaSchema<StoredDb, unknown>;

// ---------------------------------------------------------------------------------------------
// Sync points: "the rows of replica <id> are merged here up to seq N".

function syncKey(schema: AnySchema, ref: DbRef, replicaId: string): Buffer {
  return key(schema.syncType, ...schema.names(ref), replicaId);
}

async function getPoint(schema: AnySchema, db: DeviceDb, ref: DbRef, replicaId: string | undefined): Promise<number> {
  if (!replicaId) return 0;
  return (await db.getJson<number>(syncKey(schema, ref, replicaId))) ?? 0;
}

/**
 * Raises a sync point (never lowers it). Not fsynced: the rows it covers were written durably
 * first, and a lost point only means pushing those rows again.
 */
async function raisePoint(schema: AnySchema, db: DeviceDb, ref: DbRef, replicaId: string, point: number): Promise<number> {
  return db.mutex.run(schema.lockKey(ref), async () => {
    const k = syncKey(schema, ref, replicaId);
    const old = (await db.getJson<number>(k)) ?? 0;
    if (point <= old) return old;
    await db.write([{ type: 'put', key: k, value: JSON.stringify(point) }], { sync: false });
    return point;
  });
}

// ---------------------------------------------------------------------------------------------
// The verbs

function summary(schema: AnySchema, ref: DbRef, rec: StoredDb): DbSummary {
  const out: DbSummary = { ...ref, record: pickRecord(rec), digest: rec.digest, rowSeq: rec.rowSeq ?? 0, deleted: schema.isDeleted(rec) };
  if (rec.replicaId) out.replicaId = rec.replicaId;
  return out;
}

/**
 * From when reclaim has something to do here (DbSummary.reclaimFrom): the oldest entry of the
 * reclaim index or the database's own delete, whichever is older; ZERO_TS while the index is not
 * built (reclaim builds it); null when nothing is deleted.
 */
function reclaimFrom(schema: AnySchema, rec: StoredDb): string | null {
  if (!rec.reclaimIndex) return ZERO_TS;
  const at = [rec.reclaimIndex.oldest, schema.reclaimableFrom(rec)].filter((x): x is string => x !== undefined).sort();
  return at[0] ?? null;
}

/** The databases of a device after `after`, in key order. */
export async function listDbs(schema: AnySchema, db: DeviceDb, after: DbRef | undefined, limit: number): Promise<DbSummary[]> {
  const bounds = after ? { gt: Buffer.from(schema.names(after).join('\0'), 'utf8') } : {};
  const cur = db.cursor(keyPrefix(schema.recordType), bounds, false, (_name, v) => JSON.parse(v) as StoredDb);
  try {
    const out: DbSummary[] = [];
    while (out.length < limit) {
      const page = await cur.next(limit - out.length);
      if (!page.length) break;
      for (const { name, row } of page) out.push({ ...summary(schema, schema.ref(name.split('\0')), row), reclaimFrom: reclaimFrom(schema, row) });
    }
    return out;
  } finally {
    await cur.close();
  }
}

/** The state of one database (NOT_FOUND if missing). */
export async function dbInfo(schema: AnySchema, db: DeviceDb, ref: DbRef): Promise<DbSummary> {
  const rec = await schema.get(db, ref);
  if (!rec) throw new SwiftletError('NOT_FOUND', `no ${schema.kind} ${schema.names(ref).join('/')}`);
  return summary(schema, ref, rec);
}

/**
 * Merges the sender's record (creating the database here if needed) and says how far this copy
 * has merged the sender's log. Equal digests mean it has every row the sender had at `rowSeq`, so
 * the point moves there at once and the next change is all that will need pushing.
 */
export async function syncDb(schema: AnySchema, db: DeviceDb, ref: DbRef, req: SyncRequest): Promise<SyncResponse> {
  const old = await schema.get(db, ref);
  // The record only grows (merge.ts), so skipping an unneeded merge is safe and saves a write.
  let rec = old;
  if (!old || recordHash(mergeRecord(old, req.record)) !== recordHash(old)) rec = await schema.mergeRecord(db, ref, req.record);
  const cur = rec as StoredDb;
  let point = await getPoint(schema, db, ref, req.replicaId);
  if (req.replicaId && cur.digest === req.digest && req.rowSeq > point) point = await raisePoint(schema, db, ref, req.replicaId, req.rowSeq);
  return { ...summary(schema, ref, cur), created: !old, point };
}

/** The current rows changed after `since`, in change order (the sender side of a push). */
export async function rowsSince(schema: AnySchema, db: DeviceDb, ref: DbRef, since: number, limit: number): Promise<RowsPage<unknown>> {
  // Read before the log: every entry up to this sequence that still exists is in what follows.
  const upTo = (await schema.get(db, ref))?.rowSeq ?? 0;
  const cur = db.cursor(keyPrefix(schema.logType, ...schema.names(ref)), { gt: Buffer.from(seqString(since)) }, false, (_seq, name) => name);
  const entries: Array<{ name: string; row: string }> = [];
  try {
    while (entries.length < limit) {
      const page = await cur.next(limit - entries.length);
      if (!page.length) break;
      entries.push(...page);
    }
  } finally {
    await cur.close();
  }
  const more = entries.length === limit;
  // At the end of the log, the page covers every sequence up to the record's: the entries of the
  // last changes may be gone (reclaimed rows), and the peer need not be asked about them again.
  const last = Math.max(entries.length ? Number(entries[entries.length - 1]!.name) : since, more ? 0 : upTo);
  // A row changed since its entry was read is sent as it is now: newer, never older.
  const rows = await schema.readRows(db, ref, entries.map((e) => e.row));
  return { rows, last, more };
}

/** Merges pushed rows, then records that the sender's log is merged up to `point`. */
export async function mergePushed(schema: AnySchema, db: DeviceDb, ref: DbRef, req: MergeRequest<unknown>): Promise<MergeResponse> {
  const rec = await schema.mergeRows(db, ref, req.rows);
  const point = req.replicaId ? await raisePoint(schema, db, ref, req.replicaId, req.point) : 0;
  return { digest: rec.digest, rowSeq: rec.rowSeq ?? 0, point };
}

/**
 * Removes a database entirely (record, rows, log, sync points). With a guard, only if it has not
 * changed since (a handoff copy that every primary has): false when it has.
 */
export async function removeDb(schema: AnySchema, db: DeviceDb, ref: DbRef, guard?: RemoveGuard): Promise<boolean> {
  return db.mutex.run(schema.lockKey(ref), async () => {
    const rec = await schema.get(db, ref);
    if (!rec) return true;
    if (guard && ((rec.rowSeq ?? 0) > guard.rowSeq || recordHash(rec) !== guard.recordHash)) return false;
    await deleteAll(schema, db, ref);
    return true;
  });
}

const DELETES_PER_BATCH = 1000;

/** The first `n` keys under `prefix` within `bounds` (names below the prefix). */
async function firstKeys(db: DeviceDb, prefix: Buffer, bounds: NameBounds, n: number): Promise<Array<{ name: string }>> {
  const cur = db.cursor(prefix, bounds, false, () => null);
  try {
    return await cur.next(n);
  } finally {
    await cur.close();
  }
}

/**
 * Caller holds the database's mutex. Ranges go first and the record last: a crash half-way leaves
 * the record with fewer rows, which the next pass removes again, never rows without a record.
 */
async function deleteAll(schema: AnySchema, db: DeviceDb, ref: DbRef): Promise<void> {
  for (const type of schema.rangeTypes) {
    const prefix = keyPrefix(type, ...schema.names(ref));
    for (;;) {
      const page = await firstKeys(db, prefix, {}, DELETES_PER_BATCH);
      if (!page.length) break;
      await db.write(page.map(({ name }) => ({ type: 'del' as const, key: Buffer.concat([prefix, Buffer.from(name, 'utf8')]) })));
    }
  }
  await db.write([...schema.extraKeys(ref), key(schema.recordType, ...schema.names(ref))].map((k) => ({ type: 'del' as const, key: k })));
}

/**
 * Drops deleted rows older than `before` (row, log entry and index entry, digest adjusted in the
 * same batch), or the whole database if it was deleted before `before`. Swift's rule: anything
 * deleted longer ago than reclaim_age has reached every replica, so no copy can bring the old row
 * back. Reads only the reclaim index below the cut-off (reclaim-index.ts), building the index
 * first (one scan of the rows) for a database written before it existed. Holds the database's
 * mutex meanwhile (writers of this one database wait).
 */
export async function reclaimDb(schema: AnySchema, db: DeviceDb, ref: DbRef, before: string): Promise<ReclaimResult> {
  return db.mutex.run(schema.lockKey(ref), async () => {
    let rec = await schema.get(db, ref);
    if (!rec) throw new SwiftletError('NOT_FOUND', `no ${schema.kind} ${schema.names(ref).join('/')}`);
    if (schema.reclaimable(rec, before)) {
      await deleteAll(schema, db, ref);
      return { rows: 0, removed: true, digest: EMPTY_DIGEST };
    }
    const built = !rec.reclaimIndex;
    if (!rec.reclaimIndex) rec = { ...rec, reclaimIndex: await buildReclaimIndex(schema, db, ref) };
    const oldest = rec.reclaimIndex?.oldest;
    if (oldest === undefined || oldest >= before) {
      if (built) await db.write([putRecordOp(schema, ref, rec)]);
      return { rows: 0, removed: false, digest: rec.digest };
    }
    const names = schema.names(ref);
    const rr = schema.reclaimRows;
    const prefix = reclaimIndexPrefix(rr.indexType, names);
    let rows = 0;
    for (;;) {
      // Each page from a fresh cursor: what the last batch deleted is gone from it.
      const page = await firstKeys(db, prefix, { lt: Buffer.from(before, 'utf8') }, DELETES_PER_BATCH);
      if (!page.length) break;
      const entries = page.map((e) => parseIndexEntry(e.name));
      const values = await db.getMany(entries.map((e) => key(rr.type, ...names, e.name)));
      const ops: BatchOp[] = [];
      let digest: string = rec.digest;
      entries.forEach((e, i) => {
        ops.push({ type: 'del', key: reclaimIndexKey(rr.indexType, names, e.ts, e.name) });
        const v = values[i];
        if (v === undefined) return; // an entry without its row: only the entry goes
        const row = rr.decode(e.name, v);
        if (rr.indexedAt(row) !== e.ts || !rr.reclaimable(row, before)) return;
        ops.push({ type: 'del', key: key(rr.type, ...names, e.name) });
        const seq = rr.seqOf(v);
        if (seq) ops.push({ type: 'del', key: changeKey(schema.logType, names, seq) });
        digest = chexor(digest, rr.digestKey(row));
        rows++;
      });
      rec = { ...rec, digest };
      ops.push(putRecordOp(schema, ref, rec));
      await db.write(ops);
    }
    // What is left is at least as new as the cut-off: the first entry says how much.
    const next = await firstKeys(db, prefix, {}, 1);
    rec = { ...rec, reclaimIndex: next.length ? { oldest: parseIndexEntry(next[0]!.name).ts } : {} };
    await db.write([putRecordOp(schema, ref, rec)]);
    return { rows, removed: false, digest: rec.digest };
  });
}

/**
 * Indexes every deleted row of a database written before the reclaim index existed: one scan of
 * its rows, once. Caller holds the mutex and writes the returned state into the record.
 */
async function buildReclaimIndex(schema: AnySchema, db: DeviceDb, ref: DbRef): Promise<ReclaimIndexState> {
  const names = schema.names(ref);
  const rr = schema.reclaimRows;
  let oldest: string | undefined;
  let ops: BatchOp[] = [];
  for await (const { names: k, value } of db.scan(rr.type, names, DELETES_PER_BATCH)) {
    const name = k[names.length] as string;
    const ts = rr.indexedAt(rr.decode(name, value));
    if (ts === undefined) continue;
    ops.push({ type: 'put', key: reclaimIndexKey(rr.indexType, names, ts, name), value: '' });
    if (oldest === undefined || ts < oldest) oldest = ts;
    if (ops.length >= DELETES_PER_BATCH) {
      await db.write(ops);
      ops = [];
    }
  }
  await db.write(ops);
  return oldest === undefined ? {} : { oldest };
}

function putRecordOp(schema: AnySchema, ref: DbRef, rec: StoredDb): BatchOp {
  return { type: 'put', key: key(schema.recordType, ...schema.names(ref)), value: JSON.stringify(rec) };
}
