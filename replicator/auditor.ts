import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { hashPath, type HashSecret } from '../common/hash-path.js';
import { Timestamp } from '../common/timestamp.js';
import { listHashes, listPartitions, listSuffixes, objectLocation, quarantineFile, verifyDataFile } from '../storage-node/object/diskfile.js';
import { errnoOf } from '../storage-node/object/fs-durable.js';
import type { ObjectLocation, OnDiskFile } from '../storage-node/object/layout.js';
import { M, parseMetadataJson, type ObjectMetadata } from '../storage-node/object/metadata.js';
import { readHashDir } from '../storage-node/object/ondisk.js';
import type { DaemonContext } from './context.js';
import { SINGLE_POLICY } from '../common/storage-policy.js';
import { startReport, type Daemon, type PassReport } from './daemon.js';
import { localDevices, ringAddress } from './local-devices.js';
import { RateLimiter } from './rate-limiter.js';

/**
 * The object auditor (Swift's obj/auditor.py): reads every current .data of each local device
 * whole and checks it against its own trailer — size, ETag, CRC32C — and that its metadata makes
 * sense where it lies (the name hashes to its directory, X-Timestamp is the file's). A newer .meta
 * must parse and carry its own timestamp. Every storage policy's folder is audited. A bad file is
 * moved to `<device>/quarantined/objects[-<n>]/<hash>/` and its suffix invalidated, so the replicator sees the
 * difference and copies a good replica back.
 *
 * Reads are throttled to auditor_bytes_per_s (file bytes, body and trailer) and to
 * auditor_files_per_s objects (hash directories, Swift's files_per_second), so a device of many
 * small objects costs a bounded amount of CPU and I/O per second too. Handoff partitions
 * are audited too: a bad copy there must not be pushed to a primary.
 *
 * Counts: objectsChecked, bytesChecked, quarantined, failures (errors other than corruption).
 */

export interface AuditorOptions {
  /** How the rate limiter waits (tests inject one that advances a fake clock). */
  sleep?: (ms: number) => Promise<void>;
}

export function createAuditor(ctx: DaemonContext, opts: AuditorOptions = {}): Daemon {
  // One limiter for the daemon's life: the rate holds across devices and passes.
  const limiter = new RateLimiter(ctx.config.auditor_bytes_per_s, ctx.clock, opts.sleep);
  const files = new RateLimiter(ctx.config.auditor_files_per_s, ctx.clock, opts.sleep);
  return {
    name: 'auditor',
    async runOnce(): Promise<PassReport> {
      const pass = startReport('auditor', ctx.clock);
      const { ip, port } = ringAddress(ctx.config);
      // Every storage policy's folder on the devices its ring puts on this node.
      for (const { index: policy } of (ctx.policies ?? SINGLE_POLICY).all()) {
        for (const dev of await localDevices(ctx.rings.object(policy), ctx.devicesRoot, ip, port)) {
          const devicePath = join(ctx.devicesRoot, dev.device);
          try {
            await auditDevice(ctx, { bytes: limiter, files }, devicePath, policy, pass);
          } catch (err) {
            ctx.log.error({ err, devicePath, policy }, 'auditor: device walk failed');
            pass.error(`${devicePath} (policy ${policy}): ${String(err)}`);
          }
        }
      }
      return pass.finish();
    },
  };
}

type Pass = ReturnType<typeof startReport>;

async function auditDevice(ctx: DaemonContext, limits: { bytes: RateLimiter; files: RateLimiter }, devicePath: string, policy: number, pass: Pass): Promise<void> {
  for (const partition of await listPartitions(devicePath, policy)) {
    for (const suffix of await listSuffixes(devicePath, partition, policy)) {
      for (const hash of await listHashes(devicePath, partition, suffix, policy)) {
        const loc = objectLocation(devicePath, partition, hash, policy);
        try {
          await limits.files.take(1);
          await auditHashDir(ctx, limits.bytes, loc, pass);
        } catch (err) {
          ctx.log.error({ err, hashDir: loc.hashDir }, 'auditor: cannot audit object');
          pass.error(`${loc.hashDir}: ${String(err)}`);
        }
      }
    }
  }
}

async function auditHashDir(ctx: DaemonContext, limiter: RateLimiter, loc: ObjectLocation, pass: Pass): Promise<void> {
  const files = await readHashDir(loc.hashDir);
  if (files.data) await auditData(ctx, limiter, loc, files.data, pass);
  if (files.meta) await auditMeta(ctx, loc, files.meta, pass);
}

async function auditData(ctx: DaemonContext, limiter: RateLimiter, loc: ObjectLocation, file: OnDiskFile, pass: Pass): Promise<void> {
  const path = join(loc.hashDir, file.name);
  const size = await sizeOf(path);
  if (size === undefined) return; // replaced by a newer write since the listing
  await limiter.take(size);
  const v = await verifyDataFile(path);
  const problem = v.ok ? checkDataMetadata(ctx.secret, loc.hash, file.timestamp, v.metadata, v.bodyLength) : v.reason;
  pass.count('objectsChecked');
  pass.count('bytesChecked', size);
  if (problem) await quarantine(ctx, loc, path, problem, pass);
}

async function auditMeta(ctx: DaemonContext, loc: ObjectLocation, file: OnDiskFile, pass: Pass): Promise<void> {
  const path = join(loc.hashDir, file.name);
  let raw: Buffer;
  try {
    raw = await readFile(path);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return;
    throw err;
  }
  let problem: string | undefined;
  try {
    const meta = parseMetadataJson(raw);
    if (!sameTimestamp(meta[M.timestamp], file.timestamp)) problem = 'X-Timestamp does not match the .meta file name';
  } catch (err) {
    problem = String(err);
  }
  if (problem) await quarantine(ctx, loc, path, problem, pass);
}

async function quarantine(ctx: DaemonContext, loc: ObjectLocation, path: string, reason: string, pass: Pass): Promise<void> {
  // A file that vanished meanwhile was superseded by a write, not corrupt.
  if ((await sizeOf(path)) === undefined) return;
  ctx.log.warn({ path, reason }, 'auditor: quarantining object file');
  await quarantineFile(loc, path, ctx.fsync);
  pass.count('quarantined');
}

/**
 * Why a .data whose checksums are right still cannot be trusted, or undefined: its name must
 * hash to the directory it sits in (else it answers for the wrong object), its X-Timestamp must
 * be the file's (else replication and conflict checks compare the wrong times), and the body
 * length must be its Content-Length.
 */
export function checkDataMetadata(secret: HashSecret, hash: string, fileTimestamp: Timestamp, meta: ObjectMetadata, bodyLength: number): string | undefined {
  const name = meta[M.name];
  const parts = name?.split('/') ?? [];
  const [lead, account, container] = parts;
  const obj = parts.slice(3).join('/');
  if (lead !== '' || !account || !container || !obj) return `bad name ${JSON.stringify(name)}`;
  if (hashPath(secret, account, container, obj) !== hash) return `name ${name} does not hash to ${hash}`;
  if (!sameTimestamp(meta[M.timestamp], fileTimestamp)) return 'X-Timestamp does not match the file name';
  if (meta[M.contentLength] !== String(bodyLength)) return 'Content-Length does not match the body';
  if (meta[M.etag] === undefined || meta[M.crc32c] === undefined) return 'no ETag or X-Crc32c to check the body against';
  return undefined;
}

function sameTimestamp(value: string | undefined, fileTimestamp: Timestamp): boolean {
  const ts = Timestamp.tryParse(value);
  return ts !== undefined && ts.compare(fileTimestamp) === 0;
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).size;
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') return undefined;
    throw err;
  }
}
