import type { Readable } from 'node:stream';
import { encodeSegment } from '../../common/backend-path.js';
import { H } from '../../common/headers.js';
import { checkObjectCreation } from '../constraints.js';
import type { Handler, Pipeline, ProxyRequest, ProxyResponse } from '../pipeline.js';

/** Where a routed sub-request goes, by name (not by path): what a middleware after the router needs. */
export interface RoutedInit {
  method: string;
  account: string;
  container?: string;
  object?: string;
  query?: string;
  headers?: Record<string, string>;
  body?: Readable;
}

/** A client-style path for names (each segment percent-encoded; an object keeps its slashes). */
export function swiftPath(account: string, container?: string, object?: string): string {
  let p = `/v1/${encodeSegment(account)}`;
  if (container !== undefined) p += `/${encodeSegment(container)}`;
  if (object !== undefined) p += `/${object.split('/').map(encodeSegment).join('/')}`;
  return p;
}

/**
 * A sub-request already routed (account, container, object set), run by `next`: the rest of the
 * pipeline after the calling stage, as Swift's middleware call self.app with a sub-request
 * (symlink following a link, versioning writing a version). 'system' sub-requests may use
 * reserved names (Swift's X-Backend-Allow-Reserved-Names on a pre-authed request).
 */
export function routed(pipeline: Pipeline, parent: ProxyRequest, init: RoutedInit, opts: { source: string; as?: 'user' | 'system' }): ProxyRequest {
  const sub = pipeline.makeSubrequest(
    parent,
    {
      method: init.method,
      path: swiftPath(init.account, init.container, init.object),
      ...(init.query !== undefined ? { query: init.query } : {}),
      ...(init.headers ? { headers: init.headers } : {}),
      ...(init.body ? { body: init.body } : {}),
    },
    opts,
  );
  sub.account = init.account;
  if (init.container !== undefined) sub.container = init.container;
  if (init.object !== undefined) sub.object = init.object;
  return sub;
}

/**
 * Swift's update_ignore_range_header: an object that has metadata `name` is answered whole by the
 * object server, its Range and conditionals ignored, because the middleware that reads it (DLO, a
 * symlink) applies them to what it serves instead. Added to the names already asked for, as a symlink
 * to a DLO needs both.
 */
export function ignoreRangeIfMetadata(req: ProxyRequest, name: string): void {
  const had = req.headers[H.ignoreRangeIfMetadata];
  const names = had ? had.split(',').map((n) => n.trim()) : [];
  if (!names.some((n) => n.toLowerCase() === name.toLowerCase())) names.push(name);
  req.headers[H.ignoreRangeIfMetadata] = names.join(',');
}

/** Runs a routed sub-request through `next`. */
export function callRouted(next: Handler, pipeline: Pipeline, parent: ProxyRequest, init: RoutedInit, opts: { source: string; as?: 'user' | 'system' }): Promise<ProxyResponse> {
  return pipeline.run(routed(pipeline, parent, init, opts), next);
}

/** Drops a response's body unread (a stream is destroyed), so its backend connection is freed. */
export function discard(res: ProxyResponse): void {
  const b = res.body;
  if (b && typeof b === 'object' && 'destroy' in b && typeof b.destroy === 'function') {
    if ('on' in b && typeof b.on === 'function') b.on('error', () => undefined);
    b.destroy();
  }
}

/** A response's body as a Buffer (small bodies: listings, error words). */
export async function readAll(res: ProxyResponse, limit = 64 * 1024 * 1024): Promise<Buffer> {
  const b = res.body;
  if (b === undefined) return Buffer.alloc(0);
  if (typeof b === 'string') return Buffer.from(b);
  if (Buffer.isBuffer(b)) return b;
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of b as AsyncIterable<Buffer>) {
    const buf = Buffer.isBuffer(c) ? c : Buffer.from(c);
    n += buf.length;
    if (n > limit) throw new Error('sub-request body over its limit');
    chunks.push(buf);
  }
  return Buffer.concat(chunks);
}

/** A header of a response, by its lower-case name (responses keep the nodes' spelling). */
export function header(res: ProxyResponse, name: string): string | undefined {
  const direct = res.headers[name];
  if (direct !== undefined) return direct;
  for (const [k, v] of Object.entries(res.headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/**
 * Whether the object controller will refuse this PUT before asking any node (length, name,
 * metadata): a stage that would look its container up first lets it through untouched instead.
 */
export function putRefusedUpFront(req: ProxyRequest, maxFileSize: number): boolean {
  return req.method === 'PUT' && !req.headers['x-copy-from'] && checkObjectCreation(req.headers, req.object ?? '', maxFileSize) !== undefined;
}

/** Whether a PUT has a body: a Content-Length above 0, or any byte of a chunked one. */
export async function hasBody(req: ProxyRequest): Promise<boolean> {
  const te = (req.headers['transfer-encoding'] ?? '').toLowerCase();
  if (!te) {
    req.body.resume();
    return Number(req.headers['content-length'] ?? '0') !== 0;
  }
  for await (const chunk of req.body) if ((chunk as Buffer).length > 0) {
    req.body.destroy();
    return true;
  }
  return false;
}

