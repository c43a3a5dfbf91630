import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Agent as HttpAgent, ServerResponse } from 'node:http';
import { availableParallelism } from 'node:os';
import { isInternalHeader } from '../common/headers.js';
import { backendKeyFrom } from '../common/backend-auth.js';
import { createBackendClient } from '../common/http-client.js';
import type { Logger } from '../common/log.js';
import { createStamper } from '../common/timestamp.js';
import { parseStoragePolicies } from '../common/storage-policy.js';
import type { Clock } from '../common/clock.js';
import { authorizeTarget } from './authz.js';
import { onClientError, SWIFT_METHODS_ALLOW } from './client-error.js';
import { checkHeaderLines, CLIENT_MAX_HEADER_BYTES } from './constraints.js';
import { HashPool } from './body-sums.js';
import type { ProxyConfig } from './config.js';
import type { ProxyContext, Rings } from './context.js';
import { handleAccount } from './controllers/account.js';
import { handleContainer } from './controllers/container.js';
import { handleCopy, isCopy } from './controllers/copy.js';
import { handleObject } from './controllers/object.js';
import { ErrorLimiter } from './error-limiter.js';
import { swiftInfo } from './info.js';
import { InfoCache } from './info-cache.js';
import { isBackendStreamError, newTransId, resetHeaders, send, sendRejection } from './responses.js';
import { parseSwiftPath, type SwiftRequest } from './swift-request.js';
import { TempAuth } from './tempauth.js';
import { TitleCaseResponse } from './title-case.js';
import { createHash } from 'node:crypto';

export interface BuildProxyOptions {
  config: ProxyConfig;
  rings: Rings;
  log: Logger;
  clock: Clock;
}

const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'COPY', 'OPTIONS'];

/**
 * The proxy application, in Swift's pipeline order: gatekeeper (transaction id, internal headers
 * stripped both ways), healthcheck, info, tempauth (login; token check before routing; authorize
 * after), then the account/container/object controllers.
 */
export function buildProxy(opts: BuildProxyOptions): { app: FastifyInstance; ctx: ProxyContext } {
  const { config, log, clock } = opts;
  const authSecret =
    config.auth_secret ||
    createHash('sha256').update(`tempauth|${config.swift_hash_path_prefix}|${config.swift_hash_path_suffix}`).digest('hex');
  const ctx: ProxyContext = {
    config,
    rings: opts.rings,
    policies: parseStoragePolicies(config.storage_policies),
    backend: createBackendClient({ connectTimeoutMs: config.conn_timeout_ms, nodeTimeoutMs: config.node_timeout_ms, key: backendKeyFrom(config) }),
    // Each node socket may hold a few client chunks beyond what the kernel took before the client is
    // paused (object-put.ts): fewer pause/resume rounds than the 16 KiB default, still bounded.
    putAgent: new HttpAgent({ keepAlive: true, maxSockets: 256, maxFreeSockets: 64, writableHighWaterMark: 512 * 1024 } as ConstructorParameters<typeof HttpAgent>[0]),
    // One thread hashes ~600 MB/s: one per two cores leaves the rest to the relay and the kernel.
    hashing: new HashPool(Math.min(4, Math.floor(availableParallelism() / 2))),
    errorLimiter: new ErrorLimiter(config.error_suppression_limit, config.error_suppression_interval_s * 1000, clock),
    info: new InfoCache(config.recheck_container_existence_s * 1000, config.recheck_account_existence_s * 1000, clock),
    auth: new TempAuth(config.tempauth_users, authSecret, config.reseller_prefix, config.token_life_s, clock),
    log,
    clock,
  };
  const stamp = createStamper(clock);

  const app = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
    routerOptions: { maxParamLength: 8192 },
    // Header names go out in Swift's title case (proxy/title-case.ts).
    http: { maxHeaderSize: CLIENT_MAX_HEADER_BYTES, ServerResponse: TitleCaseResponse as typeof ServerResponse },
    return503OnClosing: true,
    // A request's own answer before a 400 for the bytes after it (a PUT with no length: 411).
    clientErrorHandler: onClientError,
    // The router refuses paths whose percent-escapes are not UTF-8; Swift answers those 412.
    frameworkErrors: (err, req, reply) => {
      req.raw.resume();
      if (err.code === 'FST_ERR_BAD_URL') return void send(reply, 412, {}, 'Invalid UTF8 or contains NULL');
      send(reply, 400);
    },
  });
  // Bodies are streamed by the controllers: fastify neither parses nor buffers one. Telling it no
  // method has a body also keeps it from judging Content-Type, which Swift stores as given
  // ("foo", "", "a b"): fastify's parser lookup refused those before any handler ran.
  for (const method of METHODS) app.addHttpMethod(method, { hasBody: false, overrideExisting: true });

  app.addHook('onRequest', async (req, reply) => {
    const tooLong = checkHeaderLines(req.headers);
    if (tooLong) return sendRejection(reply, tooLong, { Connection: 'close' });
    // Gatekeeper: clients can neither send nor see internal headers.
    for (const name of Object.keys(req.headers)) {
      if (isInternalHeader(name) || /^x-(account|container|object)-sysmeta-/.test(name)) delete req.headers[name];
    }
    const transId = newTransId(clock());
    (req as FastifyRequest & { transId: string }).transId = transId;
    reply.header('X-Trans-Id', transId);
    reply.header('X-Openstack-Request-Id', transId);
    // Swift sends Connection only when the client did (Swift's functional testGetResponseHeaders);
    // Node would add "keep-alive" to every HTTP/1.1 answer. The connection stays persistent.
    if (req.raw.httpVersion === '1.1' && req.headers.connection === undefined) reply.raw.removeHeader('connection');
  });
  // Methods Node parses but no controller has (PATCH, PROPFIND...): Swift's 405.
  app.setNotFoundHandler((req, reply) => {
    req.raw.resume();
    return send(reply, 405, { Allow: SWIFT_METHODS_ALLOW });
  });

  app.route({
    method: METHODS,
    url: '/*',
    handler: async (req, reply) => {
      const url = req.raw.url ?? '/';
      const q = url.indexOf('?');
      const rawPath = q === -1 ? url : url.slice(0, q);
      const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
      const method = req.method.toUpperCase();
      if (rawPath === '/healthcheck') return send(reply, 200, { 'Content-Type': 'text/plain' }, 'OK');
      if (rawPath === '/info' && (method === 'GET' || method === 'HEAD')) {
        return send(reply, 200, { 'Content-Type': 'application/json; charset=utf-8' }, JSON.stringify(swiftInfo(config, ctx.policies)));
      }
      if (rawPath === '/auth/v1.0' || rawPath === '/auth/v1.0/' || rawPath === '/v1.0' || rawPath === '/auth/v1/') {
        return login(ctx, req, reply);
      }
      return handleSwift(ctx, stamp, req, reply, rawPath, query, method);
    },
  });

  app.setErrorHandler((err, req, reply) => {
    if (reply.sent || reply.raw.headersSent) return;
    if (isBackendStreamError(err as { code?: string })) {
      log.warn({ err: (err as Error).message, url: req.url }, 'a storage node failed before its answer was relayed');
      resetHeaders(reply);
      return void send(reply, 503);
    }
    log.error({ err, url: req.url }, 'proxy error');
    send(reply, 500);
  });
  return { app: app as unknown as FastifyInstance, ctx };
}

function login(ctx: ProxyContext, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const h = req.headers;
  const user = (h['x-auth-user'] ?? h['x-storage-user']) as string | undefined;
  const key = (h['x-auth-key'] ?? h['x-storage-pass']) as string | undefined;
  const host = (h.host as string | undefined) ?? `${ctx.config.bind_ip}:${ctx.config.bind_port}`;
  const r = ctx.auth.login(user, key, `${req.protocol}://${host}`);
  return send(reply, r.status, r.headers, r.body);
}

function flatRequestHeaders(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

async function handleSwift(
  ctx: ProxyContext,
  stamp: () => ReturnType<ReturnType<typeof createStamper>>,
  req: FastifyRequest,
  reply: FastifyReply,
  rawPath: string,
  query: URLSearchParams,
  method: string,
): Promise<FastifyReply | void> {
  const parsed = parseSwiftPath(rawPath);
  if (!parsed.ok) {
    req.raw.resume();
    return send(reply, parsed.status, {}, parsed.body);
  }
  const transId = (req as FastifyRequest & { transId: string }).transId;
  const sreq: SwiftRequest = {
    req,
    reply,
    method,
    account: parsed.account,
    query,
    headers: flatRequestHeaders(req),
    transId,
    log: ctx.log.child({ txn: transId }),
    stamp,
  };
  if (parsed.container !== undefined) sreq.container = parsed.container;
  if (parsed.object !== undefined) sreq.object = parsed.object;

  if (method === 'OPTIONS') {
    req.raw.resume();
    return send(reply, 200, { Allow: 'HEAD, GET, PUT, POST, COPY, OPTIONS, DELETE' }, '');
  }
  // COPY is Swift's copy middleware's, for objects only (controllers/copy.ts).
  if (method === 'COPY' && sreq.object === undefined) return send(reply, 405);

  // Swift checks the controller's methods before authorizing: without account management an
  // account PUT or DELETE is not a method the account controller has, for anyone (405).
  if (sreq.container === undefined && (sreq.method === 'PUT' || sreq.method === 'DELETE') && !ctx.config.allow_account_management) {
    req.raw.resume();
    return send(reply, 405, { Allow: 'GET, HEAD, POST, OPTIONS' });
  }
  const token = sreq.headers['x-auth-token'] ?? sreq.headers['x-storage-token'];
  if (token) {
    const id = ctx.auth.authenticate(token);
    if (!id) {
      req.raw.resume();
      return send(reply, 401);
    }
    sreq.identity = id;
  }
  // A copy authorizes its source read and its write itself, in Swift's order.
  if (isCopy(sreq)) {
    await handleCopy(ctx, sreq);
    return reply;
  }
  const decision = await authorizeTarget(ctx, sreq, sreq.method, sreq.account, sreq.container, sreq.object);
  if (decision !== 'allow') {
    req.raw.resume();
    return send(reply, decision);
  }
  if (sreq.object !== undefined) await handleObject(ctx, sreq);
  else if (sreq.container !== undefined) await handleContainer(ctx, sreq);
  else await handleAccount(ctx, sreq);
  return reply;
}
