import { isSwiftletError } from '../../common/errors.js';
import { accountPrefix, hideOwnerHeaders, parseResellerPrefixes, type Auth, type AuthDecision, type AuthTarget, type Identity, type KeystoneIdentity } from '../auth.js';
import type { ProxyConfig } from '../config.js';
import type { ProxyContext } from '../context.js';
import { accountInfo, containerInfo } from '../controllers/common.js';
import type { KeystoneClient, KeystoneToken } from '../keystone/client.js';
import { keystoneAuthorize, keystoneOwner, projectDomainToRecord, type KeystoneAuthRules } from '../keystone/rules.js';
import { respond, type Middleware, type ProxyRequest } from '../pipeline.js';

/** Where keystoneauth keeps an account's project domain (Swift: X-Account-Sysmeta-Project-Domain-Id), shown as X-Account-Project-Domain-Id. */
const PROJECT_DOMAIN_SYSMETA = 'x-account-sysmeta-project-domain-id';

/**
 * Keystone as the pipeline's auth, in Swift's two stages: `authtoken` (keystonemiddleware)
 * validates the X-Auth-Token, and an X-Service-Token beside it, with Keystone, and adds
 * `WWW-Authenticate: Keystone uri="..."` to every 401 below it; `keystoneauth` installs the
 * authorize hook (proxy/keystone/rules.ts) and hides owner-only headers from non-owners.
 * Like authtoken with delay_auth_decision, a bad token is no identity at all (anonymous: public
 * containers still answer, the rest 401); unlike it, Keystone unreachable is a 503 for a request
 * that carries a token, never a guess.
 */
export class KeystoneAuthHook implements Auth {
  readonly rules: KeystoneAuthRules;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly client: KeystoneClient,
  ) {
    this.rules = keystoneRules(ctx.config);
  }

  /** The identity behind X-Auth-Token (and X-Service-Token); 'invalid' never: a bad token is anonymous. Throws UNAVAILABLE. */
  async authenticate(req: ProxyRequest): Promise<Identity | undefined> {
    const token = req.headers['x-auth-token'] ?? req.headers['x-storage-token'];
    if (!token) return undefined;
    const user = await this.client.validate(token);
    if (!user) return undefined;
    const serviceToken = req.headers['x-service-token'];
    let service: KeystoneToken | undefined;
    if (serviceToken) {
      service = await this.client.validate(serviceToken);
      // keystoneauth: X-Service-Identity-Status other than Confirmed means no identity.
      if (!service) return undefined;
    }
    return this.identityOf(user, service);
  }

  identityOf(user: KeystoneToken, service: KeystoneToken | undefined): Identity {
    const ks: KeystoneIdentity = { userId: user.userId, userName: user.userName, roles: user.roles, serviceRoles: service?.roles ?? [] };
    if (user.userDomainId !== undefined) ks.userDomainId = user.userDomainId;
    if (user.projectId !== undefined) ks.projectId = user.projectId;
    if (user.projectName !== undefined) ks.projectName = user.projectName;
    if (user.projectDomainId !== undefined) ks.projectDomainId = user.projectDomainId;
    const account = user.projectId !== undefined ? (this.rules.resellerPrefixes[0] as string) + user.projectId : '';
    const resellerAdmin = user.roles.some((r) => r.toLowerCase() === this.rules.resellerAdminRole);
    return {
      user: `${user.projectId ?? ''}:${user.userId}`,
      account,
      groups: [],
      admin: account !== '' && keystoneOwner(this.rules, ks, account),
      resellerAdmin,
      keystone: ks,
    };
  }

  async authorize(req: ProxyRequest, target: AuthTarget): Promise<AuthDecision> {
    const decision = await this.decide(req, target);
    // Only once allowed (Swift looks before deciding: a refused request costs no account lookup here).
    if (decision === 'allow') await setProjectDomain(this.ctx, this, req, target);
    return decision;
  }

  private decide(req: ProxyRequest, target: AuthTarget): Promise<AuthDecision> {
    const { ctx } = this;
    const reading = target.method === 'GET' || target.method === 'HEAD';
    return keystoneAuthorize(this.rules, req.identity?.keystone, target, req.headers['referer'], {
      // Swift sets req.acl for object requests and container reads only.
      acl: async () => {
        if (target.container === undefined || (target.object === undefined && !reading)) return undefined;
        const info = await containerInfo(ctx, req, target.account, target.container);
        return reading ? info.readAcl : info.writeAcl;
      },
      accountDomain: async () => {
        const info = await accountInfo(ctx, req, target.account);
        const domainId = Object.entries(info.headers).find(([n]) => n.toLowerCase() === PROJECT_DOMAIN_SYSMETA)?.[1];
        return { exists: info.status >= 200 && info.status < 300, ...(domainId !== undefined ? { domainId } : {}) };
      },
    });
  }

  isOwner(req: ProxyRequest, account: string): boolean {
    const ks = req.identity?.keystone;
    return ks !== undefined && keystoneOwner(this.rules, ks, account);
  }
}

/** keystoneauth's rules from the proxy config: role names compared lower-cased, as Swift does. */
export function keystoneRules(config: ProxyConfig): KeystoneAuthRules {
  const resellerPrefixes = parseResellerPrefixes(config.reseller_prefix);
  const lower = (a: string[]) => a.map((r) => r.toLowerCase());
  const prefixRules: KeystoneAuthRules['prefixRules'] = {};
  for (const p of resellerPrefixes) {
    const own = prefixRule(config, p);
    prefixRules[p] = { operatorRoles: lower(own.operator_roles ?? config.operator_roles), serviceRoles: lower(own.service_roles ?? config.service_roles) };
  }
  return {
    resellerPrefixes,
    prefixRules,
    resellerAdminRole: config.reseller_admin_role.toLowerCase(),
    allowNamesInAcls: config.keystone_allow_names_in_acls,
    defaultDomainId: config.keystone_default_domain_id,
  };
}

/** One prefix's entry of reseller_prefix_rules (Swift's <prefix>_operator_roles, _service_roles, _require_group). */
export function prefixRule(config: Pick<ProxyConfig, 'reseller_prefix_rules'>, prefix: string): { operator_roles?: string[]; service_roles?: string[]; require_group?: string } {
  const raw = config.reseller_prefix_rules[prefix] ?? config.reseller_prefix_rules[prefix.replace(/_$/, '')];
  return (raw ?? {}) as { operator_roles?: string[]; service_roles?: string[]; require_group?: string };
}

/** authtoken: validates the tokens (unless tempurl or formpost already decided) and marks 401s with where to log in. */
export function authtoken(ctx: ProxyContext, hook: KeystoneAuthHook): Middleware {
  const www = `Keystone uri="${ctx.config.keystone_www_authenticate_uri || ctx.config.keystone_url}"`;
  return (next) => async (req) => {
    if (!req.auth) {
      try {
        const id = await hook.authenticate(req);
        if (id) req.identity = id;
      } catch (err) {
        if (!isSwiftletError(err, 'UNAVAILABLE')) throw err;
        req.log.error({ err: err.message }, 'Keystone unavailable: cannot validate the token');
        req.body.resume();
        return respond(503, { 'Content-Type': 'text/plain; charset=UTF-8' }, 'The Keystone service is temporarily unavailable.\n');
      }
    }
    const res = await next(req);
    if (res.status === 401) res.headers['WWW-Authenticate'] = www;
    return res;
  };
}

/** keystoneauth: installs the authorize hook; an owner sees the owner-only headers and the account's project domain. */
export function keystoneauth(ctx: ProxyContext, hook: KeystoneAuthHook): Middleware {
  ctx.capabilities.register('keystoneauth', {});
  return (next) => async (req) => {
    // tempurl or formpost authorized it by signature (Swift's allow_overrides).
    if (req.auth) return next(req);
    req.auth = hook;
    const res = await next(req);
    if (req.account === undefined || req.object !== undefined) return res;
    const stored = Object.keys(res.headers).find((n) => n.toLowerCase() === PROJECT_DOMAIN_SYSMETA);
    if (stored !== undefined && req.container === undefined) res.headers['X-Account-Project-Domain-Id'] = res.headers[stored] as string;
    if (!hook.isOwner(req, req.account)) hideOwnerHeaders(res);
    return res;
  };
}

/**
 * keystoneauth's _set_project_domain_id, for an allowed account PUT or POST, or container PUT
 * (which may autocreate the account: the controller passes account sysmeta on to that PUT):
 * records the project domain as projectDomainToRecord decides.
 */
async function setProjectDomain(ctx: ProxyContext, hook: KeystoneAuthHook, req: ProxyRequest, target: AuthTarget): Promise<void> {
  const ks = req.identity?.keystone;
  if (!ks?.projectId || req.headers[PROJECT_DOMAIN_SYSMETA] !== undefined || target.object !== undefined) return;
  if (target.container !== undefined ? target.method !== 'PUT' : target.method !== 'PUT' && target.method !== 'POST') return;
  const { account } = target;
  if (accountPrefix(hook.rules.resellerPrefixes, account) === undefined) return;
  const matches = hook.rules.resellerPrefixes.some((p) => account === p + ks.projectId);
  const info = await accountInfo(ctx, req, account);
  const stored = Object.entries(info.headers).find(([n]) => n.toLowerCase() === PROJECT_DOMAIN_SYSMETA)?.[1];
  const record = projectDomainToRecord(
    { exists: info.status >= 200 && info.status < 300, ...(stored !== undefined ? { domainId: stored } : {}) },
    { matches, ...(ks.projectDomainId !== undefined ? { domainId: ks.projectDomainId } : {}) },
    hook.rules.defaultDomainId,
  );
  if (record !== undefined) req.headers[PROJECT_DOMAIN_SYSMETA] = record;
}
