import type { ProxyContext } from '../../context.js';
import { containerInfo } from '../../controllers/common.js';
import { respond, type Middleware, type ProxyRequest, type ProxyResponse } from '../../pipeline.js';
import { actualHeaders, containerCors, corsSettings, preflight, type CorsSettings } from './core.js';

/**
 * CORS, as Swift's proxy controllers do it (base.py cors_validation and OPTIONS), as the stage
 * right after the router: it answers every OPTIONS (the controller's Allow; a preflight with an
 * Origin is checked against the container's X-Container-Meta-Access-Control-Allow-Origin and the
 * operator's cors_allow_origin: 200 with Access-Control-* headers, or 401), and gives the answer
 * to a container or object request with an Origin its Access-Control-Allow-Origin and
 * -Expose-Headers, errors included (none for an origin not allowed, under strict_cors_mode).
 */
export function cors(ctx: ProxyContext): Middleware {
  const settings = corsSettings(ctx.config);
  return (next) => async (req) => {
    if (req.method === 'OPTIONS') {
      req.body.resume();
      return options(ctx, settings, req);
    }
    const origin = req.headers['origin'];
    // Sub-requests carry no client Origin; account requests get none (Swift: containers and objects only).
    if (!origin || req.container === undefined || req.account === undefined || req.source !== undefined) return next(req);
    // Swift looks the container up before the controller runs (its info is cached for the controller).
    const info = await containerInfo(ctx, req, req.account, req.container);
    const res = await next(req);
    return { ...res, headers: actualHeaders(containerCors(info.headers), settings, origin, res.headers) };
  };
}

const ACCOUNT_METHODS = ['GET', 'HEAD', 'POST', 'OPTIONS'];
const CONTAINER_METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'OPTIONS'];
const OBJECT_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'OPTIONS'];

/**
 * Swift's OPTIONS: 200 with the controller's methods as Allow; an account's is never a preflight.
 * For objects the copy middleware adds COPY to a 200's Allow and Allow-Methods (a preflight asking
 * for COPY is still refused: it is not the object controller's).
 */
async function options(ctx: ProxyContext, settings: CorsSettings, req: ProxyRequest): Promise<ProxyResponse> {
  if (req.container === undefined || req.account === undefined) {
    const methods = ctx.config.allow_account_management ? [...ACCOUNT_METHODS, 'PUT', 'DELETE'] : ACCOUNT_METHODS;
    return respond(200, { Allow: methods.join(', ') }, '');
  }
  const isObject = req.object !== undefined;
  const methods = isObject ? OBJECT_METHODS : CONTAINER_METHODS;
  const origin = req.headers['origin'];
  let answer: { status: number; headers: Record<string, string> };
  if (!origin) answer = { status: 200, headers: { Allow: methods.join(', ') } };
  else {
    const info = await containerInfo(ctx, req, req.account, req.container);
    answer = preflight(
      containerCors(info.headers),
      settings,
      { origin, method: req.headers['access-control-request-method'], headers: req.headers['access-control-request-headers'] },
      methods,
    );
  }
  if (isObject && answer.status === 200) {
    answer.headers['Allow'] += ', COPY';
    if (answer.headers['Access-Control-Allow-Methods']) answer.headers['Access-Control-Allow-Methods'] += ', COPY';
  }
  return answer.status === 200 ? respond(200, answer.headers, '') : respond(answer.status, answer.headers);
}
