import { Readable } from 'node:stream';
import { configTrueValue as isTrue } from '../../common/config.js';
import type { ProxyContext } from '../context.js';
import { accountName, containerAndObject, isRefusal, pyQuote } from '../copy-headers.js';
import { respond, type Handler, type Middleware, type Pipeline, type ProxyRequest, type ProxyResponse } from '../pipeline.js';
import { discard, header, routed } from './subrequest.js';

/**
 * Server-side copy, as Swift's copy middleware (swift/common/middleware/copy.py): COPY with
 * Destination[-Account] becomes a PUT with X-Copy-From[-Account], and that PUT becomes two
 * sub-requests into the rest of the pipeline, as the user:
 *
 * 1. a GET of the source (X-Newest, with the client's Range and conditionals and its query:
 *    `multipart-manifest=get` reads a manifest itself, `symlink=get` a link itself, `version-id`
 *    one version); the stages below apply to it, so a symlink is followed, an SLO or a DLO read
 *    whole, and the read is authorized as the user on the source (401/403, then 404, 412, 416...);
 * 2. a PUT of the destination whose body is that GET's body, streamed: the quotas, SLO (a copied
 *    manifest is PUT with `multipart-manifest=put`), versioning and symlink stages apply to it as
 *    to any PUT, and it is authorized as the user on the destination.
 *
 * The copy keeps the source's metadata (user metadata, sysmeta, the object headers, X-Delete-At)
 * unless X-Fresh-Metadata; the request's own headers win. A success answers X-Copied-From,
 * X-Copied-From-Account, X-Copied-From-Last-Modified (and -Version-Id) and the copy's metadata.
 */
export function copy(ctx: ProxyContext): Middleware {
  return (next, pipeline) => (req) => (isCopy(req) ? handleCopy(ctx.config.max_file_size, next, pipeline, req) : next(req));
}

/** Whether this request is a copy (Swift's middleware only looks at object requests). */
export function isCopy(req: ProxyRequest): boolean {
  if (req.object === undefined) return false;
  return req.method === 'COPY' || (req.method === 'PUT' && !!req.headers['x-copy-from']);
}

/** Headers of the source a copy keeps (unless X-Fresh-Metadata), besides metadata and sysmeta. */
const OBJECT_HEADERS = ['content-disposition', 'content-encoding', 'content-language', 'cache-control', 'expires', 'x-delete-at'];
/** A symlink read with ?symlink=get shows its target under these names: a copy of it is a link. */
const LINK_HEADERS = ['x-symlink-target', 'x-symlink-target-account', 'x-symlink-target-etag', 'x-symlink-target-bytes'];
/** The client's request headers that are about the copy or the source read, not the destination's. */
const NOT_FOR_SINK = new Set([
  'content-length',
  'transfer-encoding',
  'x-copy-from',
  'x-copy-from-account',
  'destination',
  'destination-account',
  'x-fresh-metadata',
  'range',
  'if-match',
  'if-modified-since',
  'if-unmodified-since',
  'x-newest',
  'etag',
  'expect',
]);
/** What the source read passes on from the client (Swift's copy_get keeps every header). */
const SOURCE_READ = ['range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'];
const OVERRIDE_PREFIX = 'x-object-sysmeta-container-update-override-';

const isUserMeta = (k: string) => k.startsWith('x-object-meta-');
const isSysmeta = (k: string) => k.startsWith('x-object-sysmeta-') || k.startsWith('x-object-transient-sysmeta-');

async function handleCopy(maxFileSize: number, next: Handler, pipeline: Pipeline, req: ProxyRequest): Promise<ProxyResponse> {
  // The request's own body is never read: a copy has none (or is refused for it).
  req.body.resume();
  if (req.method === 'COPY') {
    const refused = copyToPut(req);
    if (refused) return respond(refused.status, {}, refused.body);
  } else if (Number(req.headers['content-length'] ?? 0) > 0) {
    return respond(400, { 'Content-Type': 'text/plain' }, 'Copy requests require a zero byte body');
  }
  let srcAccount = req.account as string;
  const fromAccount = req.headers['x-copy-from-account'];
  if (fromAccount) {
    const a = accountName(fromAccount);
    if (isRefusal(a)) return respond(a.status, {}, a.body);
    srcAccount = a;
  }
  const src = containerAndObject(req.headers['x-copy-from'] ?? '', 'X-Copy-From');
  if (isRefusal(src)) return respond(src.status, {}, src.body);

  const manifestGet = req.query.get('multipart-manifest') === 'get';
  const source = await readSource(next, pipeline, req, { account: srcAccount, ...src }, manifestGet);
  if (source.status >= 300) return source;
  const length = Number(header(source, 'content-length'));
  if (header(source, 'content-length') === undefined || !Number.isSafeInteger(length) || length > maxFileSize) {
    discard(source);
    return respond(413);
  }

  const isSlo = header(source, 'x-static-large-object') !== undefined && isTrue(header(source, 'x-static-large-object'));
  const dloManifest = header(source, 'x-object-manifest');
  const sink = sinkHeaders(req, source);
  const query = new URLSearchParams(req.query);
  if (manifestGet) {
    if (isSlo) query.set('multipart-manifest', 'put');
    if (dloManifest !== undefined) {
      query.delete('multipart-manifest');
      sink['x-object-manifest'] = dloManifest;
    }
  }
  query.delete('version-id');
  // A whole, plain source is checked against its ETag on the way (not a range, nor a large
  // object's, whose ETag is no hash of its bytes); otherwise no container-update override goes.
  const etag = header(source, 'etag');
  if (source.status === 200 && !isSlo && (dloManifest === undefined || manifestGet) && etag) sink['etag'] = etag.replace(/"/g, '');
  else for (const k of Object.keys(sink)) if (k.startsWith(OVERRIDE_PREFIX)) delete sink[k];
  sink['content-length'] = String(length);

  const replyHeaders = copiedFrom(srcAccount, src, source, sink);
  const body = bodyStream(source);
  const put = await next(
    routed(pipeline, req, { method: 'PUT', account: req.account as string, container: req.container as string, object: req.object as string, query: query.toString(), headers: sink, body }, { source: 'SSC' }),
  );
  // Whatever the PUT left unread of the source goes (its backend connection is closed).
  body.on('error', () => undefined);
  body.destroy();
  if (put.status >= 200 && put.status < 300) Object.assign(put.headers, replyHeaders);
  return put;
}

/**
 * COPY a/c/o with Destination: c2/o2 [Destination-Account: a2] is a PUT of a2/c2/o2 with
 * X-Copy-From: c/o [X-Copy-From-Account: a]. Returns Swift's refusal of malformed headers.
 */
function copyToPut(req: ProxyRequest): { status: number; body: string } | undefined {
  const destination = req.headers['destination'];
  if (!destination) return { status: 412, body: 'Destination header required' };
  let account = req.account as string;
  const destAccount = req.headers['destination-account'];
  if (destAccount !== undefined) {
    const a = accountName(destAccount);
    if (isRefusal(a)) return a;
    req.headers['x-copy-from-account'] = pyQuote(account);
    account = a;
  }
  const dest = containerAndObject(destination, 'Destination');
  if (isRefusal(dest)) return dest;
  req.headers['x-copy-from'] = pyQuote(`/${req.container as string}/${req.object as string}`);
  req.account = account;
  req.container = dest.container;
  req.object = dest.object;
  req.method = 'PUT';
  req.headers['content-length'] = '0';
  return undefined;
}

/** _get_source_object: a GET of the source through the rest of the pipeline, as the user. */
function readSource(
  next: Handler,
  pipeline: Pipeline,
  req: ProxyRequest,
  src: { account: string; container: string; object: string },
  manifestGet: boolean,
): Promise<ProxyResponse> {
  const headers: Record<string, string> = { 'x-newest': 'true' };
  for (const h of SOURCE_READ) if (req.headers[h] !== undefined) headers[h] = req.headers[h] as string;
  const query = new URLSearchParams(req.query);
  // A manifest is copied as it was PUT (Swift's format=raw), so the destination's PUT checks it again.
  if (manifestGet) query.set('format', 'raw');
  return next(routed(pipeline, req, { method: 'GET', ...src, query: query.toString(), headers }, { source: 'SSC' }));
}

/**
 * The destination PUT's headers: the source's metadata, sysmeta and object headers (only its
 * sysmeta with X-Fresh-Metadata), then the client's own; the source's Content-Type unless the
 * client gave one. X-Remove-Object-Meta-* and empty values drop a key.
 */
function sinkHeaders(req: ProxyRequest, source: ProxyResponse): Record<string, string> {
  const fresh = isTrue(req.headers['x-fresh-metadata']);
  const sink: Record<string, string> = {};
  for (const [key, v] of Object.entries(source.headers)) {
    const k = key.toLowerCase();
    // A large object's sysmeta describes its manifest, not the bytes a copy of it stores.
    if (k.startsWith('x-object-sysmeta-slo-')) continue;
    if (isSysmeta(k) || (!fresh && (isUserMeta(k) || OBJECT_HEADERS.includes(k) || LINK_HEADERS.includes(k)))) sink[k] = v;
  }
  for (const [k, v] of Object.entries(req.headers)) {
    if (NOT_FOR_SINK.has(k) || isSysmeta(k)) continue;
    if (k.startsWith('x-remove-object-meta-')) {
      delete sink[`x-object-meta-${k.slice('x-remove-object-meta-'.length)}`];
      continue;
    }
    sink[k] = v;
  }
  // A link the symlink stage writes again has a container update of its own.
  if (sink['x-symlink-target'] !== undefined) for (const k of Object.keys(sink)) if (k.startsWith(OVERRIDE_PREFIX)) delete sink[k];
  for (const k of Object.keys(sink)) if (isUserMeta(k) && sink[k] === '') delete sink[k];
  if (!req.headers['content-type']) sink['content-type'] = header(source, 'content-type') ?? 'application/octet-stream';
  return sink;
}

/** _create_response_headers: where the copy came from, and the copy's metadata. */
function copiedFrom(account: string, src: { container: string; object: string }, source: ProxyResponse, sink: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {
    'X-Copied-From': pyQuote(`${src.container}/${src.object}`),
    'X-Copied-From-Account': pyQuote(account),
  };
  const lastModified = header(source, 'last-modified');
  if (lastModified) out['X-Copied-From-Last-Modified'] = lastModified;
  const versionId = header(source, 'x-object-version-id');
  if (versionId) out['X-Copied-From-Version-Id'] = versionId;
  for (const [k, v] of Object.entries(sink)) if (isUserMeta(k) || isSysmeta(k) || k === 'x-delete-at') out[k] = v;
  return out;
}

/** The source's body as the PUT's (a stream, never buffered). */
function bodyStream(res: ProxyResponse): Readable {
  const b = res.body;
  if (b === undefined) return Readable.from([]);
  if (typeof b === 'string' || Buffer.isBuffer(b)) return Readable.from([Buffer.from(b)]);
  if (b instanceof Readable) return b;
  return Readable.from(b, { objectMode: false });
}
