import type { ProxyRequest, ProxyResponse } from './pipeline.js';

/**
 * Auth as an interface (Swift's swift.authorize contract): an auth stage authenticates a request
 * to an identity, and installs the hook that decides, after routing, whether that identity may do
 * a method on an account, container or object. tempauth (proxy/middleware/tempauth.ts) is one
 * implementation, keystone (proxy/middleware/keystone.ts) another. Later middleware (copy, large objects, versioning)
 * calls the same hook (authz.ts authorizeTarget) for each target it touches.
 */
export interface Identity {
  /** "account:user" */
  user: string;
  /** The account the user belongs to, with the reseller prefix: "AUTH_test". */
  account: string;
  /** Swift's groups, i.e. the roles: ["test:tester", "test", "AUTH_test" (admins only), ".reseller_admin"?]. */
  groups: string[];
  admin: boolean;
  resellerAdmin: boolean;
  /** Keystone's side of the identity (proxy/keystone/): the validated token's user, project and roles. */
  keystone?: KeystoneIdentity;
}

/** What keystonemiddleware's authtoken hands keystoneauth: the X-Auth-Token's user, project, roles, and the X-Service-Token's roles. */
export interface KeystoneIdentity {
  userId: string;
  userName: string;
  userDomainId?: string;
  /** Absent for an unscoped or domain-scoped token: it owns no account. */
  projectId?: string;
  projectName?: string;
  projectDomainId?: string;
  roles: string[];
  serviceRoles: string[];
}

export interface AuthTarget {
  method: string;
  account: string;
  container?: string;
  object?: string;
  /** Container ACLs, looked up only when the owner check did not decide. */
  readAcl?: string;
  writeAcl?: string;
  /** The request's Referer header, for the read ACL's referrer designations (`.r:`). */
  referer?: string;
}

export type AuthDecision = 'allow' | 401 | 403;

export interface Auth {
  /** The identity behind the request's credentials: undefined without any, 'invalid' for bad or expired ones. */
  authenticate(req: ProxyRequest): Identity | undefined | 'invalid' | Promise<Identity | undefined | 'invalid'>;
  /** Whether the request's identity (req.identity) may do target.method on the target. */
  authorize(req: ProxyRequest, target: AuthTarget): Promise<AuthDecision>;
}

/**
 * Swift's reseller_prefix option (utils config_read_reseller_options): a comma-separated list,
 * each prefix given its trailing "_", "''" for the empty prefix; none at all means the empty one.
 * The first is the users' own accounts' (tempauth's storage URLs); the others are for service
 * accounts (SERVICE_...), reached with a service token as well.
 */
export function parseResellerPrefixes(value: string): string[] {
  const out: string[] = [];
  for (const raw of value.split(',')) {
    let p = raw.trim();
    if (!p) continue;
    if (p === "''") p = '';
    if (p && !p.endsWith('_')) p += '_';
    if (!out.includes(p)) out.push(p);
  }
  return out.length ? out : [''];
}

/** Which of the prefixes an account has (a non-empty one first, as Swift's _get_account_prefix), or undefined. */
export function accountPrefix(prefixes: string[], account: string): string | undefined {
  for (const p of prefixes) if (p !== '' && account.startsWith(p)) return p;
  return prefixes.includes('') ? '' : undefined;
}

/** Swift's default swift_owner_headers (proxy/server.py): shown to an account's or container's owners only. */
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

/** Drops the owner-only headers from a response for someone who is not the owner. */
export function hideOwnerHeaders(res: ProxyResponse): void {
  for (const name of Object.keys(res.headers)) if (OWNER_HEADERS.has(name.toLowerCase())) delete res.headers[name];
}
