import { discard } from '../middleware/subrequest.js';
import { respond, type ProxyResponse } from '../pipeline.js';
import type { S3Body } from './body.js';
import { checksumHeader, CHECKSUM_ALGORITHMS } from './checksums.js';
import { S3Error } from './errors.js';
import { errorForSwift, type SwiftCall } from './swift-call.js';

/** Object operations, as Swift object requests. */

/** Headers a client sets on PUT that Swift stores as they are (Swift's allowed_headers). */
const STORED = ['content-type', 'content-disposition', 'cache-control', 'content-language', 'expires'];
/** Where a checksum sent as a header is kept with the object. */
const CHECKSUM_SYSMETA = 'x-object-sysmeta-s3api-checksum-';
/** Headers of a Swift object response an S3 client gets as they are. */
const PASSED = ['content-type', 'content-length', 'content-range', 'etag', 'last-modified', 'accept-ranges', 'content-encoding', 'content-disposition', 'cache-control', 'content-language', 'expires'];
/** GetObject's response-* query overrides (S3 API reference, GetObject). */
const OVERRIDES = ['content-type', 'content-language', 'expires', 'cache-control', 'content-disposition', 'content-encoding'];

/** The Swift headers of an S3 PutObject: metadata, stored headers, Content-MD5 as Swift's ETag check. */
export function putHeaders(h: Record<string, string>, body: S3Body): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith('x-amz-meta-')) out[`x-object-meta-${k.slice(11)}`] = v;
    else if (STORED.includes(k)) out[k] = v;
  }
  out['content-type'] ??= 'binary/octet-stream';
  // aws-chunked is how the body travelled, not how it is stored
  const encoding = (h['content-encoding'] ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s.toLowerCase() !== 'aws-chunked');
  if (encoding.length) out['content-encoding'] = encoding.join(', ');
  const md5 = h['content-md5'];
  if (md5 !== undefined) {
    const raw = Buffer.from(md5, 'base64');
    if (raw.length !== 16 || raw.toString('base64') !== md5) throw new S3Error('InvalidDigest');
    out['etag'] = raw.toString('hex');
  }
  if (h['if-none-match'] !== undefined) out['if-none-match'] = h['if-none-match'];
  if (body.length !== undefined) out['content-length'] = String(body.length);
  else out['transfer-encoding'] = 'chunked';
  if (body.headerChecksum) out[CHECKSUM_SYSMETA + body.headerChecksum.algorithm.toLowerCase()] = body.headerChecksum.value;
  return out;
}

export async function putObject(swift: SwiftCall, bucket: string, key: string, h: Record<string, string>, body: S3Body): Promise<ProxyResponse> {
  const res = await swift('PUT', { container: bucket, object: key }, { headers: putHeaders(h, body), body: body.stream });
  discard(res);
  const failed = body.failure();
  if (failed) throw failed;
  if (res.status === 404) throw errorForSwift(404, 'bucket');
  if (res.status !== 201) throw errorForSwift(res.status, 'key');
  const out: Record<string, string> = { ETag: res.headers['etag'] ?? res.headers['ETag'] ?? '' };
  if (!out.ETag.startsWith('"')) out.ETag = `"${out.ETag}"`;
  if (body.headerChecksum) out[checksumHeader(body.headerChecksum.algorithm)] = body.headerChecksum.value;
  return respond(200, out);
}

/** GetObject / HeadObject: Swift's answer with S3's names for its metadata; response-* overrides. */
export async function getObject(swift: SwiftCall, method: 'GET' | 'HEAD', bucket: string, key: string, h: Record<string, string>, q: URLSearchParams): Promise<ProxyResponse> {
  const headers: Record<string, string> = {};
  for (const k of ['range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since']) if (h[k] !== undefined) headers[k] = h[k];
  const res = await swift(method, { container: bucket, object: key }, { headers });
  const lower = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k.toLowerCase(), v]));
  if (res.status === 304 || res.status === 412) {
    discard(res);
    if (res.status === 412 && method === 'GET') throw new S3Error('PreconditionFailed', { extra: [['Condition', h['if-match'] !== undefined ? 'If-Match' : 'If-Unmodified-Since']] });
    const kept = pick(lower, ['etag', 'last-modified']);
    if (kept['etag'] !== undefined && !kept['etag'].startsWith('"')) kept['etag'] = `"${kept['etag']}"`;
    return respond(res.status, kept);
  }
  if (res.status >= 300) {
    discard(res);
    if (method === 'HEAD') return respond(res.status === 401 ? 403 : res.status);
    throw res.status === 404 ? await missing(swift, bucket) : errorForSwift(res.status, 'key');
  }
  const out = pick(lower, PASSED);
  if (out['etag'] !== undefined && !out['etag'].startsWith('"')) out['etag'] = `"${out['etag']}"`;
  for (const [k, v] of Object.entries(lower)) if (k.startsWith('x-object-meta-')) out[`x-amz-meta-${k.slice(14)}`] = v;
  // The stored checksum is the whole object's: given on a whole GET asked for it (x-amz-checksum-mode).
  if (h['x-amz-checksum-mode'] === 'ENABLED' && lower['content-range'] === undefined) {
    for (const alg of CHECKSUM_ALGORITHMS) {
      const v = lower[CHECKSUM_SYSMETA + alg.toLowerCase()];
      if (v !== undefined) out[checksumHeader(alg)] = v;
    }
  }
  for (const o of OVERRIDES) {
    const v = q.get(`response-${o}`);
    if (v !== null) out[o] = v;
  }
  return respond(res.status, out, method === 'GET' ? res.body : undefined);
}

/** A 404 on a key: NoSuchBucket when the bucket is what is missing (Swift's 404 does not say). */
async function missing(swift: SwiftCall, bucket: string): Promise<S3Error> {
  const res = await swift('HEAD', { container: bucket });
  discard(res);
  return new S3Error(res.status === 404 ? 'NoSuchBucket' : 'NoSuchKey');
}

export async function deleteObject(swift: SwiftCall, bucket: string, key: string): Promise<ProxyResponse> {
  const res = await swift('DELETE', { container: bucket, object: key });
  discard(res);
  // S3 answers 204 whether or not the key existed; a missing bucket is still an error
  if (res.status === 404) {
    const b = await swift('HEAD', { container: bucket });
    discard(b);
    if (b.status === 404) throw new S3Error('NoSuchBucket');
    return respond(204);
  }
  if (res.status !== 204) throw errorForSwift(res.status, 'key');
  return respond(204);
}

function pick(h: Record<string, string>, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) if (h[n] !== undefined) out[n] = h[n];
  return out;
}
