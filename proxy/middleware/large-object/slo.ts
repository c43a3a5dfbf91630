import { createHash } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import { normalizeEtag } from '../../../common/conditional.js';
import { configTrueValue } from '../../../common/config.js';
import { runLimited } from '../../../common/run-limited.js';
import type { ProxyContext } from '../../context.js';
import { pyQuote } from '../../copy-headers.js';
import { guessContentType } from '../../mime.js';
import { respond, type Handler, type Middleware, type Pipeline, type ProxyRequest, type ProxyResponse } from '../../pipeline.js';
import {
  checkSegment,
  isDataSegment,
  parseManifestInput,
  parseStoredManifest,
  rawManifestBody,
  sloEtag,
  sloSize,
  storedManifestBody,
  type InputSegment,
  type SegmentHead,
  type StoredSegment,
} from '../../large-object/manifest.js';
import { bestFormat as reportFormat, reportBody, type ReportFormat } from '../../bulk-report.js';
import { dropBody, readSmallBody, sloPieces } from '../../large-object/stream.js';
import { keepAlive } from '../../keep-alive.js';
import { accountPrefix, largeObjectResponse, subrequestSource } from './response.js';

/**
 * Static large objects, as Swift's SLO middleware (swift/common/middleware/slo.py), over the
 * manifest core (proxy/large-object/):
 *
 * - PUT `?multipart-manifest=put`: the client's JSON list is validated, each segment HEADed as
 *   the user (two at a time), and the manifest stored with `X-Static-Large-Object: True`, its
 *   size and ETag in sysmeta, `;swift_bytes=<size>` on its content type (the listing's size) and
 *   `<md5>; slo_etag=<etag>` as the listing's hash. `heartbeat=on` answers 202 at once and sends a
 *   space every `slo_yield_frequency_s` until the report.
 * - GET/HEAD: the segments' bytes, streamed (`large-object/stream.ts`); `?multipart-manifest=get`
 *   the manifest itself (`&format=raw`: as it was PUT).
 * - DELETE `?multipart-manifest=delete`: the segments (nested manifests' too), then the manifest,
 *   with bulk delete's report.
 */

const SYSMETA_ETAG = 'x-object-sysmeta-slo-etag';
const SYSMETA_SIZE = 'x-object-sysmeta-slo-size';
const OVERRIDE_ETAG = 'x-object-sysmeta-container-update-override-etag';
/** swob's RESPONSE_REASONS, joined as a heartbeat report's "Response Body" for an error without one. */
const REASONS = {
  400: 'Bad Request\nThe server could not comply with the request since it is either malformed or otherwise incorrect.',
  422: 'Unprocessable Entity\nUnable to process the contained instructions',
} as const;
/** Swift's default concurrency for HEADs on PUT and DELETEs. */
const CONCURRENCY = 2;
/** A stored manifest is at most this big (inline data and names make it larger than the PUT). */
const MAX_STORED_MANIFEST = 64 * 1024 * 1024;

export function slo(ctx: ProxyContext): Middleware {
  const cfg = ctx.config;
  ctx.capabilities.register('slo', {
    max_manifest_segments: cfg.slo_max_manifest_segments,
    max_manifest_size: cfg.slo_max_manifest_size,
    yield_frequency: cfg.slo_yield_frequency_s,
    min_segment_size: 1,
    allow_async_delete: false,
  });
  return (next, pipeline) => (req) => {
    if (req.object === undefined) return next(req);
    const mm = req.query.get('multipart-manifest');
    if (req.method === 'PUT' && mm === 'put') return putManifest(ctx, next, pipeline, req);
    if (req.method === 'DELETE' && mm === 'delete') return deleteManifest(pipeline, req);
    if (req.method === 'GET' || req.method === 'HEAD') return getOrHead(ctx, next, pipeline, req);
    if (req.headers['x-static-large-object'] !== undefined) {
      req.body.resume();
      return Promise.resolve(
        respond(400, {}, 'X-Static-Large-Object is a reserved header. To create a static large object add query param multipart-manifest=put.'),
      );
    }
    return next(req);
  };
}

const isTrue = configTrueValue;

function isSlo(res: ProxyResponse): boolean {
  return isTrue(res.headers['x-static-large-object']);
}

/** "404 Not Found": a status as Swift's reports write it. */
export function statusLine(status: number): string {
  const reason = status === 416 ? 'Requested Range Not Satisfiable' : status === 499 ? 'Client Disconnect' : (STATUS_CODES[status] ?? 'Unknown');
  return `${status} ${reason}`;
}

async function getOrHead(ctx: ProxyContext, next: Handler, pipeline: Pipeline, req: ProxyRequest): Promise<ProxyResponse> {
  const res = await next(req);
  if (!isSlo(res)) return res;
  if (req.query.get('multipart-manifest') === 'get') {
    if (res.status >= 200 && res.status < 300 && req.query.get('format') === 'raw' && req.method === 'GET') {
      const segs = parseStoredManifest((await readSmallBody(res.body, MAX_STORED_MANIFEST)) ?? '');
      const body = rawManifestBody(segs ?? []);
      const headers = { ...res.headers, 'content-length': String(Buffer.byteLength(body)), etag: createHash('md5').update(body).digest('hex') };
      return respond(res.status, headers, body);
    }
    if ('content-type' in res.headers) res.headers['content-type'] = 'application/json; charset=utf-8';
    return res;
  }
  const sysEtag = res.headers[SYSMETA_ETAG];
  const sysSize = res.headers[SYSMETA_SIZE];
  let headers = res.headers;
  let segments: StoredSegment[] | undefined;
  if (req.method === 'GET' && res.status === 200) {
    segments = parseStoredManifest((await readSmallBody(res.body, MAX_STORED_MANIFEST)) ?? '');
  } else {
    dropBody(res.body);
    if (req.method === 'GET' || !sysEtag || !sysSize) {
      // A HEAD without sysmeta, or a manifest answered in part (Range) or not at all
      // (conditionals judged against its own MD5): read the whole manifest again.
      // Past this stage (as Swift's SLO calls its app), so the manifest's own headers come back.
      const sub = pipeline.makeSubrequest(req, { method: 'GET', path: req.path, query: 'multipart-manifest=get' }, { source: 'SLO' });
      Object.assign(sub, { account: req.account, container: req.container, object: req.object });
      const again = await next(sub);
      if (!isSlo(again) || again.status !== 200) return again;
      headers = again.headers;
      segments = parseStoredManifest((await readSmallBody(again.body, MAX_STORED_MANIFEST)) ?? '');
    }
  }
  if (segments === undefined && (req.method === 'GET' || !sysEtag || !sysSize)) {
    req.log.error({ path: req.path }, 'SLO manifest does not parse');
    return respond(500, {}, 'Unable to load SLO manifest');
  }
  const clientHeaders: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (k === 'etag') clientHeaders['x-manifest-etag'] = v;
    else clientHeaders[k] = v;
  }
  const segs = segments ?? [];
  const etag = headers[SYSMETA_ETAG] ?? sloEtag(segs);
  const size = headers[SYSMETA_SIZE] !== undefined ? Number(headers[SYSMETA_SIZE]) : sloSize(segs);
  const source = subrequestSource(pipeline, req, 'SLO');
  return largeObjectResponse(
    req,
    { headers: clientHeaders, etag: `"${etag}"`, length: size, multiRange: true, pieces: (first, last) => sloPieces(source, segs, first, last) },
    source,
    ctx.config.lo_max_get_time_s,
    ctx.clock,
  );
}

async function putManifest(ctx: ProxyContext, next: Handler, pipeline: Pipeline, req: ProxyRequest): Promise<ProxyResponse> {
  const cfg = ctx.config;
  const max = cfg.slo_max_manifest_size;
  const cl = req.headers['content-length'];
  const chunked = (req.headers['transfer-encoding'] ?? '').toLowerCase() === 'chunked';
  if (cl === undefined && !chunked) return respond(411);
  if (cl !== undefined && Number(cl) > max) {
    // A body a few times the limit is read and dropped, so the client (still sending) reads the
    // answer; a larger one is not worth the bandwidth: the connection closes after the answer.
    req.body.resume();
    return respond(413, Number(cl) > 8 * max ? { Connection: 'close' } : {}, `Manifest File > ${max} bytes`);
  }
  // Swift reads at most max_manifest_size bytes: a longer (chunked) body is cut there, and so is no valid JSON.
  const raw = await readUpTo(req.body, max);
  const parsed = raw === undefined ? { ok: false as const, status: 400, body: 'Manifest must be valid JSON.\n' } : parseManifestInput(raw, `${req.container as string}/${req.object as string}`);
  if (!parsed.ok) return respond(parsed.status, parsed.contentType ? { 'content-type': parsed.contentType } : {}, parsed.body);
  const objectSegs = parsed.segments.filter((s): s is Extract<InputSegment, { kind: 'object' }> => s.kind === 'object');
  if (objectSegs.length > cfg.slo_max_manifest_segments) return respond(413, {}, `Number of object-backed segments must be <= ${cfg.slo_max_manifest_segments}`);
  const format: ReportFormat = reportFormat(req.headers['accept']) ?? 'text/plain';
  const heartbeat = isTrue(req.query.get('heartbeat'));

  const work = async (): Promise<{ status: number; headers: Record<string, string>; report: string; fields: Record<string, string> }> => {
    const stored: Array<StoredSegment | undefined> = parsed.segments.map((s) => (s.kind === 'data' ? { data: s.data.toString('base64') } : undefined));
    let total = parsed.segments.reduce((n, s) => n + (s.kind === 'data' ? s.data.length : 0), 0);
    const problems: Array<[string, string]> = [];
    const byPath = new Map<string, Array<Extract<InputSegment, { kind: 'object' }>>>();
    for (const s of objectSegs) byPath.set(s.path, [...(byPath.get(s.path) ?? []), s]);
    const prefix = accountPrefix(req);
    const heads = new Map<string, SegmentHead>();
    await runLimited([...byPath.keys()], CONCURRENCY, async (path) => {
      const res = await pipeline.subrequest(req, { method: 'HEAD', path: `${prefix}/${pyQuote(path.replace(/^\/+/, ''))}` }, { source: 'SLO' });
      dropBody(res.body);
      const h = res.headers;
      const head: SegmentHead = {
        status: res.status,
        statusLine: statusLine(res.status),
        contentLength: Number(h['content-length'] ?? 0),
        etag: normalizeEtag(h['etag'] ?? ''),
        contentType: h['content-type'] ?? '',
        isSlo: isTrue(h['x-static-large-object']),
      };
      if (h['last-modified'] !== undefined) head.lastModified = h['last-modified'];
      heads.set(path, head);
    });
    const last = parsed.segments.length - 1;
    for (const s of objectSegs) {
      const r = checkSegment(s, heads.get(s.path) as SegmentHead, s.index === last);
      problems.push(...r.problems);
      stored[s.index] = r.stored;
      total += r.length;
    }
    if (problems.length > 0) {
      const fields: Record<string, string> = heartbeat ? { 'Response Status': statusLine(400), 'Response Body': REASONS[400] } : {};
      return { status: 400, headers: { 'content-type': format }, report: reportBody(format, fields, problems, 'upload'), fields: {} };
    }
    const segments = stored as StoredSegment[];
    const etag = sloEtag(segments);
    const clientEtag = req.headers['etag'];
    if (clientEtag !== undefined && clientEtag !== '' && normalizeEtag(clientEtag) !== etag) {
      return { status: 422, headers: {}, report: heartbeat ? reportBody(format, { 'Response Status': statusLine(422), 'Response Body': REASONS[422] }, [], 'upload') : '', fields: {} };
    }
    const json = Buffer.from(storedManifestBody(segments));
    const md5 = createHash('md5').update(json).digest('hex');
    const contentType = req.headers['content-type'] || guessContentType(req.object as string);
    req.headers[SYSMETA_ETAG] = etag;
    req.headers[SYSMETA_SIZE] = String(total);
    // parameters a stage before set on the listing's etag stay (Swift's update_etag_override_header: s3api's s3_etag)
    const kept = (req.headers[OVERRIDE_ETAG] ?? '').split(';').slice(1).map((p) => p.trim()).filter((p) => p !== '' && !p.startsWith('slo_etag='));
    req.headers[OVERRIDE_ETAG] = [md5, ...kept, `slo_etag=${etag}`].join('; ');
    req.headers['x-static-large-object'] = 'True';
    req.headers['etag'] = md5;
    req.headers['content-type'] = `${contentType};swift_bytes=${total}`;
    req.headers['content-length'] = String(json.length);
    delete req.headers['transfer-encoding'];
    delete req.headers['x-detect-content-type'];
    req.body = Readable.from([json]);
    const res = await next(req);
    const text = typeof res.body === 'string' ? res.body : (await readSmallBody(res.body, 64 * 1024)) ?? '';
    const headers = { ...res.headers };
    const fields: Record<string, string> = { 'Response Status': statusLine(res.status) };
    if (res.status >= 200 && res.status < 300) {
      delete headers['ETag'];
      headers['etag'] = `"${etag}"`;
      fields['Etag'] = `"${etag}"`;
      fields['Last Modified'] = headers['Last-Modified'] ?? headers['last-modified'] ?? '';
    }
    fields['Response Body'] = text;
    return { status: res.status, headers, report: text, fields };
  };

  if (!heartbeat) {
    const r = await work();
    return respond(r.status, r.headers, r.report || undefined);
  }
  // heartbeat=on: 202 at once, a space now and then while the segments are checked, then the report.
  const yieldMs = cfg.slo_yield_frequency_s * 1000;
  const finish = async (): Promise<Buffer> => {
    const r = await work();
    const report = r.status === 400 || r.status === 422 ? r.report : reportBody(format, r.fields, [], 'upload');
    return Buffer.from(`\r\n\r\n${report}`);
  };
  return respond(202, { 'content-type': format }, keepAlive(Buffer.from(' '), finish, yieldMs));
}

/** Swift's get_segments_to_delete_iter + bulk delete: every segment (depth first through nested manifests), then the manifest. */
async function deleteManifest(pipeline: Pipeline, req: ProxyRequest): Promise<ProxyResponse> {
  req.body.resume();
  const format: ReportFormat = reportFormat(req.headers['accept']) ?? 'text/plain';
  const prefix = accountPrefix(req);
  const fields: Record<string, string | number> = { 'Response Status': statusLine(200), 'Response Body': '', 'Number Deleted': 0, 'Number Not Found': 0 };
  const failed: Array<[string, string]> = [];
  /** versionId: the manifest named by ?version-id= (read and deleted as that version, as Swift's). */
  type Item = { name: string; subSlo: boolean; versionId?: string; error?: { code: number; message: string } };
  const top: Item = { name: `/${req.container as string}/${req.object as string}`, subSlo: true };
  const versionId = req.query.get('version-id');
  if (versionId !== null) top.versionId = versionId;
  const queue: Item[] = [top];
  const versionQuery = (item: Item, base: Record<string, string>): string =>
    new URLSearchParams(item.versionId !== undefined ? { ...base, 'version-id': item.versionId } : base).toString();
  const toDelete: Item[] = [];
  while (queue.length > 0) {
    if (queue.length > 10 * 1000 * 10) {
      fields['Response Status'] = statusLine(400);
      fields['Response Body'] = 'Too many buffered slo segments to delete.';
      return respond(200, { 'content-type': format }, reportBody(format, fields, failed, 'delete'));
    }
    const item = queue.shift() as Item;
    if (!item.subSlo) {
      toDelete.push(item);
      continue;
    }
    const res = await pipeline.subrequest(req, { method: 'GET', path: `${prefix}${pyQuote(item.name)}`, query: versionQuery(item, { 'multipart-manifest': 'get' }) }, { source: 'SLO' });
    if (res.status >= 200 && res.status < 300 && isSlo(res)) {
      const segs = parseStoredManifest((await readSmallBody(res.body, MAX_STORED_MANIFEST)) ?? '');
      if (segs) for (const s of segs) if (!isDataSegment(s)) queue.push({ name: s.name, subSlo: s.sub_slo === true });
      if (!segs) item.error = { code: 500, message: 'Unable to load SLO manifest' };
    } else {
      dropBody(res.body);
      if (res.status >= 200 && res.status < 300) item.error = { code: 400, message: 'Not an SLO manifest' };
      else if (res.status === 404) item.error = { code: 404, message: 'SLO manifest not found' };
      else if (res.status === 401) item.error = { code: 401, message: '401 Unauthorized' };
      else item.error = { code: 500, message: 'Unable to load SLO manifest or segment.' };
    }
    queue.push({ ...item, subSlo: false });
  }
  await runLimited(toDelete, CONCURRENCY, async (item) => {
    if (item.error) {
      if (item.error.code === 404) fields['Number Not Found'] = (fields['Number Not Found'] as number) + 1;
      else failed.push([pyQuote(item.name), item.error.message]);
      return;
    }
    const res = await pipeline.subrequest(req, { method: 'DELETE', path: `${prefix}${pyQuote(item.name)}`, query: versionQuery(item, {}) }, { source: 'SLO' });
    dropBody(res.body);
    if (res.status >= 200 && res.status < 300) fields['Number Deleted'] = (fields['Number Deleted'] as number) + 1;
    else if (res.status === 404) fields['Number Not Found'] = (fields['Number Not Found'] as number) + 1;
    else failed.push([pyQuote(item.name), statusLine(res.status)]);
  });
  if (failed.length > 0) fields['Response Status'] = statusLine(400);
  else if (!fields['Number Deleted'] && !fields['Number Not Found']) {
    fields['Response Status'] = statusLine(400);
    fields['Response Body'] = 'Invalid bulk delete.';
  }
  return respond(200, { 'content-type': format }, reportBody(format, fields, failed, 'delete'));
}

/** The client's body up to `max` bytes; undefined (the rest drained, not read) when it is longer. */
async function readUpTo(body: Readable, max: number): Promise<string | undefined> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) {
      body.resume();
      return undefined;
    }
    parts.push(c);
  }
  return Buffer.concat(parts).toString('utf8');
}
