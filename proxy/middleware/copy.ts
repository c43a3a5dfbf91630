import { PassThrough, Readable } from 'node:stream';
import { abortBody } from '../../common/http-client.js';
import { parseEtagList } from '../../common/conditional.js';
import { authorizeTarget } from '../authz.js';
import { checkMetadata, checkObjectName } from '../constraints.js';
import type { ProxyContext } from '../context.js';
import { accountName, containerAndObject, isRefusal, pyQuote } from '../copy-headers.js';
import { readNewest } from '../fanout.js';
import { deleteAtHeader } from '../expiry.js';
import { clientHeaders } from '../responses.js';
import { respond, type Middleware, type Pipeline, type ProxyResponse } from '../pipeline.js';
import { chunksOf, dropBody, readSmallBody } from '../large-object/stream.js';
import { configTrueValue as isTrue } from '../../common/config.js';
import { cleanContentType } from '../large-object/manifest.js';
import type { SwiftRequest } from '../swift-request.js';
import { baseBackendHeaders, relay } from '../controllers/common.js';
import { objectTarget, storeObject, writeTargetReady } from '../controllers/object.js';
import { checkQuotas } from './quotas/index.js';

/**
 * Server-side copy, as Swift's copy middleware (swift/common/middleware/copy.py): COPY with
 * Destination[-Account] becomes a PUT with X-Copy-From[-Account], and that PUT reads its source
 * and stores it as the destination. Swift's order of checks, which decides 403 against 404:
 *
 * 1. the copy's own headers (412 for a malformed one, 400 for a PUT with a body);
 * 2. the source, as a GET of its own: read access (401/403), then the read itself (404, 412,
 *    416...), with the client's Range and conditional headers and X-Newest;
 * 3. the destination, as any PUT: write access (401/403), its container (404), its name and
 *    metadata (400), then the write.
 */

/** The copy stage: a copy is answered here, anything else goes on. */
export function copy(ctx: ProxyContext): Middleware {
  return (next, pipeline) => (req) => (isCopy(req as SwiftRequest) ? handleCopy(ctx, pipeline, req as SwiftRequest) : next(req));
}

/** Whether this request is a copy (Swift's middleware only looks at object requests). */
export function isCopy(sreq: SwiftRequest): boolean {
  if (sreq.object === undefined) return false;
  return sreq.method === 'COPY' || (sreq.method === 'PUT' && !!sreq.headers['x-copy-from']);
}

/** Headers of the source a copy keeps (unless X-Fresh-Metadata), besides X-Object-Meta-*. */
const COPIED_HEADERS = ['content-type', 'content-disposition', 'content-encoding', 'content-language', 'cache-control', 'expires', 'x-delete-at', 'x-object-manifest'];

async function handleCopy(ctx: ProxyContext, pipeline: Pipeline, sreq: SwiftRequest): Promise<ProxyResponse> {
  // The request's own body is never read: a copy has none (or is refused for it).
  sreq.body.resume();
  if (sreq.method === 'COPY') {
    const refused = copyToPut(sreq);
    if (refused) return respond(refused.status, {}, refused.body);
  } else if (Number(sreq.headers['content-length'] ?? 0) > 0) {
    return respond(400, { 'Content-Type': 'text/plain' }, 'Copy requests require a zero byte body');
  }
  let srcAccount = sreq.account;
  const fromAccount = sreq.headers['x-copy-from-account'];
  if (fromAccount) {
    const a = accountName(fromAccount);
    if (isRefusal(a)) return respond(a.status, {}, a.body);
    srcAccount = a;
  }
  const src = containerAndObject(sreq.headers['x-copy-from'] ?? '', 'X-Copy-From');
  if (isRefusal(src)) return respond(src.status, {}, src.body);

  const readable = await authorizeTarget(sreq, 'GET', srcAccount, src.container, src.object);
  if (readable !== 'allow') return respond(readable);
  const source = await openSource(ctx, pipeline, sreq, srcAccount, src.container, src.object);
  if ('sloManifest' in source) return copySloManifest(pipeline, sreq, srcAccount, src.container, src.object, source.contentType);
  if (!('body' in source)) return source.answer;

  const container = sreq.container as string;
  const object = sreq.object as string;
  const writable = await authorizeTarget(sreq, 'PUT', sreq.account, container, object);
  if (writable !== 'allow') {
    source.cancel();
    return respond(writable);
  }
  // The destination PUT as Swift's object controller takes it: If-None-Match (only *) first.
  const ifNoneMatch = sreq.headers['if-none-match'];
  const create = ifNoneMatch !== undefined && parseEtagList(ifNoneMatch) === '*';
  if (ifNoneMatch !== undefined && !create) {
    source.cancel();
    return respond(400, { 'Content-Type': 'text/plain' }, 'If-None-Match only supports *');
  }
  const ready = await writeTargetReady(ctx, sreq);
  if (ready) {
    source.cancel();
    return respond(ready.status, {}, ready.body);
  }
  // The copy is a PUT of the source's length: the quotas count it (Swift's copy sends that PUT down the pipeline).
  const overQuota = await checkQuotas(ctx, sreq, { account: sreq.account, container, object }, source.length);
  if (overQuota) {
    source.cancel();
    return overQuota;
  }
  const nameBad = checkObjectName(object);
  const metaBad = nameBad ?? checkMetadata(sreq.headers, 'object');
  if (metaBad) {
    source.cancel();
    return respond(metaBad.status, {}, metaBad.body);
  }

  // The copy keeps the source's metadata unless X-Fresh-Metadata; the request's own headers win.
  const fresh = (sreq.headers['x-fresh-metadata'] ?? '').toLowerCase() === 'true';
  const merged: Record<string, string> = fresh ? {} : { ...source.metadata };
  for (const [k, v] of Object.entries(sreq.headers)) {
    if (k.startsWith('x-object-meta-') || COPIED_HEADERS.includes(k) || k === 'x-delete-after') merged[k] = v;
    else if (k.startsWith('x-remove-object-meta-')) merged[`x-object-meta-${k.slice('x-remove-object-meta-'.length)}`] = '';
  }
  if (!sreq.headers['content-type']) merged['content-type'] = source.contentType;
  for (const k of Object.keys(merged)) if (merged[k] === '' && k.startsWith('x-object-meta-')) delete merged[k];
  // The copy is a new object: its merged metadata meets the limits of a PUT (Swift checks the
  // copy's sub-request), or copies of copies could pile metadata up without bound.
  const mergedBad = checkMetadata(merged, 'object');
  if (mergedBad) {
    source.cancel();
    return respond(mergedBad.status, {}, mergedBad.body);
  }
  const ts = sreq.stamp();
  const deleteAt = deleteAtHeader(merged, ts.seconds);
  if (deleteAt.error) {
    source.cancel();
    return respond(400, {}, deleteAt.error);
  }
  delete merged['x-delete-after'];
  delete merged['x-delete-at'];
  if (deleteAt.value) merged['x-delete-at'] = deleteAt.value;

  const replyHeaders: Record<string, string> = {
    'X-Copied-From': pyQuote(`${src.container}/${src.object}`),
    'X-Copied-From-Account': pyQuote(srcAccount),
    ...(source.lastModified ? { 'X-Copied-From-Last-Modified': source.lastModified } : {}),
  };
  // Swift answers with the copy's metadata too.
  for (const [k, v] of Object.entries(merged)) if (k.startsWith('x-object-meta-') || k === 'x-delete-at') replyHeaders[k] = v;
  return storeObject(ctx, sreq, {
    ts,
    meta: merged,
    body: source.body,
    contentLength: source.length,
    // A whole source is checked against its ETag on the way; a range has none of its own.
    ...(source.etag ? { etag: source.etag } : {}),
    create,
    extraReply: replyHeaders,
  });
}

/**
 * COPY a/c/o with Destination: c2/o2 [Destination-Account: a2] is a PUT of a2/c2/o2 with
 * X-Copy-From: c/o [X-Copy-From-Account: a]. Returns Swift's refusal of malformed headers.
 */
function copyToPut(sreq: SwiftRequest): { status: number; body: string } | undefined {
  const destination = sreq.headers['destination'];
  if (!destination) return { status: 412, body: 'Destination header required' };
  let account = sreq.account;
  const destAccount = sreq.headers['destination-account'];
  if (destAccount !== undefined) {
    const a = accountName(destAccount);
    if (isRefusal(a)) return a;
    sreq.headers['x-copy-from-account'] = pyQuote(sreq.account);
    account = a;
  }
  const dest = containerAndObject(destination, 'Destination');
  if (isRefusal(dest)) return dest;
  sreq.headers['x-copy-from'] = pyQuote(`/${sreq.container as string}/${sreq.object as string}`);
  sreq.account = account;
  sreq.container = dest.container;
  sreq.object = dest.object;
  sreq.method = 'PUT';
  sreq.headers['content-length'] = '0';
  return undefined;
}

interface Source {
  body: Readable;
  length: number;
  metadata: Record<string, string>;
  /** The read's Content-Type: the object's, or multipart/byteranges for several ranges. */
  contentType: string;
  /** The object's ETag when the read is the whole object (200), to check the copy against. */
  etag?: string;
  lastModified?: string;
  /** Drops the source's body unread (its backend connection is closed). */
  cancel(): void;
}

/**
 * The source read (Swift's copy middleware GETs it with X-Newest and the client's headers, Range
 * and conditionals included). A failed read is the answer: its status goes to the client.
 */
async function openSource(
  ctx: ProxyContext,
  pipeline: Pipeline,
  sreq: SwiftRequest,
  account: string,
  container: string,
  object: string,
): Promise<Source | { answer: ProxyResponse } | { sloManifest: true; contentType: string }> {
  const target = await objectTarget(ctx, sreq, account, container, object);
  if ('status' in target) {
    return { answer: respond(target.status) };
  }
  const { ring, part, pathFor } = target;
  const headers = { ...baseBackendHeaders(sreq), ...target.policyHeader };
  for (const h of ['range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since']) {
    if (sreq.headers[h] !== undefined) headers[h] = sreq.headers[h] as string;
  }
  const { response, status } = await readNewest(ctx, ring, part, 'GET', pathFor, headers);
  if (!response || status >= 500) {
    abortBody(response?.body);
    return { answer: respond(503) };
  }
  if (status === 404) {
    abortBody(response.body);
    return { answer: respond(404) };
  }
  if (status >= 300 || !response.body) {
    return { answer: relay(sreq, response) };
  }
  // A large object (Swift's copy reads its source through SLO and DLO): with
  // ?multipart-manifest=get an SLO's manifest is copied as a manifest (a DLO's manifest object is
  // copied as it is, below); otherwise its segments' bytes become the copy.
  const isSlo = isTrue(response.headers['x-static-large-object']);
  const manifestGet = sreq.query.get('multipart-manifest') === 'get';
  if (isSlo && manifestGet) {
    abortBody(response.body);
    return { sloManifest: true, contentType: cleanContentType(response.headers['content-type'] ?? 'application/octet-stream') };
  }
  if ((isSlo || response.headers['x-object-manifest'] !== undefined) && !manifestGet) {
    abortBody(response.body);
    return openLargeSource(ctx, pipeline, sreq, account, container, object);
  }
  const length = Number(response.headers['content-length']);
  if (!Number.isSafeInteger(length) || length > ctx.config.max_file_size) {
    abortBody(response.body);
    return { answer: respond(413) };
  }
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(clientHeaders(response.headers))) {
    const lk = k.toLowerCase();
    if (lk.startsWith('x-object-meta-') || (COPIED_HEADERS.includes(lk) && lk !== 'content-type')) metadata[lk] = v;
  }
  const passthrough = new PassThrough({ highWaterMark: 64 * 1024 });
  response.body.on('error', (e) => passthrough.destroy(e));
  response.body.pipe(passthrough);
  const out: Source = {
    body: passthrough,
    length,
    metadata,
    contentType: response.headers['content-type'] ?? 'application/octet-stream',
    cancel: () => {
      response.body?.unpipe(passthrough);
      abortBody(response.body);
      passthrough.destroy();
    },
  };
  if (status === 200 && response.headers['etag']) out.etag = response.headers['etag'];
  if (response.headers['last-modified']) out.lastModified = response.headers['last-modified'];
  return out;
}

function objectPath(sreq: SwiftRequest, account: string, container: string, object: string): string {
  return `/${sreq.path.split('/')[1] ?? 'v1'}/${pyQuote(account)}/${pyQuote(container)}/${pyQuote(object)}`;
}

/** A large object read as the client would read it (a sub-request through SLO and DLO, as the user): its bytes are the copy's. */
async function openLargeSource(ctx: ProxyContext, pipeline: Pipeline, sreq: SwiftRequest, account: string, container: string, object: string): Promise<Source | { answer: ProxyResponse }> {
  const headers: Record<string, string> = {};
  for (const h of ['range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since']) if (sreq.headers[h] !== undefined) headers[h] = sreq.headers[h] as string;
  const res = await pipeline.subrequest(sreq, { method: 'GET', path: objectPath(sreq, account, container, object), headers }, { source: 'SSC' });
  if (res.status >= 300) return { answer: res };
  const length = Number(res.headers['content-length']);
  if (!Number.isSafeInteger(length) || length > ctx.config.max_file_size) {
    dropBody(res.body);
    return { answer: respond(413) };
  }
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) {
    const lk = k.toLowerCase();
    if (lk.startsWith('x-object-meta-') || (COPIED_HEADERS.includes(lk) && lk !== 'content-type' && lk !== 'x-object-manifest')) metadata[lk] = v;
  }
  const body = Readable.from(chunksOf(res.body), { objectMode: false, highWaterMark: 64 * 1024 });
  const out: Source = {
    body,
    length,
    metadata,
    contentType: res.headers['content-type'] ?? 'application/octet-stream',
    cancel: () => body.destroy(),
  };
  if (res.headers['last-modified']) out.lastModified = res.headers['last-modified'];
  return out;
}

/**
 * COPY of an SLO with ?multipart-manifest=get: the manifest as it was PUT (format=raw) is PUT
 * again at the destination with ?multipart-manifest=put, as Swift's copy does, so the copy is an
 * SLO of the same segments (each checked again).
 */
async function copySloManifest(pipeline: Pipeline, sreq: SwiftRequest, account: string, container: string, object: string, contentType: string): Promise<ProxyResponse> {
  const raw = await pipeline.subrequest(sreq, { method: 'GET', path: objectPath(sreq, account, container, object), query: 'multipart-manifest=get&format=raw' }, { source: 'SSC' });
  if (raw.status !== 200) return raw;
  const manifest = Buffer.from((await readSmallBody(raw.body, 64 * 1024 * 1024)) ?? '[]');
  const fresh = (sreq.headers['x-fresh-metadata'] ?? '').toLowerCase() === 'true';
  const headers: Record<string, string> = {};
  if (!fresh) for (const [k, v] of Object.entries(raw.headers)) if (k.startsWith('x-object-meta-') || (COPIED_HEADERS.includes(k) && k !== 'content-type')) headers[k] = v;
  for (const [k, v] of Object.entries(sreq.headers)) if (k.startsWith('x-object-meta-') || COPIED_HEADERS.includes(k) || k === 'x-delete-after') headers[k] = v;
  headers['content-type'] = sreq.headers['content-type'] ?? contentType;
  headers['content-length'] = String(manifest.length);
  const put = await pipeline.subrequest(
    sreq,
    { method: 'PUT', path: objectPath(sreq, sreq.account, sreq.container as string, sreq.object as string), query: 'multipart-manifest=put', headers, body: Readable.from([manifest]) },
    { source: 'SSC' },
  );
  put.headers['X-Copied-From'] = pyQuote(`${container}/${object}`);
  put.headers['X-Copied-From-Account'] = pyQuote(account);
  return put;
}
