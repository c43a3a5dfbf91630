import type { ProxyRequest } from './pipeline.js';

/**
 * Auth as an interface (Swift's swift.authorize contract): an auth stage authenticates a request
 * to an identity, and installs the hook that decides, after routing, whether that identity may do
 * a method on an account, container or object. tempauth (proxy/middleware/tempauth.ts) is one
 * implementation; keystone would be another. Later middleware (copy, large objects, versioning)
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
  authenticate(req: ProxyRequest): Identity | undefined | 'invalid';
  /** Whether the request's identity (req.identity) may do target.method on the target. */
  authorize(req: ProxyRequest, target: AuthTarget): Promise<AuthDecision>;
}
