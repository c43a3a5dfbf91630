import { authorizeTarget } from '../../authz.js';
import type { ProxyContext } from '../../context.js';
import { accountInfo, containerInfo } from '../../controllers/common.js';
import { respond, type Middleware, type ProxyRequest, type ProxyResponse } from '../../pipeline.js';
import { accountRoom, containerRoom, fits, isQuotaValue, minRoom, QUOTA_EXCEEDED, UNLIMITED, type Room } from './core.js';

export { QUOTA_EXCEEDED } from './core.js';

/**
 * Container and account quotas (Swift's container_quotas.py and account_quotas.py), as two
 * stages after copy. An object PUT is refused with 413 "Upload exceeds quota." when its
 * Content-Length would take the container past X-Container-Meta-Quota-Bytes, past
 * X-Container-Meta-Quota-Count objects, or the account past X-Account-Meta-Quota-Bytes; a
 * chunked PUT is bounded by the room left (req.bodyLimit), where Swift lets it through.
 * A copy's PUT (middleware/copy.ts) carries its source's length; large-object manifests ask
 * `checkQuotas` with their segments' total.
 */

/** Where the quota of a write is counted. */
export interface QuotaTarget {
  account: string;
  container: string;
  object: string;
}

/** The room a container's quotas leave (its info cached as any container lookup; one it cannot find: unlimited, it 404s later). */
async function roomInContainer(ctx: ProxyContext, req: ProxyRequest, account: string, container: string): Promise<Room> {
  const info = await containerInfo(ctx, req, account, container);
  if (info.status < 200 || info.status >= 300) return UNLIMITED;
  return containerRoom(info.headers, info.bytesUsed, info.objectCount);
}

async function roomInAccount(ctx: ProxyContext, req: ProxyRequest, account: string): Promise<Room> {
  const info = await accountInfo(ctx, req, account);
  if (info.status < 200 || info.status >= 300) return UNLIMITED;
  return accountRoom(info.headers);
}

/**
 * Swift's refusal of an over-quota write: the user's own refusal first (401/403, so the quota
 * does not tell a stranger the container exists), else 413 with Swift's body.
 */
async function refuse(req: ProxyRequest, t: QuotaTarget): Promise<ProxyResponse> {
  const decision = await authorizeTarget(req, 'PUT', t.account, t.container, t.object);
  if (decision !== 'allow') return respond(decision);
  return respond(413, { 'Content-Type': 'text/html; charset=UTF-8' }, QUOTA_EXCEEDED);
}

/**
 * The quota check any stage calls for a write of `bytes` new bytes as one object into `t`:
 * undefined when the container's and the account's quotas allow it, else the answer (413, or the
 * user's 401/403). A reseller admin's request passes the account quota, as in Swift.
 * A large-object manifest calls it with the sum of its segments.
 */
export async function checkQuotas(ctx: ProxyContext, req: ProxyRequest, t: QuotaTarget, bytes: number): Promise<ProxyResponse | undefined> {
  const room = await quotaRoom(ctx, req, t);
  return fits(room, bytes) ? undefined : refuse(req, t);
}

/** The room left for one more object in `t`: the container's quotas and (but for a reseller admin) the account's. */
export async function quotaRoom(ctx: ProxyContext, req: ProxyRequest, t: QuotaTarget): Promise<Room> {
  const [c, a] = await Promise.all([
    roomInContainer(ctx, req, t.account, t.container),
    isReseller(req) ? UNLIMITED : roomInAccount(ctx, req, t.account),
  ]);
  return minRoom(c, a);
}

function isReseller(req: ProxyRequest): boolean {
  return req.identity?.resellerAdmin === true;
}

/** A PUT's Content-Length, 'chunked', or undefined when it has neither valid (the controller answers it). */
function declaredLength(req: ProxyRequest): number | 'chunked' | undefined {
  if ((req.headers['transfer-encoding'] ?? '').toLowerCase() === 'chunked') return 'chunked';
  const v = req.headers['content-length'];
  return v !== undefined && /^[0-9]+$/.test(v) ? Number(v) : undefined;
}

function objectPut(req: ProxyRequest): req is ProxyRequest & QuotaTarget {
  return req.method === 'PUT' && req.object !== undefined && req.container !== undefined && req.account !== undefined;
}

/**
 * An authorized PUT of known length is checked now; a chunked one gets the room as its body
 * limit (the smaller of the stages' rooms) unless nothing is left. After a stored write the cached info is
 * dropped, so the next write sees the new usage as soon as the servers count it.
 */
async function admitPut(req: ProxyRequest & QuotaTarget, roomFor: () => Promise<Room>, next: () => Promise<ProxyResponse>, forget: () => void): Promise<ProxyResponse> {
  const length = declaredLength(req);
  // A PUT the controller refuses anyway (no length: 411; not the user's to write: 401/403) costs no lookup here.
  if (length === undefined || (await authorizeTarget(req, 'PUT', req.account, req.container, req.object)) !== 'allow') return next();
  const room = await roomFor();
  if (room.bytes === Infinity && room.objects === Infinity) return next();
  if (!fits(room, length === 'chunked' ? 0 : length)) {
    req.body.resume();
    return refuse(req, req);
  }
  if (length === 'chunked' && room.bytes !== Infinity && (!req.bodyLimit || room.bytes < req.bodyLimit.bytes)) {
    req.bodyLimit = { bytes: room.bytes, body: QUOTA_EXCEEDED };
  }
  const res = await next();
  if (res.status >= 200 && res.status < 300) forget();
  return res;
}

/** Swift's container_quotas stage: quota values checked when set (400), object PUTs against the container's quotas. */
export function containerQuotas(ctx: ProxyContext): Middleware {
  ctx.capabilities.register('container_quotas', {});
  return (next) => async (req) => {
    if (req.container === undefined || req.account === undefined) return next(req);
    if (req.object === undefined) {
      if (req.method !== 'PUT' && req.method !== 'POST') return next(req);
      const bytes = req.headers['x-container-meta-quota-bytes'];
      if (bytes && !isQuotaValue(bytes)) return badRequest(req, 'Invalid bytes quota.');
      const count = req.headers['x-container-meta-quota-count'];
      if (count && !isQuotaValue(count)) return badRequest(req, 'Invalid count quota.');
      return next(req);
    }
    if (!objectPut(req)) return next(req);
    return admitPut(req, () => roomInContainer(ctx, req, req.account, req.container), () => next(req), () => ctx.info.invalidateContainer(req.account, req.container));
  };
}

/**
 * Swift's account_quotas stage: only a reseller admin may set X-Account-Meta-Quota-Bytes (400 for
 * a value that is no number; anyone else 403), and object PUTs are held to the account's quota.
 */
export function accountQuotas(ctx: ProxyContext): Middleware {
  ctx.capabilities.register('account_quotas', {});
  return (next) => async (req) => {
    if ((req.method !== 'PUT' && req.method !== 'POST') || req.account === undefined) return next(req);
    let quota: string | undefined;
    if (req.container === undefined) {
      quota = req.headers['x-account-meta-quota-bytes'];
      // X-Remove dominates when both are given.
      if (req.headers['x-remove-account-meta-quota-bytes']) quota = '0';
    }
    if (isReseller(req)) {
      if (quota && !isQuotaValue(quota)) return badRequest(req);
      return next(req);
    }
    if (quota !== undefined) {
      req.body.resume();
      return respond(403);
    }
    if (!objectPut(req)) return next(req);
    return admitPut(req, () => roomInAccount(ctx, req, req.account), () => next(req), () => ctx.info.invalidateAccount(req.account));
  };
}

function badRequest(req: ProxyRequest, body?: string): Promise<ProxyResponse> {
  req.body.resume();
  return Promise.resolve(body === undefined ? respond(400) : respond(400, { 'Content-Type': 'text/html; charset=UTF-8' }, body));
}
