import { authorizeTarget } from '../authz.js';
import type { ProxyContext } from '../context.js';
import { registerCoreInfo } from '../info.js';
import { hasReserved } from '../constraints.js';
import { respond, type Handler } from '../pipeline.js';
import type { SwiftRequest } from '../swift-request.js';
import { handleAccount } from './account.js';
import { handleContainer } from './container.js';
import { handleObject } from './object.js';

/**
 * The end of the pipeline (Swift's proxy Application): authorize the routed request with the auth
 * stage's hook, then the account, container or object controller returns the response.
 */
export function controllers(ctx: ProxyContext): Handler {
  registerCoreInfo(ctx.capabilities, ctx.config, ctx.policies);
  return async (req) => {
    const sreq = req as SwiftRequest;
    // Reserved names (versioning's hidden containers) are the system's alone, as in Swift.
    if (!sreq.system && (hasReserved(sreq.account) || hasReserved(sreq.container) || hasReserved(sreq.object))) {
      sreq.body.resume();
      return respond(412, { 'Content-Type': 'text/plain' }, 'Invalid UTF8 or contains NULL');
    }
    const decision = await authorizeTarget(sreq, sreq.method, sreq.account, sreq.container, sreq.object);
    if (decision !== 'allow') {
      sreq.body.resume();
      return respond(decision);
    }
    if (sreq.object !== undefined) return handleObject(ctx, sreq);
    if (sreq.container !== undefined) return handleContainer(ctx, sreq);
    return handleAccount(ctx, sreq);
  };
}
