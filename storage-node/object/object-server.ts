import type { BackendRequest, BackendServer, StorageNodeContext } from '../types.js';
import { handleDelete } from './delete.js';
import { handleGetOrHead } from './get.js';
import { handlePost } from './post.js';
import { handlePut } from './put.js';
import { objectRequest, respond } from './request.js';

/**
 * The object server of a storage node (docs/BACKEND.md "Object server"): the router hands it every
 * 5+-segment request that is not an object-row update. One module per verb.
 */
export function createObjectServer(ctx: StorageNodeContext): BackendServer {
  return {
    async handle(r: BackendRequest): Promise<void> {
      const o = objectRequest(ctx, r);
      if ('noPolicy' in o) return respond(r.res, 503, {}, `No policy with index ${o.noPolicy}`, { close: !r.req.readableEnded });
      switch (r.method) {
        case 'PUT':
          return handlePut(o);
        case 'GET':
        case 'HEAD':
          return handleGetOrHead(o);
        case 'POST':
          return handlePost(o);
        case 'DELETE':
          return handleDelete(o);
        default:
          return respond(r.res, 405, { Allow: 'GET, HEAD, PUT, POST, DELETE' }, 'Method Not Allowed');
      }
    },
    async close(): Promise<void> {
      /* nothing held between requests: files are opened and closed per request */
    },
  };
}
