import { conditionalHeadersOf, evaluateConditionals, hasConditionals } from '../../../common/conditional.js';
import { isSwiftletError } from '../../../common/errors.js';
import { contentRangeValue, multipartChunks, planMultipart, resolveRange, unsatisfiedContentRange, type MultipartPlan } from '../../../common/range.js';
import { Timestamp } from '../../../common/timestamp.js';
import { pyQuote } from '../../copy-headers.js';
import { respond, type Pipeline, type ProxyRequest, type ProxyResponse } from '../../pipeline.js';
import { openSegmentStream, type ReadPiece, type SegmentSource } from '../../large-object/stream.js';

/**
 * What SLO and DLO share at the proxy: segments read as pipeline sub-requests authorized as the
 * user, and the GET/HEAD answer of a large object — its conditionals against its own ETag, its
 * Range(s) mapped onto the segments, and the streamed body (segment errors before the first byte
 * are 409/503, after it a cut connection).
 */

/** `/v1/<account>` of a routed request, quoted, to which a manifest's "/container/object" names are appended. */
export function accountPrefix(req: ProxyRequest): string {
  const version = req.path.split('/')[1] ?? 'v1';
  return `/${version}/${pyQuote(req.account as string)}`;
}

/** Segments (and nested manifests) read through the pipeline as `req`'s user, tagged `source`. */
export function subrequestSource(pipeline: Pipeline, req: ProxyRequest, source: string): SegmentSource {
  const prefix = accountPrefix(req);
  const get = (name: string, headers: Record<string, string>): Promise<ProxyResponse> =>
    pipeline.subrequest(req, { method: 'GET', path: `${prefix}${pyQuote(name)}`, query: 'multipart-manifest=get', headers }, { source });
  return {
    segment: (name, range) => get(name, range ? { range: `bytes=${range[0]}-${range[1]}` } : {}),
    manifest: (name) => get(name, {}),
  };
}

export interface LargeObject {
  /** The manifest object's headers (lower-case names) that the client keeps. */
  headers: Record<string, string>;
  /** Quoted. */
  etag: string;
  /** Its length, when known (a DLO with more than one listing page has none). */
  length: number | undefined;
  /** The pieces holding bytes first..last (inclusive). */
  pieces(first: number, last: number): AsyncIterator<ReadPiece>;
  /** Several ranges in one request (SLO) or only one (DLO: several serve the whole object). */
  multiRange: boolean;
}

const DROPPED = new Set(['content-length', 'content-range', 'etag', 'transfer-encoding']);

/** The answer to a GET or HEAD of a large object. */
export async function largeObjectResponse(req: ProxyRequest, lo: LargeObject, source: SegmentSource, maxGetTimeS: number, now: () => number): Promise<ProxyResponse> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(lo.headers)) if (!DROPPED.has(k.toLowerCase())) headers[k.toLowerCase()] = v;
  headers['etag'] = lo.etag;
  headers['accept-ranges'] = 'bytes';
  const cond = conditionalHeadersOf(req.headers);
  if (hasConditionals(cond)) {
    const ts = Timestamp.tryParse(headers['x-timestamp']) ?? Timestamp.fromSeconds(0);
    const verdict = evaluateConditionals(cond, lo.etag, ts);
    if (verdict !== 'ok') {
      delete headers['content-type'];
      return respond(verdict, headers, verdict === 304 ? '' : undefined);
    }
  }
  const length = lo.length;
  if (req.method === 'HEAD') {
    if (length !== undefined) headers['content-length'] = String(length);
    return respond(200, headers, '');
  }
  const stream = (first: number, last: number, n: number | undefined) =>
    openSegmentStream(source, lo.pieces(first, last), { length: n, name: req.path, deadlineMs: maxGetTimeS * 1000, now });
  try {
    const range = length === undefined ? { kind: 'full' as const } : resolveRange(req.headers['range'], length);
    if (length === undefined || range.kind === 'full' || (range.kind === 'partial' && range.ranges.length > 1 && !lo.multiRange)) {
      if (length !== undefined) headers['content-length'] = String(length);
      return respond(200, headers, await stream(0, (length ?? Number.MAX_SAFE_INTEGER) - 1, length));
    }
    if (range.kind === 'unsatisfiable') {
      delete headers['content-type'];
      return respond(416, { ...headers, 'content-range': unsatisfiedContentRange(length) });
    }
    if (range.ranges.length === 1) {
      const [start, end] = range.ranges[0] as [number, number];
      headers['content-range'] = contentRangeValue(start, end, length);
      headers['content-length'] = String(end - start);
      return respond(206, headers, await stream(start, end - 1, end - start));
    }
    const plan = planMultipart(range.ranges, headers['content-type'] ?? 'application/octet-stream', length);
    const p0 = plan.parts[0] as { start: number; end: number };
    const first = await stream(p0.start, p0.end - 1, p0.end - p0.start);
    headers['content-type'] = plan.contentType;
    headers['content-length'] = String(plan.contentLength);
    return respond(206, headers, multipartBody(plan, first, stream));
  } catch (e) {
    if (isSwiftletError(e, 'CONFLICT')) {
      req.log.warn({ err: e.message }, 'large object: a segment is missing or changed');
      return respond(409);
    }
    if (isSwiftletError(e, 'QUORUM_FAILED')) return respond(503);
    throw e;
  }
}

/** The parts of a multi-range answer: the first already opened, each later one opened when reached. */
function multipartBody(plan: MultipartPlan, first: AsyncIterable<Buffer>, stream: (first: number, last: number, n: number) => Promise<AsyncIterable<Buffer>>): AsyncIterable<Buffer> {
  let opened: AsyncIterable<Buffer> | undefined = first;
  async function* later(start: number, end: number): AsyncGenerator<Buffer> {
    yield* await stream(start, end - 1, end - start);
  }
  return multipartChunks(plan, (start, end) => {
    const o = opened;
    opened = undefined;
    return o ?? later(start, end);
  });
}
