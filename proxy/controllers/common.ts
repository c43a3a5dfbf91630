import { withQuery } from '../../common/backend-path.js';
import type { BackendPath } from '../../common/backend-path.js';
import { abortBody } from '../../common/http-client.js';
import { backendPath } from '../../common/backend-path.js';
import type { Timestamp } from '../../common/timestamp.js';
import { parsePolicyIndex, POLICY_INDEX_HEADER } from '../../common/storage-policy.js';
import type { Ring, RingDevice } from '../../ring-builder/ring.js';
import type { BackendResponse } from '../backend.js';
import { checkListingLimit } from '../constraints.js';
import type { ProxyContext } from '../context.js';
import { makeRequests, readFromNodes } from '../fanout.js';
import type { AccountInfo, ContainerInfo } from '../info-cache.js';
import { rejection, respond, type ProxyRequest, type ProxyResponse } from '../pipeline.js';
import { clientHeaders } from '../responses.js';
import type { SwiftRequest } from '../swift-request.js';

/** Headers every backend request carries. */
export function baseBackendHeaders(sreq: ProxyRequest, ts?: Timestamp): Record<string, string> {
  const h: Record<string, string> = { 'x-trans-id': sreq.transId, 'user-agent': 'proxy-server' };
  if (ts) h['x-timestamp'] = ts.internal;
  return h;
}

/**
 * Client headers the storage nodes should get for a PUT/POST of `target`: metadata, ACLs and the
 * object's persisted headers. X-Remove-*-Meta-Foo becomes an empty X-*-Meta-Foo (a deletion).
 */
export function forwardedMetadata(headers: Record<string, string>, target: 'account' | 'container' | 'object'): Record<string, string> {
  const out: Record<string, string> = {};
  const metaPrefix = `x-${target}-meta-`;
  const removePrefix = `x-remove-${target}-meta-`;
  // Sysmeta reaches a controller only from a middleware (the gatekeeper strips the client's).
  const sysmetaPrefix = `x-${target}-sysmeta-`;
  for (const [k, v] of Object.entries(headers)) {
    if (k.startsWith(metaPrefix) || k.startsWith(sysmetaPrefix)) out[k] = v;
    else if (k.startsWith(removePrefix)) out[metaPrefix + k.slice(removePrefix.length)] = '';
  }
  // tempauth's account ACL, moved to sysmeta by the auth stage (a client's own sysmeta never gets this far).
  if (target === 'account' && headers['x-account-sysmeta-core-access-control'] !== undefined) out['x-account-sysmeta-core-access-control'] = headers['x-account-sysmeta-core-access-control'];
  if (target === 'container') {
    for (const k of ['x-container-read', 'x-container-write', 'x-versions-location', 'x-history-location']) {
      if (headers[k] !== undefined) out[k] = headers[k] as string;
      if (headers[`x-remove-${k.slice(2)}`] !== undefined) out[k] = '';
    }
  }
  if (target === 'object') {
    for (const k of ['content-type', 'content-disposition', 'content-encoding', 'content-language', 'cache-control', 'expires', 'x-delete-at', 'x-object-manifest', 'x-static-large-object']) {
      if (headers[k] !== undefined) out[k] = headers[k] as string;
    }
    // Object sysmeta comes only from middleware (the gatekeeper strips a client's): SLO's size and ETag.
    for (const [k, v] of Object.entries(headers)) if (k.startsWith('x-object-sysmeta-')) out[k] = v;
  }
  return out;
}

/**
 * Answers the client with a backend response: a good one's body streams; an error answer is sent
 * the way Swift's best_response builds it, with the node's headers and its words (`text`, or
 * Swift's page for the status when it had none) in swob's content type, text/html.
 */
export function relay(sreq: SwiftRequest, r: BackendResponse, extra: Record<string, string> = {}): ProxyResponse {
  const headers = { ...clientHeaders(r.headers), ...extra };
  if (r.body && sreq.method !== 'HEAD') return respond(r.status, headers, r.body);
  abortBody(r.body);
  if (r.status < 400) return respond(r.status, headers, '');
  for (const k of Object.keys(headers)) if (/^content-(type|length)$/i.test(k)) delete headers[k];
  headers['Content-Type'] = 'text/html; charset=UTF-8';
  return respond(r.status, headers, r.text || undefined);
}

/** Answers a fan-out write: its status, and for a refusal the chosen node's answer (Swift's best_response). */
export function answerWrite(sreq: SwiftRequest, result: { status: number; chosen?: BackendResponse }): ProxyResponse {
  if (result.status >= 400 && result.chosen && result.chosen.status === result.status) return relay(sreq, result.chosen);
  return respond(result.status);
}

/**
 * GET/HEAD of an account or container: the listing limit check, then the first good replica's
 * answer with the client's query (prefix, delimiter, marker, format...). Returns the response for
 * the caller to relay, or the refusal of a bad limit.
 */
export async function readListing(
  ctx: ProxyContext,
  sreq: SwiftRequest,
  ring: Ring,
  part: number,
  pathFor: (dev: RingDevice) => BackendPath,
  maxLimit: number,
): Promise<{ response: BackendResponse | undefined; status: number } | ProxyResponse> {
  const bad = checkListingLimit(sreq.query.get('limit'), maxLimit);
  if (bad) return rejection(bad);
  const qs = sreq.query.toString();
  return readFromNodes(ctx, ring, part, sreq.method, (d) => withQuery(pathFor(d), qs), baseBackendHeaders(sreq), { keepBody: true });
}

/** Container info (existence, ACLs, stats), cached briefly. */
export function containerInfo(ctx: ProxyContext, sreq: ProxyRequest, account: string, container: string): Promise<ContainerInfo> {
  return ctx.info.container(account, container, async () => {
    const ring = ctx.rings.container();
    const part = ring.partitionFor(account, container);
    const { response, status } = await readFromNodes(ctx, ring, part, 'HEAD', (dev) => backendPath(dev.device, part, account, container), baseBackendHeaders(sreq));
    if (!response || status >= 300) return { status, objectCount: 0, bytesUsed: 0, storagePolicy: 0, headers: {} };
    const h = response.headers;
    const info: ContainerInfo = {
      status,
      objectCount: Number(h['x-container-object-count'] ?? 0),
      bytesUsed: Number(h['x-container-bytes-used'] ?? 0),
      // An index that is not a number is kept as one no policy has, so object requests answer 503.
      storagePolicy: parsePolicyIndex(h[POLICY_INDEX_HEADER]) ?? -1,
      headers: clientHeaders(h),
    };
    if (h['x-container-read']) info.readAcl = h['x-container-read'];
    if (h['x-container-write']) info.writeAcl = h['x-container-write'];
    return info;
  });
}

/** Account existence, cached briefly. */
export function accountInfo(ctx: ProxyContext, sreq: ProxyRequest, account: string): Promise<AccountInfo> {
  return ctx.info.account(account, async () => {
    const ring = ctx.rings.account();
    const part = ring.partitionFor(account);
    const { response, status } = await readFromNodes(ctx, ring, part, 'HEAD', (dev) => backendPath(dev.device, part, account), baseBackendHeaders(sreq));
    return { status, headers: response ? clientHeaders(response.headers) : {} };
  });
}

/**
 * Swift's container PUT: the account must exist; under account_autocreate it is created if the
 * lookup found nothing usable, then looked up again. Returns 2xx, 404 (no such account) or 503
 * (the creation failed).
 */
export async function ensureAccount(ctx: ProxyContext, sreq: SwiftRequest, account: string): Promise<number> {
  const info = await accountInfo(ctx, sreq, account);
  if (info.status >= 200 && info.status < 300) return info.status;
  if (!ctx.config.account_autocreate) return 404;
  const ring = ctx.rings.account();
  const part = ring.partitionFor(account);
  const ts = sreq.stamp();
  // Swift's autocreate_account carries the request's account sysmeta (keystoneauth's project domain).
  const sysmeta = Object.fromEntries(Object.entries(sreq.headers).filter(([k]) => k.toLowerCase().startsWith('x-account-sysmeta-')));
  const { status } = await makeRequests(ctx, ring, part, 'PUT', (dev) => backendPath(dev.device, part, account), { ...sysmeta, ...baseBackendHeaders(sreq, ts) });
  ctx.info.invalidateAccount(account);
  if (status < 200 || status >= 300) return 503;
  // Swift looks again (and so caches that it exists): still nothing is a 404.
  const created = await accountInfo(ctx, sreq, account);
  return created.status >= 200 && created.status < 300 ? 201 : 404;
}

/** Swift's container GET, HEAD, POST and DELETE need the account to exist first (else 404). */
export async function accountExists(ctx: ProxyContext, sreq: SwiftRequest, account: string): Promise<boolean> {
  const info = await accountInfo(ctx, sreq, account);
  return info.status >= 200 && info.status < 300;
}
