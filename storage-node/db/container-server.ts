import { isUtf8 } from 'node:buffer';
import type { IncomingHttpHeaders } from 'node:http';
import { isSwiftletError, SwiftletError } from '../../common/errors.js';
import { H } from '../../common/headers.js';
import { parsePolicyIndex, POLICY_DEFAULT_HEADER, POLICY_INDEX_HEADER, SINGLE_POLICY, type StoragePolicies } from '../../common/storage-policy.js';
import type { BackendRequest, BackendServer } from '../types.js';
import { accountTargetFromHeaders, type AccountUpdateQueue } from './account-update.js';
import { deleteContainer, getContainer, isContainerDeleted, listObjects, mergeObjectRows, postContainer, putContainer, type PolicyRequest } from './container-db.js';
import {
  backendTimestampHeaders,
  isContainerMetadata,
  listingQueryFrom,
  metadataFromHeaders,
  optionalCount,
  optionalTimestamp,
  recordHeaders,
  requireTimestamp,
  respond,
} from './http.js';
import { titleCase } from '../../common/headers.js';
import { validName } from './keys.js';
import { chooseListingFormat, renderObjectListing } from './listing-format.js';
import { normalRow, policyOf, type ObjectRow } from './merge.js';
import type { AccountTarget, DeviceDb, DevicePool, StoredContainer } from './store.js';
import { isAutoCreateAccount } from '../../common/expiring-queue.js';
import { Timestamp } from '../../common/timestamp.js';

/** The container server (docs/BACKEND.md): containers, their listings, and object rows. */

export interface DbServerDeps {
  pool: DevicePool;
  updates: AccountUpdateQueue;
  /** The policies a container may be given (absent: the single Policy-0). */
  policies?: StoragePolicies;
}

function names(r: BackendRequest): { account: string; container: string } {
  const container = r.container ?? '';
  // Swift answers 412 "Invalid UTF8 or contains NULL"; NUL would also break our key schema.
  if (!validName(r.account) || !validName(container)) throw new SwiftletError('PRECONDITION_FAILED', 'Invalid name');
  return { account: r.account, container };
}

function transId(r: BackendRequest): string | undefined {
  const v = r.req.headers[H.transId];
  return typeof v === 'string' ? v : undefined;
}

function containerHeaders(info: StoredContainer): Record<string, string> {
  return {
    ...backendTimestampHeaders(info),
    ...recordHeaders(info),
    'X-Container-Object-Count': String(info.objectCount),
    'X-Container-Bytes-Used': String(info.bytesUsed),
    'X-Backend-Storage-Policy-Index': String(policyOf(info).index),
  };
}

/**
 * The policy a container PUT asks for (Swift's get_and_validate_policy_index): the proxy sends
 * the client's choice as X-Backend-Storage-Policy-Index and its default as
 * X-Backend-Storage-Policy-Default. A policy this cluster does not have is BAD_REQUEST.
 */
function policyRequest(headers: IncomingHttpHeaders, policies: StoragePolicies): PolicyRequest {
  const known = (name: string): number | undefined => {
    const raw = headers[name];
    if (raw === undefined) return undefined;
    const index = parsePolicyIndex(raw);
    if (index === undefined || !policies.byIndex(index)) throw new SwiftletError('BAD_REQUEST', `Invalid ${titleCase(name)} '${String(raw)}'`);
    return index;
  };
  const requested = known(POLICY_INDEX_HEADER);
  const fallback = known(POLICY_DEFAULT_HEADER) ?? policies.default.index;
  return requested === undefined ? { fallback } : { requested, fallback };
}

export function createContainerServer(deps: DbServerDeps): BackendServer {
  async function handle(r: BackendRequest): Promise<void> {
    r.req.resume(); // no body in this protocol: drain it so the connection can be reused
    const { account, container } = names(r);
    const headers = r.req.headers;
    switch (r.method) {
      case 'PUT': {
        const ts = requireTimestamp(headers);
        const target = accountTargetFromHeaders(headers);
        const policy = policyRequest(headers, deps.policies ?? SINGLE_POLICY);
        const db = await deps.pool.get(r.devicePath);
        let result;
        try {
          ({ result } = await putContainer(db, account, container, ts, metadataFromHeaders(headers, isContainerMetadata, ts), target, policy));
        } catch (err) {
          // Another policy than the container's: 409 saying which it has (Swift's _update_or_create).
          const has = isSwiftletError(err, 'CONFLICT') ? err.details.policyIndex : undefined;
          if (typeof has === 'number') return respond(r.res, 409, { 'X-Backend-Storage-Policy-Index': String(has) });
          throw err;
        }
        // Like Swift, tell the account before answering; a failure leaves the pending marker.
        if (target) await deps.updates.sendNow(db, account, container, target, transId(r));
        return respond(r.res, result === 'created' ? 201 : 202, {});
      }
      case 'POST': {
        const ts = requireTimestamp(headers);
        const target = accountTargetFromHeaders(headers);
        const db = await deps.pool.get(r.devicePath);
        const { reported } = await postContainer(db, account, container, ts, metadataFromHeaders(headers, isContainerMetadata, ts), target);
        // A newer put timestamp goes to the account soon, not before the answer (Swift's updater).
        if (target && reported) deps.updates.schedule(db, account, container, target);
        return respond(r.res, 204, {});
      }
      case 'DELETE': {
        const ts = requireTimestamp(headers);
        const target = accountTargetFromHeaders(headers);
        const db = await deps.pool.get(r.devicePath);
        const { result, info } = await deleteContainer(db, account, container, ts, target);
        if (target) await deps.updates.sendNow(db, account, container, target, transId(r));
        return respond(r.res, result === 'deleted' ? 204 : 404, backendTimestampHeaders(info));
      }
      case 'HEAD':
      case 'GET':
        return getOrHead(deps, r, account, container);
      default:
        return respond(r.res, 405, { Allow: 'PUT, POST, DELETE, HEAD, GET' });
    }
  }
  return { handle, close: async () => {} };
}

async function getOrHead(deps: DbServerDeps, r: BackendRequest, account: string, container: string): Promise<void> {
  const fmt = chooseListingFormat(r.query.get('format'), r.req.headers.accept);
  if (!fmt) return respond(r.res, 406, {});
  const query = r.method === 'GET' ? listingQueryFrom(r.query, { path: true }) : undefined;
  const db = await deps.pool.get(r.devicePath);
  const info = await getContainer(db, account, container);
  if (!info) return respond(r.res, 404, {});
  if (isContainerDeleted(info)) return respond(r.res, 404, backendTimestampHeaders(info));
  const headers = { ...containerHeaders(info), 'Content-Type': fmt.contentType };
  if (!query) return respond(r.res, 204, headers);
  const body = renderObjectListing(await listObjects(db, account, container, query), fmt.format, container, account);
  return respond(r.res, body ? 200 : 204, headers, body);
}

/** Object rows: PUT/DELETE /d/p/a/c/o with X-Backend-Source: object-server. */
export function createObjectRowServer(deps: DbServerDeps): BackendServer {
  async function handle(r: BackendRequest): Promise<void> {
    r.req.resume();
    const status = await applyObjectRow(deps, r.devicePath, r.account, r.container ?? '', r.object ?? '', r.method, r.req.headers);
    return respond(r.res, status, status === 405 ? { Allow: 'PUT, DELETE' } : {});
  }
  return { handle, close: async () => {} };
}

/**
 * One object row into a container replica: what an object server's update does, over HTTP or
 * (for a replica in the same process) called directly. Resolves 201 (PUT) or 204 (DELETE) once
 * the row is durable, 405 for another method; throws a SwiftletError for a bad name (Swift's 412)
 * or header.
 */
export async function applyObjectRow(
  deps: DbServerDeps,
  devicePath: string,
  account: string,
  container: string,
  name: string,
  method: string,
  headers: IncomingHttpHeaders,
): Promise<201 | 204 | 405> {
  if (!validName(account) || !validName(container) || !validName(name)) throw new SwiftletError('PRECONDITION_FAILED', 'Invalid name');
  if (method !== 'PUT' && method !== 'DELETE') return 405;
  let row: ObjectRow;
  if (method === 'PUT') {
    const size = optionalCount(headers, H.size, -1);
    if (size < 0) throw new SwiftletError('BAD_REQUEST', `Missing ${H.size} header`);
    const contentType = headers[H.contentType];
    const etag = headers[H.etag];
    const timestamp = requireTimestamp(headers);
    // An object POST's update (Swift's): the data's timestamp, and when the content type and the
    // metadata were set; the row keeps each part from its newest source (merge.ts).
    const ctypeTimestamp = optionalTimestamp(headers, H.contentTypeTimestamp, timestamp);
    row = normalRow({
      name,
      timestamp,
      size,
      contentType: typeof contentType === 'string' ? headerText(contentType) : '',
      etag: typeof etag === 'string' ? etag : '',
      deleted: false,
      ctypeTimestamp,
      metaTimestamp: optionalTimestamp(headers, H.metaTimestamp, ctypeTimestamp),
    });
  } else {
    // Swift's delete_object writes these placeholder fields into the tombstone.
    row = { name, timestamp: requireTimestamp(headers), size: 0, contentType: 'application/deleted', etag: 'noetag', deleted: true };
  }
  const target = accountTargetFromHeaders(headers);
  const db = await deps.pool.get(devicePath);
  if (isAutoCreateAccount(account) && (await autoCreate(db, account, container, row.timestamp, target))) {
    if (target) deps.updates.schedule(db, account, container, target);
  }
  const { changed } = await mergeObjectRows(db, account, container, { rows: [row], requireLive: true, ...(target ? { target } : {}) });
  if (target && changed) deps.updates.schedule(db, account, container, target);
  return method === 'PUT' ? 201 : 204;
}

/**
 * Swift's auto_create_account_prefix: an object row for an account starting with '.' (the
 * `.expiring_objects` queue) creates its container when missing, or brings a deleted one back
 * (put just after its deletion), so queue rows need no container PUT. True when it did.
 */
async function autoCreate(db: DeviceDb, account: string, container: string, rowTimestamp: string, target: AccountTarget | undefined): Promise<boolean> {
  const old = await getContainer(db, account, container);
  if (old && !isContainerDeleted(old)) return false;
  let ts = rowTimestamp;
  if (old) {
    const deleted = Timestamp.parse(old.deleteTimestamp);
    if (deleted.compare(Timestamp.parse(ts)) >= 0) ts = deleted.withOffset(deleted.offset + 1).internal;
  }
  try {
    await putContainer(db, account, container, ts, {}, target);
  } catch (err) {
    if (isSwiftletError(err, 'CONFLICT')) return false; // deleted again meanwhile: the row merge answers 404, retried later
    throw err;
  }
  return true;
}

/**
 * A header value as text: Node hands header bytes over one Latin-1 char each, so a UTF-8 content
 * type ("text/ü") arrives as its bytes' chars. The row stores the text, as Swift's container
 * server does (WSGI strings decoded as UTF-8), or a listing would encode it twice. Bytes that are
 * not UTF-8 stay as they came.
 */
function headerText(v: string): string {
  const bytes = Buffer.from(v, 'latin1');
  return isUtf8(bytes) ? bytes.toString('utf8') : v;
}
