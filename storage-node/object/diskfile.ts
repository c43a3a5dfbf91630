import { createHash, type Hash } from 'node:crypto';
import { closeSync, rmdirSync } from 'node:fs';
import { mkdir, readdir, readFile, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { crc32c } from '../../common/native-sums.js';
import { isSwiftletError, SwiftletError } from '../../common/errors.js';
import { Timestamp } from '../../common/timestamp.js';
import { closeQuietly, fdatasync, fstatSize, ftruncateFd, openFd, readAt } from './fd.js';
import { DIRECT_IO_ABOVE_BYTES, DirectWriter, wantsDirect } from './direct-io.js';
import { groupSyncOf, type GroupSync } from '../group-sync.js';
import { asDiskError, discardTempFile, errnoOf, fsyncDir, fsyncDirsSync, invalidateSuffix, makeDirs, openTempFile, renameIntoDir, SYNC_WRITE_BYTES, totalLength, writeAllAt, writeAllAtSync, writeFileDurable, type TempFile } from './fs-durable.js';
import { objectLocation, objectsDirOf, onDiskName, quarantineDirOf, type ObjectLocation, type OnDiskFile } from './layout.js';
import { crcHex } from '../../common/checksum.js';
import { encodeTrailer, M, mergeMetaFile, parseMetadataJson, parseTrailer, type ObjectMetadata } from './metadata.js';
import { cleanupHashDirSync, readHashDir } from './ondisk.js';

/**
 * The object disk layer: one object's files in its hash dir (docs/BACKEND.md). Reading picks the
 * newest .data/.ts and applies a newer .meta; writing is temp → fsync → rename → fsync dir →
 * cleanup → invalidate the suffix. Corrupt files are moved to quarantine. The replicator and
 * auditor reuse the listing, metadata and verification helpers at the bottom.
 */

/** Bytes read from the end of a .data to find the trailer; one read covers ordinary metadata. */
const TAIL_READ = 4096;

/** An open .data file and the object's effective metadata. Close it when done. */
export interface OpenObject {
  loc: ObjectLocation;
  dataFile: OnDiskFile;
  metaFile?: OnDiskFile;
  dataPath: string;
  /** The open .data (a plain fd: close() it). */
  fd: number;
  fileSize: number;
  bodyLength: number;
  /** The .data's own metadata. */
  dataMetadata: ObjectMetadata;
  /** The effective metadata: the .data's, with a newer .meta applied. */
  metadata: ObjectMetadata;
  dataTimestamp: Timestamp;
  /** X-Timestamp of the effective metadata (the .meta's when one applies). */
  timestamp: Timestamp;
  /** The whole body when open() was asked to read small files whole. */
  body?: Buffer;
  close(): Promise<void>;
}

export type ObjectLookup =
  | { kind: 'missing' }
  | { kind: 'deleted'; timestamp: Timestamp }
  /** The .data was corrupt and has been quarantined: answer as if missing. */
  | { kind: 'quarantined' }
  | { kind: 'live'; object: OpenObject };

export interface LoadOptions {
  fsync: boolean;
  /** Read this many bytes from the start first: files shorter than that are read whole in one go (GET). */
  readFirst?: number;
}

/**
 * Finds and opens an object. A file removed between the listing and the open (a concurrent
 * write's cleanup) makes it list again.
 */
export async function loadObject(loc: ObjectLocation, opts: LoadOptions): Promise<ObjectLookup> {
  for (let attempt = 0; ; attempt++) {
    const files = await readHashDir(loc.hashDir);
    if (files.tombstone) return { kind: 'deleted', timestamp: files.tombstone.timestamp };
    if (!files.data) return { kind: 'missing' };
    try {
      const object = await openDataFile(loc, files.data, files.meta, opts.readFirst ?? 0);
      return { kind: 'live', object };
    } catch (e) {
      if (errnoOf(e) === 'ENOENT' && attempt < 3) continue;
      if (isSwiftletError(e, 'CORRUPT')) {
        const bad = (e.details.file as string | undefined) ?? join(loc.hashDir, files.data.name);
        await quarantineFile(loc, bad, opts.fsync);
        return { kind: 'quarantined' };
      }
      throw e;
    }
  }
}

async function readFullyAt(fd: number, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const bytesRead = await readAt(fd, buf, done, length - done, position + done);
    if (bytesRead === 0) throw new SwiftletError('CORRUPT', 'data file shorter than its size');
    done += bytesRead;
  }
  return buf;
}

/**
 * Opens a .data file, reads its trailer and applies `meta` when given. Throws CORRUPT
 * (details.file) or an fs error. With `readFirst`, the first that many bytes are read before
 * anything else: a file shorter than that is then known whole without an fstat (small GETs cost
 * open + one read).
 */
export async function openDataFile(loc: ObjectLocation, dataFile: OnDiskFile, metaFile: OnDiskFile | undefined, readFirst = 0): Promise<OpenObject> {
  const dataPath = join(loc.hashDir, dataFile.name);
  const fd = await openFd(dataPath, 'r');
  try {
    let found: { fileSize: number; bodyLength: number; metadata: ObjectMetadata; whole?: Buffer } | undefined;
    if (readFirst > 0) {
      const head = Buffer.allocUnsafe(readFirst);
      const bytesRead = await readAt(fd, head, 0, readFirst, 0);
      if (bytesRead < readFirst) {
        const whole = head.subarray(0, bytesRead);
        try {
          const p = parseTrailer(whole, bytesRead);
          if (p.ok) found = { fileSize: bytesRead, bodyLength: p.bodyLength, metadata: p.metadata, whole };
        } catch {
          /* decide on the fstat path below: a short read is not proof of corruption */
        }
      }
    }
    found ??= await readTrailer(fd, dataPath);
    const dataMetadata = found.metadata;
    let metadata = dataMetadata;
    if (metaFile) {
      const metaPath = join(loc.hashDir, metaFile.name);
      const raw = await readFile(metaPath);
      metadata = mergeMetaFile(dataMetadata, tagged(() => parseMetadataJson(raw), metaPath), dataFile.timestamp);
    }
    const timestamp = Timestamp.tryParse(metadata[M.timestamp]) ?? (metaFile ?? dataFile).timestamp;
    const out: OpenObject = {
      loc,
      dataFile,
      dataPath,
      fd,
      fileSize: found.fileSize,
      bodyLength: found.bodyLength,
      dataMetadata,
      metadata,
      dataTimestamp: dataFile.timestamp,
      timestamp,
      close: () => closeQuietly(fd),
    };
    if (metaFile) out.metaFile = metaFile;
    if (found.whole) out.body = found.whole.subarray(0, found.bodyLength);
    return out;
  } catch (e) {
    await closeQuietly(fd);
    throw e;
  }
}

/** fstat, then the last TAIL_READ bytes (and more when the metadata is bigger). */
async function readTrailer(fd: number, dataPath: string): Promise<{ fileSize: number; bodyLength: number; metadata: ObjectMetadata; whole?: Buffer }> {
  const fileSize = await fstatSize(fd);
  const tailLen = Math.min(fileSize, TAIL_READ);
  const tail = await readFullyAt(fd, tailLen, fileSize - tailLen);
  let parsed = tagged(() => parseTrailer(tail, fileSize), dataPath);
  if (!parsed.ok) {
    const more = await readFullyAt(fd, parsed.need, fileSize - parsed.need);
    parsed = tagged(() => parseTrailer(more, fileSize), dataPath);
    if (!parsed.ok) throw new SwiftletError('CORRUPT', `unreadable trailer: ${dataPath}`, { details: { file: dataPath } });
  }
  const out: { fileSize: number; bodyLength: number; metadata: ObjectMetadata; whole?: Buffer } = { fileSize, bodyLength: parsed.bodyLength, metadata: parsed.metadata };
  if (tailLen === fileSize) out.whole = tail;
  return out;
}

/** Runs a parser, pinning a CORRUPT error to the file it came from. */
function tagged<T>(f: () => T, file: string): T {
  try {
    return f();
  } catch (e) {
    if (isSwiftletError(e, 'CORRUPT')) throw new SwiftletError('CORRUPT', `${e.message}: ${file}`, { cause: e, details: { file } });
    throw e;
  }
}

/**
 * Moves a corrupt file aside to `<device>/quarantined/objects[-<policy>]/<hash>/` and invalidates its suffix
 * so the replicator restores a good copy. Never throws (the request is answered 404 anyway).
 */
export async function quarantineFile(loc: ObjectLocation, file: string, fsync: boolean): Promise<void> {
  const dir = join(quarantineDirOf(loc.devicePath, loc.policy), loc.hash);
  try {
    await mkdir(dir, { recursive: true });
    await rename(file, join(dir, basename(file)));
    if (fsync) await fsyncDir(loc.hashDir).catch(() => undefined);
    await invalidateSuffix(loc.partitionDir, loc.suffix);
  } catch {
    /* already moved by a concurrent reader, or the disk is failing: nothing more to do here */
  }
}

// ---- writing ----

/**
 * Streams a new .data into a temp file at explicit offsets (never fh.createWriteStream: after a
 * pipe, fh.close() can hang on Node 20), hashing md5 and CRC32C on the way. Chunks are gathered
 * up to FLUSH_BYTES and written with one writev; the temp file is only opened at the first flush,
 * so a small object costs a single write (body and trailer together, made synchronously up to
 * SYNC_WRITE_BYTES) and a PUT that fails before
 * its body is complete often never touches the disk.
 *
 * A body that reaches FLUSH_BYTES before its end is large and goes O_DIRECT from there
 * (direct-io.ts): past the page cache, like Swift dropping the cache behind large objects. Where
 * O_DIRECT is unavailable it is written through the page cache and synced as it arrives (Swift's
 * mb_per_sync): every SYNC_BYTES written, an fdatasync starts in the background while the body
 * keeps coming, so the final sync only has the tail left. Either way the final fdatasync before
 * the rename is what makes the object durable.
 */
export class DataFileWriter {
  static readonly FLUSH_BYTES = 1024 * 1024;
  static readonly SYNC_BYTES = 4 * 1024 * 1024;
  /** A whole object (body and trailer) up to this size is written with one synchronous writev. */
  static readonly SYNC_WRITE_BYTES = SYNC_WRITE_BYTES;
  private tmp: TempFile | undefined;
  private position = 0;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** Undefined when the caller gets the ETag from elsewhere (the proxy's checksum trailer). */
  private readonly md5: Hash | undefined;
  private crc = 0;
  private done = false;
  /** The background data sync in flight (never more than one), and where the last one started. */
  private syncing: Promise<void> | undefined;
  private syncError: unknown;
  private syncStartedAt = 0;
  /** A large body's O_DIRECT writer: undefined until the first flush decides, null for buffered writes. */
  private direct: DirectWriter | null | undefined;
  /** The body's length when the request said it. */
  private readonly sizeHint: number | undefined;
  /** The device's group commit (storage-node/group-sync.ts), entered when a buffered temp file is opened. */
  private group: GroupSync | undefined;

  constructor(
    private readonly devicePath: string,
    private readonly fsync: boolean,
    opts: { md5?: boolean; sizeHint?: number; directIoAboveBytes?: number } = {},
  ) {
    this.md5 = opts.md5 === false ? undefined : createHash('md5');
    this.sizeHint = opts.sizeHint;
    // O_DIRECT only for a body known (or, without a size, likely) to be large: a small one stays
    // in the page cache, where the next GET finds it.
    const above = opts.directIoAboveBytes ?? DIRECT_IO_ABOVE_BYTES;
    if (above === 0 || (opts.sizeHint !== undefined && !wantsDirect(opts.sizeHint, above))) this.direct = null;
  }

  /** Kept for callers that want the temp file at once; the writer opens it lazily otherwise. */
  static async create(devicePath: string, fsync: boolean): Promise<DataFileWriter> {
    const w = new DataFileWriter(devicePath, fsync);
    w.tmp = await openTempFile(devicePath);
    return w;
  }

  /** Body bytes accepted so far. */
  get bytesWritten(): number {
    return (this.direct ? this.direct.bytes : this.position) + this.pendingBytes;
  }

  /** Appends body chunks; resolves once they are buffered or written. */
  async write(bufs: Buffer[]): Promise<void> {
    for (const b of bufs) {
      this.md5?.update(b);
      this.crc = crc32c(b, this.crc);
      if (!this.direct) {
        this.pending.push(b);
        this.pendingBytes += b.length;
      }
    }
    let direct: DirectWriter | null;
    try {
      if (this.direct) return await this.direct.append(bufs);
      if (this.pendingBytes < DataFileWriter.FLUSH_BYTES) return;
      // A body that needs a flush before its end is large: from here on it goes O_DIRECT.
      direct = this.direct === undefined ? await this.openDirect() : null;
    } catch (e) {
      throw asDiskError(e, this.tmp?.path ?? this.devicePath);
    }
    if (direct) {
      const staged = this.pending;
      this.pending = [];
      this.pendingBytes = 0;
      return direct.append(staged).catch((e: unknown) => Promise.reject(asDiskError(e, this.tmp?.path ?? this.devicePath)));
    }
    await this.flush([]);
  }

  /**
   * For a body known to be large (the raw transfer): opens the temp file and its O_DIRECT writer
   * now instead of at the first flush, so the body can be received in place (directRegion).
   */
  async startDirect(): Promise<void> {
    if (this.direct !== undefined || this.position > 0 || this.pendingBytes > 0) return;
    try {
      await this.openDirect();
    } catch (e) {
      throw asDiskError(e, this.tmp?.path ?? this.devicePath);
    }
  }

  /**
   * Opens the O_DIRECT writer (null when the device or the slots say no). A body of known length
   * first sets the temp file's size to it: direct writes that extend a file make XFS force its
   * log (two disk flushes per 64 MiB file on this machine's loop device), writes inside it do not.
   */
  private async openDirect(): Promise<DirectWriter | null> {
    this.tmp ??= await openTempFile(this.devicePath);
    const direct = (await DirectWriter.open(this.devicePath, this.tmp.path, this.tmp.fd)) ?? null;
    this.direct = direct;
    if (direct && this.sizeHint !== undefined) await ftruncateFd(this.tmp.fd, this.sizeHint);
    return direct;
  }

  /**
   * Staging memory to receive up to `max` body bytes into (zero copy), or undefined when the body
   * is not going O_DIRECT or the staging slot is waiting for the disk (then use write()). After
   * filling its start, call landed() before anything else.
   */
  directRegion(max: number): Buffer | undefined {
    return this.direct && !this.pendingBytes ? this.direct.freeRegion(max) : undefined;
  }

  /** `n` body bytes were put at the start of `region` (from directRegion); a promise when the writer must catch up first. */
  landed(region: Buffer, n: number): Promise<void> | undefined {
    const got = region.subarray(0, n);
    this.md5?.update(got);
    this.crc = crc32c(got, this.crc);
    const wait = (this.direct as DirectWriter).advance(n);
    return wait?.catch((e: unknown) => Promise.reject(asDiskError(e, this.tmp?.path ?? this.devicePath)));
  }

  /** Writes the buffered chunks (plus `extra`, not part of the body) at the current offset. */
  private async flush(extra: Buffer[]): Promise<void> {
    const bufs = extra.length ? [...this.pending, ...extra] : this.pending;
    const at = this.position;
    this.position += this.pendingBytes;
    this.pending = [];
    this.pendingBytes = 0;
    try {
      if (!this.tmp) {
        // Buffered writes commit through the device's group commit, entered before the first one.
        this.group = this.fsync ? groupSyncOf(this.devicePath) : undefined;
        this.group?.enter();
        this.tmp = await openTempFile(this.devicePath);
      }
      // A small object's only write (body and trailer) lands in the page cache in microseconds:
      // made in place, it saves the thread-pool round trip, which costs more than the copy.
      if (at === 0 && extra.length && totalLength(bufs) <= DataFileWriter.SYNC_WRITE_BYTES) writeAllAtSync(this.tmp.fd, bufs, at);
      else await writeAllAt(this.tmp.fd, bufs, at);
    } catch (e) {
      throw asDiskError(e, this.tmp?.path ?? this.devicePath);
    }
    if (this.syncError !== undefined) throw asDiskError(this.syncError, this.tmp.path);
    if (this.fsync && !this.syncing && !extra.length && this.position - this.syncStartedAt >= DataFileWriter.SYNC_BYTES) {
      this.syncStartedAt = this.position;
      this.syncing = fdatasync(this.tmp.fd).then(
        () => {
          this.syncing = undefined;
        },
        (e: unknown) => {
          this.syncing = undefined;
          this.syncError ??= e;
        },
      );
    }
  }

  /** Waits for a background sync (before the fd is synced for good or closed); throws its error. */
  private async settleSync(): Promise<void> {
    if (this.syncing) await this.syncing;
    if (this.syncError !== undefined) throw this.syncError;
  }

  /** md5 hex of the body written so far. Call once, when the body is complete (not with `md5: false`). */
  etag(): string {
    if (!this.md5) throw new SwiftletError('INTERNAL', 'this writer computes no md5');
    return this.md5.digest('hex');
  }

  crc32c(): string {
    return crcHex(this.crc);
  }

  /**
   * Appends the metadata trailer, fsyncs, and renames the file into the hash dir as
   * `<timestamp>.data`, fsyncing the dir. The object is durable when this resolves.
   * `dirMissing`: the caller saw no hash dir, so it is created before the rename is tried.
   * `syncDir: false` leaves the hash dir's fsync (after the rename) to the caller.
   * `mayRename`, when given, is asked right before the rename, in the same synchronous step: no
   * other request of this process can write into the hash dir between its answer and the rename
   * (a conditional create). False: nothing is stored, PRECONDITION_FAILED.
   */
  async commit(loc: ObjectLocation, timestamp: Timestamp, metadata: ObjectMetadata, dirMissing = false, syncDir = true, mayRename?: () => boolean): Promise<void> {
    // A new hash dir is made before the file's data sync and its parents fsynced after it: the
    // data sync's journal commit carries the mkdirs too, so those fsyncs cost no I/O and are
    // made in place (fsyncDirsSync).
    let newDirParents: string[] | undefined;
    try {
      if (this.direct) {
        await this.direct.finish([encodeTrailer(metadata)]);
        await this.direct.close();
      } else {
        await this.flush([encodeTrailer(metadata)]);
      }
      const tmp = this.tmp as TempFile;
      if (dirMissing) newDirParents = makeDirs(loc.hashDir, loc.devicePath);
      await this.settleSync();
      if (this.fsync && this.group) {
        await this.group.sync(); // the data and the new dirs' entries, shared with the device's other writes
      } else if (this.fsync) {
        await fdatasync(tmp.fd);
        if (newDirParents) fsyncDirsSync(newDirParents);
      }
      closeSync(tmp.fd);
    } catch (e) {
      await this.abort();
      if (newDirParents) rmdirQuietly(loc.hashDir);
      throw asDiskError(e, this.tmp?.path ?? loc.hashDir);
    }
    if (mayRename && !mayRename()) {
      await this.abort();
      throw new SwiftletError('PRECONDITION_FAILED', `${loc.hashDir}: the object was created meanwhile`);
    }
    this.done = true;
    const tmp = this.tmp as TempFile;
    try {
      // renameIntoDir renames before its first await: still the step mayRename answered in.
      await renameIntoDir(tmp.path, loc.hashDir, onDiskName(timestamp, 'data'), loc.devicePath, this.fsync, syncDir, this.group);
    } finally {
      this.leaveGroup();
    }
  }

  private leaveGroup(): void {
    this.group?.leave();
    this.group = undefined;
  }

  /** Drops the temp file (short body, bad etag, disk error...). Safe to call twice. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    this.pending = [];
    // never close an fd a background sync is still using
    await this.settleSync().catch(() => undefined);
    await this.direct?.close();
    if (this.tmp) await discardTempFile(this.tmp);
    this.leaveGroup();
  }
}

/** Removes a folder if it is empty; never throws (a failed write's new hash dir). */
function rmdirQuietly(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    /* not empty (another write landed) or already gone */
  }
}

/** Writes a tombstone `<timestamp>.ts` holding `metadata` (X-Timestamp and name), durably (`syncDir`: see renameIntoDir). */
export async function writeTombstone(loc: ObjectLocation, timestamp: Timestamp, metadata: ObjectMetadata, fsync: boolean, syncDir = true): Promise<void> {
  await writeFileDurable(loc.devicePath, loc.hashDir, onDiskName(timestamp, 'ts'), Buffer.from(JSON.stringify(metadata)), fsync, syncDir);
}

/** Writes a POST's `<timestamp>.meta`, durably. */
export async function writeMetaFile(loc: ObjectLocation, timestamp: Timestamp, metadata: ObjectMetadata, fsync: boolean): Promise<void> {
  await writeFileDurable(loc.devicePath, loc.hashDir, onDiskName(timestamp, 'meta'), Buffer.from(JSON.stringify(metadata)), fsync);
}

/**
 * After any write into a hash dir: remove what it superseded, then tell the replicator the suffix
 * changed. `cleanup: false` when the dir held nothing before the write (a new object): the
 * re-listing would find nothing to remove, and a file left by a racing writer only costs space
 * until the replicator rehashes the (invalidated) suffix, which cleans up the same way.
 */
export async function finishWrite(loc: ObjectLocation, opts: { cleanup?: boolean } = {}): Promise<void> {
  if (opts.cleanup !== false) cleanupHashDirSync(loc.hashDir);
  await invalidateSuffix(loc.partitionDir, loc.suffix);
}

// ---- for the replicator, auditor and updater ----

const PARTITION_RE = /^\d+$/;
const SUFFIX_RE = /^[0-9a-f]{3}$/;
const HASH_RE = /^[0-9a-f]{32}$/;

async function listMatching(dir: string, re: RegExp): Promise<string[]> {
  try {
    return (await readdir(dir)).filter((n) => re.test(n)).sort();
  } catch (e) {
    if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') return [];
    throw e;
  }
}

/** Partitions that have a folder on a device, in storage policy `policy`'s objects folder. */
export async function listPartitions(devicePath: string, policy = 0): Promise<number[]> {
  return (await listMatching(objectsDirOf(devicePath, policy), PARTITION_RE)).map(Number).sort((a, b) => a - b);
}

export async function listSuffixes(devicePath: string, partition: number, policy = 0): Promise<string[]> {
  return listMatching(join(objectsDirOf(devicePath, policy), String(partition)), SUFFIX_RE);
}

export async function listHashes(devicePath: string, partition: number, suffix: string, policy = 0): Promise<string[]> {
  return listMatching(join(objectsDirOf(devicePath, policy), String(partition), suffix), HASH_RE);
}

export { objectLocation };

/** What is known of an object without streaming its body: state and effective metadata. */
export type ObjectInfo =
  | { kind: 'missing' }
  | { kind: 'deleted'; timestamp: Timestamp; metadata?: ObjectMetadata }
  | { kind: 'quarantined' }
  | { kind: 'live'; dataTimestamp: Timestamp; timestamp: Timestamp; bodyLength: number; metadata: ObjectMetadata; dataFile: OnDiskFile; metaFile?: OnDiskFile };

/** Reads an object's state and metadata (a corrupt .data is quarantined). */
export async function readObjectInfo(loc: ObjectLocation, fsync: boolean): Promise<ObjectInfo> {
  const found = await loadObject(loc, { fsync });
  if (found.kind !== 'live') return found;
  const o = found.object;
  await o.close();
  const info: ObjectInfo = { kind: 'live', dataTimestamp: o.dataTimestamp, timestamp: o.timestamp, bodyLength: o.bodyLength, metadata: o.metadata, dataFile: o.dataFile };
  if (o.metaFile) info.metaFile = o.metaFile;
  return info;
}

export type VerifyResult = { ok: true; metadata: ObjectMetadata; bodyLength: number } | { ok: false; reason: string };

/**
 * Reads a whole .data file and checks its body against the trailer's Content-Length, ETag and
 * X-Crc32c: the auditor's check. Does not quarantine; the caller decides.
 */
export async function verifyDataFile(path: string, chunkSize = 1 << 20): Promise<VerifyResult> {
  let fd: number;
  try {
    fd = await openFd(path, 'r');
  } catch (e) {
    return { ok: false, reason: `cannot open: ${errnoOf(e) ?? String(e)}` };
  }
  try {
    const { bodyLength, metadata: m } = await readTrailer(fd, path);
    const md5 = createHash('md5');
    let crc = 0;
    const buf = Buffer.allocUnsafe(Math.max(1, Math.min(chunkSize, bodyLength)));
    for (let pos = 0; pos < bodyLength; ) {
      const bytesRead = await readAt(fd, buf, 0, Math.min(buf.length, bodyLength - pos), pos);
      if (bytesRead === 0) return { ok: false, reason: 'short read' };
      const chunk = buf.subarray(0, bytesRead);
      md5.update(chunk);
      crc = crc32c(chunk, crc);
      pos += bytesRead;
    }
    if (m[M.crc32c] !== undefined && m[M.crc32c] !== crcHex(crc)) return { ok: false, reason: 'crc32c mismatch' };
    if (m[M.etag] !== undefined && m[M.etag] !== md5.digest('hex')) return { ok: false, reason: 'etag mismatch' };
    return { ok: true, metadata: m, bodyLength };
  } catch (e) {
    return { ok: false, reason: isSwiftletError(e) ? e.message : `read error: ${errnoOf(e) ?? String(e)}` };
  } finally {
    await closeQuietly(fd);
  }
}
