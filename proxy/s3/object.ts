import { discard, readAll } from '../middleware/subrequest.js';
import { respond, type ProxyResponse } from '../pipeline.js';
import type { S3Body } from './body.js';
import { checksumHeader, CHECKSUM_ALGORITHMS } from './checksums.js';
import { S3Error } from './errors.js';
import { errorForSwift, type SwiftCall } from './swift-call.js';
import { doc, text } from './xml.js';

/** Object operations, as Swift object requests. */

/** Headers a client sets on PUT that Swift stores as they are (Swift's allowed_headers). */
export const STORED = ['content-type', 'content-disposition', 'cache-control', 'content-language', 'expires'];
/** Where a checksum sent as a header is kept with the object. */
const CHECKSUM_SYSMETA = 'x-object-sysmeta-s3api-checksum-';
/** The S3 ETag of an object made by CompleteMultipartUpload (multipart.ts). */
const S3_ETAG = 'x-object-sysmeta-s3api-etag';
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
    if (lower[S3_ETAG] !== undefined) kept['etag'] = lower[S3_ETAG];
    if (kept['etag'] !== undefined && !kept['etag'].startsWith('"')) kept['etag'] = `"${kept['etag']}"`;
    return respond(res.status, kept);
  }
  if (res.status >= 300) {
    discard(res);
    if (method === 'HEAD') return respond(res.status === 401 ? 403 : res.status);
    throw res.status === 404 ? await missing(swift, bucket) : errorForSwift(res.status, 'key');
  }
  const out = pick(lower, PASSED);
  // a multipart upload's object: S3's ETag for it ("<md5 of the parts' md5s>-N"), not the SLO's
  if (lower[S3_ETAG] !== undefined) out['etag'] = lower[S3_ETAG];
  if (out['etag'] !== undefined && !out['etag'].startsWith('"')) out['etag'] = `"${out['etag']}"`;
  for (const [k, v] of Object.entries(lower)) if (k.startsWith('x-object-meta-')) out[`x-amz-meta-${k.slice(14)}`] = v;
  // The stored checksum is the whole object's: given on a whole GET asked for it (x-amz-checksum-mode).
  if (h['x-amz-checksum-mode'] === 'ENABLED' && lower['content-range'] === undefined) {
    for (const alg of CHECKSUM_ALGORITHMS) {
      const v = lower[CHECKSUM_SYSMETA + alg.toLowerCase()];
      if (v !== undefined) out[checksumHeader(alg)] = v;
    }
    const type = lower[`${CHECKSUM_SYSMETA}type`];
    if (type !== undefined) out['x-amz-checksum-type'] = type;
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
  const outcome = await deleteKey(swift, bucket, key);
  if (outcome instanceof S3Error) throw outcome;
  // S3 answers 204 whether or not the key existed; a missing bucket is still an error
  if (outcome === 'missing') {
    const b = await swift('HEAD', { container: bucket });
    discard(b);
    if (b.status === 404) throw new S3Error('NoSuchBucket');
  }
  return respond(204);
}

/**
 * Deletes one key, for DeleteObject and each key of DeleteObjects: a large object (a completed
 * multipart upload) goes with its segments, as in Swift's s3api. 'missing' when there was no such
 * key (or bucket), an S3Error when Swift refused.
 */
export async function deleteKey(swift: SwiftCall, bucket: string, key: string): Promise<'deleted' | 'missing' | S3Error> {
  const head = await swift('HEAD', { container: bucket, object: key }, { query: 'multipart-manifest=get' });
  discard(head);
  const slo = head.status === 200 && /^true$/i.test(Object.entries(head.headers).find(([k]) => k.toLowerCase() === 'x-static-large-object')?.[1] ?? '');
  if (slo) return deleteLargeObject(swift, bucket, key);
  const res = await swift('DELETE', { container: bucket, object: key });
  discard(res);
  if (res.status === 404) return 'missing';
  return res.status === 204 ? 'deleted' : errorForSwift(res.status, 'key');
}

/** SLO's `?multipart-manifest=delete`: the segments, then the manifest; its report says how it went. */
async function deleteLargeObject(swift: SwiftCall, bucket: string, key: string): Promise<'deleted' | 'missing' | S3Error> {
  const res = await swift('DELETE', { container: bucket, object: key }, { query: 'multipart-manifest=delete', headers: { accept: 'application/json' } });
  if (res.status !== 200) {
    discard(res);
    return res.status === 404 ? 'missing' : errorForSwift(res.status, 'key');
  }
  const report = JSON.parse((await readAll(res, 1 << 20)).toString('utf8')) as { 'Response Status'?: string };
  const status = Number((report['Response Status'] ?? '500').split(' ')[0]);
  if (status >= 300 && status !== 404) return errorForSwift(status === 400 ? 500 : status, 'key');
  return 'deleted';
}

function pick(h: Record<string, string>, names: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const n of names) if (h[n] !== undefined) out[n] = h[n];
  return out;
}

/** x-amz-copy-source: "[/]bucket/key[?versionId=…]", URL-encoded. */
export function parseCopySource(value: string): { bucket: string; key: string } {
  let v = value.startsWith('/') ? value.slice(1) : value;
  const q = v.indexOf('?');
  if (q >= 0) {
    if (/(^|&)versionId=/.test(v.slice(q + 1))) throw new S3Error('NotImplemented', { message: 'Copying a version is not implemented yet.' });
    v = v.slice(0, q);
  }
  let decoded: string;
  try {
    decoded = decodeURIComponent(v);
  } catch {
    throw new S3Error('InvalidArgument', { message: 'Invalid copy source encoding', extra: [['ArgumentName', 'x-amz-copy-source']] });
  }
  const slash = decoded.indexOf('/');
  if (slash <= 0 || slash === decoded.length - 1) throw new S3Error('InvalidArgument', { message: 'Copy Source must mention the source bucket and key: sourcebucket/sourcekey', extra: [['ArgumentName', 'x-amz-copy-source']] });
  return { bucket: decoded.slice(0, slash), key: decoded.slice(slash + 1) };
}

/** x-amz-copy-source-if-* are conditions on the source: Swift's copy applies If-* to the source read. */
export const COPY_CONDITIONS: Record<string, string> = {
  'x-amz-copy-source-if-match': 'if-match',
  'x-amz-copy-source-if-none-match': 'if-none-match',
  'x-amz-copy-source-if-modified-since': 'if-modified-since',
  'x-amz-copy-source-if-unmodified-since': 'if-unmodified-since',
};

/**
 * CopyObject as Swift's server-side copy (a PUT with X-Copy-From, which the copy stage turns into
 * a read of the source and a write of the destination as this user): metadata copied (COPY, the
 * default) or replaced by the request's (REPLACE, Swift's X-Fresh-Metadata).
 */
export async function copyObject(swift: SwiftCall, bucket: string, key: string, h: Record<string, string>): Promise<ProxyResponse> {
  const src = parseCopySource(h['x-amz-copy-source'] as string);
  const directive = (h['x-amz-metadata-directive'] ?? 'COPY').toUpperCase();
  if (directive !== 'COPY' && directive !== 'REPLACE') throw new S3Error('InvalidArgument', { message: 'Unknown metadata directive.', extra: [['ArgumentName', 'x-amz-metadata-directive'], ['ArgumentValue', directive]] });
  if (src.bucket === bucket && src.key === key && directive === 'COPY') {
    throw new S3Error('InvalidRequest', { message: "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes." });
  }
  const headers: Record<string, string> = { 'x-copy-from': `/${encodeURIComponent(src.bucket)}/${src.key.split('/').map(encodeURIComponent).join('/')}`, 'content-length': '0' };
  for (const [amz, swiftName] of Object.entries(COPY_CONDITIONS)) if (h[amz] !== undefined) headers[swiftName] = h[amz];
  if (directive === 'REPLACE') {
    headers['x-fresh-metadata'] = 'true';
    for (const [k, v] of Object.entries(h)) {
      if (k.startsWith('x-amz-meta-')) headers[`x-object-meta-${k.slice(11)}`] = v;
      else if (STORED.includes(k)) headers[k] = v;
    }
    headers['content-type'] ??= 'binary/octet-stream';
  }
  const res = await swift('PUT', { container: bucket, object: key }, { headers });
  discard(res);
  if (res.status === 404) {
    // the destination bucket, the source bucket or the source key
    for (const b of new Set([bucket, src.bucket])) {
      const head = await swift('HEAD', { container: b });
      discard(head);
      if (head.status === 404) throw new S3Error('NoSuchBucket');
    }
    throw new S3Error('NoSuchKey');
  }
  if (res.status === 412 || res.status === 304) throw new S3Error('PreconditionFailed');
  if (res.status !== 201) throw errorForSwift(res.status, 'key');
  const lower = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k.toLowerCase(), v]));
  const etag = (lower['etag'] ?? '').replace(/"/g, '');
  const modified = lower['last-modified'] !== undefined ? new Date(lower['last-modified']).toISOString() : new Date().toISOString();
  return respond(200, { 'Content-Type': 'application/xml' }, doc('CopyObjectResult', [text('LastModified', modified), text('ETag', `"${etag}"`)]));
}
