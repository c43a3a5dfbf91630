import { isAutoCreateAccount } from '../../common/expiring-queue.js';
import { accountPrefix, type AuthDecision, type AuthTarget, type KeystoneIdentity } from '../auth.js';
import { parseAcl } from '../tempauth.js';

/** keystoneauth's settings (Swift's [filter:keystoneauth]), role names lower-cased. */
export interface KeystoneAuthRules {
  resellerPrefixes: string[];
  /** Per prefix: the roles that own the account, and the roles an X-Service-Token must bring as well (none: not needed). */
  prefixRules: Record<string, { operatorRoles: string[]; serviceRoles: string[] }>;
  resellerAdminRole: string;
  allowNamesInAcls: boolean;
  defaultDomainId: string;
}

/** What the keystoneauth decision needs from storage, fetched only when the owner check did not decide. */
export interface AclLookup {
  /** The container's read or write ACL for the target (read for GET/HEAD), if it has one. */
  acl(): Promise<string | undefined>;
  /** Whether the account exists, and the project domain stored with it (sysmeta project-domain-id). */
  accountDomain(): Promise<{ exists: boolean; domainId?: string }>;
}

/**
 * Whether the identity owns the account (Swift's swift_owner): a reseller admin owns every
 * account; otherwise the account must be the token's project under one of the prefixes, the
 * token must carry one of that prefix's operator roles, and, if the prefix names service roles,
 * the X-Service-Token must carry one of them (keystoneauth's table).
 */
export function keystoneOwner(rules: KeystoneAuthRules, id: KeystoneIdentity, account: string): boolean {
  const roles = id.roles.map((r) => r.toLowerCase());
  if (roles.includes(rules.resellerAdminRole)) return true;
  if (id.projectId === undefined || !matchesProject(rules, account, id.projectId)) return false;
  const prefix = accountPrefix(rules.resellerPrefixes, account);
  const rule = prefix === undefined ? undefined : rules.prefixRules[prefix];
  if (!rule || !rule.operatorRoles.some((r) => roles.includes(r))) return false;
  if (rule.serviceRoles.length === 0) return true;
  const serviceRoles = id.serviceRoles.map((r) => r.toLowerCase());
  return rule.serviceRoles.some((r) => serviceRoles.includes(r));
}

/**
 * Swift's keystoneauth authorize (and authorize_anonymous without an identity), in its order:
 * reseller admin; no DELETE of one's own account; cross-project ACLs ("project:user" by id, or by
 * name when every party is in the default domain, "*" for either); referrer ACLs; the account must
 * be the token's project; operator roles (and service roles for service accounts); a role named
 * in the ACL. The owner check is made first here because when it holds every path allows, and so
 * an owner costs no container lookup. Hidden accounts (".expiring_objects") are nobody's.
 */
export async function keystoneAuthorize(rules: KeystoneAuthRules, id: KeystoneIdentity | undefined, t: AuthTarget, referer: string | undefined, lookup: AclLookup): Promise<AuthDecision> {
  const denied: AuthDecision = id ? 403 : 401;
  if (!t.account || isAutoCreateAccount(t.account)) return denied;
  if (!id) {
    if (accountPrefix(rules.resellerPrefixes, t.account) === undefined) return 401;
    const acl = parseAcl(t.container !== undefined ? await lookup.acl() : undefined);
    return referrerAllowed(referer, acl.referrers) && (t.object !== undefined || acl.rlistings) ? 'allow' : 401;
  }
  const roles = id.roles.map((r) => r.toLowerCase());
  if (roles.includes(rules.resellerAdminRole)) return 'allow';
  const isAccountOp = t.container === undefined;
  if (isAccountOp && t.method === 'DELETE') return 403;
  if (keystoneOwner(rules, id, t.account)) return 'allow';
  const acl = parseAcl(t.container !== undefined ? await lookup.acl() : undefined);
  if (acl.groups.length && crossProjectMatch(id, acl.groups, await namesAllowed(rules, id, t.account, lookup))) return 'allow';
  let byReferrer: boolean | undefined;
  if (referrerAllowed(referer, acl.referrers)) byReferrer = t.object !== undefined || acl.rlistings;
  if (byReferrer) return 'allow';
  if (id.projectId === undefined || !matchesProject(rules, t.account, id.projectId)) return 403;
  if (byReferrer === false) return 403;
  const aclRoles = acl.groups.map((g) => g.toLowerCase());
  return roles.some((r) => aclRoles.includes(r)) ? 'allow' : 403;
}

function matchesProject(rules: KeystoneAuthRules, account: string, projectId: string): boolean {
  return rules.resellerPrefixes.some((p) => account === p + projectId);
}

/** "project:user" with project and user each by id, "*" or (when names are allowed) by name. */
function crossProjectMatch(id: KeystoneIdentity, grantees: string[], allowNames: boolean): boolean {
  const projects = [id.projectId, '*', ...(allowNames ? [id.projectName] : [])].filter((x): x is string => x !== undefined);
  const users = [id.userId, '*', ...(allowNames ? [id.userName] : [])];
  return projects.some((p) => users.some((u) => grantees.includes(`${p}:${u}`)));
}

/**
 * Names are unique only inside a Keystone domain: an ACL by name counts only when the user, its
 * project and the account's project are all in the default domain (keystoneauth
 * _is_name_allowed_in_acl; an account without a stored domain is a legacy one, in the default).
 */
async function namesAllowed(rules: KeystoneAuthRules, id: KeystoneIdentity, account: string, lookup: AclLookup): Promise<boolean> {
  if (!rules.allowNamesInAcls) return false;
  if (id.userDomainId && id.userDomainId !== rules.defaultDomainId) return false;
  if (id.projectDomainId && id.projectDomainId !== rules.defaultDomainId) return false;
  if (id.projectId !== undefined && matchesProject(rules, account, id.projectId)) return true;
  const acct = await lookup.accountDomain();
  return acct.exists && (acct.domainId === undefined || acct.domainId === rules.defaultDomainId);
}

/** Swift's acl.referrer_allowed: "*", a host, ".domain" suffixes, "-host" exclusions, the last match wins. */
export function referrerAllowed(referer: string | undefined, referrers: string[]): boolean {
  if (!referrers.length) return false;
  let rhost = 'unknown';
  try {
    rhost = new URL(referer ?? '').hostname || 'unknown';
  } catch {
    /* no referer, or not a URL */
  }
  let allow = false;
  for (const entry of referrers) {
    const negative = entry.startsWith('-');
    const m = negative ? entry.slice(1) : entry;
    const matches = m === rhost || (m.startsWith('.') && rhost.endsWith(m)) || (!negative && m === '*');
    if (matches) allow = !negative;
  }
  return allow;
}

/** What keystoneauth records for an account whose project domain it cannot know (Swift's UNKNOWN_ID). */
export const UNKNOWN_DOMAIN_ID = '_unknown';

/**
 * keystoneauth's _set_project_domain_id decision, for an account PUT/POST or a container PUT (it
 * may autocreate the account): the project domain to record in the account's sysmeta, or
 * undefined to leave it. `token` is the token's project domain when the account is the token's
 * project's (`matches`), which may itself be unknown (undefined).
 */
export function projectDomainToRecord(
  account: { exists: boolean; domainId?: string },
  token: { matches: boolean; domainId?: string },
  defaultDomainId: string,
): string | undefined {
  // A new account: the token's domain if it is the account's project, else unknown.
  if (!account.exists) return token.matches ? (token.domainId ?? UNKNOWN_DOMAIN_ID) : UNKNOWN_DOMAIN_ID;
  // A legacy account (nothing recorded): only the default domain is recorded.
  if (account.domainId === undefined) return token.matches && token.domainId === defaultDomainId ? token.domainId : undefined;
  // Unknown so far: the account's own project's token confirms it.
  if (account.domainId === UNKNOWN_DOMAIN_ID && token.matches) return token.domainId ?? '';
  return undefined;
}
