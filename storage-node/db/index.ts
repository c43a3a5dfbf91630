import type { IncomingHttpHeaders } from 'node:http';
import type { BackendServer, StorageNodeContext } from '../types.js';
import { createAccountServer, createContainerRowServer } from './account-server.js';
import { AccountUpdateQueue, retryPendingAccountUpdates, type AccountUpdateOptions, type RetryReport } from './account-update.js';
import { applyObjectRow, createContainerServer, createObjectRowServer } from './container-server.js';
import { DevicePool, type AccountTarget } from './store.js';

/**
 * The container and account servers of a storage node, over one LevelDB per device
 * (`<device>/db/`, opened on first use and shared by all four handlers).
 *
 * Building blocks a db replicator or the updater can reuse:
 *   merge.ts          row/record merge rules (commutative, associative, idempotent) and digests
 *   store.ts          DeviceDb (codecs, durable batches, cursors, scan) and DevicePool
 *   container-db.ts   container ops, mergeObjectRows, mergeContainerRecord, objectRows, pending updates
 *   account-db.ts     account ops, mergeContainerRows, mergeAccountRecord, containerRows
 *   account-update.ts sendAccountUpdate, reportContainer, retryPendingAccountUpdates
 *   listing.ts        Swift listing semantics over any ordered cursor
 */

export interface DbServerOptions {
  /** How long bursts of object rows are gathered into one account update. Default 75 ms. */
  accountUpdateDelayMs?: number;
  /** How long an account server may take to answer an update. Default ctx.containerUpdateTimeoutMs. */
  accountUpdateTimeoutMs?: number;
}

export interface DbServers {
  container: BackendServer;
  account: BackendServer;
  objectRow: BackendServer;
  containerRow: BackendServer;
  /** The device databases (for replicators and the updater running in this process). */
  pool: DevicePool;
  /** An object server's update to a container replica in this process, without HTTP (container-server.ts applyObjectRow). */
  applyObjectRow(devicePath: string, account: string, container: string, obj: string, method: string, headers: IncomingHttpHeaders): Promise<201 | 204 | 405>;
  /**
   * The updater's pass over one device: re-sends stats the account servers have not
   * acknowledged. `resolveTarget` supplies a target for markers that never had one.
   */
  retryPendingAccountUpdates(
    devicePath: string,
    params?: { limit?: number; resolveTarget?: (account: string, container: string) => AccountTarget | undefined },
  ): Promise<RetryReport>;
  /** Stops account updates (their markers stay durable) and closes every database. */
  close(): Promise<void>;
}

export function createDbServers(ctx: StorageNodeContext, opts: DbServerOptions = {}): DbServers {
  const pool = new DevicePool({ fsync: ctx.fsync, log: ctx.log });
  const updateOpts: AccountUpdateOptions = {
    backend: ctx.backend,
    timeoutMs: opts.accountUpdateTimeoutMs ?? ctx.containerUpdateTimeoutMs,
    clock: ctx.clock,
    log: ctx.log,
  };
  const updates = new AccountUpdateQueue({ ...updateOpts, delayMs: opts.accountUpdateDelayMs ?? 75 });
  const deps = { pool, updates, ...(ctx.policies ? { policies: ctx.policies } : {}) };
  const accountDeps = { pool, clock: ctx.clock };
  let closing: Promise<void> | undefined;
  return {
    container: createContainerServer(deps),
    objectRow: createObjectRowServer(deps),
    account: createAccountServer(accountDeps),
    containerRow: createContainerRowServer(accountDeps),
    pool,
    applyObjectRow: (devicePath, account, container, obj, method, headers) => applyObjectRow(deps, devicePath, account, container, obj, method, headers),
    async retryPendingAccountUpdates(devicePath, params = {}) {
      return retryPendingAccountUpdates(updateOpts, await pool.get(devicePath), params);
    },
    close() {
      closing ??= (async () => {
        await updates.close();
        await pool.close();
      })();
      return closing;
    },
  };
}

export type { AccountTarget } from './store.js';
