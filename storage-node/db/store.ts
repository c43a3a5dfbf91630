import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { isDiskFullErrno, SwiftletError } from '../../common/errors.js';
import type { Logger } from '../../common/log.js';
import { keyNames, keyPrefix, prefixUpperBound, type KeyType } from './keys.js';
import type { NameBounds, NamedRow, RowCursor } from './listing.js';
import { containerRowDeleted, type ContainerRow, type DbRecord, type ObjectRow } from './merge.js';
import { KeyedMutex } from './mutex.js';
import type { ReclaimIndexState } from './reclaim-index.js';
import { groupSyncOf } from '../group-sync.js';

/**
 * One LevelDB per device (`<device>/db/`): the record/row codecs, durable batches, per-container
 * and per-account writer mutexes, and listing cursors. The operations themselves live in
 * container-db.ts and account-db.ts. Key schema: keys.ts.
 */

/** Where a container server sends its stats (from X-Account-Host/-Device/-Partition). */
export interface AccountTarget {
  host: string;
  device: string;
  partition: number;
}

/** A container as stored: its mergeable record plus stats derived from its rows. */
export interface StoredContainer extends DbRecord {
  objectCount: number;
  bytesUsed: number;
  /** chexor of every row (merge.ts): equal digests, equal row sets. */
  digest: string;
  /** Bumped whenever something the account server is told about changes (see PendingUpdate). */
  seq: number;
  /** Sequence number of the last row change (changes.ts); absent until the first row. */
  rowSeq?: number;
  /** Names this copy's change log in peers' sync points; new whenever the record is re-created. */
  replicaId?: string;
  /** What the reclaim index of its tombstones holds (reclaim-index.ts); absent: not built yet. */
  reclaimIndex?: ReclaimIndexState;
}

/** An account as stored: its mergeable record plus stats derived from its container rows. */
export interface StoredAccount extends DbRecord {
  containerCount: number;
  objectCount: number;
  bytesUsed: number;
  digest: string;
  /** As StoredContainer.rowSeq / replicaId / reclaimIndex, for container rows. */
  rowSeq?: number;
  replicaId?: string;
  reclaimIndex?: ReclaimIndexState;
}

/**
 * Written in the same batch as every change the account must hear about, deleted once the
 * account server acknowledged stats at least as new as `seq`: a crash or a failed update leaves
 * it behind for the updater (account-update.ts retryPendingAccountUpdates).
 */
export interface PendingUpdate {
  seq: number;
  target?: AccountTarget;
}

export type BatchOp = { type: 'put'; key: Buffer; value: string } | { type: 'del'; key: Buffer };

// ---------------------------------------------------------------------------------------------
// Codecs. Object rows are the hot path (a listing decodes 10,000 of them): a bare JSON array.

/**
 * `seq`: the change-log sequence of the write (changes.ts), appended so decoders ignore it. A row
 * an object POST touched carries its content-type and metadata timestamps after it (merge.ts).
 */
export function encodeObjectRow(r: ObjectRow, seq?: number): string {
  if (r.ctypeTimestamp === undefined && r.metaTimestamp === undefined) {
    return JSON.stringify(seq === undefined ? [r.timestamp, r.size, r.contentType, r.etag] : [r.timestamp, r.size, r.contentType, r.etag, seq]);
  }
  return JSON.stringify([r.timestamp, r.size, r.contentType, r.etag, seq ?? 0, r.ctypeTimestamp ?? null, r.metaTimestamp ?? null]);
}

/** The change-log sequence an object row was written with; 0 when it has none. */
export function objectRowSeq(v: string): number {
  const s = (JSON.parse(v) as unknown[])[4];
  return typeof s === 'number' ? s : 0;
}

export function decodeObjectRow(name: string, v: string, deleted: boolean): ObjectRow {
  const a = JSON.parse(v) as [string, number, string, string, number?, (string | null)?, (string | null)?];
  const row: ObjectRow = { name, timestamp: a[0], size: a[1], contentType: a[2], etag: a[3], deleted };
  if (typeof a[5] === 'string') row.ctypeTimestamp = a[5];
  if (typeof a[6] === 'string') row.metaTimestamp = a[6];
  return row;
}

export function encodeContainerRow(r: ContainerRow, seq?: number): string {
  const a: unknown[] = [r.putTimestamp, r.deleteTimestamp, r.objectCount, r.bytesUsed, r.statsTimestamp];
  if (seq !== undefined) a.push(seq);
  return JSON.stringify(a);
}

export function containerRowSeq(v: string): number {
  const s = (JSON.parse(v) as unknown[])[5];
  return typeof s === 'number' ? s : 0;
}

export function decodeContainerRow(name: string, v: string): ContainerRow {
  const [putTimestamp, deleteTimestamp, objectCount, bytesUsed, statsTimestamp] = JSON.parse(v) as [string, string, number, number, string];
  return { name, putTimestamp, deleteTimestamp, objectCount, bytesUsed, statsTimestamp, deleted: containerRowDeleted(putTimestamp, deleteTimestamp, objectCount) };
}

// ---------------------------------------------------------------------------------------------

/** Enough for a 1,000-row nextv() without LevelDB stopping early. */
const CURSOR_HIGH_WATER_BYTES = 1 << 20;

export class DeviceDb {
  /** Serializes writers: key "c\0<a>\0<c>" for a container, "a\0<a>" for an account. */
  readonly mutex = new KeyedMutex();

  private constructor(
    readonly path: string,
    private readonly db: ClassicLevel<Buffer, string>,
    private readonly sync: boolean,
    private readonly devicePath: string,
  ) {}

  static async open(devicePath: string, opts: { fsync: boolean }): Promise<DeviceDb> {
    const path = join(devicePath, 'db');
    const db = new ClassicLevel<Buffer, string>(path, { keyEncoding: 'buffer', valueEncoding: 'utf8' });
    try {
      await db.open();
    } catch (err) {
      throw new SwiftletError('INSUFFICIENT_STORAGE', `cannot open database ${path}`, { cause: err });
    }
    return new DeviceDb(path, db, opts.fsync, devicePath);
  }

  async close(): Promise<void> {
    await this.mutex.idle();
    await this.db.close();
  }

  /** What LevelDB holds in memory for this database: its memtables and its block cache (bounded by their sizes, 2 × 4 MiB and 8 MiB). */
  memoryBytes(): number {
    return Number(this.db.getProperty('leveldb.approximate-memory-usage'));
  }

  async getJson<T>(k: Buffer): Promise<T | undefined> {
    const v = await this.db.get(k);
    return v === undefined ? undefined : (JSON.parse(v) as T);
  }

  /**
   * A few keys are read in place: a LevelDB lookup in its memtable and caches takes microseconds,
   * a trip through the thread pool (two thread wake-ups) costs more. Many keys (a replication
   * batch) go to the thread pool, so a long read never holds the event loop.
   */
  async getMany(keys: Buffer[]): Promise<Array<string | undefined>> {
    if (keys.length > DeviceDb.READ_IN_PLACE_KEYS) return this.db.getMany(keys);
    return keys.map((k) => this.db.getSync(k));
  }

  static readonly READ_IN_PLACE_KEYS = 16;

  /**
   * Applies the ops atomically; durable before it resolves unless fsync is off: through the
   * device's group commit where it is on (storage-node/group-sync.ts: LevelDB writes its log
   * unsynced, and the syncfs shared with the device's object writes makes it durable), else
   * with LevelDB's own sync.
   */
  async write(ops: BatchOp[], opts: { sync?: boolean } = {}): Promise<void> {
    if (!ops.length) return;
    const sync = opts.sync ?? this.sync;
    const group = sync ? groupSyncOf(this.devicePath) : undefined;
    try {
      if (group) {
        group.enter();
        try {
          await this.db.batch(ops, { sync: false });
          await group.sync();
        } finally {
          group.leave();
        }
      } else {
        await this.db.batch(ops, { sync });
      }
    } catch (err) {
      const cause = (err as { cause?: unknown }).cause ?? err;
      if (isDiskFullErrno(cause) || /No space left/i.test(String((err as Error).message))) {
        throw new SwiftletError('DISK_FULL', `database ${this.path} is full`, { cause: err });
      }
      throw err;
    }
  }

  /** A listing cursor over the names under `prefix` (e.g. keyPrefix('O', a, c)). */
  cursor<R>(prefix: Buffer, bounds: NameBounds, reverse: boolean, decode: (name: string, v: string) => R): RowCursor<R> {
    const plen = prefix.length;
    const range: { gt?: Buffer; gte?: Buffer; lt: Buffer } = { lt: bounds.lt ? Buffer.concat([prefix, bounds.lt]) : prefixUpperBound(prefix) };
    if (bounds.gt) range.gt = Buffer.concat([prefix, bounds.gt]);
    else range.gte = bounds.gte ? Buffer.concat([prefix, bounds.gte]) : prefix;
    const it = this.db.iterator({ ...range, reverse, highWaterMarkBytes: CURSOR_HIGH_WATER_BYTES });
    return {
      async next(n: number): Promise<Array<NamedRow<R>>> {
        const entries = await it.nextv(n);
        const out: Array<NamedRow<R>> = new Array(entries.length);
        for (let i = 0; i < entries.length; i++) {
          const [k, v] = entries[i] as [Buffer, string];
          const name = k.toString('utf8', plen);
          out[i] = { name, row: decode(name, v) };
        }
        return out;
      },
      seek(target: Buffer): void {
        it.seek(Buffer.concat([prefix, target]));
      },
      close: () => it.close(),
    };
  }

  /** Every entry of a type under some names, in key order, in pages (for replicators and the updater). */
  async *scan(type: KeyType, names: string[], pageSize = 1000): AsyncGenerator<{ names: string[]; value: string }> {
    const prefix = keyPrefix(type, ...names);
    const it = this.db.iterator({ gte: prefix, lt: prefixUpperBound(prefix), highWaterMarkBytes: CURSOR_HIGH_WATER_BYTES });
    try {
      for (;;) {
        const page = await it.nextv(pageSize);
        if (!page.length) return;
        for (const [k, v] of page) yield { names: keyNames(k), value: v };
      }
    } finally {
      await it.close();
    }
  }
}

/** The device databases of a node, opened on first use and shared by all four db servers. */
export class DevicePool {
  private readonly dbs = new Map<string, Promise<DeviceDb>>();
  private closed = false;

  constructor(
    private readonly opts: { fsync: boolean; log: Logger },
  ) {}

  get(devicePath: string): Promise<DeviceDb> {
    // After close() a late request must not reopen (and leak the LevelDB lock of) a database.
    if (this.closed) return Promise.reject(new SwiftletError('INSUFFICIENT_STORAGE', 'storage node is shutting down'));
    let p = this.dbs.get(devicePath);
    if (!p) {
      p = DeviceDb.open(devicePath, this.opts);
      this.dbs.set(devicePath, p);
      // A failed open is not cached: the next request tries again (the disk may be back).
      p.catch((err: unknown) => {
        this.opts.log.error({ err, devicePath }, 'cannot open device database');
        if (this.dbs.get(devicePath) === p) this.dbs.delete(devicePath);
      });
    }
    return p;
  }

  /** The databases opened so far, by device path. */
  async open(): Promise<Map<string, DeviceDb>> {
    const out = new Map<string, DeviceDb>();
    for (const [path, p] of this.dbs) {
      try {
        out.set(path, await p);
      } catch {
        /* logged by get() */
      }
    }
    return out;
  }

  /** LevelDB's memory per open database, by device path (`/recon/memory`). */
  async memoryBytes(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const [path, db] of await this.open()) out[path] = db.memoryBytes();
    return out;
  }

  async close(): Promise<void> {
    this.closed = true;
    const all = await this.open();
    this.dbs.clear();
    await Promise.all([...all.values()].map((d) => d.close()));
  }
}
