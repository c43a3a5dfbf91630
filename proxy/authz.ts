import type { ProxyContext } from './context.js';
import { containerInfo } from './controllers/common.js';
import type { SwiftRequest } from './swift-request.js';
import type { AuthDecision } from './tempauth.js';

/**
 * tempauth's authorize step, run after routing: the owner check first (no backend request), then
 * the container's ACLs for object access and container reads.
 */
export async function authorizeTarget(
  ctx: ProxyContext,
  sreq: SwiftRequest,
  method: string,
  account: string,
  container?: string,
  object?: string,
): Promise<AuthDecision> {
  const target = { method, account, ...(container !== undefined ? { container } : {}), ...(object !== undefined ? { object } : {}) };
  const owner = ctx.auth.authorizeOwner(sreq.identity, target, ctx.config.allow_account_management);
  if (owner !== undefined) return owner;
  const reading = method === 'GET' || method === 'HEAD';
  // Only an owner may create, change or delete a container, or touch the account.
  if (container === undefined || (object === undefined && !reading)) return sreq.identity ? 403 : 401;
  const info = await containerInfo(ctx, sreq, account, container);
  return ctx.auth.authorize(
    sreq.identity,
    { ...target, ...(info.readAcl ? { readAcl: info.readAcl } : {}), ...(info.writeAcl ? { writeAcl: info.writeAcl } : {}) },
    ctx.config.allow_account_management,
  );
}
