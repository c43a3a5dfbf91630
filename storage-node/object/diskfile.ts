import { createHash, type Hash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rename, type FileHandle } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { isSwiftletError, SwiftletError } from '../../common/errors.js';
import { Timestamp } from '../../common/timestamp.js';
import { asDiskError, discardTempFile, errnoOf, fsyncDir, invalidateSuffix, openTempFile, renameIntoDir, writeAllAt, writeFileDurable, type TempFile } from './fs-durable.js';
import { OBJECTS_DIR, objectLocation, onDiskName, QUARANTINE_DIR, type ObjectLocation, type OnDiskFile } from './layout.js';
import { crcHex, encodeTrailer, M, mergeMetaFile, parseMetadataJson, parseTrailer, type ObjectMetadata } from './metadata.js';
import { cleanupHashDir, readHashDir } from './ondisk.js';

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
  fh: FileHandle;
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
  /** Read the whole file in one pread when it is at most this big (GET of small objects). */
  readWholeUpTo?: number;
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
      const object = await openDataFile(loc, files.data, files.meta, opts.readWholeUpTo ?? 0);
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

async function readFullyAt(fh: FileHandle, length: number, position: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(buf, done, length - done, position + done);
    if (bytesRead === 0) throw new SwiftletError('CORRUPT', 'data file shorter than its size');
    done += bytesRead;
  }
  return buf;
}

/** Opens a .data file, reads its trailer and applies `meta` when given. Throws CORRUPT (details.file) or an fs error. */
export async function openDataFile(loc: ObjectLocation, dataFile: OnDiskFile, metaFile: OnDiskFile | undefined, readWholeUpTo = 0): Promise<OpenObject> {
  const dataPath = join(loc.hashDir, dataFile.name);
  const fh = await open(dataPath, 'r');
  try {
    const fileSize = (await fh.stat()).size;
    const whole = fileSize <= readWholeUpTo;
    const tailLen = whole ? fileSize : Math.min(fileSize, TAIL_READ);
    const tail = await readFullyAt(fh, tailLen, fileSize - tailLen);
    let parsed = tagged(() => parseTrailer(tail, fileSize), dataPath);
    if (!parsed.ok) {
      const need = parsed.need;
      const more = await readFullyAt(fh, need, fileSize - need);
      parsed = tagged(() => parseTrailer(more, fileSize), dataPath);
      if (!parsed.ok) throw new SwiftletError('CORRUPT', 'unreadable trailer', { details: { file: dataPath } });
    }
    const dataMetadata = parsed.metadata;
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
      fh,
      fileSize,
      bodyLength: parsed.bodyLength,
      dataMetadata,
      metadata,
      dataTimestamp: dataFile.timestamp,
      timestamp,
      close: () => fh.close().catch(() => undefined),
    };
    if (metaFile) out.metaFile = metaFile;
    if (whole) out.body = tail.subarray(0, parsed.bodyLength);
    return out;
  } catch (e) {
    await fh.close().catch(() => undefined);
    throw e;
  }
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
 * Moves a corrupt file aside to `<device>/quarantined/objects/<hash>/` and invalidates its suffix
 * so the replicator restores a good copy. Never throws (the request is answered 404 anyway).
 */
export async function quarantineFile(loc: ObjectLocation, file: string, fsync: boolean): Promise<void> {
  const dir = join(loc.devicePath, QUARANTINE_DIR, loc.hash);
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
 * pipe, fh.close() can hang on Node 20), hashing md5 and CRC32C on the way.
 */
export class DataFileWriter {
  private position = 0;
  private readonly md5: Hash = createHash('md5');
  private crc = 0;
  private done = false;

  private constructor(
    private readonly tmp: TempFile,
    private readonly fsync: boolean,
  ) {}

  static async create(devicePath: string, fsync: boolean): Promise<DataFileWriter> {
    return new DataFileWriter(await openTempFile(devicePath), fsync);
  }

  get bytesWritten(): number {
    return this.position;
  }

  /** Appends body chunks (one writev); resolves when they are written. */
  async write(bufs: Buffer[]): Promise<void> {
    for (const b of bufs) {
      this.md5.update(b);
      this.crc = crc32c(b, this.crc);
    }
    const at = this.position;
    for (const b of bufs) this.position += b.length;
    try {
      await writeAllAt(this.tmp.fh, bufs, at);
    } catch (e) {
      throw asDiskError(e, this.tmp.path);
    }
  }

  /** md5 hex of the body written so far. Call once, when the body is complete. */
  etag(): string {
    return this.md5.digest('hex');
  }

  crc32c(): string {
    return crcHex(this.crc);
  }

  /**
   * Appends the metadata trailer, fsyncs, and renames the file into the hash dir as
   * `<timestamp>.data`, fsyncing the dir. The object is durable when this resolves.
   */
  async commit(loc: ObjectLocation, timestamp: Timestamp, metadata: ObjectMetadata): Promise<void> {
    this.done = true;
    try {
      await writeAllAt(this.tmp.fh, [encodeTrailer(metadata)], this.position);
      if (this.fsync) await this.tmp.fh.datasync();
      await this.tmp.fh.close();
    } catch (e) {
      await discardTempFile(this.tmp);
      throw asDiskError(e, this.tmp.path);
    }
    await renameIntoDir(this.tmp.path, loc.hashDir, onDiskName(timestamp, 'data'), loc.devicePath, this.fsync);
  }

  /** Drops the temp file (short body, bad etag, disk error...). Safe to call twice. */
  async abort(): Promise<void> {
    if (this.done) return;
    this.done = true;
    await discardTempFile(this.tmp);
  }
}

/** Writes a tombstone `<timestamp>.ts` holding `metadata` (X-Timestamp and name), durably. */
export async function writeTombstone(loc: ObjectLocation, timestamp: Timestamp, metadata: ObjectMetadata, fsync: boolean): Promise<void> {
  await writeFileDurable(loc.devicePath, loc.hashDir, onDiskName(timestamp, 'ts'), Buffer.from(JSON.stringify(metadata)), fsync);
}

/** Writes a POST's `<timestamp>.meta`, durably. */
export async function writeMetaFile(loc: ObjectLocation, timestamp: Timestamp, metadata: ObjectMetadata, fsync: boolean): Promise<void> {
  await writeFileDurable(loc.devicePath, loc.hashDir, onDiskName(timestamp, 'meta'), Buffer.from(JSON.stringify(metadata)), fsync);
}

/** After any write into a hash dir: remove what it superseded, then tell the replicator the suffix changed. */
export async function finishWrite(loc: ObjectLocation): Promise<void> {
  await cleanupHashDir(loc.hashDir);
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

/** Partitions that have an objects/ folder on a device. */
export async function listPartitions(devicePath: string): Promise<number[]> {
  return (await listMatching(join(devicePath, OBJECTS_DIR), PARTITION_RE)).map(Number).sort((a, b) => a - b);
}

export async function listSuffixes(devicePath: string, partition: number): Promise<string[]> {
  return listMatching(join(devicePath, OBJECTS_DIR, String(partition)), SUFFIX_RE);
}

export async function listHashes(devicePath: string, partition: number, suffix: string): Promise<string[]> {
  return listMatching(join(devicePath, OBJECTS_DIR, String(partition), suffix), HASH_RE);
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
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    return { ok: false, reason: `cannot open: ${errnoOf(e) ?? String(e)}` };
  }
  try {
    const fileSize = (await fh.stat()).size;
    const tailLen = Math.min(fileSize, TAIL_READ);
    let parsed = parseTrailer(await readFullyAt(fh, tailLen, fileSize - tailLen), fileSize);
    if (!parsed.ok) parsed = parseTrailer(await readFullyAt(fh, parsed.need, fileSize - parsed.need), fileSize);
    if (!parsed.ok) return { ok: false, reason: 'unreadable trailer' };
    const md5 = createHash('md5');
    let crc = 0;
    const buf = Buffer.allocUnsafe(Math.max(1, Math.min(chunkSize, parsed.bodyLength)));
    for (let pos = 0; pos < parsed.bodyLength; ) {
      const n = Math.min(buf.length, parsed.bodyLength - pos);
      const { bytesRead } = await fh.read(buf, 0, n, pos);
      if (bytesRead === 0) return { ok: false, reason: 'short read' };
      const chunk = buf.subarray(0, bytesRead);
      md5.update(chunk);
      crc = crc32c(chunk, crc);
      pos += bytesRead;
    }
    const m = parsed.metadata;
    if (m[M.crc32c] !== undefined && m[M.crc32c] !== crcHex(crc)) return { ok: false, reason: 'crc32c mismatch' };
    if (m[M.etag] !== undefined && m[M.etag] !== md5.digest('hex')) return { ok: false, reason: 'etag mismatch' };
    return { ok: true, metadata: m, bodyLength: parsed.bodyLength };
  } catch (e) {
    return { ok: false, reason: isSwiftletError(e) ? e.message : `read error: ${errnoOf(e) ?? String(e)}` };
  } finally {
    await fh.close().catch(() => undefined);
  }
}
