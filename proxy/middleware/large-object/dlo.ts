import { LIMITS } from '../../constraints.js';
import type { ProxyContext } from '../../context.js';
import { headerName, pyQuote } from '../../copy-headers.js';
import { respond, type Handler, type Middleware, type Pipeline, type ProxyRequest, type ProxyResponse } from '../../pipeline.js';
import { dloEtag } from '../../large-object/manifest.js';
import { mapDloPage, type ListedSegment } from '../../large-object/segment-map.js';
import { dropBody, readSmallBody, segmentError, type ReadPiece } from '../../large-object/stream.js';
import { ignoreRangeIfMetadata } from '../subrequest.js';
import { accountPrefix, largeObjectResponse, subrequestSource } from './response.js';

/**
 * Dynamic large objects, as Swift's DLO middleware (swift/common/middleware/dlo.py): an object
 * with `X-Object-Manifest: <container>/<prefix>` reads as the objects listed under that prefix,
 * in listing order, concatenated. The listing is a container GET sub-request as the user, a page
 * (10,000 names) at a time; with one page the answer has Swift's ETag (quoted md5 of the segment
 * ETags) and Content-Length, and a Range is honoured; with more, as in Swift, the length and ETag
 * are unknown up front and a Range is honoured only when it ends inside the first page.
 * `?multipart-manifest=get` reads the manifest object itself. A PUT with a malformed
 * X-Object-Manifest is refused (400).
 */
export function dlo(ctx: ProxyContext): Middleware {
  return (next, pipeline) => (req) => {
    if (req.object === undefined) return next(req);
    if ((req.method === 'GET' || req.method === 'HEAD') && req.query.get('multipart-manifest') !== 'get') return getOrHead(ctx, next, pipeline, req);
    if (req.method === 'PUT' && req.headers['x-object-manifest'] !== undefined) {
      const v = req.headers['x-object-manifest'];
      const slash = v.indexOf('/');
      const container = slash < 0 ? '' : v.slice(0, slash);
      const prefix = slash < 0 ? '' : v.slice(slash + 1);
      if (!container || !prefix || v.includes('?') || v.includes('&') || prefix.startsWith('/')) {
        req.body.resume();
        return Promise.resolve(respond(400, {}, 'X-Object-Manifest must be in the format container/prefix'));
      }
    }
    return next(req);
  };
}

async function getOrHead(ctx: ProxyContext, next: Handler, pipeline: Pipeline, req: ProxyRequest): Promise<ProxyResponse> {
  // A manifest is read whole, whatever the Range and conditionals (they apply to the DLO below):
  // otherwise a Range answers 416 and an If-Match 412, and those answers' headers would be served.
  ignoreRangeIfMetadata(req, 'X-Object-Manifest');
  const res = await next(req);
  const manifest = res.headers['x-object-manifest'];
  if (manifest === undefined) return res;
  dropBody(res.body);
  const value = headerName(manifest) ?? manifest;
  const slash = value.indexOf('/');
  const container = value.slice(0, slash);
  const prefix = value.slice(slash + 1);
  const listingPath = `${accountPrefix(req)}/${pyQuote(container)}`;
  const page = async (marker: string): Promise<ListedSegment[] | ProxyResponse> => {
    const q = new URLSearchParams({ prefix, format: 'json' });
    if (marker) q.set('marker', marker);
    const r = await pipeline.subrequest(req, { method: 'GET', path: listingPath, query: q.toString() }, { source: 'DLO' });
    if (r.status < 200 || r.status >= 300) return r;
    if (r.status === 204) return [];
    const text = await readSmallBody(r.body, 64 * 1024 * 1024);
    try {
      return (JSON.parse(text ?? '[]') as Array<Record<string, unknown>>).map((o) => ({ name: String(o['name']), bytes: Number(o['bytes']), hash: String(o['hash'] ?? '') }));
    } catch {
      return [];
    }
  };
  const first = await page('');
  if (!Array.isArray(first)) {
    if (req.method === 'HEAD') dropBody(first.body);
    return req.method === 'HEAD' ? respond(first.status, first.headers, '') : first;
  }
  const complete = first.length < LIMITS.containerListingLimit;
  const firstPageBytes = first.reduce((n, s) => n + s.bytes, 0);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(res.headers)) if (k !== 'content-length' && k !== 'content-range') headers[k] = v;
  let etag = res.headers['etag'] ?? '';
  let length: number | undefined;
  if (complete) {
    etag = dloEtag(first.map((s) => s.hash));
    length = firstPageBytes;
  } else {
    // More than a page: Swift honours a single Range only when it ends inside the first page.
    const range = /^bytes=(\d+)-(\d+)$/.exec((req.headers['range'] ?? '').replace(/ /g, ''));
    if (range && Number(range[2]) < firstPageBytes) length = firstPageBytes;
    else delete req.headers['range'];
  }
  if (length !== undefined && (req.headers['range'] ?? '').includes(',')) delete req.headers['range'];
  const source = subrequestSource(pipeline, req, 'DLO');
  return largeObjectResponse(
    req,
    { headers, etag: etag.startsWith('"') ? etag : `"${etag}"`, length, multiRange: false, pieces: (f, l) => dloPieces(page, first, container, f, l) },
    source,
    ctx.config.lo_max_get_time_s,
    ctx.clock,
  );
}

/** The DLO's pieces for bytes first..last, page after page of the listing (a failed page after the first cuts the body). */
async function* dloPieces(page: (marker: string) => Promise<ListedSegment[] | ProxyResponse>, firstPage: ListedSegment[], container: string, first: number, last: number): AsyncGenerator<ReadPiece> {
  let segs = firstPage;
  let f = first;
  let l = last;
  for (;;) {
    const { pieces, rest } = mapDloPage(segs, container, f, l);
    for (const p of pieces) yield { ...p, verify: false };
    f = rest.first;
    l = rest.last;
    if (segs.length < LIMITS.containerListingLimit || l < 0) return;
    const next = await page((segs[segs.length - 1] as ListedSegment).name);
    if (!Array.isArray(next)) {
      dropBody(next.body);
      throw segmentError(`Got status ${next.status} listing container /${container}`);
    }
    segs = next;
  }
}
