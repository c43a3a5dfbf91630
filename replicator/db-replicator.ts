import { isSwiftletError } from '../common/errors.js';
import { Timestamp } from '../common/timestamp.js';
import type { Ring, RingDevice } from '../ring-builder/ring.js';
import { httpReplicaClient, inProcessReplicaClient, type DbReplicaClient, type ReplicaNode } from '../storage-node/db/replication-client.js';
import { DBS_PER_PAGE, recordHash, ROWS_PER_BATCH, type DbKind, type DbRef, type DbSummary } from '../storage-node/db/replication-wire.js';
import type { DevicePool } from '../storage-node/db/store.js';
import type { DaemonContext } from './context.js';
import { startReport, type Daemon, type PassReport } from './daemon.js';
import { localDevices, localNodeHost, ringAddress } from './local-devices.js';
import { RateLimiter } from './rate-limiter.js';

/**
 * The container and account db replicator (Swift's db_replicator), one pass = every container
 * and account database on every local device:
 *
 * 1. Reclaim: deleted rows older than reclaim_age_s go, and so does a database deleted before then.
 *    Only databases whose listing says something is that old are asked (`reclaimFrom`): the node
 *    reads just the part of its reclaim index below the cut-off (storage-node/db/reclaim-index.ts).
 * 2. Sync with every other primary of its partition: `sync` merges our record there and answers
 *    its digest and sync point; equal digests (and records) → in sync. Otherwise the rows of our
 *    change log after that point are pushed in batches (`rows` here → `merge` there), each batch
 *    raising the point. Pushing only, like Swift: each replica's own pass brings its rows to us.
 * 3. A database on a device that is not one of its primaries (a handoff, or moved by a ring
 *    change) is pushed to all primaries and removed here once every one of them has acknowledged
 *    our whole log, unless it changed meanwhile (the `remove` guard).
 *
 * Local databases are reached through the local storage node's HTTP endpoints (LevelDB lets one
 * process open a database; the node holds it), or directly when the replicator runs inside the
 * storage node and is given its DevicePool.
 *
 * Counts: dbsChecked, dbsInSync, dbsSynced, rowsPushed, handoffDbsReverted, handoffDbsPending,
 * dbsReclaimChecked (databases asked to reclaim), reclaimed (databases removed), rowsReclaimed,
 * failures.
 */
export function createDbReplicator(ctx: DaemonContext, pool?: DevicePool): Daemon {
  const remote = httpReplicaClient(ctx.backend, { timeoutMs: ctx.config.node_timeout_ms });
  const local = pool ? inProcessReplicaClient(pool, ctx.devicesRoot) : remote;
  return {
    name: 'db-replicator',
    async runOnce(): Promise<PassReport> {
      const pass = startReport('db-replicator', ctx.clock);
      for (const k of COUNTS) pass.count(k, 0);
      const job: PassJob = {
        ctx,
        local,
        remote,
        pass,
        localHost: localNodeHost(ctx.config.bind_ip, ctx.config.bind_port),
        // Rate limiting is about real time, whatever clock the pass is given.
        limiter: new RateLimiter(ctx.config.replicator_objects_per_s),
        reclaimBefore: Timestamp.fromSeconds(Math.max(0, ctx.clock() / 1000 - ctx.config.reclaim_age_s)).internal,
      };
      const { ip, port } = ringAddress(ctx.config);
      for (const kind of ['container', 'account'] as const) {
        const ring = kind === 'container' ? ctx.rings.container() : ctx.rings.account();
        for (const dev of await localDevices(ring, ctx.devicesRoot, ip, port)) await replicateDevice(job, kind, ring, dev);
      }
      return pass.finish();
    },
  };
}

const COUNTS = ['dbsChecked', 'dbsInSync', 'dbsSynced', 'rowsPushed', 'handoffDbsReverted', 'handoffDbsPending', 'dbsReclaimChecked', 'reclaimed', 'rowsReclaimed', 'failures'];

interface PassJob {
  ctx: DaemonContext;
  local: DbReplicaClient;
  remote: DbReplicaClient;
  pass: ReturnType<typeof startReport>;
  localHost: string;
  limiter: RateLimiter;
  /** Timestamp.internal: anything deleted before this is reclaimed. */
  reclaimBefore: string;
}

function nodeOf(d: RingDevice): ReplicaNode {
  return { host: d.ip.includes(':') ? `[${d.ip}]:${d.port}` : `${d.ip}:${d.port}`, device: d.device };
}

function refOf(s: DbRef): DbRef {
  return s.container === undefined ? { account: s.account } : { account: s.account, container: s.container };
}

function describe(kind: DbKind, ref: DbRef): string {
  return `${kind} ${ref.account}${ref.container === undefined ? '' : `/${ref.container}`}`;
}

/** Pages through the device's databases, a few at a time (replicator_concurrency). */
async function replicateDevice(job: PassJob, kind: DbKind, ring: Ring, dev: RingDevice): Promise<void> {
  const self: ReplicaNode = { host: job.localHost, device: dev.device };
  let after: DbRef | undefined;
  for (;;) {
    let page: DbSummary[];
    try {
      page = await job.local.list(kind, self, after, DBS_PER_PAGE);
    } catch (err) {
      job.pass.error(`list ${kind} dbs on ${dev.device}: ${(err as Error).message}`);
      return;
    }
    await forEachLimit(page, job.ctx.config.replicator_concurrency, (s) => replicateDb(job, kind, ring, dev, self, s));
    if (page.length < DBS_PER_PAGE) return;
    after = refOf(page[page.length - 1] as DbSummary);
  }
}

async function replicateDb(job: PassJob, kind: DbKind, ring: Ring, dev: RingDevice, self: ReplicaNode, listed: DbSummary): Promise<void> {
  const { pass } = job;
  const ref = refOf(listed);
  pass.count('dbsChecked');
  const part = ring.partitionFor(ref.account, ref.container);
  const primaries = ring.primaries(part);
  let s = listed;
  // Only a database with something old enough is asked (its reclaim index says so, replica-ops.ts).
  if (listed.reclaimFrom === undefined || (listed.reclaimFrom !== null && listed.reclaimFrom < job.reclaimBefore)) {
    try {
      const r = await job.local.reclaim(kind, self, part, ref, job.reclaimBefore);
      pass.count('dbsReclaimChecked');
      if (r.rows) pass.count('rowsReclaimed', r.rows);
      if (r.removed) return pass.count('reclaimed');
      s = { ...s, digest: r.digest };
    } catch (err) {
      if (isSwiftletError(err, 'NOT_FOUND')) return; // removed since it was listed
      return pass.error(`reclaim ${describe(kind, ref)} on ${dev.device}: ${(err as Error).message}`);
    }
  }

  const peers = primaries.filter((p) => p.id !== dev.id);
  const outcomes = await Promise.all(peers.map((p) => pushTo(job, kind, part, ref, s, self, p)));
  const ok = outcomes.filter((o): o is PeerOutcome => o !== undefined);
  const isPrimary = peers.length < primaries.length;
  if (isPrimary) {
    if (ok.length < outcomes.length) return; // failures already counted
    return pass.count(ok.every((o) => o.inSync) ? 'dbsInSync' : 'dbsSynced');
  }
  // A handoff copy goes once every primary has all of it, and only if nothing changed here since.
  if (ok.length < outcomes.length || !ok.length) return pass.count('handoffDbsPending');
  try {
    const acked = Math.min(...ok.map((o) => o.acked));
    const removed = await job.local.remove(kind, self, part, ref, { rowSeq: acked, recordHash: recordHash(s.record) });
    pass.count(removed ? 'handoffDbsReverted' : 'handoffDbsPending');
  } catch (err) {
    pass.error(`remove handoff ${describe(kind, ref)} on ${dev.device}: ${(err as Error).message}`);
    pass.count('handoffDbsPending');
  }
}

interface PeerOutcome {
  inSync: boolean;
  /** The peer has merged our log up to here. */
  acked: number;
}

/** Brings one peer up to date with our copy; undefined when it failed (counted). */
async function pushTo(job: PassJob, kind: DbKind, part: number, ref: DbRef, s: DbSummary, self: ReplicaNode, peer: RingDevice): Promise<PeerOutcome | undefined> {
  const node = nodeOf(peer);
  const replicaId = s.replicaId;
  try {
    const resp = await job.remote.sync(kind, node, part, ref, {
      record: s.record,
      digest: s.digest,
      rowSeq: s.rowSeq,
      ...(replicaId ? { replicaId } : {}),
    });
    if (resp.digest === s.digest && recordHash(resp.record) === recordHash(s.record)) return { inSync: true, acked: s.rowSeq };
    // Different: push what it has not merged from our log yet (everything if it knows nothing).
    // Stop at the end of the log as it was listed; later changes are the next pass's.
    let point = resp.point;
    let pushed = 0;
    while (point < s.rowSeq) {
      const page = await job.local.rows(kind, self, part, ref, point, ROWS_PER_BATCH);
      if (page.last <= point) break;
      await job.limiter.take(page.rows.length);
      await job.remote.merge(kind, node, part, ref, { rows: page.rows, point: page.last, ...(replicaId ? { replicaId } : {}) });
      pushed += page.rows.length;
      point = page.last;
      if (!page.more) break;
    }
    job.pass.count('rowsPushed', pushed);
    return { inSync: false, acked: point };
  } catch (err) {
    job.pass.error(`${describe(kind, ref)} → ${node.host}/${node.device}: ${(err as Error).message}`);
    return undefined;
  }
}

async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
}
