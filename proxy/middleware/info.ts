import type { InfoRegistry } from '../info.js';
import { respond, type Middleware } from '../pipeline.js';

/** GET/HEAD /info: what every stage registered (proxy/info.ts), as JSON. */
export function info(registry: InfoRegistry): Middleware {
  return (next) => (req) => {
    if (req.path !== '/info' || (req.method !== 'GET' && req.method !== 'HEAD')) return next(req);
    return Promise.resolve(respond(200, { 'Content-Type': 'application/json; charset=utf-8' }, JSON.stringify(registry.document())));
  };
}
