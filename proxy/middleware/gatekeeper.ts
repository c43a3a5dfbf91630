import { isInternalHeader } from '../../common/headers.js';
import type { Middleware } from '../pipeline.js';

const SYSMETA = /^x-(account|container|object)-sysmeta-/i;

function internal(name: string): boolean {
  return isInternalHeader(name) || SYSMETA.test(name);
}

/**
 * Swift's gatekeeper: clients can neither send nor see internal headers (x-backend-*, the
 * container/account update headers, sysmeta). First in the pipeline, so every later stage and
 * every sub-request's answer passes through it on the way out.
 */
export function gatekeeper(): Middleware {
  return (next) => async (req) => {
    for (const name in req.headers) if (internal(name)) delete req.headers[name];
    const res = await next(req);
    for (const name in res.headers) if (internal(name)) delete res.headers[name];
    return res;
  };
}
