import type { IncomingHttpHeaders } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Clock } from '../../common/clock.js';
import { H } from '../../common/headers.js';
import { backendPath } from '../../common/backend-path.js';
import { discardBody, originOf, type BackendClient } from '../../common/http-client.js';
import type { Logger } from '../../common/log.js';
import { Timestamp } from '../../common/timestamp.js';
import { ackAccountUpdate, containerLockKey, getContainer, listPendingAccountUpdates } from './container-db.js';
import { key } from './keys.js';
import type { AccountTarget, DeviceDb, StoredContainer } from './store.js';

/**
 * The container server keeps the account server informed: after a change it PUTs the
 * container's stats to `/<adev>/<apart>/<a>/<c>` with `X-Backend-Source: container-server`.
 *
 * Durability comes from the U marker written with every reportable change (container-db.ts):
 * it is removed only once an account server acknowledged stats at least that new, so a failed
 * send, a timeout or a crash all leave it for retryPendingAccountUpdates (the updater daemon).
 */

export interface AccountUpdateOptions {
  backend: BackendClient;
  /** How long the account server may take to answer. */
  timeoutMs: number;
  clock: Clock;
  log: Logger;
}

/** X-Account-Host/-Device/-Partition, if the request carries all three. */
export function accountTargetFromHeaders(headers: IncomingHttpHeaders): AccountTarget | undefined {
  const host = headers[H.accountHost];
  const device = headers[H.accountDevice];
  const partition = headers[H.accountPartition];
  if (typeof host !== 'string' || typeof device !== 'string' || typeof partition !== 'string') return undefined;
  if (!host || !device || !/^\d+$/.test(partition)) return undefined;
  return { host, device, partition: Number(partition) };
}

/** The account server's status for our update, or 0 when it could not be reached in time. */
export async function sendAccountUpdate(
  opts: AccountUpdateOptions,
  target: AccountTarget,
  account: string,
  container: string,
  info: StoredContainer,
  transId?: string,
): Promise<number> {
  const headers: Record<string, string> = {
    [H.backendSource]: 'container-server',
    [H.putTimestamp]: info.putTimestamp,
    [H.deleteTimestamp]: info.deleteTimestamp,
    [H.objectCount]: String(info.objectCount),
    [H.bytesUsed]: String(info.bytesUsed),
    // When the stats were taken: the account keeps the newest report (merge.ts mergeContainerRow).
    [H.timestamp]: Timestamp.now(opts.clock).internal,
  };
  if (transId) headers[H.transId] = transId;
  let res: Dispatcher.ResponseData | undefined;
  try {
    res = await opts.backend.request(originOf(target.host), 'PUT', backendPath(target.device, target.partition, account, container), {
      headers,
      headersTimeout: opts.timeoutMs,
      bodyTimeout: opts.timeoutMs,
    });
    return res.statusCode;
  } catch (err) {
    opts.log.warn({ err, account, container, target }, 'account update failed (will retry later)');
    return 0;
  } finally {
    await discardBody(res?.body);
  }
}

/** Sends the current stats of one container; on success drops its pending marker. Never throws. */
export async function reportContainer(
  opts: AccountUpdateOptions,
  db: DeviceDb,
  account: string,
  container: string,
  target: AccountTarget,
  transId?: string,
): Promise<boolean> {
  try {
    const info = await getContainer(db, account, container);
    if (!info) return false;
    const status = await sendAccountUpdate(opts, target, account, container, info, transId);
    if (status >= 200 && status < 300) {
      await ackAccountUpdate(db, account, container, info.seq);
      return true;
    }
    if (status) opts.log.warn({ status, account, container, target }, 'account update refused (will retry later)');
    return false;
  } catch (err) {
    opts.log.error({ err, account, container }, 'account update error');
    return false;
  }
}

function entryKey(db: DeviceDb, account: string, container: string): string {
  return `${db.path}\0${account}\0${container}`;
}

interface QueueEntry {
  db: DeviceDb;
  account: string;
  container: string;
  target: AccountTarget;
  timer?: NodeJS.Timeout;
  inFlight?: Promise<boolean>;
  /** Changed since the last send started. */
  dirty: boolean;
}

/**
 * Coalesces account updates per container: at most one in flight, bursts within `delayMs`
 * become one update, and a change made during a send triggers one more send afterwards.
 */
export class AccountUpdateQueue {
  private readonly entries = new Map<string, QueueEntry>();
  private closed = false;

  constructor(private readonly opts: AccountUpdateOptions & { delayMs: number }) {}

  /** A row changed: send the stats soon. */
  schedule(db: DeviceDb, account: string, container: string, target: AccountTarget): void {
    if (this.closed) return;
    const e = this.entry(db, account, container, target);
    e.dirty = true;
    if (!e.timer && !e.inFlight) this.arm(e);
  }

  /** Container PUT/DELETE: send now (after any send in flight) and say whether it was taken. */
  async sendNow(db: DeviceDb, account: string, container: string, target: AccountTarget, transId?: string): Promise<boolean> {
    for (;;) {
      const e = this.entry(db, account, container, target);
      if (e.timer) {
        clearTimeout(e.timer);
        delete e.timer;
      }
      if (!e.inFlight) return this.launch(e, transId);
      await e.inFlight;
    }
  }

  /** Stops timers and waits for sends in flight; unsent changes keep their durable marker. */
  async close(): Promise<void> {
    this.closed = true;
    for (const e of this.entries.values()) if (e.timer) clearTimeout(e.timer);
    await Promise.all([...this.entries.values()].map((e) => e.inFlight));
    this.entries.clear();
  }

  private entry(db: DeviceDb, account: string, container: string, target: AccountTarget): QueueEntry {
    const k = entryKey(db, account, container);
    let e = this.entries.get(k);
    if (!e) {
      e = { db, account, container, target, dirty: false };
      this.entries.set(k, e);
    }
    e.target = target;
    return e;
  }

  private arm(e: QueueEntry): void {
    e.timer = setTimeout(() => {
      delete e.timer;
      if (!e.inFlight) void this.launch(e);
    }, this.opts.delayMs);
    e.timer.unref();
  }

  private launch(e: QueueEntry, transId?: string): Promise<boolean> {
    e.dirty = false;
    const p = reportContainer(this.opts, e.db, e.account, e.container, e.target, transId).finally(() => {
      delete e.inFlight;
      if (e.dirty && !this.closed) this.arm(e);
      else if (!e.timer && this.entries.get(entryKey(e.db, e.account, e.container)) === e) {
        this.entries.delete(entryKey(e.db, e.account, e.container));
      }
    });
    e.inFlight = p;
    return p;
  }
}

export interface RetryReport {
  attempted: number;
  succeeded: number;
  failed: number;
  /** Markers without a target (no X-Account-* headers seen, and none resolved). */
  noTarget: number;
}

/**
 * The updater's pass over one device: re-sends the current stats of every container whose
 * update was not acknowledged. `resolveTarget` (e.g. from the account ring) fills in markers
 * that never had a target.
 */
export async function retryPendingAccountUpdates(
  opts: AccountUpdateOptions,
  db: DeviceDb,
  params: { limit?: number; resolveTarget?: (account: string, container: string) => AccountTarget | undefined } = {},
): Promise<RetryReport> {
  const report: RetryReport = { attempted: 0, succeeded: 0, failed: 0, noTarget: 0 };
  for (const p of await listPendingAccountUpdates(db, params.limit)) {
    const orphan = await db.mutex.run(containerLockKey(p.account, p.container), async () => {
      if (await getContainer(db, p.account, p.container)) return false;
      // A marker without its container (should not happen): nothing left to report.
      await db.write([{ type: 'del', key: key('U', p.account, p.container) }], { sync: false });
      return true;
    });
    if (orphan) continue;
    const target = p.target ?? params.resolveTarget?.(p.account, p.container);
    if (!target) {
      report.noTarget++;
      continue;
    }
    report.attempted++;
    if (await reportContainer(opts, db, p.account, p.container, target)) report.succeeded++;
    else report.failed++;
  }
  return report;
}
