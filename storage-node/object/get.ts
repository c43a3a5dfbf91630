import { crc32c } from '../../common/native-sums.js';
import { conditionalHeadersOf, evaluateConditionals, evaluateConditionalsMissing } from '../../common/conditional.js';
import { H } from '../../common/headers.js';
import { contentRangeValue, planMultipart, resolveRange, unsatisfiedContentRange } from '../../common/range.js';
import { bodyChunks, fileChunks, sendChunks, sendMultipart, sendMultipartFromBuffer, sendVerified, type BodySource, type SendOutcome } from './body-sender.js';
import { loadObject, quarantineFile, type OpenObject } from './diskfile.js';
import { crcHex } from '../../common/checksum.js';
import { isResponseMetadata, M } from './metadata.js';
import { header, isExpired, respond, type ObjectRequest } from './request.js';

/** Bodies up to this size are read whole and CRC-checked before the first byte goes out. */
export const SMALL_BODY = 64 * 1024;
/** GET reads this much from the start of the .data first: a small body and its trailer in one pread. */
const FIRST_READ = SMALL_BODY + 4096;

/** Object GET and HEAD (Swift obj/server.py GET/HEAD, with swob's conditional and Range handling). */
export async function handleGetOrHead(o: ObjectRequest): Promise<void> {
  const { ctx, r } = o;
  const isGet = r.method === 'GET';
  const h = r.req.headers;
  let cond = conditionalHeadersOf(h);
  const found = await loadObject(o.loc, { fsync: ctx.fsync, readFirst: isGet ? FIRST_READ : 0 });
  if (found.kind === 'quarantined') r.log.warn({ obj: o.name, hash: o.hash }, 'corrupt object file quarantined');
  if (found.kind !== 'live') {
    const headers: Record<string, string> = found.kind === 'deleted' ? { [H.backendTimestamp]: found.timestamp.internal } : {};
    return respond(r.res, evaluateConditionalsMissing(cond) === 412 ? 412 : 404, headers);
  }
  const obj = found.object;
  try {
    if (isExpired(obj.metadata, ctx.clock())) {
      return respond(r.res, 404, { [H.backendTimestamp]: obj.timestamp.internal });
    }
    const headers = objectHeaders(obj);
    const etag = obj.metadata[M.etag] ?? '';
    const unconditional = ignoresConditions(header(h, H.ignoreRangeIfMetadata), obj.metadata);
    if (unconditional) cond = conditionalHeadersOf({});
    const verdict = evaluateConditionals(cond, etag, obj.timestamp);
    if (verdict !== 'ok') {
      delete headers['Content-Type'];
      return respond(r.res, verdict, headers);
    }
    if (!isGet) {
      r.res.writeHead(200, headers);
      r.res.end();
      return;
    }
    const outcome = resolveRange(unconditional ? undefined : header(h, 'range'), obj.bodyLength);
    if (outcome.kind === 'unsatisfiable') {
      delete headers['Content-Type'];
      return respond(r.res, 416, { ...headers, 'Content-Range': unsatisfiedContentRange(obj.bodyLength) });
    }
    if (outcome.kind === 'partial') return await sendPartial(o, obj, headers, outcome.ranges);
    return await sendWhole(o, obj, headers);
  } finally {
    await obj.close();
  }
}

/** Whether the object has metadata the request names in X-Backend-Ignore-Range-If-Metadata-Present. */
function ignoresConditions(names: string | undefined, metadata: Record<string, string>): boolean {
  if (!names) return false;
  const wanted = new Set(names.split(',').map((n) => n.trim().toLowerCase()));
  return Object.keys(metadata).some((k) => wanted.has(k.toLowerCase()));
}

/** The headers of a 200 for this object (Swift's GET/HEAD response headers). */
export function objectHeaders(obj: OpenObject): Record<string, string> {
  const m = obj.metadata;
  const out: Record<string, string> = { 'Content-Type': m[M.contentType] ?? 'application/octet-stream' };
  for (const [k, v] of Object.entries(m)) if (isResponseMetadata(k)) out[k] = v;
  out['Content-Length'] = String(obj.bodyLength);
  out.ETag = m[M.etag] ?? '';
  out['Last-Modified'] = obj.timestamp.httpDate;
  out['X-Timestamp'] = obj.timestamp.normal;
  out['Accept-Ranges'] = 'bytes';
  out['X-Backend-Timestamp'] = obj.timestamp.internal;
  out['X-Backend-Data-Timestamp'] = obj.dataTimestamp.internal;
  if (m[M.crc32c] !== undefined) out['X-Backend-Crc32c'] = m[M.crc32c];
  return out;
}

async function sendPartial(o: ObjectRequest, obj: OpenObject, headers: Record<string, string>, ranges: Array<[number, number]>): Promise<void> {
  const res = o.r.res;
  let result: SendOutcome;
  try {
    if (ranges.length === 1) {
      const [start, end] = ranges[0] as [number, number];
      res.writeHead(206, { ...headers, 'Content-Length': String(end - start), 'Content-Range': contentRangeValue(start, end, obj.bodyLength) });
      if (obj.body) {
        res.end(obj.body.subarray(start, end));
        return;
      }
      result = await sendChunks(res, bodyChunks(bodySource(o, obj), start, end));
    } else {
      const plan = planMultipart(ranges, headers['Content-Type'] as string, obj.bodyLength);
      res.writeHead(206, { ...headers, 'Content-Type': plan.contentType, 'Content-Length': String(plan.contentLength) });
      result = obj.body ? await sendMultipartFromBuffer(res, obj.body, plan) : await sendMultipart(res, obj.fd, plan);
    }
  } catch (e) {
    o.r.log.warn({ err: e, obj: o.name }, 'object GET: read error mid-body, response cut');
    return;
  }
  if (result === 'client-gone') o.r.log.debug({ obj: o.name }, 'object GET: client went away');
}

/**
 * A whole-object GET, CRC32C-verified: small bodies before the first byte, large ones by holding
 * back the last chunk. On a mismatch the file is quarantined and the client gets a 404 (or a cut
 * connection), so the proxy reads another replica.
 */
async function sendWhole(o: ObjectRequest, obj: OpenObject, headers: Record<string, string>): Promise<void> {
  const { r, ctx } = o;
  const expected = obj.metadata[M.crc32c];
  if (obj.bodyLength <= SMALL_BODY) {
    const body = obj.body ?? (await readBody(obj));
    if (expected !== undefined && crcHex(crc32c(body)) !== expected) {
      await quarantineFile(o.loc, obj.dataPath, ctx.fsync);
      r.log.error({ obj: o.name, file: obj.dataPath }, 'object GET: CRC32C mismatch, quarantined');
      return respond(r.res, 404);
    }
    r.res.writeHead(200, headers);
    r.res.end(body);
    return;
  }
  r.res.writeHead(200, headers);
  let result: SendOutcome;
  try {
    const chunks = bodyChunks(bodySource(o, obj), 0, obj.bodyLength);
    result = expected !== undefined ? await sendVerified(r.res, chunks, obj.bodyLength, expected) : await sendChunks(r.res, chunks);
  } catch (e) {
    r.log.warn({ err: e, obj: o.name }, 'object GET: read error mid-body, response cut');
    return;
  }
  if (result === 'corrupt') {
    await quarantineFile(o.loc, obj.dataPath, ctx.fsync);
    r.log.error({ obj: o.name, file: obj.dataPath }, 'object GET: CRC32C mismatch at end of body, response cut, quarantined');
  }
}

function bodySource(o: ObjectRequest, obj: OpenObject): BodySource {
  return { fd: obj.fd, dataPath: obj.dataPath, devicePath: obj.loc.devicePath, directIoAboveBytes: o.ctx.directIoAboveBytes };
}

async function readBody(obj: OpenObject): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of fileChunks(obj.fd, 0, obj.bodyLength)) parts.push(b);
  return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
}
