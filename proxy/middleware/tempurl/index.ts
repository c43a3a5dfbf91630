import type { ProxyConfig } from '../../config.js';
import type { ProxyContext } from '../../context.js';
import { respond, type Middleware, type ProxyRequest, type ProxyResponse } from '../../pipeline.js';
import { parseSwiftPath } from '../../swift-request.js';
import { signingKeys } from './keys.js';
import { SignedAuth } from './signed-auth.js';
import { DEPRECATED_DIGESTS, headerRemover, matchTempUrl, readTempUrlParams, SUPPORTED_DIGESTS, tempUrlClaim, tempUrlDisposition, type TempUrlParams } from './signature.js';

export { SignedAuth } from './signed-auth.js';
export { signingKeys } from './keys.js';

/** Headers a temp URL write may not carry: they would point the object at data the URL does not grant (Swift's DISALLOWED_INCOMING_HEADERS). */
const DISALLOWED_INCOMING = ['x-object-manifest', 'x-symlink-target', 'x-copy-from'];

/** The digests a config allows (lower-cased, only supported ones; Swift refuses to start with none). */
export function allowedDigests(config: ProxyConfig): string[] {
  const allowed = [...new Set(config.tempurl_allowed_digests.map((d) => d.toLowerCase()))].filter((d) => (SUPPORTED_DIGESTS as readonly string[]).includes(d)).sort();
  if (allowed.length === 0) throw new Error('tempurl_allowed_digests: no supported digest (sha1, sha256, sha512)');
  return allowed;
}

/**
 * Swift's TempURL middleware (swift/common/middleware/tempurl.py), before auth: a request with
 * temp_url_sig/temp_url_expires is checked against the account's and container's temp URL keys;
 * a good signature authorizes exactly that object and method (SignedAuth; tempauth then leaves
 * the request alone, Swift's swift.authorize_override), a bad one is refused here with 401 and
 * Swift's body. The answer loses the configured headers and, for GET/HEAD, gets Swift's
 * Content-Disposition and an Expires of the URL's expiry.
 */
export function tempurl(ctx: ProxyContext): Middleware {
  const cfg = ctx.config;
  const digests = allowedDigests(cfg);
  const methods = cfg.tempurl_methods.map((m) => m.toUpperCase());
  const deprecated = digests.filter((d) => DEPRECATED_DIGESTS.includes(d));
  ctx.capabilities.register('tempurl', {
    methods,
    incoming_remove_headers: cfg.tempurl_incoming_remove_headers,
    incoming_allow_headers: cfg.tempurl_incoming_allow_headers,
    outgoing_remove_headers: cfg.tempurl_outgoing_remove_headers,
    outgoing_allow_headers: cfg.tempurl_outgoing_allow_headers,
    allowed_digests: digests,
    ...(deprecated.length ? { deprecated_digests: deprecated } : {}),
  });
  const removeIncoming = headerRemover(cfg.tempurl_incoming_remove_headers, cfg.tempurl_incoming_allow_headers);
  const removeOutgoing = headerRemover(cfg.tempurl_outgoing_remove_headers, cfg.tempurl_outgoing_allow_headers);

  return (next) => async (req) => {
    if (req.method === 'OPTIONS') return next(req);
    const params = readTempUrlParams(req.query, ctx.clock());
    if (params.sig === undefined && params.expires === undefined) return next(req);
    const parsed = parseSwiftPath(req.path);
    if (!parsed.ok || parsed.version !== 'v1' || parsed.container === undefined || parsed.object === undefined) return invalid(req);
    const { account, container, object } = parsed;
    // Everything but the keys first, as Swift: no lookup for a malformed or expired URL.
    const claim = tempUrlClaim(params, { method: req.method, account, container, object, ...(req.remoteAddr ? { remoteAddr: req.remoteAddr } : {}) }, { allowedDigests: digests, methods });
    if (!claim) return invalid(req);
    const scope = matchTempUrl(claim, await signingKeys(ctx, req, account, container));
    if (!scope) return invalid(req);

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      const bad = DISALLOWED_INCOMING.find((h) => req.headers[h] !== undefined);
      if (bad) {
        req.body.resume();
        return respond(400, {}, `The header '${titleHeader(bad)}' is not allowed in this tempurl`);
      }
    }
    for (const name of Object.keys(req.headers)) if (removeIncoming(name)) delete req.headers[name];

    const reads = req.method === 'GET' || req.method === 'HEAD';
    req.auth = new SignedAuth({
      methods: [req.method],
      account,
      container,
      object,
      // Reading the segments of a large object the URL returns: within the key's scope, as Swift.
      ...(reads ? { subrequestReads: scope === 'account' ? { account } : { account, container } } : {}),
    });
    delete req.identity;
    // Swift passes on only the temp URL's own parameters: no ?multipart-manifest=, ?symlink=...
    req.query = keptQuery(params, req.query);
    const res = await next(req);
    return outgoing(res, req.method, params, object, removeOutgoing);
  };
}

/** Swift's 401 for every refused temp URL: its body, none for a HEAD. */
function invalid(req: ProxyRequest): ProxyResponse {
  req.body.resume();
  return req.method === 'HEAD' ? respond(401) : respond(401, { 'Content-Type': 'text/html; charset=UTF-8' }, '401 Unauthorized: Temp URL invalid\n');
}

function keptQuery(params: TempUrlParams, query: URLSearchParams): URLSearchParams {
  const kept = new URLSearchParams();
  for (const name of ['temp_url_sig', 'temp_url_expires', 'temp_url_prefix', 'filename']) {
    const v = query.get(name);
    if (v !== null && (name !== 'filename' || params.filename)) kept.set(name, v);
  }
  return kept;
}

/** The answer as Swift's tempurl sends it: configured headers removed; GET/HEAD 2xx with Content-Disposition and Expires. */
function outgoing(res: ProxyResponse, method: string, params: TempUrlParams, object: string, removeOutgoing: (name: string) => boolean): ProxyResponse {
  let existing: string | undefined;
  for (const name of Object.keys(res.headers)) {
    if (removeOutgoing(name)) delete res.headers[name];
  }
  if ((method === 'GET' || method === 'HEAD') && res.status >= 200 && res.status < 300) {
    for (const name of Object.keys(res.headers)) {
      if (name.toLowerCase() === 'content-disposition') {
        existing = res.headers[name];
        delete res.headers[name];
      }
    }
    res.headers['Content-Disposition'] = tempUrlDisposition(params, existing, object);
    res.headers['Expires'] = new Date((params.expires as number) * 1000).toUTCString();
  }
  return res;
}

/** "x-copy-from" as Swift's message names it: "X-Copy-From". */
function titleHeader(name: string): string {
  return name.replace(/(^|-)([a-z])/g, (_m, sep: string, c: string) => sep + c.toUpperCase());
}
