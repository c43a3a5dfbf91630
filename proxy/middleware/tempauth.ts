import { accountPrefix, hideOwnerHeaders, type Auth, type AuthDecision, type AuthTarget, type Identity } from '../auth.js';
import type { ProxyContext } from '../context.js';
import { accountInfo, containerInfo } from '../controllers/common.js';
import { ACCOUNT_ACL_SYSMETA, accountAclGrant, formatAccountAcl, parseAccountAcl } from '../tempauth.js';
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
  ctx.capabilities.register('tempauth', { account_acls: true });
  return (next) => async (req) => {
    if (LOGIN_PATHS.has(req.path)) return login(ctx, req);
    // An earlier stage authorized the request by a signature (tempurl, formpost): Swift's
    // swift.authorize_override, a token beside it changes nothing.
    if (req.auth) return next(req);
    const id = auth.authenticate(req);
    if (id === 'invalid') req.credentialsRejected = true;
    else if (id) req.identity = id;
    req.auth = auth;
    // An account ACL sent must parse (Swift checks it before anything else); it is kept as sysmeta.
    const aclHeader = req.headers['x-account-access-control'];
    if (aclHeader !== undefined) {
      const acl = parseAccountAcl(Buffer.from(aclHeader, 'latin1').toString('utf8'));
      if ('error' in acl) {
        req.body.resume();
        return respond(400, { 'Content-Type': 'text/plain; charset=UTF-8' }, `X-Account-Access-Control invalid: ${acl.error}\n\nInput: ${aclHeader}\n`);
      }
      delete req.headers['x-account-access-control'];
      req.headers[ACCOUNT_ACL_SYSMETA] = formatAccountAcl(acl);
    }
    const res = await next(req);
    if (req.account === undefined || req.object !== undefined) return res;
    // Swift's swift_owner_headers: an account's or container's ACLs and temp URL keys are shown to
    // its owners only (a reader by ACL, or anyone on a public listing, could sign temp URLs).
    const owner = await auth.isOwner(req, req.account);
    const stored = Object.keys(res.headers).find((n) => n.toLowerCase() === ACCOUNT_ACL_SYSMETA);
    if (owner && stored !== undefined && req.container === undefined) {
      // Shown when it grants anything (Swift: an ACL of "{}" is no ACL).
      const acl = parseAccountAcl(Buffer.from(res.headers[stored] as string, 'latin1').toString('utf8'));
      const shown = 'error' in acl ? '{}' : formatAccountAcl(acl);
      if (shown !== '{}') res.headers['X-Account-Access-Control'] = Buffer.from(shown, 'utf8').toString('latin1');
    }
    if (!owner) hideOwnerHeaders(res);
    return res;
  };
}

/** tempauth's side of the Auth interface, over the token and ACL logic of proxy/tempauth.ts (ctx.auth). */
class TempAuthHook implements Auth {
  constructor(private readonly ctx: ProxyContext) {}

  authenticate(req: ProxyRequest): Identity | undefined | 'invalid' {
    const token = req.headers['x-auth-token'] ?? req.headers['x-storage-token'];
    if (!token) return undefined;
    const id = this.ctx.auth.authenticate(token);
    return id ? this.ctx.auth.withServiceToken(id, req.headers['x-service-token']) : 'invalid';
  }

  /**
   * The owner check first (no backend request), then the container's ACLs for object access and
   * container reads, then the account's ACLs (X-Account-Access-Control), in Swift's order.
   */
  async authorize(req: ProxyRequest, target: AuthTarget): Promise<AuthDecision> {
    const { ctx } = this;
    const owner = ctx.auth.authorizeOwner(req.identity, target, ctx.config.allow_account_management);
    if (owner !== undefined) return owner;
    const reading = target.method === 'GET' || target.method === 'HEAD';
    // Only an owner may create, change or delete a container, or touch the account: container ACLs
    // grant none of that.
    if (target.container !== undefined && (target.object !== undefined || reading)) {
      const info = await containerInfo(ctx, req, target.account, target.container);
      const byContainer = ctx.auth.authorize(
        req.identity,
        {
          ...target,
          ...(info.readAcl ? { readAcl: info.readAcl } : {}),
          ...(info.writeAcl ? { writeAcl: info.writeAcl } : {}),
          ...(req.headers['referer'] !== undefined ? { referer: req.headers['referer'] } : {}),
        },
        ctx.config.allow_account_management,
      );
      if (byContainer === 'allow') return 'allow';
    }
    if (req.identity && (await this.accountGrant(req, req.identity, target.account, target.method, target.container))) return 'allow';
    return req.identity ? 403 : 401;
  }

  /** Whether the request's user is the account's owner (Swift's swift_owner): its admins, reseller admins, and admins by account ACL. */
  async isOwner(req: ProxyRequest, account: string): Promise<boolean> {
    const id = req.identity;
    if (!id) return false;
    if (this.ctx.auth.authorizeOwner(id, { method: 'HEAD', account }, this.ctx.config.allow_account_management) === 'allow') return true;
    return (await this.accountGrant(req, id, account, 'HEAD', undefined)) === 'admin';
  }

  /** What the account's ACL grants this user for the request, if the account has one that parses. */
  private async accountGrant(req: ProxyRequest, id: Identity, account: string, method: string, container: string | undefined): Promise<'admin' | 'allow' | undefined> {
    if (accountPrefix(this.ctx.auth.resellerPrefixes, account) === undefined || account.startsWith('.')) return undefined;
    const info = await accountInfo(this.ctx, req, account);
    const stored = Object.entries(info.headers).find(([n]) => n.toLowerCase() === ACCOUNT_ACL_SYSMETA)?.[1];
    if (!stored) return undefined;
    const acl = parseAccountAcl(Buffer.from(stored, 'latin1').toString('utf8'));
    return 'error' in acl ? undefined : accountAclGrant(acl, id.groups, method, container);
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
