import { createHmac, timingSafeEqual } from 'node:crypto';
import { isAutoCreateAccount } from '../common/expiring-queue.js';
import type { Clock } from '../common/clock.js';
import { accountPrefix, parseResellerPrefixes, type AuthDecision, type AuthTarget, type Identity } from './auth.js';
import { pyRepr } from './py-json.js';

/**
 * tempauth: users and roles from config, tokens the proxy can verify on its own.
 * A token is HMAC-signed (user, expiry), so every proxy sharing auth_secret accepts it and a
 * proxy restart does not log users out.
 */
export interface TempAuthUser {
  key: string;
  roles: string[];
  storage_url?: string;
}

export type { AuthDecision, AuthTarget, Identity } from './auth.js';

export class TempAuth {
  private readonly users: Map<string, TempAuthUser>;
  /** Swift's reseller_prefix list: the first is the users' accounts', the others service accounts'. */
  readonly resellerPrefixes: string[];
  private readonly resellerPrefix: string;
  /** Per prefix, the group a request needs besides owning the account (Swift's <prefix>_require_group). */
  private readonly requireGroup = new Map<string, string>();

  constructor(
    users: Record<string, unknown>,
    private readonly secret: string,
    resellerPrefix: string,
    private readonly tokenLifeS: number,
    private readonly clock: Clock,
    prefixRules: Record<string, unknown> = {},
  ) {
    this.resellerPrefixes = parseResellerPrefixes(resellerPrefix);
    this.resellerPrefix = this.resellerPrefixes[0] as string;
    for (const p of this.resellerPrefixes) {
      const rule = (prefixRules[p] ?? prefixRules[p.replace(/_$/, '')]) as { require_group?: unknown } | undefined;
      if (typeof rule?.require_group === 'string' && rule.require_group) this.requireGroup.set(p, rule.require_group);
    }
    this.users = new Map();
    for (const [name, v] of Object.entries(users)) {
      const u = v as Partial<TempAuthUser>;
      if (!name.includes(':') || typeof u.key !== 'string' || !Array.isArray(u.roles)) {
        throw new Error(`tempauth_users: "${name}" needs the form account:user with {key, roles}`);
      }
      this.users.set(name, { key: u.key, roles: u.roles.map(String), ...(u.storage_url ? { storage_url: u.storage_url } : {}) });
    }
  }

  /** GET /auth/v1.0 with X-Auth-User/X-Auth-Key (or X-Storage-User/X-Storage-Pass). */
  login(user: string | undefined, key: string | undefined, baseUrl: string): { status: number; headers: Record<string, string>; body: string } {
    const u = user ? this.users.get(user) : undefined;
    if (!user || !key || !u || !safeEqual(u.key, key)) {
      return {
        status: 401,
        headers: { 'WWW-Authenticate': `Swift realm="${loginRealm(user, key, u !== undefined)}"` },
        body: '<html><h1>Unauthorized</h1><p>This server could not verify that you are authorized to access the document you requested.</p></html>',
      };
    }
    const expires = Math.floor(this.clock() / 1000) + this.tokenLifeS;
    const token = this.makeToken(user, expires);
    const account = this.resellerPrefix + (user.split(':')[0] as string);
    const url = u.storage_url ?? `${baseUrl}/v1/${account}`;
    return {
      status: 200,
      headers: {
        'X-Auth-Token': token,
        'X-Storage-Token': token,
        'X-Auth-Token-Expires': String(this.tokenLifeS),
        'X-Storage-Url': url,
        'Content-Type': 'application/json; charset=utf-8',
      },
      body: JSON.stringify({ storage: { default: 'local', local: url } }),
    };
  }

  /** The identity behind a token, or undefined if it is bad, expired or its user is gone. */
  authenticate(token: string): Identity | undefined {
    const m = /^AUTH_tk([0-9a-f]+)\.([0-9a-f]{40})$/.exec(token);
    if (!m) return undefined;
    const payload = Buffer.from(m[1] as string, 'hex').toString('utf8');
    if (!safeEqual(this.sign(payload), m[2] as string)) return undefined;
    const sep = payload.lastIndexOf('|');
    const user = payload.slice(0, sep);
    const expires = Number(payload.slice(sep + 1));
    if (!(expires * 1000 > this.clock())) return undefined;
    return this.identityOf(user);
  }

  /**
   * S3 credentials as Swift's s3api takes them with tempauth: the access key is "account:user" and
   * the secret is that user's key. Undefined for a user tempauth does not have.
   */
  s3Credential(accessKeyId: string): { secret: string; identity: Identity } | undefined {
    const u = this.users.get(accessKeyId);
    const identity = this.identityOf(accessKeyId);
    return u && identity ? { secret: u.key, identity } : undefined;
  }

  private identityOf(user: string): Identity | undefined {
    const u = this.users.get(user);
    if (!u) return undefined;
    const accountName = user.split(':')[0] as string;
    const account = this.resellerPrefix + accountName;
    const admin = u.roles.includes('.admin') || u.roles.includes('.reseller_admin');
    const resellerAdmin = u.roles.includes('.reseller_admin');
    const groups = [user, accountName];
    // Swift's _get_user_groups: an admin is in the group of its account under every prefix.
    if (admin) for (const p of this.resellerPrefixes) if (p !== '' && !groups.includes(p + accountName)) groups.push(p + accountName);
    if (admin && !groups.includes(account)) groups.push(account);
    if (resellerAdmin) groups.push('.reseller_admin');
    // The user's other roles are groups too (Swift: the groups listed after the key), e.g. ".service".
    for (const r of u.roles) if (r !== '.admin' && r !== '.reseller_admin' && !groups.includes(r)) groups.push(r);
    return { user, account, groups, admin, resellerAdmin };
  }

  /**
   * Swift's tempauth with an X-Service-Token: the service user's groups join the user's (so a
   * service account's require_group, say ".service", can come from the service token). A service
   * token that does not validate adds nothing.
   */
  withServiceToken(id: Identity, serviceToken: string | undefined): Identity {
    const service = serviceToken ? this.authenticate(serviceToken) : undefined;
    if (!service) return id;
    const groups = [...id.groups, ...service.groups.filter((g) => !id.groups.includes(g))];
    return { ...id, groups, resellerAdmin: groups.includes('.reseller_admin') };
  }

  /**
   * The owner check, which needs no container ACLs: 'allow', a refusal, or undefined when ACLs
   * must decide. An account outside the reseller prefix is not tempauth's to grant (Swift's
   * authorize denies it outright: 401 anonymous, 403 with a token), or a user would own "test"
   * just by being in group "test". Hidden accounts ('.' first: `.expiring_objects`) are the
   * cluster's own and nobody's to reach, whatever the reseller prefix (even an empty one).
   */
  authorizeOwner(id: Identity | undefined, t: AuthTarget, allowAccountManagement: boolean): AuthDecision | undefined {
    const prefix = t.account ? accountPrefix(this.resellerPrefixes, t.account) : undefined;
    if (!t.account || prefix === undefined || isAutoCreateAccount(t.account)) return id ? 403 : 401;
    if (!id) return undefined;
    const isAccountOp = t.container === undefined;
    if (id.resellerAdmin && this.resellerAdminMay(t.account)) {
      if (isAccountOp && (t.method === 'PUT' || t.method === 'DELETE')) return allowAccountManagement ? 'allow' : 403;
      return 'allow';
    }
    // The account's admin may do anything in it but create or delete the account itself; in a
    // service account only with the prefix's required group as well (else ACLs may still grant).
    const required = this.requireGroup.get(prefix);
    if (id.groups.includes(t.account) && (!isAccountOp || (t.method !== 'PUT' && t.method !== 'DELETE')) && (!required || id.groups.includes(required))) return 'allow';
    if (id.groups.includes(t.account) && isAccountOp && (t.method === 'PUT' || t.method === 'DELETE')) return 403;
    return undefined;
  }

  /** The full decision, with the container ACLs (X-Container-Read / X-Container-Write). */
  authorize(id: Identity | undefined, t: AuthTarget, allowAccountManagement: boolean): AuthDecision {
    const owner = this.authorizeOwner(id, t, allowAccountManagement);
    if (owner !== undefined) return owner;
    if (t.container !== undefined) {
      const reading = t.method === 'GET' || t.method === 'HEAD';
      const acl = parseAcl(reading ? t.readAcl : t.writeAcl);
      // Swift's tempauth: a referrer the read ACL allows may read objects, and list with .rlistings.
      if (reading && referrerAllowed(t.referer, acl.referrers) && (t.object !== undefined || acl.rlistings)) return 'allow';
      if (id && acl.groups.some((g) => id.groups.includes(g))) return 'allow';
    }
    return id ? 403 : 401;
  }

  /** Swift: a reseller admin owns every prefixed account but a bare prefix and "AUTH_.xxx" (reserved) ones. */
  private resellerAdminMay(account: string): boolean {
    const prefix = accountPrefix(this.resellerPrefixes, account) ?? '';
    return !this.resellerPrefixes.includes(account) && account[prefix.length] !== '.';
  }

  private makeToken(user: string, expires: number): string {
    const payload = `${user}|${expires}`;
    return `AUTH_tk${Buffer.from(payload, 'utf8').toString('hex')}.${this.sign(payload)}`;
  }

  private sign(payload: string): string {
    return createHmac('sha1', this.secret).update(payload).digest('hex');
  }
}

function safeEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a);
  const bb = Buffer.from(b);
  return ba.length === bb.length && timingSafeEqual(ba, bb);
}

/** A parsed container ACL (Swift's parse_acl): referrer designations (after ".r:", in order), groups, and ".rlistings". */
export interface ContainerAcl {
  referrers: string[];
  groups: string[];
  rlistings: boolean;
}

const REFERRER_DESIGNATORS = new Set(['.r', '.ref', '.referer', '.referrer']);

/**
 * Swift's clean_acl: the value of X-Container-Read/-Write as stored, or Swift's 400 body. Items are
 * trimmed and empty ones dropped; `.ref:`, `.referer:`, `.referrer:` become `.r:`, a leading `*.`
 * of a domain becomes `.` (`.r:*.example.com` → `.r:.example.com`), `-` denies; referrers are
 * refused in a write ACL, as are `.r:` without a host and unknown `.x:` designators. An item
 * without a colon is a group, whatever it looks like (`.rlistings` among them).
 */
export function cleanAcl(name: string, value: string): { value: string } | { error: string } {
  const values: string[] = [];
  for (const raw of value.split(',')) {
    const item = raw.trim();
    if (!item) continue;
    const colon = item.indexOf(':');
    if (colon === -1) {
      values.push(item);
      continue;
    }
    const first = item.slice(0, colon).trim();
    let second = item.slice(colon + 1).trim();
    if (!first.startsWith('.')) {
      values.push(item);
      continue;
    }
    if (!REFERRER_DESIGNATORS.has(first)) return { error: `Unknown designator ${pyRepr(first)} in ACL: ${pyRepr(item)}` };
    if (name.toLowerCase().includes('write')) return { error: `Referrers not allowed in write ACL: ${pyRepr(item)}` };
    const negate = second.startsWith('-');
    if (negate) second = second.slice(1).trim();
    if (second && second !== '*' && second.startsWith('*')) second = second.slice(1).trim();
    if (!second || second === '.') return { error: `No host/domain value after referrer designation in ACL: ${pyRepr(item)}` };
    values.push(`.r:${negate ? '-' : ''}${second}`);
  }
  return { value: values.join(',') };
}

/** Swift's parse_acl of a stored container ACL (cleaned as cleanAcl does, so one stored before cleaning reads the same). */
export function parseAcl(value: string | undefined): ContainerAcl {
  const out: ContainerAcl = { referrers: [], groups: [], rlistings: false };
  if (!value) return out;
  const cleaned = cleanAcl('x-container-read', value);
  for (const item of ('value' in cleaned ? cleaned.value : value).split(',')) {
    if (!item) continue;
    if (item.startsWith('.r:')) out.referrers.push(item.slice(3));
    else {
      out.groups.push(item);
      if (item === '.rlistings') out.rlistings = true;
    }
  }
  out.groups = out.groups.filter((g) => g !== '.rlistings');
  return out;
}

/**
 * Swift's referrer_allowed: the Referer header's host (lower case; 'unknown' without one) against
 * the designations in order, the last match deciding: `*` any host, `host` that host, `.domain`
 * any host ending with it, and each with `-` first denying instead.
 */
export function referrerAllowed(referer: string | undefined, referrers: string[]): boolean {
  if (!referrers.length) return false;
  const rhost = refererHost(referer);
  let allow = false;
  for (const designation of referrers) {
    const deny = designation.startsWith('-');
    const m = deny ? designation.slice(1) : designation;
    const matches = (!deny && m === '*') || m === rhost || (m.startsWith('.') && rhost.endsWith(m));
    if (matches) allow = !deny;
  }
  return allow;
}

/** Python's urlparse(referer).hostname, or 'unknown' (Swift's fallback). */
function refererHost(referer: string | undefined): string {
  if (!referer) return 'unknown';
  try {
    const host = new URL(referer).hostname.toLowerCase();
    const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
    return bare || 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * The realm Swift's tempauth names when it refuses a login: the account, when the user is
 * unknown or the key missing; "unknown" without an account:user, or for a wrong key.
 */
function loginRealm(user: string | undefined, key: string | undefined, known: boolean): string {
  const colon = user?.indexOf(':') ?? -1;
  if (!user || colon === -1) return 'unknown';
  const account = user.slice(0, colon);
  if (!account || colon === user.length - 1 || !key) return account || 'unknown';
  return known ? 'unknown' : account;
}

/** Where an account's ACLs are kept (Swift: X-Account-Sysmeta-Core-Access-Control, format_acl version 2). */
export const ACCOUNT_ACL_SYSMETA = 'x-account-sysmeta-core-access-control';

export type AccountAclLevel = 'admin' | 'read-write' | 'read-only';
export type AccountAcl = Record<AccountAclLevel, string[]>;
const ACCOUNT_ACL_LEVELS: AccountAclLevel[] = ['admin', 'read-write', 'read-only'];

/**
 * An X-Account-Access-Control value as Swift's tempauth checks it (extract_acl_and_report_errors):
 * a JSON object whose keys are admin, read-write, read-only, each a list of strings. Returns the
 * ACL, or Swift's words for what is wrong.
 */
export function parseAccountAcl(value: string): AccountAcl | { error: string } {
  let data: unknown;
  try {
    data = JSON.parse(value);
  } catch {
    data = undefined;
  }
  if (typeof data !== 'object' || data === null || Array.isArray(data)) return { error: `Syntax error in input (${pyRepr(value)})` };
  const acl: AccountAcl = { admin: [], 'read-write': [], 'read-only': [] };
  for (const key of Object.keys(data)) if (!(ACCOUNT_ACL_LEVELS as string[]).includes(key)) return { error: `Key ${JSON.stringify(key)} not recognized` };
  for (const key of ACCOUNT_ACL_LEVELS) {
    const v = (data as Record<string, unknown>)[key];
    if (v === undefined) continue;
    if (!Array.isArray(v)) return { error: `Value for key ${JSON.stringify(key)} must be a list` };
    if (!v.every((g) => typeof g === 'string')) return { error: `Elements of ${JSON.stringify(key)} list must be strings` };
    acl[key] = v as string[];
  }
  return acl;
}

/** Swift's format_acl(version=2): the levels that have grantees, as compact JSON (what GET shows). */
export function formatAccountAcl(acl: AccountAcl): string {
  const out: Record<string, string[]> = {};
  for (const key of ACCOUNT_ACL_LEVELS) if (acl[key].length) out[key] = acl[key];
  return JSON.stringify(out);
}

/**
 * What an account ACL grants `groups` for a request of `method` on the account (no container) or
 * in it (Swift's tempauth authorize): admin everything (the grantee is an owner), read-write all
 * but account writes, read-only GET and HEAD. Undefined: nothing.
 */
export function accountAclGrant(acl: AccountAcl, groups: string[], method: string, container: string | undefined): 'admin' | 'allow' | undefined {
  const has = (level: AccountAclLevel) => acl[level].some((g) => groups.includes(g));
  if (has('admin')) return 'admin';
  const reading = method === 'GET' || method === 'HEAD';
  if (has('read-write') && (container !== undefined || reading)) return 'allow';
  if (has('read-only') && reading) return 'allow';
  return undefined;
}
