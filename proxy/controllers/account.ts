import type { BackendPath } from '../../common/backend-path.js';
import { accountPrefix } from '../auth.js';
import { abortBody } from '../../common/http-client.js';
import { backendPath } from '../../common/backend-path.js';
import { checkMetadata, LIMITS } from '../constraints.js';
import type { ProxyContext } from '../context.js';
import { makeRequests } from '../fanout.js';
import { rejection, respond, type ProxyResponse } from '../pipeline.js';
import type { SwiftRequest } from '../swift-request.js';
import { answerWrite, baseBackendHeaders, ensureAccount, forwardedMetadata, readListing, relay } from './common.js';

/** Swift's account controller: listings and stats, metadata, and (reseller admins) PUT/DELETE. */
export async function handleAccount(ctx: ProxyContext, sreq: SwiftRequest): Promise<ProxyResponse> {
  const { account } = sreq;
  if (Buffer.byteLength(account) > LIMITS.maxAccountNameLength) {
    return respond(400, {}, `Account name length of ${Buffer.byteLength(account)} longer than ${LIMITS.maxAccountNameLength}`);
  }
  const ring = ctx.rings.account();
  const part = ring.partitionFor(account);
  const pathFor = (dev: { device: string }): BackendPath => backendPath(dev.device, part, account);
  switch (sreq.method) {
    case 'GET':
    case 'HEAD': {
      const read = await readListing(ctx, sreq, ring, part, pathFor, LIMITS.accountListingLimit);
      if ('headers' in read) return read;
      const { response, status } = read;
      // Swift: a deleted account is gone (410); one never created lists as empty.
      if (status === 404 && (response?.headers['x-account-status'] ?? '').toLowerCase() === 'deleted') {
        return relay(sreq, { ...response!, status: 410 });
      }
      if (status === 404 && ctx.config.account_autocreate && accountPrefix(ctx.auth.resellerPrefixes, account) !== undefined) {
        abortBody(response?.body);
        return emptyAccount(sreq);
      }
      if (!response) return respond(status);
      return relay(sreq, response);
    }
    case 'PUT': {
      const bad = checkMetadata(sreq.headers, 'account');
      if (bad) return rejection(bad);
      const result = await makeRequests(ctx, ring, part, 'PUT', pathFor, {
        ...baseBackendHeaders(sreq, sreq.stamp()),
        ...forwardedMetadata(sreq.headers, 'account'),
      });
      ctx.info.invalidateAccount(account);
      return answerWrite(sreq, result);
    }
    case 'POST': {
      const bad = checkMetadata(sreq.headers, 'account');
      if (bad) return rejection(bad);
      const post = () =>
        makeRequests(ctx, ring, part, 'POST', pathFor, { ...baseBackendHeaders(sreq, sreq.stamp()), ...forwardedMetadata(sreq.headers, 'account') });
      let result = await post();
      // Swift: create the account and POST again, whatever the creation's outcome.
      if (result.status === 404 && ctx.config.account_autocreate) {
        await ensureAccount(ctx, sreq, account);
        result = await post();
      }
      ctx.info.invalidateAccount(account);
      return answerWrite(sreq, result);
    }
    case 'DELETE': {
      if (sreq.query.toString()) return respond(400, {}, 'Bad Request');
      const result = await makeRequests(ctx, ring, part, 'DELETE', pathFor, baseBackendHeaders(sreq, sreq.stamp()));
      ctx.info.invalidateAccount(account);
      return answerWrite(sreq, result);
    }
    default:
      return respond(405, { Allow: 'GET, HEAD, POST, PUT, DELETE' });
  }
}

/** An account not created yet looks empty under account_autocreate, as in Swift. */
function emptyAccount(sreq: SwiftRequest): ProxyResponse {
  const headers: Record<string, string> = {
    'X-Account-Container-Count': '0',
    'X-Account-Object-Count': '0',
    'X-Account-Bytes-Used': '0',
    'X-Timestamp': sreq.stamp().normal,
    'X-Put-Timestamp': sreq.stamp().normal,
  };
  const format = listingFormat(sreq);
  if (format === 'json') return respond(200, { ...headers, 'Content-Type': 'application/json; charset=utf-8' }, '[]');
  if (format === 'xml') {
    const name = sreq.account.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
    return respond(
      200,
      { ...headers, 'Content-Type': 'application/xml; charset=utf-8' },
      `<?xml version="1.0" encoding="UTF-8"?>\n<account name="${name}"></account>`,
    );
  }
  // Swift's listing_formats: an empty plain listing is a 204, but a HEAD keeps the fake listing's 200.
  return respond(sreq.method === 'HEAD' ? 200 : 204, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' }, '');
}

export function listingFormat(sreq: SwiftRequest): 'json' | 'xml' | 'plain' {
  const f = (sreq.query.get('format') ?? '').toLowerCase();
  if (f === 'json') return 'json';
  if (f === 'xml') return 'xml';
  if (f === 'plain' || f) return 'plain';
  const accept = sreq.headers['accept'] ?? '';
  if (accept.includes('application/json')) return 'json';
  if (accept.includes('application/xml') || accept.includes('text/xml')) return 'xml';
  return 'plain';
}
