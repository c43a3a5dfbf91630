import { randomBytes } from 'node:crypto';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { runLimited } from '../../common/run-limited.js';
import { parseStoredManifest, segmentLength } from '../large-object/manifest.js';
import { discard, header, readAll } from '../middleware/subrequest.js';
import { keepAlive } from '../keep-alive.js';
import { respond, type ProxyResponse } from '../pipeline.js';
import type { S3Owner } from './bucket.js';
import type { S3Body } from './body.js';
import { checksumHeader, createChecksum, type ChecksumAlgorithm, type RunningChecksum } from './checksums.js';
import { errorXml, isS3Error, S3Error } from './errors.js';
import {
  intParam,
  isUploadId,
  objectChecksum,
  pageParts,
  pageUploads,
  parseCompleteDocument,
  parsePartNumber,
  partNumberOf,
  partObject,
  partRange,
  planCompletion,
  segmentsContainer,
  uploadChecksum,
  uploadIdOf,
  uploadMarker,
  uploadsOf,
  type ChecksumType,
  type StoredPart,
} from './multipart-core.js';
import { COPY_CONDITIONS, getObject, parseCopySource, putHeaders, STORED } from './object.js';
import { uriEncode } from './sigv4.js';
import { errorForSwift, type SwiftCall } from './swift-call.js';
import { doc, el, s3Time, text } from './xml.js';

/**
 * S3 multipart uploads as Swift requests (Swift's s3api controllers/multi_upload.py, on this
 * store's SLO middleware): parts are objects of the hidden `<bucket>+segments` container, an
 * upload is an empty marker object there holding the upload's metadata, and
 * CompleteMultipartUpload writes an SLO manifest of the parts at the key (`?multipart-manifest=put`
 * through the pipeline, which checks every segment as Swift's SLO does). The checks and numbers
 * are in multipart-core.ts.
 */

const XML = { 'Content-Type': 'application/xml' };
const SYSMETA = 'x-object-sysmeta-s3api-';
/** The stored checksum of an object or part (object.ts stores a PutObject's header checksum there too). */
const CHECKSUM_SYSMETA = `${SYSMETA}checksum-`;
/** A part's checksum known only after its body (a trailer, or computed): POSTed as metadata afterwards. */
const CHECKSUM_META = 'x-object-meta-s3api-checksum-';
const OVERRIDE_ETAG = 'x-object-sysmeta-container-update-override-etag';
/** Sub-requests a multipart operation runs side by side (HEADs of parts, DELETEs on abort). */
const CONCURRENCY = 4;
/** How often CompleteMultipartUpload sends a space while the manifest is being written (Swift's SLO yield_frequency). */
export const KEEP_ALIVE_MS = 10_000;

/** The marker's view of an upload: its checksum settings and the object's metadata-to-be. */
interface UploadInfo {
  checksum?: { algorithm: ChecksumAlgorithm; type: ChecksumType };
  headers: Record<string, string>;
}

async function uploadInfo(swift: SwiftCall, bucket: string, key: string, uploadId: string): Promise<UploadInfo> {
  if (!isUploadId(uploadId)) throw new S3Error('NoSuchUpload', { extra: [['UploadId', uploadId]] });
  const res = await swift('HEAD', { container: segmentsContainer(bucket), object: uploadMarker(key, uploadId) });
  discard(res);
  if (res.status === 404) throw new S3Error('NoSuchUpload', { extra: [['UploadId', uploadId]] });
  if (res.status >= 300) throw errorForSwift(res.status, 'key');
  const h = Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k.toLowerCase(), v]));
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (k.startsWith('x-object-meta-') || (STORED.includes(k) && k !== 'content-type')) headers[k] = v;
  const ct = h[`${SYSMETA}content-type`];
  if (ct !== undefined) headers['content-type'] = ct;
  const alg = h[`${SYSMETA}checksum-algorithm`];
  const checksum = alg !== undefined ? uploadChecksum(alg, h[`${SYSMETA}checksum-type`]) : undefined;
  return { headers, ...(checksum ? { checksum } : {}) };
}

/** CreateMultipartUpload (POST ?uploads): the segments container, then the upload's marker. */
export async function createMultipartUpload(swift: SwiftCall, bucket: string, key: string, h: Record<string, string>): Promise<ProxyResponse> {
  const checksum = uploadChecksum(h['x-amz-checksum-algorithm'], h['x-amz-checksum-type']);
  const b = await swift('HEAD', { container: bucket });
  discard(b);
  if (b.status >= 300) throw errorForSwift(b.status, 'bucket');
  const policy = header(b, 'x-storage-policy');
  const c = await swift('PUT', { container: segmentsContainer(bucket) }, { headers: policy ? { 'x-storage-policy': policy } : {} });
  discard(c);
  if (c.status !== 201 && c.status !== 202) throw errorForSwift(c.status, 'bucket');
  const uploadId = uploadIdOf(randomBytes(18));
  const headers: Record<string, string> = { 'content-length': '0', 'content-type': 'application/x-s3-multipart-upload' };
  for (const [k, v] of Object.entries(h)) {
    if (k.startsWith('x-amz-meta-')) headers[`x-object-meta-${k.slice(11)}`] = v;
    else if (STORED.includes(k) && k !== 'content-type') headers[k] = v;
  }
  if (h['content-type'] !== undefined) headers[`${SYSMETA}content-type`] = h['content-type'];
  if (checksum) {
    headers[`${SYSMETA}checksum-algorithm`] = checksum.algorithm;
    headers[`${SYSMETA}checksum-type`] = checksum.type;
  }
  const m = await swift('PUT', { container: segmentsContainer(bucket), object: uploadMarker(key, uploadId) }, { headers });
  discard(m);
  if (m.status !== 201) throw errorForSwift(m.status, 'key');
  const out: Record<string, string> = { ...XML };
  if (checksum) {
    out['x-amz-checksum-algorithm'] = checksum.algorithm;
    out['x-amz-checksum-type'] = checksum.type;
  }
  return respond(200, out, doc('InitiateMultipartUploadResult', [text('Bucket', bucket), text('Key', key), text('UploadId', uploadId)]));
}

/** Passes the data on and keeps a running checksum of it. */
class Summing extends Transform {
  constructor(readonly sum: RunningChecksum) {
    super();
  }
  override _transform(chunk: Buffer, _e: BufferEncoding, cb: TransformCallback): void {
    this.sum.update(chunk);
    cb(null, chunk);
  }
}

/**
 * UploadPart (PUT ?partNumber&uploadId): the body, checked as a PutObject's (signed hash,
 * aws-chunked, Content-MD5, x-amz-checksum-*), stored as `<key>/<upload-id>/<n>` in the segments
 * container. The part's checksum in the upload's algorithm is kept with it: a header one as
 * sysmeta on the PUT; one that comes as a trailer, or that the client did not send, is computed
 * here and POSTed as metadata once the part is stored.
 */
export async function uploadPart(swift: SwiftCall, bucket: string, key: string, q: URLSearchParams, h: Record<string, string>, body: S3Body): Promise<ProxyResponse> {
  const part = parsePartNumber(q.get('partNumber'));
  const uploadId = q.get('uploadId') ?? '';
  let info: UploadInfo;
  try {
    info = await uploadInfo(swift, bucket, key, uploadId);
  } catch (e) {
    body.stream.resume();
    throw e;
  }
  const sent = body.headerChecksum?.algorithm ?? body.trailerChecksum;
  const want = info.checksum?.algorithm;
  if (want && sent && sent !== want) {
    body.stream.resume();
    throw new S3Error('InvalidRequest', { message: `Checksum Type mismatch occurred, expected checksum Type: ${want.toLowerCase()}, actual checksum Type: ${sent.toLowerCase()}` });
  }
  const alg = sent ?? want;
  const summing = alg && !body.headerChecksum ? new Summing(createChecksum(alg)) : undefined;
  const stream = summing ? body.stream.pipe(summing) : body.stream;
  if (summing) body.stream.on('error', (e) => summing.destroy(e));
  const headers = putHeaders(h, body);
  for (const k of Object.keys(headers)) if (k.startsWith('x-object-meta-') || k === 'if-none-match') delete headers[k];
  const target = { container: segmentsContainer(bucket), object: partObject(key, uploadId, part) };
  const res = await swift('PUT', target, { headers, body: stream });
  discard(res);
  const failed = body.failure();
  if (failed) throw failed;
  if (res.status !== 201) throw errorForSwift(res.status, 'key');
  const etag = (header(res, 'etag') ?? '').replace(/"/g, '');
  const out: Record<string, string> = { ETag: `"${etag}"` };
  if (body.headerChecksum) out[checksumHeader(body.headerChecksum.algorithm)] = body.headerChecksum.value;
  if (summing && alg) {
    const value = await summing.sum.digest();
    const post = await swift('POST', target, { headers: { [CHECKSUM_META + alg.toLowerCase()]: value } });
    discard(post);
    if (post.status >= 300) throw errorForSwift(post.status, 'key');
    out[checksumHeader(alg)] = value;
  }
  return respond(200, out);
}

/** UploadPartCopy (PUT ?partNumber&uploadId with x-amz-copy-source[-range]): Swift's server-side copy into the part. */
export async function uploadPartCopy(swift: SwiftCall, bucket: string, key: string, q: URLSearchParams, h: Record<string, string>): Promise<ProxyResponse> {
  const part = parsePartNumber(q.get('partNumber'));
  const uploadId = q.get('uploadId') ?? '';
  await uploadInfo(swift, bucket, key, uploadId);
  const src = parseCopySource(h['x-amz-copy-source'] as string);
  const headers: Record<string, string> = { 'x-copy-from': `/${encodeURIComponent(src.bucket)}/${src.key.split('/').map(encodeURIComponent).join('/')}`, 'content-length': '0' };
  for (const [amz, swiftName] of Object.entries(COPY_CONDITIONS)) if (h[amz] !== undefined) headers[swiftName] = h[amz];
  const rangeRaw = h['x-amz-copy-source-range'];
  if (rangeRaw !== undefined) {
    const m = /^bytes=(\d+)-(\d+)$/.exec(rangeRaw.trim());
    const bad = (message: string): S3Error => new S3Error('InvalidArgument', { message, extra: [['ArgumentName', 'x-amz-copy-source-range'], ['ArgumentValue', rangeRaw]] });
    if (!m || Number(m[1]) > Number(m[2])) throw bad('The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy');
    const head = await swift('HEAD', { container: src.bucket, object: src.key });
    discard(head);
    if (head.status === 404) throw await missing(swift, src.bucket);
    if (head.status >= 300) throw errorForSwift(head.status, 'key');
    const size = Number(header(head, 'content-length') ?? '0');
    if (Number(m[2]) >= size) throw bad(`Range specified is not valid for source object of size: ${size}`);
    headers['range'] = `bytes=${m[1]}-${m[2]}`;
  }
  const res = await swift('PUT', { container: segmentsContainer(bucket), object: partObject(key, uploadId, part) }, { headers });
  discard(res);
  if (res.status === 404) throw await missing(swift, src.bucket);
  if (res.status === 412 || res.status === 304) throw new S3Error('PreconditionFailed');
  if (res.status !== 201) throw errorForSwift(res.status, 'key');
  const etag = (header(res, 'etag') ?? '').replace(/"/g, '');
  const lm = header(res, 'last-modified');
  const modified = lm !== undefined ? new Date(lm).toISOString() : new Date().toISOString();
  return respond(200, XML, doc('CopyPartResult', [text('LastModified', modified), text('ETag', `"${etag}"`)]));
}

async function missing(swift: SwiftCall, bucket: string): Promise<S3Error> {
  const b = await swift('HEAD', { container: bucket });
  discard(b);
  return new S3Error(b.status === 404 ? 'NoSuchBucket' : 'NoSuchKey');
}

interface SwiftRow {
  name?: string;
  subdir?: string;
  hash?: string;
  bytes?: number;
  last_modified?: string;
}

/** Every row of a container listing under `prefix` (pages of 10,000). */
async function listAll(swift: SwiftCall, container: string, prefix: string, opts: { delimiter?: string; marker?: string } = {}): Promise<SwiftRow[]> {
  const rows: SwiftRow[] = [];
  let marker = opts.marker ?? '';
  for (;;) {
    const sq = new URLSearchParams({ format: 'json', limit: '10000', prefix, marker });
    if (opts.delimiter) sq.set('delimiter', opts.delimiter);
    const res = await swift('GET', { container }, { query: sq.toString().replace(/\+/g, '%20') });
    if (res.status === 204 || res.status === 404) {
      discard(res);
      return rows;
    }
    if (res.status !== 200) {
      discard(res);
      throw errorForSwift(res.status, 'bucket');
    }
    const page = JSON.parse((await readAll(res)).toString('utf8')) as SwiftRow[];
    rows.push(...page);
    if (page.length < 10000) return rows;
    const last = page[page.length - 1] as SwiftRow;
    marker = last.name ?? last.subdir ?? '';
  }
}

/** The parts stored for an upload, from the segments container's listing. */
async function storedParts(swift: SwiftCall, bucket: string, key: string, uploadId: string): Promise<StoredPart[]> {
  const prefix = `${uploadMarker(key, uploadId)}/`;
  const out: StoredPart[] = [];
  for (const r of await listAll(swift, segmentsContainer(bucket), prefix, { delimiter: '/' })) {
    const n = r.name !== undefined ? partNumberOf(r.name, prefix) : undefined;
    if (n !== undefined) out.push({ partNumber: n, etag: r.hash ?? '', size: r.bytes ?? 0, lastModified: r.last_modified ?? '' });
  }
  return out;
}

/** A part's stored checksum in `alg` (sysmeta from its PUT, or the metadata POSTed after it). */
async function partChecksum(swift: SwiftCall, bucket: string, key: string, uploadId: string, part: number, alg: ChecksumAlgorithm): Promise<string | undefined> {
  const res = await swift('HEAD', { container: segmentsContainer(bucket), object: partObject(key, uploadId, part) });
  discard(res);
  if (res.status >= 300) return undefined;
  return header(res, CHECKSUM_SYSMETA + alg.toLowerCase()) ?? header(res, CHECKSUM_META + alg.toLowerCase());
}

/**
 * CompleteMultipartUpload (POST ?uploadId): the request's part list checked against the stored
 * parts (multipart-core planCompletion), then 200 at once and a space every `keepAliveMs` while
 * the manifest is written, as AWS and Swift's s3api do, so a client does not time out; the result
 * (or an S3 error document) ends the body. The marker and any part left out are deleted after.
 * A retry of a Complete that succeeded answers the same again.
 */
export async function completeMultipartUpload(swift: SwiftCall, bucket: string, key: string, q: URLSearchParams, h: Record<string, string>, xml: string, opts: { keepAliveMs?: number; location: string; requestId: string }): Promise<ProxyResponse> {
  const uploadId = q.get('uploadId') ?? '';
  let info: UploadInfo;
  try {
    info = await uploadInfo(swift, bucket, key, uploadId);
  } catch (e) {
    if (!isS3Error(e, 'NoSuchUpload') || !isUploadId(uploadId)) throw e;
    const done = await swift('HEAD', { container: bucket, object: key });
    discard(done);
    const etag = header(done, `${SYSMETA}etag`);
    if (done.status === 200 && header(done, `${SYSMETA}upload-id`) === uploadId && etag) return respond(200, XML, completeResult(opts.location, bucket, key, etag, {}));
    throw e;
  }
  const asked = parseCompleteDocument(xml);
  const stored = await storedParts(swift, bucket, key, uploadId);
  const byNumber = new Map(stored.map((p) => [p.partNumber, p]));
  const checksum = info.checksum;
  if (checksum) {
    await runLimited(asked, CONCURRENCY, async (a) => {
      const s = byNumber.get(a.partNumber);
      if (!s) return;
      const v = await partChecksum(swift, bucket, key, uploadId, a.partNumber, checksum.algorithm);
      if (v !== undefined) s.checksum = v;
    });
  }
  const plan = planCompletion(asked, byNumber, { uploadId, ...(checksum ? { checksum } : {}) });
  const objectSum = checksum ? await objectChecksum(checksum, plan.parts) : undefined;
  if (checksum) {
    const given = h[checksumHeader(checksum.algorithm)];
    if (given !== undefined && objectSum !== undefined && given.replace(/-\d+$/, '') !== objectSum.replace(/-\d+$/, '')) {
      throw new S3Error('BadDigest', { message: `The ${checksum.algorithm.toLowerCase()} you specified for the object did not match what was calculated from its parts.` });
    }
  }
  const segments = segmentsContainer(bucket);
  const manifest = JSON.stringify(plan.parts.map((p) => ({ path: `/${segments}/${partObject(key, uploadId, p.partNumber)}`, etag: p.etag, size_bytes: p.size })));
  const headers: Record<string, string> = { ...info.headers, 'content-length': String(Buffer.byteLength(manifest)) };
  headers[`${SYSMETA}upload-id`] = uploadId;
  headers[`${SYSMETA}etag`] = plan.etag;
  headers[OVERRIDE_ETAG] = `${plan.etag}; s3_etag=${plan.etag}`;
  if (checksum && objectSum !== undefined) {
    headers[CHECKSUM_SYSMETA + checksum.algorithm.toLowerCase()] = objectSum;
    headers[`${SYSMETA}checksum-type`] = checksum.type;
  }
  for (const k of ['if-match', 'if-none-match']) if (h[k] !== undefined) headers[k] = h[k];
  const unused = stored.filter((p) => !plan.parts.includes(p));

  const write = async (): Promise<string> => {
    const res = await swift('PUT', { container: bucket, object: key }, { query: 'multipart-manifest=put', headers, body: Readable.from([Buffer.from(manifest)]) });
    const said = (await readAll(res, 1 << 20)).toString('utf8');
    if (res.status === 412) throw new S3Error('PreconditionFailed', { extra: [['Condition', h['if-match'] !== undefined ? 'If-Match' : 'If-None-Match']] });
    if (res.status === 413) throw new S3Error('InvalidRequest', { message: `Too many parts for one object on this endpoint: ${said.trim()}` });
    if (res.status === 400) throw new S3Error('InvalidPart', { message: `A part changed or went away while the upload completed: ${said.trim().slice(0, 300)}` });
    if (res.status === 404) throw new S3Error('NoSuchBucket');
    if (res.status !== 201) throw errorForSwift(res.status, 'key');
    // the upload is done: its marker, and the parts it did not use, go
    const marker = await swift('DELETE', { container: segments, object: uploadMarker(key, uploadId) });
    discard(marker);
    await runLimited(unused, CONCURRENCY, async (p) => discard(await swift('DELETE', { container: segments, object: partObject(key, uploadId, p.partNumber) })));
    return completeResult(opts.location, bucket, key, plan.etag, checksum && objectSum !== undefined ? { [checksum.algorithm]: objectSum, type: checksum.type } : {});
  };
  const finish = async (): Promise<Buffer> => {
    try {
      return Buffer.from(stripDeclaration(await write()));
    } catch (e) {
      if (!isS3Error(e)) throw e;
      // after the 200, an error is the body (AWS: "a 200 OK response can contain either a success or an error")
      return Buffer.from(stripDeclaration(errorXml(e, `/${bucket}/${key}`, opts.requestId)));
    }
  };
  return respond(200, XML, keepAlive(Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n'), finish, opts.keepAliveMs ?? KEEP_ALIVE_MS));
}

function stripDeclaration(xml: string): string {
  return xml.replace(/^<\?xml[^>]*>\n/, '');
}

function completeResult(location: string, bucket: string, key: string, etag: string, sums: Partial<Record<ChecksumAlgorithm | 'type', string>>): string {
  const checks = (['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const).map((a) => text(`Checksum${a}`, sums[a]));
  return doc('CompleteMultipartUploadResult', [text('Location', location), text('Bucket', bucket), text('Key', key), text('ETag', `"${etag}"`), ...checks, text('ChecksumType', sums.type)]);
}

/** AbortMultipartUpload (DELETE ?uploadId): every part, then the marker. */
export async function abortMultipartUpload(swift: SwiftCall, bucket: string, key: string, q: URLSearchParams): Promise<ProxyResponse> {
  const uploadId = q.get('uploadId') ?? '';
  await uploadInfo(swift, bucket, key, uploadId);
  const segments = segmentsContainer(bucket);
  const rows = await listAll(swift, segments, `${uploadMarker(key, uploadId)}/`);
  await runLimited(rows, CONCURRENCY, async (r) => {
    if (r.name === undefined) return;
    const res = await swift('DELETE', { container: segments, object: r.name });
    discard(res);
    if (res.status >= 300 && res.status !== 404) throw errorForSwift(res.status, 'key');
  });
  const m = await swift('DELETE', { container: segments, object: uploadMarker(key, uploadId) });
  discard(m);
  if (m.status >= 300 && m.status !== 404) throw errorForSwift(m.status, 'key');
  return respond(204);
}

function owner(o: S3Owner): string[] {
  return [text('ID', o.id), text('DisplayName', o.displayName)];
}

function encodingOf(q: URLSearchParams): ((s: string) => string) & { type: string | null } {
  const encoding = q.get('encoding-type');
  if (encoding !== null && encoding !== 'url') throw new S3Error('InvalidArgument', { message: 'Invalid Encoding Method specified in Request', extra: [['ArgumentName', 'encoding-type'], ['ArgumentValue', encoding]] });
  return Object.assign((s: string) => (encoding === 'url' ? uriEncode(s, true) : s), { type: encoding });
}

/** ListParts (GET ?uploadId): part-number-marker, max-parts (≤ 1000). */
export async function listParts(swift: SwiftCall, bucket: string, key: string, q: URLSearchParams, o: S3Owner): Promise<ProxyResponse> {
  const enc = encodingOf(q);
  const uploadId = q.get('uploadId') ?? '';
  const info = await uploadInfo(swift, bucket, key, uploadId);
  const maxParts = intParam(q, 'max-parts', 1000, 1000);
  const marker = intParam(q, 'part-number-marker', 0, 1_000_000);
  const page = pageParts(await storedParts(swift, bucket, key, uploadId), marker, maxParts);
  const parts = page.parts.map((p) => el('Part', [text('PartNumber', p.partNumber), text('LastModified', s3Time(p.lastModified)), text('ETag', `"${p.etag}"`), text('Size', p.size)]));
  return respond(
    200,
    XML,
    doc('ListPartsResult', [
      text('Bucket', bucket),
      text('Key', enc(key)),
      text('UploadId', uploadId),
      text('PartNumberMarker', marker),
      text('NextPartNumberMarker', page.next),
      text('MaxParts', maxParts),
      text('IsTruncated', page.truncated),
      ...parts,
      el('Initiator', owner(o)),
      el('Owner', owner(o)),
      text('StorageClass', 'STANDARD'),
      ...(enc.type ? [text('EncodingType', enc.type)] : []),
      ...(info.checksum ? [text('ChecksumAlgorithm', info.checksum.algorithm), text('ChecksumType', info.checksum.type)] : []),
    ]),
  );
}

/** ListMultipartUploads (GET bucket ?uploads): prefix, delimiter, key-marker / upload-id-marker, max-uploads (≤ 1000). */
export async function listMultipartUploads(swift: SwiftCall, bucket: string, q: URLSearchParams, o: S3Owner): Promise<ProxyResponse> {
  const enc = encodingOf(q);
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const keyMarker = q.get('key-marker') ?? '';
  const uploadIdMarker = keyMarker === '' ? '' : (q.get('upload-id-marker') ?? '');
  const maxUploads = intParam(q, 'max-uploads', 1000, 1000);
  const b = await swift('HEAD', { container: bucket });
  discard(b);
  if (b.status >= 300) throw errorForSwift(b.status, 'bucket');
  const rows = await listAll(swift, segmentsContainer(bucket), prefix, { marker: keyMarker });
  const page = pageUploads(uploadsOf(rows), { prefix, delimiter, keyMarker, uploadIdMarker, maxUploads });
  const uploads = page.uploads.map((u) =>
    el('Upload', [text('Key', enc(u.key)), text('UploadId', u.uploadId), el('Initiator', owner(o)), el('Owner', owner(o)), text('StorageClass', 'STANDARD'), text('Initiated', s3Time(u.initiated))]),
  );
  return respond(
    200,
    XML,
    doc('ListMultipartUploadsResult', [
      text('Bucket', bucket),
      text('KeyMarker', enc(keyMarker)),
      text('UploadIdMarker', uploadIdMarker),
      text('NextKeyMarker', enc(page.nextKeyMarker ?? '')),
      text('NextUploadIdMarker', page.nextUploadIdMarker ?? ''),
      ...(delimiter ? [text('Delimiter', enc(delimiter))] : []),
      text('Prefix', enc(prefix)),
      text('MaxUploads', maxUploads),
      ...(enc.type ? [text('EncodingType', enc.type)] : []),
      text('IsTruncated', page.truncated),
      ...uploads,
      ...page.prefixes.map((p) => el('CommonPrefixes', text('Prefix', enc(p)))),
    ]),
  );
}

/**
 * GetObject / HeadObject with `partNumber`: the part's bytes of a multipart object (its range in
 * the manifest) with `x-amz-mp-parts-count`; part 1 of any other object is all of it.
 */
export async function getObjectPart(swift: SwiftCall, method: 'GET' | 'HEAD', bucket: string, key: string, h: Record<string, string>, q: URLSearchParams): Promise<ProxyResponse> {
  const n = parsePartNumber(q.get('partNumber'));
  if (h['range'] !== undefined) throw new S3Error('InvalidRequest', { message: 'Cannot specify both Range header and partNumber query parameter' });
  const m = await swift('GET', { container: bucket, object: key }, { query: 'multipart-manifest=get' });
  const isSlo = /^true$/i.test(header(m, 'x-static-large-object') ?? '');
  if (m.status !== 200 || !isSlo) {
    discard(m);
    if (m.status === 200 && n !== 1) throw new S3Error('InvalidPartNumber');
    return getObject(swift, method, bucket, key, h, q);
  }
  const segs = parseStoredManifest((await readAll(m, 64 << 20)).toString('utf8'));
  if (!segs) throw new S3Error('InternalError');
  const sizes = segs.map((s) => segmentLength(s));
  const range = partRange(sizes, n);
  if (!range) throw new S3Error('InvalidPartNumber');
  const total = sizes.reduce((a, b) => a + b, 0);
  const res = await getObject(swift, method, bucket, key, { ...h, range: `bytes=${range[0]}-${range[1]}` }, q);
  res.headers['x-amz-mp-parts-count'] = String(segs.length);
  if (method === 'HEAD' && res.status === 200) {
    // a HEAD's Range is not applied by Swift: the answer says what a GET of the part would send
    res.status = 206;
    res.headers['content-range'] = `bytes ${range[0]}-${range[1]}/${total}`;
    res.headers['content-length'] = String(range[1] - range[0] + 1);
  }
  return res;
}
