import type { Auth, AuthDecision, AuthTarget, Identity } from '../auth.js';
import type { ProxyContext } from '../context.js';
import { containerInfo } from '../controllers/common.js';
import { respond, type Middleware, type ProxyRequest, type ProxyResponse } from '../pipeline.js';

const LOGIN_PATHS = new Set(['/auth/v1.0', '/auth/v1.0/', '/v1.0', '/auth/v1/']);

/**
 * tempauth as the pipeline's auth stage (Swift's tempauth middleware): it answers the login
 * paths itself; for everything else it turns the token into an identity and installs its
 * authorize hook. A bad or expired token is refused (401) by the router, after the path checks,
 * as Swift's tempauth refuses it through swift.authorize.
 */
export function tempauth(ctx: ProxyContext): Middleware {
  const auth = new TempAuthHook(ctx);
  ctx.capabilities.register('tempauth', { account_acls: false });
  return (next) => async (req) => {
    if (LOGIN_PATHS.has(req.path)) return login(ctx, req);
    // An earlier stage authorized the request by a signature (tempurl, formpost): Swift's
    // swift.authorize_override, a token beside it changes nothing.
    if (req.auth) return next(req);
    const id = auth.authenticate(req);
    if (id === 'invalid') req.credentialsRejected = true;
    else if (id) req.identity = id;
    req.auth = auth;
    const res = await next(req);
    // Swift's swift_owner_headers: an account's or container's ACLs and temp URL keys are shown to
    // its owners only (a reader by ACL, or anyone on a public listing, could sign temp URLs).
    if (req.account !== undefined && req.object === undefined && !isOwner(ctx, req.identity, req.account)) {
      for (const name of Object.keys(res.headers)) if (OWNER_HEADERS.has(name.toLowerCase())) delete res.headers[name];
    }
    return res;
  };
}

/** Swift's default swift_owner_headers (proxy/server.py). */
const OWNER_HEADERS = new Set([
  'x-container-read',
  'x-container-write',
  'x-container-sync-key',
  'x-container-sync-to',
  'x-account-meta-temp-url-key',
  'x-account-meta-temp-url-key-2',
  'x-container-meta-temp-url-key',
  'x-container-meta-temp-url-key-2',
  'x-account-access-control',
]);

/** Swift's swift_owner: the account's admins and reseller admins, not readers or writers by ACL. */
function isOwner(ctx: ProxyContext, id: Identity | undefined, account: string): boolean {
  return id !== undefined && ctx.auth.authorizeOwner(id, { method: 'HEAD', account }, ctx.config.allow_account_management) === 'allow';
}

/** tempauth's side of the Auth interface, over the token and ACL logic of proxy/tempauth.ts (ctx.auth). */
class TempAuthHook implements Auth {
  constructor(private readonly ctx: ProxyContext) {}

  authenticate(req: ProxyRequest): Identity | undefined | 'invalid' {
    const token = req.headers['x-auth-token'] ?? req.headers['x-storage-token'];
    if (!token) return undefined;
    return this.ctx.auth.authenticate(token) ?? 'invalid';
  }

  /** The owner check first (no backend request), then the container's ACLs for object access and container reads. */
  async authorize(req: ProxyRequest, target: AuthTarget): Promise<AuthDecision> {
    const { ctx } = this;
    const owner = ctx.auth.authorizeOwner(req.identity, target, ctx.config.allow_account_management);
    if (owner !== undefined) return owner;
    const reading = target.method === 'GET' || target.method === 'HEAD';
    // Only an owner may create, change or delete a container, or touch the account.
    if (target.container === undefined || (target.object === undefined && !reading)) return req.identity ? 403 : 401;
    const info = await containerInfo(ctx, req, target.account, target.container);
    return ctx.auth.authorize(
      req.identity,
      { ...target, ...(info.readAcl ? { readAcl: info.readAcl } : {}), ...(info.writeAcl ? { writeAcl: info.writeAcl } : {}) },
      ctx.config.allow_account_management,
    );
  }
}

/** GET /auth/v1.0 with X-Auth-User/X-Auth-Key (or X-Storage-User/X-Storage-Pass). */
function login(ctx: ProxyContext, req: ProxyRequest): ProxyResponse {
  const h = req.headers;
  const user = h['x-auth-user'] ?? h['x-storage-user'];
  const key = h['x-auth-key'] ?? h['x-storage-pass'];
  const host = h['host'] ?? `${ctx.config.bind_ip}:${ctx.config.bind_port}`;
  const r = ctx.auth.login(user, key, `${req.scheme}://${host}`);
  return respond(r.status, r.headers, r.body);
}
