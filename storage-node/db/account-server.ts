import { SwiftletError } from '../../common/errors.js';
import { isAutoCreateAccount } from '../../common/expiring-queue.js';
import { H } from '../../common/headers.js';
import { Timestamp } from '../../common/timestamp.js';
import type { Clock } from '../../common/clock.js';
import type { BackendRequest, BackendServer } from '../types.js';
import { deleteAccount, getAccount, isAccountDeleted, listContainers, mergeContainerRows, postAccount, putAccount } from './account-db.js';
import {
  backendTimestampHeaders,
  isAccountMetadata,
  listingQueryFrom,
  metadataFromHeaders,
  optionalCount,
  optionalTimestamp,
  recordHeaders,
  requireTimestamp,
  respond,
} from './http.js';
import { validName } from './keys.js';
import { chooseListingFormat, renderAccountListing } from './listing-format.js';
import { containerRowDeleted, ZERO_TS, type ContainerRow } from './merge.js';
import type { DevicePool, StoredAccount } from './store.js';

/** The account server (docs/BACKEND.md): accounts, their container listings, and container rows. */

export interface AccountServerDeps {
  pool: DevicePool;
  clock: Clock;
}

function accountName(r: BackendRequest): string {
  if (!validName(r.account)) throw new SwiftletError('PRECONDITION_FAILED', 'Invalid name');
  return r.account;
}

function accountHeaders(info: StoredAccount): Record<string, string> {
  return {
    ...backendTimestampHeaders(info),
    ...recordHeaders(info),
    'X-Account-Container-Count': String(info.containerCount),
    'X-Account-Object-Count': String(info.objectCount),
    'X-Account-Bytes-Used': String(info.bytesUsed),
  };
}

export function createAccountServer(deps: AccountServerDeps): BackendServer {
  async function handle(r: BackendRequest): Promise<void> {
    r.req.resume();
    const account = accountName(r);
    const headers = r.req.headers;
    switch (r.method) {
      case 'PUT': {
        const ts = requireTimestamp(headers);
        const db = await deps.pool.get(r.devicePath);
        const { result, info } = await putAccount(db, account, ts, metadataFromHeaders(headers, isAccountMetadata, ts));
        // Swift: a deleted account stays deleted until its database is reclaimed (account-db.ts).
        if (result === 'deleted') return respond(r.res, 403, backendTimestampHeaders(info), 'Recently deleted');
        return respond(r.res, result === 'created' ? 201 : 202, {});
      }
      case 'POST': {
        const ts = requireTimestamp(headers);
        const db = await deps.pool.get(r.devicePath);
        await postAccount(db, account, metadataFromHeaders(headers, isAccountMetadata, ts));
        return respond(r.res, 204, {});
      }
      case 'DELETE': {
        const ts = requireTimestamp(headers);
        const db = await deps.pool.get(r.devicePath);
        const info = await deleteAccount(db, account, ts);
        return respond(r.res, 204, backendTimestampHeaders(info));
      }
      case 'HEAD':
      case 'GET':
        return getOrHead(deps, r, account);
      default:
        return respond(r.res, 405, { Allow: 'PUT, POST, DELETE, HEAD, GET' });
    }
  }
  return { handle, close: async () => {} };
}

async function getOrHead(deps: AccountServerDeps, r: BackendRequest, account: string): Promise<void> {
  const fmt = chooseListingFormat(r.query.get('format'), r.req.headers.accept);
  if (!fmt) return respond(r.res, 406, {});
  const query = r.method === 'GET' ? listingQueryFrom(r.query) : undefined;
  const db = await deps.pool.get(r.devicePath);
  const info = await getAccount(db, account);
  if (!info) return respond(r.res, 404, {});
  if (isAccountDeleted(info)) return respond(r.res, 404, { ...backendTimestampHeaders(info), 'X-Account-Status': 'Deleted' });
  const headers = { ...accountHeaders(info), 'Content-Type': fmt.contentType };
  if (!query) return respond(r.res, 204, headers);
  const body = renderAccountListing(await listContainers(db, account, query), fmt.format, account);
  return respond(r.res, body ? 200 : 204, headers, body);
}

/**
 * Container rows: PUT /d/p/a/c with X-Backend-Source: container-server. 201, or 204 when the
 * row says the container is deleted (as Swift); 404 when the account does not exist (an account
 * whose name starts with '.' is created instead) or is deleted. A deleted account still takes a
 * row saying its container is deleted (the reaper's container DELETEs, for which Swift's reaper
 * sends X-Account-Override-Deleted: yes): its container count goes to 0 and its database can be
 * reclaimed. The row, not a header, decides: the container server's report of that DELETE may be
 * retried by the updater much later, and a deleted container can bring nothing back.
 */
export function createContainerRowServer(deps: AccountServerDeps): BackendServer {
  async function handle(r: BackendRequest): Promise<void> {
    r.req.resume();
    const account = accountName(r);
    const container = r.container ?? '';
    if (!validName(container)) throw new SwiftletError('PRECONDITION_FAILED', 'Invalid name');
    if (r.method !== 'PUT') return respond(r.res, 405, { Allow: 'PUT' });
    const headers = r.req.headers;
    const putTimestamp = optionalTimestamp(headers, H.putTimestamp, ZERO_TS);
    const deleteTimestamp = optionalTimestamp(headers, H.deleteTimestamp, ZERO_TS);
    const objectCount = optionalCount(headers, H.objectCount, 0);
    const row: ContainerRow = {
      name: container,
      putTimestamp,
      deleteTimestamp,
      objectCount,
      bytesUsed: optionalCount(headers, H.bytesUsed, 0),
      // Swift's account server stamps a missing X-Timestamp with its own clock.
      statsTimestamp: optionalTimestamp(headers, H.timestamp, Timestamp.now(deps.clock).internal),
      deleted: containerRowDeleted(putTimestamp, deleteTimestamp, objectCount),
    };
    const db = await deps.pool.get(r.devicePath);
    // Swift's auto_create_account_prefix: a hidden account ('.expiring_objects') is created by
    // its first container row, put at that row's first timestamp.
    if (isAutoCreateAccount(account)) {
      const info = await getAccount(db, account);
      if (!info) await putAccount(db, account, putTimestamp > ZERO_TS ? putTimestamp : row.statsTimestamp, {});
    }
    await mergeContainerRows(db, account, { rows: [row], requireLive: deleteTimestamp <= putTimestamp });
    return respond(r.res, deleteTimestamp > putTimestamp ? 204 : 201, {});
  }
  return { handle, close: async () => {} };
}
