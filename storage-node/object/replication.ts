import { createHash, type Hash } from 'node:crypto';
import { crc32c } from '../../common/native-sums.js';
import { isSwiftletError, statusForCode, SwiftletError } from '../../common/errors.js';
import { hashPath } from '../../common/hash-path.js';
import { Timestamp } from '../../common/timestamp.js';
import type { ReplicateHandler, ReplicateRequest } from '../server.js';
import type { StorageNodeContext } from '../types.js';
import { receiveBody, type ChunkSink } from './body-receiver.js';
import { listHashes, verifyDataFile } from './diskfile.js';
import { closeFd, fdatasync } from './fd.js';
import { asDiskError, discardTempFile, invalidateSuffix, openTempFile, renameIntoDir, writeAllAt, writeFileDurable, type TempFile } from './fs-durable.js';
import { objectLocation, parseOnDiskName, type ObjectLocation, type OnDiskFile } from './layout.js';
import { POLICY_INDEX_HEADER } from '../../common/storage-policy.js';
import { crcHex } from '../../common/checksum.js';
import { runLimited } from '../../common/run-limited.js';
import { M, parseMetadataJson, parseTrailer, type ObjectMetadata } from './metadata.js';
import { classifyHashDirFiles, cleanupHashDir, listHashDir } from './ondisk.js';
import { requestPolicy, respond } from './request.js';
import { currentFiles, getSuffixHashes, isSuffix, partitionDigest, removePartitionIfEmpty } from './suffix-hashes.js';

/**
 * The storage-node side of object replication. Every request carries `X-Backend-Replicate: object`
 * (the router sends them here after the device check):
 *
 *   POST /<dev>/<part>[/<s1-s2-...>]     REPLICATE: rehash the listed (and invalidated) suffixes,
 *                                        answer 200 `{suffix: hash}`. Also accepted as method
 *                                        REPLICATE, which Node's HTTP parser cannot receive.
 *   GET  /<dev>/<part>/<s1-s2-...>       the current files of those suffixes: 200 `{hash: [names]}`
 *   PUT  /<dev>/<part>/<hash>/<file>     a pushed .data (body ‖ trailer, as on disk), .ts or .meta:
 *                                        201 stored; 200 already there or superseded (newest wins);
 *                                        422 corrupt; 400 bad name; 411 no Content-Length
 *   DELETE /<dev>/<part>                 drop the partition if it holds no object files (after a
 *                                        handoff revert): 204, or 409 when something is left
 *   POST /<dev>/digests?partitions=<p1,p2,...>
 *                                        the batched digest check: for each listed partition (at
 *                                        most MAX_DIGEST_PARTITIONS) what a REPLICATE would answer,
 *                                        folded into one md5 (suffix-hashes.ts partitionDigest):
 *                                        200 `{partition: digest}`, a partition holding nothing
 *                                        (or missing) left out
 *
 * Each works on the objects folder of the storage policy in X-Backend-Storage-Policy-Index
 * (absent: 0); a policy the node does not have is 503, as for object requests.
 */

export interface ObjectReplicationOptions {
  reclaimAgeS: number;
}

/** A pushed .ts or .meta is a small JSON file. */
const MAX_SMALL_FILE = 1 << 20;
/** Bytes of a pushed .data held back from hashing until the end, where the trailer is. */
const TRAILER_HOLD = 64 * 1024;
const HASH_RE = /^[0-9a-f]{32}$/;
/** The path segment after the device that names the batched digest check. */
export const DIGESTS_SEGMENT = 'digests';
/** Partitions one digest request may name. */
export const MAX_DIGEST_PARTITIONS = 1024;
const PARTITION_RE = /^(0|[1-9]\d{0,9})$/;
/** Partitions of one digest request whose hashes are read at once. */
const DIGEST_CONCURRENCY = 4;

export function createObjectReplicationHandler(ctx: StorageNodeContext, opts: ObjectReplicationOptions): ReplicateHandler {
  return async (r) => {
    try {
      await dispatch(ctx, opts, r);
    } catch (e) {
      const status = isSwiftletError(e) ? statusForCode(e.code) : 500;
      if (status >= 500) ctx.log.error({ err: e, method: r.method, device: r.device, rest: r.rest }, 'object replication request failed');
      respond(r.res, status, {}, isSwiftletError(e) ? e.message : 'Internal Server Error', { close: !r.req.readableEnded });
    }
  };
}

async function dispatch(ctx: StorageNodeContext, opts: ObjectReplicationOptions, r: ReplicateRequest): Promise<void> {
  const [partStr, a, b, ...extra] = r.rest;
  const bad = (msg: string): void => {
    r.req.resume();
    respond(r.res, 400, {}, msg, { close: !r.req.readableEnded });
  };
  const digests = partStr === DIGESTS_SEGMENT && a === undefined;
  if (!partStr || (!digests && !/^\d+$/.test(partStr)) || extra.length > 0) return bad('Invalid path');
  const rawPolicy = r.req.headers[POLICY_INDEX_HEADER];
  const policy = requestPolicy(ctx, rawPolicy);
  if (policy === undefined) {
    r.req.resume();
    return respond(r.res, 503, {}, `No policy with index ${String(rawPolicy)}`, { close: !r.req.readableEnded });
  }
  if (digests) {
    if (r.method !== 'POST' && r.method !== 'REPLICATE') {
      r.req.resume();
      return respond(r.res, 405, { Allow: 'POST' }, 'Method Not Allowed');
    }
    const parts = parsePartitionList(r.query.get('partitions'));
    if (!parts) return bad('Invalid partitions');
    r.req.resume();
    return sendJson(r, await partitionDigests(ctx, opts, r.devicePath, parts, policy));
  }
  const partition = Number(partStr);
  const suffixes = parseSuffixes(a);
  switch (r.method) {
    case 'REPLICATE':
    case 'POST':
      if (b !== undefined || suffixes === undefined) return bad('Invalid suffixes');
      r.req.resume();
      return sendJson(r, (await getSuffixHashes(r.devicePath, partition, { reclaimAgeS: opts.reclaimAgeS, now: ctx.clock(), fsync: ctx.fsync, recalculate: suffixes }, policy)).hashes);
    case 'GET':
      if (b !== undefined || suffixes === undefined || suffixes.length === 0) return bad('Invalid suffixes');
      r.req.resume();
      return sendJson(r, await listSuffixFiles(r.devicePath, partition, suffixes, policy));
    case 'PUT': {
      const file = b === undefined ? undefined : parseOnDiskName(b);
      if (a === undefined || !HASH_RE.test(a) || !file) return bad('Invalid object file path');
      return receivePush(ctx, opts, r, objectLocation(r.devicePath, partition, a, policy), file);
    }
    case 'DELETE':
      if (a !== undefined) return bad('Invalid path');
      r.req.resume();
      return (await removePartitionIfEmpty(r.devicePath, partition, policy)) ? respond(r.res, 204) : respond(r.res, 409, {}, 'Partition not empty');
    default:
      r.req.resume();
      return respond(r.res, 405, { Allow: 'POST, GET, PUT, DELETE' }, 'Method Not Allowed');
  }
}

/** "abc-0f1" → ["abc", "0f1"]; a missing segment → []; undefined when malformed. */
function parseSuffixes(seg: string | undefined): string[] | undefined {
  if (seg === undefined || seg === '') return [];
  const out = seg.split('-');
  return out.every(isSuffix) ? out : undefined;
}

/** "0,17,5" → [0, 17, 5] (repeats dropped); undefined when malformed or longer than MAX_DIGEST_PARTITIONS. */
function parsePartitionList(raw: string | null): number[] | undefined {
  if (raw === null) return undefined;
  const parts = raw === '' ? [] : raw.split(',');
  if (parts.length > MAX_DIGEST_PARTITIONS || !parts.every((p) => PARTITION_RE.test(p))) return undefined;
  return [...new Set(parts.map(Number))];
}

/**
 * Each partition's digest, from exactly what a REPLICATE without suffixes computes (getSuffixHashes:
 * hashes.invalid applied, tombstones due reclaimed), so a batch answers "in step" only when
 * per-partition REPLICATEs would have.
 */
async function partitionDigests(ctx: StorageNodeContext, opts: ObjectReplicationOptions, devicePath: string, parts: readonly number[], policy: number): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  await runLimited(parts, DIGEST_CONCURRENCY, async (partition) => {
    const { hashes } = await getSuffixHashes(devicePath, partition, { reclaimAgeS: opts.reclaimAgeS, now: ctx.clock(), fsync: ctx.fsync }, policy);
    const digest = partitionDigest(hashes);
    if (digest !== undefined) out[String(partition)] = digest;
  });
  return out;
}

function sendJson(r: ReplicateRequest, v: unknown): void {
  respond(r.res, 200, { 'Content-Type': 'application/json' }, JSON.stringify(v));
}

/** `{hash: [current file names]}` for the given suffixes of a partition; read only. */
async function listSuffixFiles(devicePath: string, partition: number, suffixes: readonly string[], policy: number): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const suffix of suffixes) {
    for (const hash of await listHashes(devicePath, partition, suffix, policy)) {
      const files = currentFiles((await listHashDir(objectLocation(devicePath, partition, hash, policy).hashDir)) ?? []);
      if (files.length > 0) out[hash] = files;
    }
  }
  return out;
}

// ---- receiving a pushed file ----

async function receivePush(ctx: StorageNodeContext, opts: ObjectReplicationOptions, r: ReplicateRequest, loc: ObjectLocation, file: OnDiskFile): Promise<void> {
  const { partition, hash } = loc;
  const lengthHeader = r.req.headers['content-length'];
  const expectedLength = lengthHeader === undefined ? NaN : Number(lengthHeader);
  if (!Number.isSafeInteger(expectedLength) || expectedLength < 0) {
    return respond(r.res, 411, {}, 'Content-Length required', { close: !r.req.readableEnded });
  }
  const receive = { expectedLength, idleTimeoutMs: ctx.clientTimeoutMs };

  // Newest wins: a file the dir already has, or one it would drop at once, is accepted and ignored.
  const reclaimBefore = Timestamp.fromSeconds(Math.max(0, ctx.clock() / 1000 - opts.reclaimAgeS));
  if (await unwanted(loc.hashDir, file, reclaimBefore)) {
    await receiveBody(r.req, { write: async () => undefined }, receive);
    return respond(r.res, 200, {}, 'Not needed');
  }

  try {
    if (file.ext === 'data') {
      const sink = new VerifyingSink(r.devicePath);
      try {
        await receiveBody(r.req, sink, receive);
        const metadata = await sink.verify();
        checkMetadata(ctx, metadata, hash, file);
        await sink.commit(loc.hashDir, file.name, ctx.fsync);
      } finally {
        await sink.discard();
      }
    } else {
      const sink = new BufferSink(MAX_SMALL_FILE);
      await receiveBody(r.req, sink, receive);
      const body = sink.body();
      checkMetadata(ctx, parseMetadataJson(body), hash, file);
      await writeFileDurable(r.devicePath, loc.hashDir, file.name, body, ctx.fsync);
    }
  } catch (e) {
    if (isSwiftletError(e, 'CORRUPT')) {
      ctx.log.warn({ device: r.device, partition, hash, file: file.name, err: e.message }, 'replication: rejected a corrupt pushed file');
    }
    throw e;
  }
  // Drops whatever the new file superseded (or the new file, if a newer one raced in).
  await cleanupHashDir(loc.hashDir);
  await invalidateSuffix(loc.partitionDir, loc.suffix);
  respond(r.res, 201);
}

/** True when the hash dir has this file, or keeping it would be pointless (superseded, or a reclaimable tombstone). */
async function unwanted(hashDir: string, file: OnDiskFile, reclaimBefore: Timestamp): Promise<boolean> {
  const names = (await listHashDir(hashDir)) ?? [];
  if (names.includes(file.name)) return true;
  if (file.ext === 'ts' && file.timestamp.compare(reclaimBefore) < 0) return true;
  return classifyHashDirFiles([...names, file.name]).obsolete.some((f) => f.name === file.name);
}

/** The file's own metadata must name it: same timestamp, and an object whose path hashes to this dir. */
function checkMetadata(ctx: StorageNodeContext, m: ObjectMetadata, hash: string, file: OnDiskFile): void {
  const ts = Timestamp.tryParse(m[M.timestamp]);
  if (!ts || ts.compare(file.timestamp) !== 0) throw new SwiftletError('CORRUPT', `X-Timestamp does not match ${file.name}`);
  const parts = /^\/([^/]+)\/([^/]+)\/(.+)$/s.exec(m[M.name] ?? '');
  if (!parts || hashPath(ctx.secret, parts[1] as string, parts[2] as string, parts[3] as string) !== hash) {
    throw new SwiftletError('CORRUPT', `object name does not hash to ${hash}`);
  }
}

class BufferSink implements ChunkSink {
  private parts: Buffer[] = [];
  private size = 0;
  constructor(private readonly limit: number) {}
  async write(bufs: Buffer[]): Promise<void> {
    for (const b of bufs) {
      this.size += b.length;
      if (this.size > this.limit) throw new SwiftletError('TOO_LARGE', 'pushed metadata file too large');
      this.parts.push(b);
    }
  }
  body(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/**
 * Writes a pushed .data to a temp file while computing the body's md5 and CRC32C in the same
 * pass. Where the body ends is only known from the trailer at the end, so the last TRAILER_HOLD
 * bytes are held back from the hashes until then.
 */
class VerifyingSink implements ChunkSink {
  private tmp: TempFile | undefined;
  private position = 0;
  private hashed = 0;
  private readonly md5: Hash = createHash('md5');
  private crc = 0;
  private held: Buffer[] = [];
  private heldBytes = 0;
  private committed = false;

  constructor(private readonly devicePath: string) {}

  async write(bufs: Buffer[]): Promise<void> {
    try {
      this.tmp ??= await openTempFile(this.devicePath);
      this.position += await writeAllAt(this.tmp.fd, bufs, this.position);
    } catch (e) {
      throw asDiskError(e, this.tmp?.path ?? this.devicePath);
    }
    for (const b of bufs) {
      this.held.push(b);
      this.heldBytes += b.length;
    }
    while (this.held.length > 0 && this.heldBytes - (this.held[0] as Buffer).length >= TRAILER_HOLD) {
      this.hash(this.held.shift() as Buffer);
    }
  }

  private hash(b: Buffer): void {
    this.md5.update(b);
    this.crc = crc32c(b, this.crc);
    this.hashed += b.length;
    this.heldBytes -= b.length;
  }

  /** Checks the trailer, length, ETag and CRC32C; returns the metadata or throws CORRUPT. */
  async verify(): Promise<ObjectMetadata> {
    const size = this.position;
    const tail = Buffer.concat(this.held);
    const parsed = parseTrailer(tail, size);
    if (!parsed.ok) {
      // Metadata bigger than what was held back: read the file again (rare).
      const v = await verifyDataFile((this.tmp as TempFile).path);
      if (!v.ok) throw new SwiftletError('CORRUPT', `pushed data file: ${v.reason}`);
      return v.metadata;
    }
    const m = parsed.metadata;
    this.hash(tail.subarray(0, parsed.bodyLength - this.hashed));
    if (m[M.crc32c] === undefined && m[M.etag] === undefined) throw new SwiftletError('CORRUPT', 'pushed data file has no checksum');
    if (m[M.crc32c] !== undefined && m[M.crc32c] !== crcHex(this.crc)) throw new SwiftletError('CORRUPT', 'pushed data file: crc32c mismatch');
    if (m[M.etag] !== undefined && m[M.etag] !== this.md5.digest('hex')) throw new SwiftletError('CORRUPT', 'pushed data file: etag mismatch');
    return m;
  }

  /** fsync, then rename into the hash dir (fsyncing it). */
  async commit(hashDir: string, name: string, fsync: boolean): Promise<void> {
    if (!this.tmp) throw new SwiftletError('CORRUPT', 'pushed data file is empty');
    try {
      if (fsync) await fdatasync(this.tmp.fd);
      await closeFd(this.tmp.fd);
    } catch (e) {
      throw asDiskError(e, this.tmp.path);
    }
    this.committed = true;
    await renameIntoDir(this.tmp.path, hashDir, name, this.devicePath, fsync);
  }

  /** Removes the temp file unless it was committed. Safe to call twice. */
  async discard(): Promise<void> {
    if (this.committed || !this.tmp) return;
    this.committed = true;
    await discardTempFile(this.tmp);
  }
}
