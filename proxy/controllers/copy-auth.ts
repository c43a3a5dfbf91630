import { authorizeTarget } from '../authz.js';
import type { ProxyContext } from '../context.js';
import type { SwiftRequest } from '../swift-request.js';

/** A copy reads its source: the caller needs read access there too. undefined = allowed. */
export async function authorizeSourceRead(
  ctx: ProxyContext,
  sreq: SwiftRequest,
  account: string,
  container: string,
  object: string,
): Promise<number | undefined> {
  const d = await authorizeTarget(ctx, sreq, 'GET', account, container, object);
  return d === 'allow' ? undefined : d;
}
