import { randomUUID } from 'node:crypto';
import { objectUpdateTargets } from '../ring-builder/update-targets.js';
import { join } from 'node:path';
import { hashPath } from '../common/hash-path.js';
import { H } from '../common/headers.js';
import { backendPath, type BackendPath } from '../common/backend-path.js';
import { discardBody, originOf } from '../common/http-client.js';
import { quorumSize } from '../common/quorum.js';
import { Timestamp } from '../common/timestamp.js';
import type { Ring, RingDevice } from '../ring-builder/ring.js';
import { listHashes, listPartitions, listSuffixes, objectLocation, readObjectInfo } from '../storage-node/object/diskfile.js';
import { M } from '../storage-node/object/metadata.js';
import { readHashDir } from '../storage-node/object/ondisk.js';
import type { DaemonContext } from './context.js';
import { POLICY_INDEX_HEADER, SINGLE_POLICY } from '../common/storage-policy.js';
import { startReport, type Daemon, type PassReport } from './daemon.js';
import { localDevices, ringAddress } from './local-devices.js';

/**
 * The object expirer. Swift queues expiring objects in a hidden account; we cannot change the
 * object server to do that, so each node finds its own: it walks the partitions for which a local
 * device is a PRIMARY, and reads the X-Delete-At of each live object. Once due, it DELETEs the
 * object on every primary with X-Timestamp = X-Delete-At. Every expirer that sees the same
 * version picks the same timestamp, so the up to 3 expirers racing are idempotent; and the first
 * success leaves a tombstone on the other primaries, so their next pass finds nothing to do.
 * Each DELETE carries container (and account) update headers, so the listing row goes too.
 *
 * Safety: a DELETE at X-Delete-At would also bury a newer version written before that moment that
 * this replica has not received yet. Each DELETE carries X-If-Delete-At, so a replica holding
 * another version refuses (412, or 409 when it is newer than the DELETE), but a replica that has
 * only our version would still take it. So before deleting, we HEAD the primaries: if one of them serves a newer live version, our copy
 * is stale and we leave it to the replicator (`stale`). Writes stamped after X-Delete-At win
 * on their own (the object server answers 409).
 *
 * Cost: each pass lists every hash dir of the primary partitions (one readdir each). Metadata is
 * read (open + one 4 KiB read) only for objects whose .data/.meta names changed since the
 * previous pass: an in-memory index remembers, per hash dir, those names and the X-Delete-At.
 * It is rebuilt from scratch after a restart and holds one small entry per object
 * (~150–200 bytes: about 200 MB for a million objects per node).
 *
 * Counts: objectsExpired, stale, superseded (a replica answered 409/412), failures, metadataReads.
 */

/** What the index remembers of one hash dir. */
interface IndexEntry {
  /** `<data name>|<meta name>`: changes whenever the object does. */
  sig: string;
  /** Integer seconds, when the object has one. */
  deleteAt?: number;
  name?: string;
  /** The effective timestamp of the version (the .meta's when one applies). */
  timestamp?: Timestamp;
}

export function createExpirer(ctx: DaemonContext): Daemon {
  const index = new Map<string, IndexEntry>();
  return {
    name: 'expirer',
    async runOnce(): Promise<PassReport> {
      const pass = startReport('expirer', ctx.clock);
      const seen = new Set<string>();
      const { ip, port } = ringAddress(ctx.config);
      // Every storage policy's folder, by that policy's ring.
      for (const { index: policy } of (ctx.policies ?? SINGLE_POLICY).all()) {
        const ring = ctx.rings.object(policy);
        for (const dev of await localDevices(ring, ctx.devicesRoot, ip, port)) {
          try {
            await scanDevice(ctx, { ring, policy }, dev, index, seen, pass);
          } catch (err) {
            ctx.log.error({ err, device: dev.device, policy }, 'expirer: device scan failed');
            pass.error(`${dev.device} (policy ${policy}): ${String(err)}`);
          }
        }
      }
      // Forget objects gone since the last pass (deleted, moved away, partition handed off).
      for (const k of index.keys()) if (!seen.has(k)) index.delete(k);
      return pass.finish();
    },
  };
}

type Pass = ReturnType<typeof startReport>;

/** A storage policy and its ring. */
interface PolicyRing {
  ring: Ring;
  policy: number;
}

async function scanDevice(ctx: DaemonContext, pr: PolicyRing, dev: RingDevice, index: Map<string, IndexEntry>, seen: Set<string>, pass: Pass): Promise<void> {
  const { ring, policy } = pr;
  const devicePath = join(ctx.devicesRoot, dev.device);
  for (const partition of await listPartitions(devicePath, policy)) {
    if (partition >= ring.partCount || !ring.primaries(partition).some((d) => d.id === dev.id)) continue;
    for (const suffix of await listSuffixes(devicePath, partition, policy)) {
      for (const hash of await listHashes(devicePath, partition, suffix, policy)) {
        const loc = objectLocation(devicePath, partition, hash, policy);
        try {
          const entry = await indexEntry(ctx, loc, index, pass);
          if (!entry) continue;
          seen.add(loc.hashDir);
          if (entry.deleteAt !== undefined && entry.deleteAt * 1000 <= ctx.clock()) {
            if (await expire(ctx, pr, hash, entry, pass)) index.delete(loc.hashDir);
          }
        } catch (err) {
          ctx.log.error({ err, hashDir: loc.hashDir }, 'expirer: cannot check object');
          pass.error(`${loc.hashDir}: ${String(err)}`);
        }
      }
    }
  }
}

/** The index entry of a live object, read from disk only when its files changed. */
async function indexEntry(ctx: DaemonContext, loc: ReturnType<typeof objectLocation>, index: Map<string, IndexEntry>, pass: Pass): Promise<IndexEntry | undefined> {
  const files = await readHashDir(loc.hashDir);
  if (!files.data) return undefined;
  const sig = `${files.data.name}|${files.meta?.name ?? ''}`;
  const known = index.get(loc.hashDir);
  if (known?.sig === sig) return known;
  pass.count('metadataReads');
  const info = await readObjectInfo(loc, ctx.fsync);
  if (info.kind !== 'live') return undefined;
  const entry: IndexEntry = { sig: `${info.dataFile.name}|${info.metaFile?.name ?? ''}` };
  const at = info.metadata[M.deleteAt];
  if (at !== undefined && /^\d+$/.test(at)) {
    entry.deleteAt = Number(at);
    entry.name = info.metadata[M.name];
    entry.timestamp = info.timestamp;
  }
  index.set(loc.hashDir, entry);
  return entry;
}

/** `/a/c/o` → its parts, when it is the name of the object stored under `hash`. */
function splitName(ctx: DaemonContext, name: string | undefined, hash: string): { account: string; container: string; obj: string } | undefined {
  const parts = name?.split('/') ?? [];
  const [lead, account, container] = parts;
  const obj = parts.slice(3).join('/');
  if (lead !== '' || !account || !container || !obj) return undefined;
  return hashPath(ctx.secret, account, container, obj) === hash ? { account, container, obj } : undefined;
}

/**
 * The DELETE timestamp: X-Delete-At itself, so every expirer agrees. X-Delete-At may equal the
 * version's own timestamp (the object server allows it): a tie would not replace the .data, so
 * the tie is broken by the smallest offset.
 */
export function expiryTimestamp(deleteAt: number, version: Timestamp): Timestamp {
  const at = Timestamp.fromSeconds(deleteAt);
  return at.compare(version) > 0 ? at : version.withOffset(version.offset + 1);
}

/** Deletes one due object on all its primaries. True once a quorum has it gone (or superseded). */
async function expire(ctx: DaemonContext, { ring, policy }: PolicyRing, hash: string, entry: IndexEntry, pass: Pass): Promise<boolean> {
  const path = splitName(ctx, entry.name, hash);
  if (!path || entry.deleteAt === undefined || !entry.timestamp) {
    pass.error(`object ${hash}: bad name ${JSON.stringify(entry.name)}`);
    return false;
  }
  const { account, container, obj } = path;
  const part = ring.partitionFor(account, container, obj);
  const nodes = ring.primaries(part);
  const txn = `tx-expirer-${randomUUID()}`;
  const pathFor = (d: RingDevice): BackendPath => backendPath(d.device, part, account, container, obj);

  const policyHeader = { [POLICY_INDEX_HEADER]: String(policy) };
  if (await newerLiveVersion(ctx, nodes, pathFor, entry.timestamp, { [H.transId]: txn, ...policyHeader })) {
    ctx.log.info({ account, container, obj }, 'expirer: a primary holds a newer version; leaving this copy to the replicator');
    pass.count('stale');
    return false;
  }

  const ts = expiryTimestamp(entry.deleteAt, entry.timestamp);
  const targets = objectUpdateTargets(ctx.rings, account, container);
  const statuses = await Promise.all(
    nodes.map(async (d, i) => {
      const headers: Record<string, string> = {
        [H.timestamp]: ts.internal,
        'x-if-delete-at': String(entry.deleteAt),
        [H.backendSource]: 'object-expirer',
        [H.transId]: txn,
        ...policyHeader,
        ...targets(i),
      };
      return send(ctx, 'DELETE', d, pathFor(d), headers);
    }),
  );
  const gone = statuses.filter((s) => (s >= 200 && s < 300) || s === 404).length;
  const newer = statuses.filter((s) => s === 409 || s === 412).length;
  const need = quorumSize(nodes.length);
  if (gone >= need) {
    pass.count('objectsExpired');
    return true;
  }
  if (gone + newer >= need) {
    pass.count('superseded');
    return true;
  }
  ctx.log.warn({ account, container, obj, statuses }, 'expirer: delete did not reach a quorum, will retry');
  pass.error(`/${account}/${container}/${obj}: DELETE statuses ${statuses.join(',')}`);
  return false;
}

/**
 * True when some primary serves a live version newer than ours (its X-Backend-Timestamp). A
 * replica that has expired the object answers 404, as does one that deleted it: neither stops us.
 */
async function newerLiveVersion(ctx: DaemonContext, nodes: RingDevice[], pathFor: (d: RingDevice) => BackendPath, ours: Timestamp, headers: Record<string, string>): Promise<boolean> {
  const answers = await Promise.all(
    nodes.map(async (d) => {
      try {
        const res = await ctx.backend.request(originOf(d), 'HEAD', pathFor(d), { headers, headersTimeout: ctx.config.node_timeout_ms });
        await discardBody(res.body);
        const ts = Timestamp.tryParse(firstHeader(res.headers[H.backendTimestamp]));
        return res.statusCode >= 200 && res.statusCode < 300 && ts !== undefined && ts.compare(ours) > 0;
      } catch {
        return false; // unreachable: its DELETE will fail too and the object is retried next pass
      }
    }),
  );
  return answers.some(Boolean);
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** One request's status; 0 when the node could not be reached. */
async function send(ctx: DaemonContext, method: string, d: RingDevice, path: BackendPath, headers: Record<string, string>): Promise<number> {
  const url = `${originOf(d)}${path}`;
  try {
    const res = await ctx.backend.request(originOf(d), method, path, { headers, headersTimeout: ctx.config.node_timeout_ms });
    await discardBody(res.body);
    return res.statusCode;
  } catch (err) {
    ctx.log.warn({ err, url }, 'expirer: request failed');
    return 0;
  }
}
