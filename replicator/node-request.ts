import type { BackendPath } from '../common/backend-path.js';
import { discardBody, originOf } from '../common/http-client.js';
import type { RingDevice } from '../ring-builder/ring.js';
import type { DaemonContext } from './context.js';

/** One bodiless request of a daemon to a storage node: its status, or 0 when the node could not be reached (logged as `daemon`'s). */
export async function nodeStatus(ctx: DaemonContext, daemon: string, method: string, d: RingDevice, path: BackendPath, headers: Record<string, string>): Promise<number> {
  try {
    const res = await ctx.backend.request(originOf(d), method, path, { headers, headersTimeout: ctx.config.node_timeout_ms });
    await discardBody(res.body);
    return res.statusCode;
  } catch (err) {
    ctx.log.warn({ err, url: `${originOf(d)}${path}` }, `${daemon}: request failed`);
    return 0;
  }
}
