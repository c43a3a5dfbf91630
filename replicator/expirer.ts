import { randomUUID } from 'node:crypto';
import { backendPath, withQuery, type BackendPath } from '../common/backend-path.js';
import {
  EXPIRING_OBJECTS_ACCOUNT,
  dueEndMarker,
  entryOwner,
  parseQueueRow,
  parseQueueRowContentType,
  type QueueEntry,
} from '../common/expiring-queue.js';
import { H } from '../common/headers.js';
import { discardBody, originOf } from '../common/http-client.js';
import { quorumSize } from '../common/quorum.js';
import { POLICY_INDEX_HEADER } from '../common/storage-policy.js';
import { Timestamp } from '../common/timestamp.js';
import type { RingDevice } from '../ring-builder/ring.js';
import { containerUpdateTargets, objectUpdateTargets } from '../ring-builder/update-targets.js';
import type { DaemonContext } from './context.js';
import { nodeStatus } from './node-request.js';
import { startReport, type Daemon, type PassReport } from './daemon.js';
import { localDevices, ringAddress } from './local-devices.js';

/**
 * The object expirer (Swift's obj/expirer.py), reading the queue the object servers keep in the
 * hidden account `.expiring_objects` (common/expiring-queue.ts, storage-node/object/expiring-update.ts).
 * Its cost follows what is due, not what is stored: a pass
 *
 * 1. lists the account on its primaries (merged): the queue containers, each named by a time;
 * 2. keeps those named ≤ now whose queue container has a primary replica on this node, and lists
 *    that local replica up to end_marker now+1 (rows sort by their 10-digit time): only due rows;
 *    a container the account reports empty is not listed at all;
 * 3. acts on a row when this node is its owner (the primary at index md5(name) % replicas), or
 *    when it is overdue by expirer_takeover_s (its owner may be down);
 * 4. deletes the object on its primaries, then the row on every primary of the queue container;
 * 5. deletes queue containers that are empty and can get no new due rows (name + divisor + 100 ≤ now).
 *
 * An idle pass costs the account listing and nothing else: no object metadata is read.
 *
 * The object DELETE is the safe one the scanning expirer had: X-Timestamp = X-Delete-At (every
 * expirer agrees), X-If-Delete-At (a replica holding another version refuses: 412, or 409 when it
 * is newer than the DELETE), and first a HEAD of the primaries: one serving a live version newer
 * than the row's (the row's content type names the version and policy) means the row is stale.
 * A live answer means that version is not due (a due one answers 404), so it does not carry this
 * X-Delete-At: the row is removed and the object left alone; the older copies are expired on
 * their replicas already and replication replaces them.
 *
 * Counts: queueContainers, entriesDue, objectsExpired, superseded, stale, queueRowsRemoved,
 * queueContainersDeleted, notYours (due rows left to their owner), invalid, notFound (given up
 * after reclaim_age: no replica had it), failures.
 */

export function createExpirer(ctx: DaemonContext): Daemon {
  return {
    name: 'expirer',
    async runOnce(): Promise<PassReport> {
      const pass = startReport('expirer', ctx.clock);
      const nowS = Math.floor(ctx.clock() / 1000);
      const containers = await listQueueContainers(ctx, nowS, pass);
      if (!containers.length) return pass.finish();
      const ring = ctx.rings.container();
      const { ip, port } = ringAddress(ctx.config);
      const local = new Set((await localDevices(ring, ctx.devicesRoot, ip, port)).map((d) => d.id));
      for (const c of containers) {
        const part = ring.partitionFor(EXPIRING_OBJECTS_ACCOUNT, c.name);
        const primaries = ring.primaries(part);
        const mine = primaries.findIndex((d) => local.has(d.id));
        if (mine === -1) continue;
        pass.count('queueContainers');
        try {
          await workContainer(ctx, { ...c, part, primaries, mine }, nowS, pass);
        } catch (err) {
          ctx.log.error({ err, container: c.name }, 'expirer: queue container failed');
          pass.error(`queue container ${c.name}: ${String(err)}`);
        }
      }
      return pass.finish();
    },
  };
}

type Pass = ReturnType<typeof startReport>;

/** One queue container as the account lists it. */
interface QueueContainer {
  name: string;
  count: number;
}

interface OwnedContainer extends QueueContainer {
  part: number;
  primaries: RingDevice[];
  /** This node's index among them. */
  mine: number;
}

/** How far past its time a row waits for its owner before another primary takes it over. */
export function takeoverSeconds(cfg: { expirer_takeover_s: number; expirer_interval_s: number }): number {
  return cfg.expirer_takeover_s > 0 ? cfg.expirer_takeover_s : 2 * cfg.expirer_interval_s;
}

/**
 * Whether this node acts on a due row now: it is the row's owner, or the row is overdue by the
 * takeover time (its owner is down or behind). Pure.
 */
export function actsOn(name: string, deleteAt: number, replicas: number, mine: number, nowS: number, takeoverS: number): boolean {
  return entryOwner(name, replicas) === mine || deleteAt + takeoverS <= nowS;
}

/** A queue container may go once empty and no row can still fall due in it. */
export function queueContainerRetired(name: string, divisor: number, nowS: number): boolean {
  return Number(name) + divisor + 100 <= nowS;
}

const PAGE = 10_000;

/** The account's containers named ≤ now, merged over its primaries (the largest count wins). */
async function listQueueContainers(ctx: DaemonContext, nowS: number, pass: Pass): Promise<QueueContainer[]> {
  const ring = ctx.rings.account();
  const part = ring.partitionFor(EXPIRING_OBJECTS_ACCOUNT);
  const merged = new Map<string, number>();
  let answered = 0;
  await Promise.all(
    ring.primaries(part).map(async (d) => {
      const rows = await listAll<{ name: string; count: number }>(ctx, d, backendPath(d.device, part, EXPIRING_OBJECTS_ACCOUNT), dueEndMarker(nowS));
      if (!rows) return;
      answered++;
      for (const r of rows) merged.set(r.name, Math.max(merged.get(r.name) ?? 0, r.count));
    }),
  );
  if (!answered) pass.error('no primary of the .expiring_objects account answered');
  return [...merged.entries()].filter(([name]) => /^\d{10}$/.test(name)).sort(([a], [b]) => (a < b ? -1 : 1)).map(([name, count]) => ({ name, count }));
}

/** Every row of a JSON listing below `endMarker`, page by page; [] for 404, undefined when the node failed. */
async function listAll<T extends { name: string }>(ctx: DaemonContext, d: RingDevice, path: BackendPath, endMarker: string): Promise<T[] | undefined> {
  const out: T[] = [];
  let marker = '';
  for (;;) {
    try {
      const res = await ctx.backend.request(originOf(d), 'GET', withQuery(path, { format: 'json', limit: String(PAGE), end_marker: endMarker, ...(marker ? { marker } : {}) }), {
        headersTimeout: ctx.config.node_timeout_ms,
        bodyTimeout: ctx.config.node_timeout_ms,
      });
      if (res.statusCode === 404 || res.statusCode === 204) {
        await discardBody(res.body);
        return out;
      }
      if (res.statusCode !== 200) {
        await discardBody(res.body);
        ctx.log.warn({ node: originOf(d), path, status: res.statusCode }, 'expirer: listing failed');
        return undefined;
      }
      const page = (await res.body.json()) as T[];
      out.push(...page);
      if (page.length < PAGE) return out;
      marker = (page[page.length - 1] as T).name;
    } catch (err) {
      ctx.log.warn({ err, node: originOf(d), path }, 'expirer: listing failed');
      return undefined;
    }
  }
}

async function workContainer(ctx: DaemonContext, c: OwnedContainer, nowS: number, pass: Pass): Promise<void> {
  const retired = queueContainerRetired(c.name, ctx.config.expiring_objects_container_divisor, nowS);
  if (c.count === 0 && !retired) return; // nothing queued here (as of the account's last report)
  const local = c.primaries[c.mine] as RingDevice;
  const rows = await listAll<{ name: string; content_type: string }>(ctx, local, backendPath(local.device, c.part, EXPIRING_OBJECTS_ACCOUNT, c.name), dueEndMarker(nowS));
  if (!rows) {
    pass.error(`queue container ${c.name}: local listing failed`);
    return;
  }
  const takeover = takeoverSeconds(ctx.config);
  for (const row of rows) {
    const entry = parseQueueRow(row.name);
    const version = parseQueueRowContentType(row.content_type);
    if (!entry || !version) {
      ctx.log.error({ container: c.name, row: row.name, contentType: row.content_type }, 'expirer: not a queue row, removing it');
      pass.count('invalid');
      await removeRow(ctx, c, row.name, pass);
      continue;
    }
    if (entry.deleteAt > nowS) continue;
    pass.count('entriesDue');
    if (!actsOn(row.name, entry.deleteAt, c.primaries.length, c.mine, nowS, takeover)) {
      pass.count('notYours');
      continue;
    }
    let outcome: Outcome;
    try {
      outcome = await expire(ctx, entry, version.version, version.policy, pass);
    } catch (err) {
      pass.error(`${row.name}: ${String(err)}`);
      continue;
    }
    if (outcome !== 'retry') await removeRow(ctx, c, row.name, pass);
  }
  if (retired && rows.length === 0) await deleteQueueContainer(ctx, c, pass);
}

/** Removes a row on every primary of its queue container (Swift's pop_queue: stamped now). */
async function removeRow(ctx: DaemonContext, c: OwnedContainer, name: string, pass: Pass): Promise<void> {
  // X-Backend-Source: object-server routes a row request to the container server (storage-node/server.ts).
  const headers = { [H.timestamp]: Timestamp.now(ctx.clock).internal, [H.backendSource]: 'object-server', [H.transId]: `tx-expirer-${randomUUID()}` };
  const statuses = await Promise.all(c.primaries.map((d) => nodeStatus(ctx, 'expirer', 'DELETE', d, backendPath(d.device, c.part, EXPIRING_OBJECTS_ACCOUNT, c.name, name), headers)));
  if (statuses.filter((s) => s >= 200 && s < 300).length >= quorumSize(c.primaries.length)) pass.count('queueRowsRemoved');
  else pass.error(`queue row ${c.name}/${name}: DELETE statuses ${statuses.join(',')}`);
}

/** An empty, retired queue container goes on every primary; the account hears it from each. */
async function deleteQueueContainer(ctx: DaemonContext, c: OwnedContainer, pass: Pass): Promise<void> {
  const accountTargets = containerUpdateTargets(ctx.rings, EXPIRING_OBJECTS_ACCOUNT);
  const ts = Timestamp.now(ctx.clock).internal;
  const statuses = await Promise.all(
    c.primaries.map((d, i) =>
      nodeStatus(ctx, 'expirer', 'DELETE', d, backendPath(d.device, c.part, EXPIRING_OBJECTS_ACCOUNT, c.name), { [H.timestamp]: ts, [H.backendSource]: 'object-expirer', ...accountTargets(i) }),
    ),
  );
  // 409: a row came in meanwhile (not empty): the container stays for the next pass.
  if (statuses.some((s) => s >= 200 && s < 300)) pass.count('queueContainersDeleted');
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

export type Outcome = 'expired' | 'superseded' | 'stale' | 'notFound' | 'retry';

/** Deletes one due object on its primaries. Anything but 'retry' means the row has done its work. */
async function expire(ctx: DaemonContext, e: QueueEntry, version: Timestamp, policy: number, pass: Pass): Promise<Outcome> {
  const { account, container, obj } = e;
  const ring = ctx.rings.object(policy);
  const part = ring.partitionFor(account, container, obj);
  const nodes = ring.primaries(part);
  const txn = `tx-expirer-${randomUUID()}`;
  const pathFor = (d: RingDevice): BackendPath => backendPath(d.device, part, account, container, obj);
  const policyHeader = { [POLICY_INDEX_HEADER]: String(policy) };

  if (await newerLiveVersion(ctx, nodes, pathFor, version, { [H.transId]: txn, ...policyHeader })) {
    ctx.log.info({ account, container, obj }, 'expirer: a primary serves a newer version; the queue row is stale');
    pass.count('stale');
    return 'stale';
  }

  const ts = expiryTimestamp(e.deleteAt, version);
  const targets = objectUpdateTargets(ctx.rings, account, container, nodes);
  const del = (d: RingDevice, i: number): Promise<number> =>
    nodeStatus(ctx, 'expirer', 'DELETE', d, pathFor(d), {
      [H.timestamp]: ts.internal,
      'x-if-delete-at': String(e.deleteAt),
      [H.backendSource]: 'object-expirer',
      [H.cleanExpiringQueue]: 'no',
      [H.transId]: txn,
      ...policyHeader,
      ...targets(i),
    });
  const statuses = await Promise.all(nodes.map(del));
  // A primary that is down or has no copy: the copy may sit on a handoff (written while a primary
  // was down), as the proxy would write it. Its tombstone goes back to the primary with it.
  const missing = statuses.flatMap((s, i) => (s === 0 || s === 404 ? [i] : []));
  const handoffStatuses: number[] = [];
  if (missing.length) {
    const handoffs = ring.handoffs(part);
    for (const i of missing) {
      const h = handoffs.next();
      if (h.done) break;
      handoffStatuses.push(await del(h.value, i));
    }
  }
  const outcome = expiryOutcome(statuses, handoffStatuses, { deleteAt: e.deleteAt, nowS: Math.floor(ctx.clock() / 1000), reclaimAgeS: ctx.config.reclaim_age_s });
  if (outcome === 'expired') pass.count('objectsExpired');
  else if (outcome === 'superseded') pass.count('superseded');
  else if (outcome === 'notFound') pass.count('notFound');
  else {
    ctx.log.warn({ account, container, obj, statuses, handoffStatuses }, 'expirer: delete did not reach a quorum, will retry');
    pass.error(`/${account}/${container}/${obj}: DELETE statuses ${[...statuses, ...handoffStatuses].join(',')}`);
  }
  return outcome;
}

/**
 * What the DELETE statuses of the primaries (and of the handoffs tried for the ones down or
 * without a copy) mean. Pure.
 *
 * - expired: at least one replica took it (a tombstone exists to replicate) and, counting
 *   primaries without a copy (404), a quorum is done;
 * - superseded: as expired, counting replicas holding another version (409, 412) too;
 * - retry: no quorum (nodes down, errors), or no replica answered anything definite (all 404:
 *   the object may sit on a node we could not reach) while the entry is younger than reclaim_age;
 * - notFound: all 404 for longer than reclaim_age (Swift's expirer gives up then too).
 */
export function expiryOutcome(primaries: number[], handoffs: number[], at: { deleteAt: number; nowS: number; reclaimAgeS: number }): Outcome {
  const ok = (s: number): boolean => s >= 200 && s < 300;
  const taken = primaries.filter(ok).length + handoffs.filter(ok).length;
  const absent = primaries.filter((s) => s === 404).length;
  const newer = [...primaries, ...handoffs].filter((s) => s === 409 || s === 412).length;
  const need = quorumSize(primaries.length);
  if (taken > 0 && taken + absent >= need) return 'expired';
  if (taken + newer > 0 && taken + absent + newer >= need) return 'superseded';
  if (absent >= need && at.deleteAt + at.reclaimAgeS < at.nowS) return 'notFound';
  return 'retry';
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
        return false; // unreachable: its DELETE will fail too
      }
    }),
  );
  return answers.some(Boolean);
}

function firstHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

