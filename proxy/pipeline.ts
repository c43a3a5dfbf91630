import { Readable } from 'node:stream';
import type { Logger } from '../common/log.js';
import type { Timestamp } from '../common/timestamp.js';
import type { Auth, Identity } from './auth.js';

/**
 * The proxy as a pipeline (Swift's WSGI pipeline, proxy/server.py required_filters): a request
 * type and a response type of our own, independent of fastify; middleware as `(next) => handler`,
 * composed once when the proxy is built (proxy/middleware/index.ts holds the one order); and
 * sub-requests a middleware issues into the rest of the pipeline (Swift's make_subrequest).
 * Only the edge adapter (proxy/app.ts) knows HTTP: it makes the request and writes the response.
 */

/** A response body: a small string or Buffer, or a stream (Node Readable, or an async iterable of Buffers). */
export type Body = string | Buffer | Readable | AsyncIterable<Buffer>;

export interface ProxyResponse {
  status: number;
  headers: Record<string, string>;
  /**
   * Absent: none of its own (the edge sends Swift's page for an error status, as swob does). A
   * stream is the caller's to consume or destroy (a sub-request's reader must do one or the other).
   */
  body?: Body;
}

/** A response: controllers and middleware return these; only the edge writes them. */
export function respond(status: number, headers: Record<string, string> = {}, body?: Body): ProxyResponse {
  return body === undefined ? { status, headers } : { status, headers, body };
}

/** A refusal (proxy/constraints.ts) in Swift's content type for it. */
export function rejection(r: { status: number; body: string; contentType?: string }, headers: Record<string, string> = {}): ProxyResponse {
  return respond(r.status, r.contentType ? { ...headers, 'Content-Type': r.contentType } : headers, r.body);
}

export interface ProxyRequest {
  method: string;
  /** The path as received, still percent-encoded, without the query. */
  path: string;
  query: URLSearchParams;
  /** The query string as the client sent it (without '?'): signatures are checked over it. Absent on sub-requests. */
  rawQuery?: string;
  /** Lower-cased names, one value each (repeats joined with ", "). */
  headers: Record<string, string>;
  /** The client's body (the edge's IncomingMessage) or a sub-request's (any Readable). */
  body: Readable;
  transId: string;
  log: Logger;
  /** "http" or "https": what the client spoke (tempauth's storage URL). */
  scheme: string;
  /** The client's address (the socket's peer; IPv4 clients of a dual-stack socket as "::ffff:a.b.c.d"). */
  remoteAddr?: string;
  /** Who issued it: undefined for a client's request, else the middleware (Swift's swift.source: "COPY", "SLO"...). */
  source?: string;
  /** The proxy's stamper: one timestamp per write, strictly increasing in this process. */
  stamp: () => Timestamp;

  /** Set by the auth stage: whose credentials these are (undefined: none were given). */
  identity?: Identity;
  /** Set by the auth stage when credentials were given but are bad: refused (401) after routing, as Swift's tempauth does. */
  credentialsRejected?: boolean;
  /** Set by the auth stage: the hook that decides each target (authz.ts authorizeTarget calls it). */
  auth?: Auth;
  /** A sub-request the proxy itself makes (Swift's swift.authorize_override): every target is allowed. */
  system?: boolean;
  /**
   * A system sub-request's user: whose request it serves. A 'user' sub-request made from it (a
   * symlink followed from a version versioning reads) is authorized as that user again.
   */
  onBehalfOf?: Pick<ProxyRequest, 'identity' | 'auth' | 'credentialsRejected'>;
  /**
   * Set by a stage that bounds a body of unknown length (the quotas: the room left): an object PUT
   * whose chunked body brings more bytes is refused with 413 and `body`, and nothing is stored.
   */
  bodyLimit?: { bytes: number; body: string };

  /** Set by the router from the path: /v1/<account>[/<container>[/<object>]]. */
  account?: string;
  container?: string;
  object?: string;
}

export type Handler = (req: ProxyRequest) => Promise<ProxyResponse>;

/** A stage: given the rest of the pipeline (`next`) and the pipeline itself (for sub-requests), its handler. Called once, at build time. */
export type Middleware = (next: Handler, pipeline: Pipeline) => Handler;

/** A named stage: the name is what logs and docs/ARCHITECTURE.md call it. `entry` marks where sub-requests enter. */
export interface Stage {
  name: string;
  middleware: Middleware;
  /** Sub-requests enter the pipeline at the first stage so marked (after auth, as in Swift). */
  subrequestEntry?: boolean;
}

export interface SubrequestInit {
  method: string;
  /** Percent-encoded path, e.g. `/v1/AUTH_test/c/o` (common quoting: encodeSwiftPath). */
  path: string;
  query?: string;
  headers?: Record<string, string>;
  body?: Readable;
}

export interface SubrequestOptions {
  /** Tags the request for logs (Swift's swift.source). */
  source: string;
  /**
   * 'user' (default): authorized as the original request's identity, by the same auth hook;
   * 'system': every target allowed (Swift does so for versioning's hidden containers).
   */
  as?: 'user' | 'system';
}

/**
 * The composed pipeline. `handle` is the whole of it (the edge calls it); `subrequest` enters
 * at the stage marked as the sub-request entry (after auth), as Swift's make_subrequest does.
 */
export class Pipeline {
  handle: Handler = notBuilt;
  private entry: Handler = notBuilt;
  /**
   * Told of each sub-request once its response came back (the access log: proxy/access-log.ts):
   * once per sub-request, however it is run (pipeline.run, or a stage's `next` called with it).
   */
  onSubrequest: ((sub: ProxyRequest, res: ProxyResponse, startMs: number) => void) | undefined;
  /** Sub-requests already being logged. */
  private readonly logging = new WeakSet<ProxyRequest>();

  /** Composes `stages` in order around `app` (the controllers), once. */
  static compose(stages: Stage[], app: Handler): Pipeline {
    const p = new Pipeline();
    let h = app;
    let entry = app;
    for (let i = stages.length - 1; i >= 0; i--) {
      const stage = stages[i] as Stage;
      h = stage.middleware(p.loggingSubrequests(h), p);
      if (stage.subrequestEntry) entry = h;
    }
    p.handle = h;
    p.entry = entry;
    return p;
  }

  /** A request into the rest of the pipeline on behalf of `parent`, tagged with its source. */
  makeSubrequest(parent: ProxyRequest, init: SubrequestInit, opts: SubrequestOptions): ProxyRequest {
    const sub: ProxyRequest = {
      method: init.method,
      path: init.path,
      query: new URLSearchParams(init.query ?? ''),
      headers: { ...inheritedHeaders(parent.headers), ...(init.headers ?? {}) },
      body: init.body ?? emptyBody(),
      transId: parent.transId,
      log: parent.log.child({ source: opts.source }),
      scheme: parent.scheme,
      ...(parent.remoteAddr !== undefined ? { remoteAddr: parent.remoteAddr } : {}),
      source: opts.source,
      stamp: parent.stamp,
    };
    const user = parent.system ? parent.onBehalfOf : parent;
    if (opts.as === 'system') {
      sub.system = true;
      if (user) sub.onBehalfOf = user;
    } else if (user) {
      if (user.identity) sub.identity = user.identity;
      if (user.auth) sub.auth = user.auth;
      if (user.credentialsRejected) sub.credentialsRejected = true;
    }
    return sub;
  }

  /** Runs a sub-request (see makeSubrequest) through the pipeline after auth; its response body is the caller's. */
  subrequest(parent: ProxyRequest, init: SubrequestInit, opts: SubrequestOptions): Promise<ProxyResponse> {
    return this.run(this.makeSubrequest(parent, init, opts), this.entry);
  }

  /** Runs a sub-request made by makeSubrequest through `handler` (the entry, or a stage's `next`), logged. */
  async run(sub: ProxyRequest, handler: Handler): Promise<ProxyResponse> {
    const logged = this.onSubrequest;
    if (!logged || this.logging.has(sub)) return handler(sub);
    this.logging.add(sub);
    const start = performance.timeOrigin + performance.now();
    const res = await handler(sub);
    logged(sub, res, start);
    return res;
  }

  /**
   * A stage's `next`: a sub-request a stage hands to it directly (made with makeSubrequest, not
   * run by `run`) is logged there, so every sub-request has its access log line.
   */
  private loggingSubrequests(next: Handler): Handler {
    return (req) => (req.source !== undefined && this.onSubrequest !== undefined && !this.logging.has(req) ? this.run(req, next) : next(req));
  }
}

async function notBuilt(): Promise<ProxyResponse> {
  throw new Error('pipeline used before it was composed');
}

/** What a sub-request keeps of its parent's headers (Swift's make_env): the referrer ACLs judge, the client's agent, host and origin. */
const INHERITED = ['referer', 'user-agent', 'host', 'origin', 'access-control-request-method'];

function inheritedHeaders(h: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of INHERITED) if (h[k] !== undefined) out[k] = h[k];
  return out;
}

/** A sub-request without a body: an ended stream. */
function emptyBody(): Readable {
  return Readable.from([]);
}
