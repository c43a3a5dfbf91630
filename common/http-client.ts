import { Agent, type Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import { BACKEND_SIGNATURE_HEADER, signBackendRequest, type BackendKey } from './backend-auth.js';
import type { BackendPath } from './backend-path.js';


/**
 * The one way any service talks to a storage node. Requests are made from an origin and a
 * `BackendPath` (never from a URL string: undici's URL parser would resolve "." and ".." segments,
 * "%2E%2E" included, and send a different path than the one authorized), and each is signed over
 * its exact method, path and query with the cluster's backend key (common/backend-auth.ts).
 */
export interface BackendClientOptions {
  connectTimeoutMs: number;
  /** How long a node may take to send headers, and to go quiet in the middle of a body. */
  nodeTimeoutMs: number;
  connectionsPerNode?: number;
  key: BackendKey;
}

export interface BackendRequestOptions {
  headers?: Record<string, string>;
  body?: Readable | Buffer | string;
  signal?: AbortSignal;
  headersTimeout?: number;
  bodyTimeout?: number;
}

export interface BackendClient {
  /** `origin`: `http://<ip>:<port>` of the node. The caller must consume or destroy the body. */
  request(origin: string, method: string, path: BackendPath, opts?: BackendRequestOptions): Promise<Dispatcher.ResponseData>;
  /** `headers` plus the signature, for a request sent another way (node:http, for 100-continue and upgrades). */
  sign(method: string, path: BackendPath, headers: Record<string, string>): Record<string, string>;
  /** The pool underneath (keep-alive per origin). */
  readonly dispatcher: Dispatcher;
  close(): Promise<void>;
}

/** `http://ip:port` of a ring device or a `host:port` string. */
export function originOf(node: { ip: string; port: number } | string): string {
  return typeof node === 'string' ? `http://${node}` : `http://${node.ip.includes(':') ? `[${node.ip}]` : node.ip}:${node.port}`;
}

/**
 * A client over an existing dispatcher (tests pass an undici MockAgent). Signatures carry the
 * wall-clock time whatever clock the service runs on, as the nodes check them against theirs.
 */
export function backendClientOver(dispatcher: Dispatcher, key: BackendKey): BackendClient {
  const sign = (method: string, path: BackendPath, headers: Record<string, string>): Record<string, string> => ({
    ...headers,
    [BACKEND_SIGNATURE_HEADER]: signBackendRequest(key, method, path, Date.now()),
  });
  return {
    dispatcher,
    sign,
    request(origin, method, path, opts = {}) {
      return dispatcher.request({
        origin,
        path,
        method: method as Dispatcher.HttpMethod,
        headers: sign(method, path, opts.headers ?? {}),
        ...(opts.body !== undefined ? { body: opts.body } : {}),
        ...(opts.signal ? { signal: opts.signal } : {}),
        ...(opts.headersTimeout !== undefined ? { headersTimeout: opts.headersTimeout } : {}),
        ...(opts.bodyTimeout !== undefined ? { bodyTimeout: opts.bodyTimeout } : {}),
      });
    },
    close: () => dispatcher.close(),
  };
}

/**
 * The largest header block a service takes from another (undici's `maxHeaderSize` for answers,
 * the storage node's http server's for requests). Node's default, 16 KiB, is less than a legal
 * container or object HEAD can carry, and an answer the proxy cannot parse is a failed read on
 * every replica. What the limits allow (each stored header line < 8 KiB, proxy/constraints.ts;
 * bytes of names and values, as both parsers count them):
 *   - container HEAD: user metadata 4,096 + 90 names of 17 = 5,626; X-Container-Read/-Write,
 *     X-Versions-Location, X-History-Location ≤ 8,188 each = 32,752; the fixed headers
 *     (timestamps, counts, Content-Type, Date...) ≈ 600: ≈ 38 KiB.
 *   - object HEAD: user metadata 4,096 + 90 × 14 = 5,356; Content-Type and the 8 other persisted
 *     headers (Content-Disposition, ..., X-Static-Large-Object) ≤ 8,188 each = 73,692; fixed
 *     ≈ 600: ≈ 78 KiB (a server-side copy can combine its source's headers with its own).
 *   - account HEAD: 4,096 + 90 × 15 + fixed ≈ 6 KiB.
 *   - a request to a node: at most those plus ~1 KiB of internal headers and the path.
 * 256 KiB leaves three times the largest, and room for the sysmeta middlewares will store.
 */
export const BACKEND_MAX_HEADER_BYTES = 256 * 1024;

/** One keep-alive pool per process (a Pool per origin inside), signing with `key`. */
export function createBackendClient(opts: BackendClientOptions): BackendClient {
  const agent = new Agent({
    connect: { timeout: opts.connectTimeoutMs },
    maxHeaderSize: BACKEND_MAX_HEADER_BYTES,
    headersTimeout: opts.nodeTimeoutMs,
    bodyTimeout: opts.nodeTimeoutMs,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    connections: opts.connectionsPerNode ?? 64,
    pipelining: 1,
  });
  return backendClientOver(agent, opts.key);
}

/**
 * A request to a service outside the cluster (Keystone, proxy/keystone/): a full URL and never
 * the backend signature, which is for storage nodes only. The caller must consume or destroy the body.
 */
export function externalRequest(
  dispatcher: Dispatcher,
  url: URL,
  method: string,
  opts: { headers?: Record<string, string>; body?: string; headersTimeout?: number; bodyTimeout?: number } = {},
): Promise<Dispatcher.ResponseData> {
  return dispatcher.request({
    origin: url.origin,
    path: url.pathname + url.search,
    method: method as Dispatcher.HttpMethod,
    headers: opts.headers ?? {},
    ...(opts.body !== undefined ? { body: opts.body } : {}),
    ...(opts.headersTimeout !== undefined ? { headersTimeout: opts.headersTimeout } : {}),
    ...(opts.bodyTimeout !== undefined ? { bodyTimeout: opts.bodyTimeout } : {}),
  });
}

/** Always consume or destroy an undici body, or its socket never returns to the pool. */
export async function discardBody(body: Dispatcher.ResponseData['body'] | undefined): Promise<void> {
  if (!body) return;
  try {
    await body.dump({ limit: 64 * 1024 });
  } catch {
    /* already broken: nothing to drain */
  }
}

/** Drops a body we will not read (possibly large): destroying an undici body emits an error we expect. */
export function abortBody(body: Dispatcher.ResponseData['body'] | undefined): void {
  if (!body) return;
  body.on('error', () => undefined);
  body.destroy();
}
