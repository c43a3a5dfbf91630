import { abortBody } from '../../common/http-client.js';
import { parseEtagList } from '../../common/conditional.js';
import { PassThrough, type Readable } from 'node:stream';
import { backendPath } from '../../common/backend-path.js';
import { checkMetadata, checkObjectCreation, checkObjectName } from '../constraints.js';
import type { ProxyContext } from '../context.js';
import { makeRequests, readFromNodes, readNewest } from '../fanout.js';
import { deleteAtHeader } from '../expiry.js';
import { guessContentType } from '../mime.js';
import { PutError, putToReplicas } from '../object-put.js';
import { clientHeaders, send } from '../responses.js';
import type { SwiftRequest } from '../swift-request.js';
import { objectUpdateTargets } from '../../ring-builder/update-targets.js';
import { baseBackendHeaders, containerInfo, forwardedMetadata, relay } from './common.js';
import { authorizeSourceRead } from './copy-auth.js';

const READ_HEADERS = ['range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since'];

/** Swift's object controller: GET/HEAD with failover, PUT fan-out, POST, DELETE, server-side copy. */
export async function handleObject(ctx: ProxyContext, sreq: SwiftRequest): Promise<void> {
  const nameBad = checkObjectName(sreq.object as string);
  if (nameBad) return void send(sreq.reply, nameBad.status, {}, nameBad.body);
  switch (sreq.method) {
    case 'GET':
    case 'HEAD':
      return getObject(ctx, sreq);
    case 'PUT':
      return putObject(ctx, sreq);
    case 'POST':
      return postObject(ctx, sreq);
    case 'DELETE':
      return deleteObject(ctx, sreq);
    default:
      return void send(sreq.reply, 405, { Allow: 'GET, HEAD, POST, PUT, DELETE, COPY' });
  }
}

function objectTarget(ctx: ProxyContext, account: string, container: string, object: string) {
  const ring = ctx.rings.object();
  const part = ring.partitionFor(account, container, object);
  return { ring, part, pathFor: (dev: { device: string }) => backendPath(dev.device, part, account, container, object) };
}

async function getObject(ctx: ProxyContext, sreq: SwiftRequest): Promise<void> {
  const { ring, part, pathFor } = objectTarget(ctx, sreq.account, sreq.container as string, sreq.object as string);
  const headers = baseBackendHeaders(sreq);
  for (const h of READ_HEADERS) if (sreq.headers[h] !== undefined) headers[h] = sreq.headers[h] as string;
  const newest = (sreq.headers['x-newest'] ?? '').toLowerCase() === 'true';
  const { response, status } = newest
    ? await readNewest(ctx, ring, part, sreq.method, pathFor, headers)
    : await readFromNodes(ctx, ring, part, sreq.method, pathFor, headers, { keepBody: true });
  if (!response) return void send(sreq.reply, status);
  if (response.status === 404) {
    abortBody(response.body);
    return void send(sreq.reply, 404);
  }
  relay(sreq, response);
}

async function putObject(ctx: ProxyContext, sreq: SwiftRequest): Promise<void> {
  const account = sreq.account;
  const container = sreq.container as string;
  const object = sreq.object as string;
  // Swift's object PUT: If-None-Match may only ask "does it exist at all".
  const ifNoneMatch = sreq.headers['if-none-match'];
  const create = ifNoneMatch !== undefined && parseEtagList(ifNoneMatch) === '*';
  if (ifNoneMatch !== undefined && !create) return void send(sreq.reply, 400, { 'Content-Type': 'text/plain' }, 'If-None-Match only supports *');
  const copyFrom = sreq.headers['x-copy-from'];
  if (copyFrom === undefined) {
    const bad = checkObjectCreation(sreq.headers, object, ctx.config.max_file_size);
    if (bad) return void send(sreq.reply, bad.status, {}, bad.body);
  } else {
    const bad = checkMetadata(sreq.headers, 'object');
    if (bad) return void send(sreq.reply, bad.status, {}, bad.body);
  }
  const info = await containerInfo(ctx, sreq, account, container);
  if (info.status === 404) return void send(sreq.reply, 404);
  if (info.status >= 300) return void send(sreq.reply, info.status >= 500 ? 503 : info.status);

  const ts = sreq.stamp();
  const deleteAt = deleteAtHeader(sreq.headers, ts.seconds);
  if (deleteAt.error) return void send(sreq.reply, 400, {}, deleteAt.error);

  let body: Readable = sreq.req.raw;
  let contentLength: number | undefined;
  const meta = forwardedMetadata(sreq.headers, 'object');
  const extraReply: Record<string, string> = {};
  if (copyFrom !== undefined) {
    const source = await openCopySource(ctx, sreq, copyFrom);
    if ('status' in source) return void send(sreq.reply, source.status, {}, source.body);
    sreq.req.raw.resume();
    body = source.body;
    contentLength = source.length;
    // The copy keeps the source's metadata unless X-Fresh-Metadata; the request's own headers win.
    const fresh = (sreq.headers['x-fresh-metadata'] ?? '').toLowerCase() === 'true';
    const merged: Record<string, string> = fresh ? {} : { ...source.metadata };
    Object.assign(merged, meta);
    if (!merged['content-type']) merged['content-type'] = source.metadata['content-type'] ?? 'application/octet-stream';
    for (const k of Object.keys(merged)) if (merged[k] === '' && k.startsWith('x-object-meta-')) delete merged[k];
    // The copy is a new object: its merged metadata meets the limits of a PUT (Swift checks the
    // copy's sub-request), or copies of copies could pile metadata up without bound.
    const mergedBad = checkMetadata(merged, 'object');
    if (mergedBad) {
      source.cancel();
      return void send(sreq.reply, mergedBad.status, {}, mergedBad.body);
    }
    for (const k of Object.keys(meta)) delete meta[k];
    Object.assign(meta, merged);
    Object.assign(extraReply, source.replyHeaders);
  } else {
    const te = (sreq.headers['transfer-encoding'] ?? '').toLowerCase();
    contentLength = te === 'chunked' ? undefined : Number(sreq.headers['content-length']);
    if (!meta['content-type'] || (sreq.headers['x-detect-content-type'] ?? '').toLowerCase() === 'true') {
      meta['content-type'] = guessContentType(object);
    }
  }
  if (deleteAt.value) meta['x-delete-at'] = deleteAt.value;
  const headers: Record<string, string> = { ...baseBackendHeaders(sreq, ts), ...meta };
  if (contentLength === undefined) headers['transfer-encoding'] = 'chunked';
  else headers['content-length'] = String(contentLength);
  if (copyFrom === undefined && sreq.headers['etag'] !== undefined) headers['etag'] = sreq.headers['etag'].replace(/"/g, '');
  if (create) headers['if-none-match'] = '*';

  const { ring, part, pathFor } = objectTarget(ctx, account, container, object);
  const targets = objectUpdateTargets(ctx.rings, account, container, ring.primaries(part));
  try {
    const outcome = await putToReplicas(ctx, { ring, part, pathFor, headersFor: (i) => ({ ...headers, ...targets(i) }), create }, body, contentLength);
    if (outcome.status === 201) {
      return void send(
        sreq.reply,
        201,
        { ETag: outcome.etag ?? '', 'Last-Modified': ts.httpDate, 'Content-Type': 'text/html; charset=UTF-8', ...extraReply },
        '',
      );
    }
    send(sreq.reply, outcome.status);
  } catch (err) {
    if (!(err instanceof PutError)) throw err;
    // The rest of the body is never read: the connection closes after the answer.
    if (err.kind === 'too-large') return void send(sreq.reply, 413, { Connection: 'close' });
    sreq.log.info({ kind: err.kind }, 'object PUT aborted by the client');
    send(sreq.reply, err.kind === 'client-timeout' ? 408 : 499, { Connection: 'close' });
  }
}

interface CopySource {
  body: Readable;
  length: number;
  metadata: Record<string, string>;
  replyHeaders: Record<string, string>;
  /** Drops the source's body unread (its backend connection is closed). */
  cancel(): void;
}

/** Opens the source of a server-side copy: "container/object" (URL-quoted), checked for read access. */
async function openCopySource(ctx: ProxyContext, sreq: SwiftRequest, copyFrom: string): Promise<CopySource | { status: number; body?: string }> {
  let decoded: string;
  try {
    decoded = decodeURIComponent(copyFrom);
  } catch {
    return { status: 412, body: 'X-Copy-From header must be of the form <container name>/<object name>' };
  }
  const m = /^\/?([^/]+)\/(.+)$/s.exec(decoded);
  if (!m) return { status: 412, body: 'X-Copy-From header must be of the form <container name>/<object name>' };
  const srcAccount = sreq.headers['x-copy-from-account'] ?? sreq.account;
  const srcContainer = m[1] as string;
  const srcObject = m[2] as string;
  const denied = await authorizeSourceRead(ctx, sreq, srcAccount, srcContainer, srcObject);
  if (denied) return { status: denied };
  const { ring, part, pathFor } = objectTarget(ctx, srcAccount, srcContainer, srcObject);
  const headers = baseBackendHeaders(sreq);
  for (const h of ['if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since']) {
    if (sreq.headers[h] !== undefined) headers[h] = sreq.headers[h] as string;
  }
  const { response, status } = await readFromNodes(ctx, ring, part, 'GET', pathFor, headers, { keepBody: true });
  if (!response || status !== 200 || !response.body) {
    abortBody(response?.body);
    return { status: status === 200 ? 503 : status };
  }
  const length = Number(response.headers['content-length']);
  if (length > ctx.config.max_file_size) {
    abortBody(response.body);
    return { status: 413 };
  }
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(clientHeaders(response.headers))) {
    const lk = k.toLowerCase();
    if (
      lk.startsWith('x-object-meta-') ||
      ['content-type', 'content-disposition', 'content-encoding', 'content-language', 'cache-control', 'expires', 'x-object-manifest'].includes(lk)
    ) {
      metadata[lk] = v;
    }
  }
  const passthrough = new PassThrough({ highWaterMark: 64 * 1024 });
  response.body.on('error', (e) => passthrough.destroy(e));
  response.body.pipe(passthrough);
  return {
    body: passthrough,
    length,
    metadata,
    replyHeaders: {
      'X-Copied-From': `${encodeURIComponent(srcContainer)}/${srcObject.split('/').map(encodeURIComponent).join('/')}`,
      'X-Copied-From-Account': encodeURIComponent(srcAccount),
      ...(response.headers['last-modified'] ? { 'X-Copied-From-Last-Modified': response.headers['last-modified'] } : {}),
    },
    cancel: () => {
      response.body?.unpipe(passthrough);
      abortBody(response.body);
      passthrough.destroy();
    },
  };
}

async function postObject(ctx: ProxyContext, sreq: SwiftRequest): Promise<void> {
  const bad = checkMetadata(sreq.headers, 'object');
  if (bad) return void send(sreq.reply, bad.status, {}, bad.body);
  const info = await containerInfo(ctx, sreq, sreq.account, sreq.container as string);
  if (info.status === 404) return void send(sreq.reply, 404);
  if (info.status >= 300) return void send(sreq.reply, 503);
  const ts = sreq.stamp();
  const deleteAt = deleteAtHeader(sreq.headers, ts.seconds);
  if (deleteAt.error) return void send(sreq.reply, 400, {}, deleteAt.error);
  const meta = forwardedMetadata(sreq.headers, 'object');
  if (deleteAt.value) meta['x-delete-at'] = deleteAt.value;
  const { ring, part, pathFor } = objectTarget(ctx, sreq.account, sreq.container as string, sreq.object as string);
  // Each replica updates one container replica, as for a PUT: a POST changes the listing's row.
  const targets = objectUpdateTargets(ctx.rings, sreq.account, sreq.container as string, ring.primaries(part));
  const { status } = await makeRequests(ctx, ring, part, 'POST', pathFor, { ...baseBackendHeaders(sreq, ts), ...meta }, targets);
  send(sreq.reply, status);
}

async function deleteObject(ctx: ProxyContext, sreq: SwiftRequest): Promise<void> {
  const info = await containerInfo(ctx, sreq, sreq.account, sreq.container as string);
  if (info.status === 404) return void send(sreq.reply, 404);
  if (info.status >= 300) return void send(sreq.reply, 503);
  const { ring, part, pathFor } = objectTarget(ctx, sreq.account, sreq.container as string, sreq.object as string);
  const targets = objectUpdateTargets(ctx.rings, sreq.account, sreq.container as string, ring.primaries(part));
  const headers = baseBackendHeaders(sreq, sreq.stamp());
  // Each object server checks it against the X-Delete-At it holds (Swift's expirer sends it too).
  const ifDeleteAt = sreq.headers['x-if-delete-at'];
  if (ifDeleteAt !== undefined) headers['x-if-delete-at'] = ifDeleteAt;
  const { status, body } = await makeRequests(ctx, ring, part, 'DELETE', pathFor, headers, targets);
  send(sreq.reply, status, {}, body);
}

