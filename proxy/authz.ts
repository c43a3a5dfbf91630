import type { AuthDecision } from './auth.js';
import type { ProxyRequest } from './pipeline.js';

/**
 * The authorize step, run after routing for each target a request touches (a copy: its source,
 * then its destination): the auth stage's hook decides (Swift's env['swift.authorize']). A
 * system sub-request is allowed everything (Swift's swift.authorize_override). Without an auth
 * stage nothing is allowed: unlike Swift, the proxy fails closed.
 */
export function authorizeTarget(req: ProxyRequest, method: string, account: string, container?: string, object?: string): Promise<AuthDecision> | AuthDecision {
  if (req.system) return 'allow';
  if (!req.auth) return req.identity ? 403 : 401;
  const target = { method, account, ...(container !== undefined ? { container } : {}), ...(object !== undefined ? { object } : {}) };
  return req.auth.authorize(req, target);
}
