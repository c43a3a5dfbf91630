import { randomUUID } from 'node:crypto';
import { backendPath, withQuery, type BackendPath } from '../common/backend-path.js';
import { entryOwner } from '../common/expiring-queue.js';
import { H } from '../common/headers.js';
import { discardBody, originOf } from '../common/http-client.js';
import { quorumSize } from '../common/quorum.js';
import { POLICY_INDEX_HEADER } from '../common/storage-policy.js';
import { Timestamp } from '../common/timestamp.js';
import type { RingDevice } from '../ring-builder/ring.js';
import { containerUpdateTargets, objectUpdateTargets } from '../ring-builder/update-targets.js';
import { httpReplicaClient, type ReplicaNode } from '../storage-node/db/replication-client.js';
import { DBS_PER_PAGE, parseContainerRow, ROWS_PER_BATCH, type DbRef, type DbSummary } from '../storage-node/db/replication-wire.js';
import { ZERO_TS, type ContainerRow } from '../storage-node/db/merge.js';
import type { DaemonContext } from './context.js';
import { nodeStatus } from './node-request.js';
import { startReport, type Daemon, type PassReport } from './daemon.js';
import { localDevices, localNodeHost, ringAddress } from './local-devices.js';

/**
 * The account reaper (Swift's account/reaper.py). A reseller admin's DELETE of an account (with
 * `allow_account_management`) only marks its databases deleted; the reaper then removes what the
 * account held, on every replica:
 *
 * 1. it pages through the account databases of each local device (records only, no rows: an idle
 *    pass costs one listing of this node's account databases) and keeps those deleted at least
 *    `delay_reaping_s` ago of which this device is a primary;
 * 2. reads the account's container rows from its local copy (the replication `rows` verb: a
 *    deleted account answers no listing) and takes the live containers of its shard: each primary
 *    reaps the containers whose md5(name) % replicas is its index (Swift's container_shard), so
 *    the work is split and a primary that is down holds up only its share;
 * 3. for each container: lists it on its primaries (the first that answers), DELETEs every object
 *    on every primary of the container's storage policy (stamped now, with the container update
 *    headers, so listings and stats follow), page after page; hidden containers (versions) are
 *    containers of the account like any other, and segments of large objects are objects;
 * 4. once a listing comes back empty, DELETEs the container on its primaries, which tell the
 *    account (a deleted account takes the rows of its deleted containers: account-server.ts).
 *
 * An account whose containers are all gone has a container count of 0: the db replicator reclaims
 * its database once the delete is older than reclaim_age_s; until then a PUT of the account
 * answers 403 "Recently deleted" (Swift). Nothing is remembered between passes: a pass killed
 * anywhere leaves what is still listed for the next one, which lists it again.
 *
 * Counts: accountsDeleted (deleted accounts this node is a primary of), accountsDelayed (not due
 * yet), accountsEmpty (nothing left in its rows), containersReaped (listed and emptied here),
 * containersDeleted, containersRemaining (still not empty: retried next pass), objectsDeleted,
 * failures.
 */
export function createReaper(ctx: DaemonContext): Daemon {
  const replicas = httpReplicaClient(ctx.backend, { timeoutMs: ctx.config.node_timeout_ms });
  return {
    name: 'reaper',
    async runOnce(): Promise<PassReport> {
      const pass = startReport('reaper', ctx.clock);
      for (const k of COUNTS) pass.count(k, 0);
      const ring = ctx.rings.account();
      const { ip, port } = ringAddress(ctx.config);
      const self = localNodeHost(ctx.config.bind_ip, ctx.config.bind_port);
      for (const dev of await localDevices(ring, ctx.devicesRoot, ip, port)) {
        const node: ReplicaNode = { host: self, device: dev.device };
        let after: DbRef | undefined;
        for (;;) {
          let page: DbSummary[];
          try {
            page = await replicas.list('account', node, after, DBS_PER_PAGE);
          } catch (err) {
            pass.error(`list account dbs on ${dev.device}: ${(err as Error).message}`);
            break;
          }
          for (const s of page) {
            if (!s.deleted) continue;
            const part = ring.partitionFor(s.account);
            const primaries = ring.primaries(part);
            const mine = primaries.findIndex((d) => d.id === dev.id);
            if (mine === -1) continue; // a handoff copy: the db replicator moves it
            pass.count('accountsDeleted');
            if (!reapDue(s.record.deleteTimestamp, ctx.clock() / 1000, ctx.config.delay_reaping_s)) {
              pass.count('accountsDelayed');
              continue;
            }
            try {
              const rows = await containerRowsOf(replicas, node, part, s.account);
              const plan = reapPlan(rows, primaries.length, mine);
              if (!plan.live) pass.count('accountsEmpty');
              for (const c of plan.containers) await reapContainer(ctx, s.account, c, pass);
            } catch (err) {
              pass.error(`reap ${s.account} on ${dev.device}: ${(err as Error).message}`);
            }
          }
          if (page.length < DBS_PER_PAGE) break;
          const last = page[page.length - 1] as DbSummary;
          after = { account: last.account };
        }
      }
      return pass.finish();
    },
  };
}

const COUNTS = ['accountsDeleted', 'accountsDelayed', 'accountsEmpty', 'containersReaped', 'containersDeleted', 'containersRemaining', 'objectsDeleted', 'failures'];

type Pass = ReturnType<typeof startReport>;

/** Whether an account deleted at `deleteTimestamp` is due for reaping at `nowS` (Swift's delay_reaping). Pure. */
export function reapDue(deleteTimestamp: string, nowS: number, delayS: number): boolean {
  const deleted = Timestamp.tryParse(deleteTimestamp);
  return deleted !== undefined && deleted.seconds + delayS <= nowS;
}

/**
 * What one primary of a deleted account reaps: its live containers whose shard is this primary's
 * index (md5(name) % replicas, Swift's container_shard), in name order; `live` counts every live
 * container of the account, whoever reaps it. Pure.
 */
export function reapPlan(rows: ContainerRow[], replicas: number, mine: number): { live: number; containers: string[] } {
  const live = rows.filter((r) => !r.deleted);
  return { live: live.length, containers: live.filter((r) => entryOwner(r.name, replicas) === mine).map((r) => r.name).sort() };
}

/** Every container row of the local copy of a (deleted) account, by its change log. */
async function containerRowsOf(replicas: ReturnType<typeof httpReplicaClient>, node: ReplicaNode, part: number, account: string): Promise<ContainerRow[]> {
  const rows = new Map<string, ContainerRow>();
  let since = 0;
  for (;;) {
    const page = await replicas.rows('account', node, part, { account }, since, ROWS_PER_BATCH);
    for (const r of page.rows) {
      const row = parseContainerRow(r);
      rows.set(row.name, row);
    }
    if (!page.more || page.last <= since) break;
    since = page.last;
  }
  return [...rows.values()];
}

const LISTING_PAGE = 1000;

/** Empties one container on every replica, then deletes it. */
async function reapContainer(ctx: DaemonContext, account: string, container: string, pass: Pass): Promise<void> {
  const cring = ctx.rings.container();
  const cpart = cring.partitionFor(account, container);
  const cnodes = cring.primaries(cpart);
  const txn = `tx-reaper-${randomUUID()}`;
  let failed = false;
  let marker = '';
  for (;;) {
    const listing = await listContainer(ctx, cnodes, cpart, account, container, marker, txn);
    if (!listing) {
      pass.error(`list ${account}/${container}: no primary answered`);
      return;
    }
    if (!listing.names.length) break;
    const ok = await forEachLimit(listing.names, ctx.config.reaper_concurrency, (name) => reapObject(ctx, account, container, name, listing.policy, txn, pass));
    if (!ok) failed = true;
    if (listing.names.length < LISTING_PAGE) break;
    marker = listing.names[listing.names.length - 1] as string;
  }
  pass.count('containersReaped');
  if (failed) {
    pass.count('containersRemaining');
    return;
  }
  const ts = Timestamp.now(ctx.clock).internal;
  const accountTargets = containerUpdateTargets(ctx.rings, account);
  const statuses = await Promise.all(
    cnodes.map((d, i) =>
      nodeStatus(ctx, 'reaper', 'DELETE', d, backendPath(d.device, cpart, account, container), { [H.timestamp]: ts, [H.transId]: txn, [H.backendSource]: 'account-reaper', ...accountTargets(i) }),
    ),
  );
  // Gone on every primary (its database reclaimed, the account's row never told): the account
  // hears it from us, as its container servers would have said it, or it would wait forever.
  if (statuses.every((s) => s === 404)) {
    await tellAccountDeleted(ctx, account, container, ts, txn);
    pass.count('containersDeleted');
    return;
  }
  // 409: rows the object servers' updates have not brought yet (or a new write): next pass.
  if (statuses.filter((s) => (s >= 200 && s < 300) || s === 404).length >= quorumSize(cnodes.length) && statuses.some((s) => s >= 200 && s < 300)) {
    pass.count('containersDeleted');
  } else {
    pass.count('containersRemaining');
    ctx.log.info({ account, container, statuses }, 'reaper: container not deleted yet');
  }
}

/** The container-server's report of a deleted container, sent to every primary of the account. */
async function tellAccountDeleted(ctx: DaemonContext, account: string, container: string, ts: string, txn: string): Promise<void> {
  const aring = ctx.rings.account();
  const apart = aring.partitionFor(account);
  const headers = {
    [H.backendSource]: 'container-server',
    [H.putTimestamp]: ZERO_TS,
    [H.deleteTimestamp]: ts,
    [H.objectCount]: '0',
    [H.bytesUsed]: '0',
    [H.timestamp]: ts,
    [H.transId]: txn,
  };
  await Promise.all(aring.primaries(apart).map((d) => nodeStatus(ctx, 'reaper', 'PUT', d, backendPath(d.device, apart, account, container), headers)));
}

/** One page of a container's object names and its policy, from the first primary that answers; undefined if none did. */
async function listContainer(
  ctx: DaemonContext,
  cnodes: RingDevice[],
  part: number,
  account: string,
  container: string,
  marker: string,
  txn: string,
): Promise<{ names: string[]; policy: number } | undefined> {
  let missing = 0;
  for (const d of cnodes) {
    try {
      const path = withQuery(backendPath(d.device, part, account, container), { format: 'json', limit: String(LISTING_PAGE), ...(marker ? { marker } : {}) });
      const res = await ctx.backend.request(originOf(d), 'GET', path, { headers: { [H.transId]: txn }, headersTimeout: ctx.config.node_timeout_ms, bodyTimeout: ctx.config.node_timeout_ms });
      if (res.statusCode === 404) {
        await discardBody(res.body);
        missing++;
        continue;
      }
      if (res.statusCode !== 200 && res.statusCode !== 204) {
        await discardBody(res.body);
        continue;
      }
      const policy = Number(res.headers[POLICY_INDEX_HEADER] ?? 0) || 0;
      const text = await res.body.text();
      const names = text ? (JSON.parse(text) as Array<{ name: string }>).map((o) => o.name) : [];
      return { names, policy };
    } catch (err) {
      ctx.log.warn({ err, node: originOf(d), account, container }, 'reaper: listing failed');
    }
  }
  // Gone on every primary: nothing to list (its DELETE then finds nothing either).
  return missing === cnodes.length ? { names: [], policy: 0 } : undefined;
}

/** Deletes one object on every primary of its policy; true once a quorum has no live copy. */
async function reapObject(ctx: DaemonContext, account: string, container: string, obj: string, policy: number, txn: string, pass: Pass): Promise<boolean> {
  const ring = ctx.rings.object(policy);
  const part = ring.partitionFor(account, container, obj);
  const nodes = ring.primaries(part);
  const ts = Timestamp.now(ctx.clock).internal;
  const targets = objectUpdateTargets(ctx.rings, account, container, nodes);
  const pathFor = (d: RingDevice): BackendPath => backendPath(d.device, part, account, container, obj);
  const statuses = await Promise.all(
    nodes.map((d, i) => nodeStatus(ctx, 'reaper', 'DELETE', d, pathFor(d), { [H.timestamp]: ts, [H.transId]: txn, [H.backendSource]: 'account-reaper', [POLICY_INDEX_HEADER]: String(policy), ...targets(i) })),
  );
  if (statuses.filter((s) => (s >= 200 && s < 300) || s === 404).length >= quorumSize(nodes.length)) {
    pass.count('objectsDeleted');
    return true;
  }
  pass.error(`/${account}/${container}/${obj}: DELETE statuses ${statuses.join(',')}`);
  return false;
}


/** Runs `fn` over `items`, `limit` at a time; true when every call returned true. */
async function forEachLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<boolean>): Promise<boolean> {
  let next = 0;
  let ok = true;
  const worker = async (): Promise<void> => {
    while (next < items.length) if (!(await fn(items[next++] as T))) ok = false;
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  return ok;
}
