import type { Dispatcher } from 'undici';
import Fastify, { LogController, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Agent as HttpAgent, ServerResponse } from 'node:http';
import { availableParallelism } from 'node:os';
import { backendKeyFrom } from '../common/backend-auth.js';
import { createBackendClient } from '../common/http-client.js';
import type { Logger } from '../common/log.js';
import { SwiftletError } from '../common/errors.js';
import { createStamper } from '../common/timestamp.js';
import { parseStoragePolicies } from '../common/storage-policy.js';
import type { Clock } from '../common/clock.js';
import { onClientError, SWIFT_METHODS_ALLOW } from './client-error.js';
import { checkHeaderLines, CLIENT_MAX_HEADER_BYTES } from './constraints.js';
import { HashPool } from './body-sums.js';
import type { ProxyConfig } from './config.js';
import type { ProxyContext, Rings } from './context.js';
import { controllers } from './controllers/index.js';
import { ErrorLimiter } from './error-limiter.js';
import { InfoRegistry } from './info.js';
import { InfoCache } from './info-cache.js';
import { proxyStages } from './middleware/index.js';
import { Pipeline, type ProxyRequest, type ProxyResponse, type Stage } from './pipeline.js';
import { isBackendStreamError, newTransId, resetHeaders, send, sendRejection, writeResponse } from './responses.js';
import { KeystoneClient } from './keystone/client.js';
import { TempAuth } from './tempauth.js';
import { TitleCaseResponse } from './title-case.js';
import { createHash } from 'node:crypto';
import { AccessLog, CountingRequest, type AccessEntry } from './access-log.js';

export interface BuildProxyOptions {
  config: ProxyConfig;
  rings: Rings;
  log: Logger;
  clock: Clock;
  /** Changes the pipeline's stages (tests insert a middleware); the order is proxyStages'. */
  stages?: (stages: Stage[]) => Stage[];
  /** With `auth: keystone`: how to reach Keystone (tests pass an undici MockAgent); default a pool of its own. */
  keystoneDispatcher?: Dispatcher;
}

const METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'COPY', 'OPTIONS'];

/**
 * The proxy: its pipeline (middleware/index.ts, in Swift's order, ending in the controllers) behind
 * fastify, which is only the HTTP adapter at the edge: it parses HTTP, makes the transaction id
 * (Swift's catch_errors), turns the request into a ProxyRequest, and writes the pipeline's
 * ProxyResponse back (responses.ts send), streams with backpressure; an error before any of the
 * body went out is a 503 or 500, one after it cuts the connection.
 */
export function buildProxy(opts: BuildProxyOptions): { app: FastifyInstance; ctx: ProxyContext; pipeline: Pipeline; accessLog?: AccessLog } {
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
    capabilities: new InfoRegistry(),
    auth: new TempAuth(config.tempauth_users, authSecret, config.reseller_prefix, config.token_life_s, clock, config.reseller_prefix_rules),
    log,
    clock,
  };
  if (config.auth === 'keystone') ctx.keystone = keystoneClient(config, clock, opts.keystoneDispatcher);
  else if (config.auth !== 'tempauth') throw new SwiftletError('CONFIG', `auth must be tempauth or keystone, not "${config.auth}"`);
  const stamp = createStamper(clock);
  const stages = proxyStages(ctx);
  const pipeline = Pipeline.compose(opts.stages ? opts.stages(stages) : stages, controllers(ctx));
  const accessLog = config.access_log === 'off' ? undefined : new AccessLog(config.access_log, config.access_log_reveal_sensitive_prefix);
  if (accessLog) pipeline.onSubrequest = (sub, res, start) => accessLog.write(subrequestEntry(sub, res, start));

  // Every answer has a transaction id (Swift's catch_errors), those made before the pipeline too.
  const newTransaction = (req: FastifyRequest, reply: FastifyReply): void => {
    const transId = newTransId(clock());
    (req as FastifyRequest & { transId: string }).transId = transId;
    reply.header('X-Trans-Id', transId);
    reply.header('X-Openstack-Request-Id', transId);
  };
  const app = Fastify({
    loggerInstance: log,
    logController: new LogController({ disableRequestLogging: true }),
    exposeHeadRoutes: false,
    requestTimeout: 0,
    keepAliveTimeout: 65_000,
    routerOptions: { maxParamLength: 8192 },
    // Header names go out in Swift's title case (proxy/title-case.ts).
    http: {
      maxHeaderSize: CLIENT_MAX_HEADER_BYTES,
      ServerResponse: TitleCaseResponse as typeof ServerResponse,
      ...(accessLog ? { IncomingMessage: CountingRequest } : {}),
    },
    return503OnClosing: true,
    // A request's own answer before a 400 for the bytes after it (a PUT with no length: 411).
    clientErrorHandler: accessLog ? (err, socket) => onClientError(err, socket, (status, line) => logClientError(accessLog, status, line, socket.remoteAddress)) : onClientError,
    // The router refuses paths whose percent-escapes are not UTF-8; Swift answers those 412.
    frameworkErrors: (err, req, reply) => {
      if (accessLog) logWhenDone(accessLog, req, reply.raw as unknown as TitleCaseResponse);
      newTransaction(req, reply);
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
    // Every answer gets its line, those made before the pipeline too (405, 400, 412).
    if (accessLog) logWhenDone(accessLog, req, reply.raw as unknown as TitleCaseResponse);
    newTransaction(req, reply);
    const tooLong = checkHeaderLines(req.headers);
    if (tooLong) return sendRejection(reply, tooLong, { Connection: 'close' });
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
      const transId = (req as unknown as { transId: string }).transId;
      const preq: ProxyRequest = {
        method: req.method.toUpperCase(),
        path: q === -1 ? url : url.slice(0, q),
        query: new URLSearchParams(q === -1 ? '' : url.slice(q + 1)),
        rawQuery: q === -1 ? '' : url.slice(q + 1),
        headers: flatRequestHeaders(req),
        body: req.raw,
        transId,
        log: log.child({ txn: transId }),
        scheme: req.protocol,
        ...(req.raw.socket.remoteAddress ? { remoteAddr: req.raw.socket.remoteAddress } : {}),
        stamp,
      };
      if (accessLog) pipelineRequests.set(req.raw, preq);
      return writeResponse(reply, await pipeline.handle(preq));
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
  if (accessLog) app.addHook('onClose', async () => accessLog.flush());
  return { app: app as unknown as FastifyInstance, ctx, pipeline, ...(accessLog ? { accessLog } : {}) };
}

/** The pipeline's request for a client request that reached it (its identity, as auth found it). */
const pipelineRequests = new WeakMap<FastifyRequest['raw'], ProxyRequest>();
const logged = new WeakSet<FastifyRequest['raw']>();

/**
 * A client request's access log line, written once its response is done: sent whole, or cut
 * (the client went away, or a node failed mid-body), which Swift logs as 499. Attached when the
 * request arrives, once, so an answer made before the pipeline (a bad URL's 412, a header line
 * too long, an unknown method's 405) is logged too; one that reached the pipeline is logged with
 * what it knows (the user, the account).
 */
function logWhenDone(log: AccessLog, req: FastifyRequest, res: TitleCaseResponse): void {
  const raw = req.raw;
  if (logged.has(raw)) return;
  logged.add(raw);
  const start = performance.timeOrigin + performance.now();
  const url = raw.url ?? '/';
  const q = url.indexOf('?');
  // As the client sent them: stages may rewrite the request (a COPY becomes a PUT).
  const method = raw.method ?? '-';
  const path = q === -1 ? url : url.slice(0, q);
  res.once('close', () => {
    const preq = pipelineRequests.get(raw);
    log.write({
      method,
      path,
      query: q === -1 ? '' : url.slice(q + 1),
      protocol: `HTTP/${raw.httpVersion}`,
      status: res.writableFinished ? res.statusCode : 499,
      headers: preq?.headers ?? flatRequestHeaders(req),
      remoteAddr: raw.socket?.remoteAddress,
      bytesIn: (raw as CountingRequest).bodyBytes,
      bytesOut: res.bodyBytes,
      transId: preq?.transId ?? (req as unknown as { transId?: string }).transId ?? '',
      start,
      end: performance.timeOrigin + performance.now(),
      ...(preq ? identityOf(preq) : {}),
    });
  });
}

/**
 * The line of a request the HTTP parser refused and client-error.ts answered itself (an unknown
 * method's 405, a coding it cannot read, 501): logged when its request line is one.
 */
function logClientError(log: AccessLog, status: number, requestLine: string, remoteAddr: string | undefined): void {
  const m = /^(\S+) (\S+) HTTP\/(1\.[01])\r?$/.exec(requestLine);
  if (!m) return;
  const target = m[2] as string;
  const q = target.indexOf('?');
  const now = performance.timeOrigin + performance.now();
  log.write({
    method: m[1] as string,
    path: q === -1 ? target : target.slice(0, q),
    query: q === -1 ? '' : target.slice(q + 1),
    protocol: `HTTP/${m[3] as string}`,
    status,
    headers: {},
    remoteAddr,
    bytesIn: undefined,
    bytesOut: undefined,
    transId: '',
    start: now,
    end: now,
  });
}

/** A sub-request's line, written when its response comes back: its body's size is its Content-Length. */
function subrequestEntry(sub: ProxyRequest, res: ProxyResponse, start: number): AccessEntry {
  const length = Object.entries(res.headers).find(([k]) => k.toLowerCase() === 'content-length')?.[1];
  const bodyLength = typeof res.body === 'string' ? Buffer.byteLength(res.body) : Buffer.isBuffer(res.body) ? res.body.length : undefined;
  return {
    method: sub.method,
    path: sub.path,
    query: sub.query.toString(),
    protocol: 'HTTP/1.0',
    status: res.status,
    headers: sub.headers,
    remoteAddr: sub.remoteAddr,
    bytesIn: Number(sub.headers['content-length'] ?? 0) || undefined,
    bytesOut: sub.method === 'HEAD' ? undefined : (bodyLength ?? (length !== undefined ? Number(length) : undefined)),
    transId: sub.transId,
    start,
    end: performance.timeOrigin + performance.now(),
    ...(sub.source !== undefined ? { source: sub.source } : {}),
    ...identityOf(sub),
  };
}

function identityOf(r: ProxyRequest): { user?: string; account?: string } {
  const out: { user?: string; account?: string } = {};
  if (r.identity) out.user = r.identity.user;
  const account = r.account ?? r.identity?.account;
  if (account !== undefined) out.account = account;
  return out;
}

function keystoneClient(config: ProxyConfig, clock: Clock, dispatcher: Dispatcher | undefined): KeystoneClient {
  if (!config.keystone_url) throw new SwiftletError('CONFIG', 'auth keystone needs keystone_url');
  return new KeystoneClient({
    url: config.keystone_url,
    username: config.keystone_username,
    password: config.keystone_password,
    projectName: config.keystone_project_name,
    userDomainName: config.keystone_user_domain_name,
    projectDomainName: config.keystone_project_domain_name,
    timeoutMs: config.keystone_timeout_ms,
    cacheTtlMs: config.keystone_token_cache_s * 1000,
    cacheSize: config.keystone_token_cache_size,
    clock,
    ...(dispatcher ? { dispatcher } : {}),
  });
}

function flatRequestHeaders(req: FastifyRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}
