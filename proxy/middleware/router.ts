import type { ProxyConfig } from '../config.js';
import { respond, type Middleware } from '../pipeline.js';
import { parseSwiftPath } from '../swift-request.js';

/**
 * The proxy server's routing (Swift's Application.handle_request and get_controller), as the
 * stage after auth and where sub-requests enter: the path becomes account, container and object
 * (412 for names that are not UTF-8, 404/400/412 for paths that are no Swift path), then the
 * refusals that come before authorization in Swift: a COPY of no object (405), account
 * PUT/DELETE without account management (405), and credentials the auth stage found bad (401).
 */
export function router(config: ProxyConfig): Middleware {
  return (next) => (req) => {
    const parsed = parseSwiftPath(req.path);
    if (!parsed.ok) {
      req.body.resume();
      return Promise.resolve(respond(parsed.status, {}, parsed.body));
    }
    req.account = parsed.account;
    if (parsed.container !== undefined) req.container = parsed.container;
    if (parsed.object !== undefined) req.object = parsed.object;
    const method = req.method;
    // OPTIONS is the cors stage's (middleware/cors/), whatever the credentials: Swift's auth lets it through.
    if (method === 'OPTIONS') return next(req);
    // COPY is the copy stage's, for objects only (middleware/copy.ts).
    if (method === 'COPY' && req.object === undefined) return Promise.resolve(respond(405));
    // Swift checks the controller's methods before authorizing: without account management an
    // account PUT or DELETE is not a method the account controller has, for anyone (405).
    if (req.container === undefined && (method === 'PUT' || method === 'DELETE') && !config.allow_account_management) {
      req.body.resume();
      return Promise.resolve(respond(405, { Allow: 'GET, HEAD, POST, OPTIONS' }));
    }
    if (req.credentialsRejected) {
      req.body.resume();
      return Promise.resolve(respond(401));
    }
    return next(req);
  };
}
