import { respond, type Middleware } from '../pipeline.js';

/** Swift's healthcheck: /healthcheck answers 200 "OK" (any method) while the proxy runs. */
export function healthcheck(): Middleware {
  return (next) => (req) => (req.path === '/healthcheck' ? Promise.resolve(respond(200, { 'Content-Type': 'text/plain' }, 'OK')) : next(req));
}
