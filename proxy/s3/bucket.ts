import { discard, readAll } from '../middleware/subrequest.js';
import { isSegmentsContainer, segmentsContainer } from './multipart-core.js';
import { respond, type ProxyResponse } from '../pipeline.js';
import { S3Error } from './errors.js';
import { uriEncode } from './sigv4.js';
import type { SwiftCall } from './swift-call.js';
import { errorForSwift } from './swift-call.js';
import { parseXml } from './xml-input.js';
import { doc, el, s3Time, text } from './xml.js';

/** Service and bucket operations, as Swift account and container requests. */

export interface S3Owner {
  id: string;
  displayName: string;
}

const XML = { 'Content-Type': 'application/xml' };

/**
 * S3's bucket naming rules (S3 user guide, "Bucket naming rules"): 3–63 characters of a-z 0-9 .
 * -, a letter or digit at each end, no "..", not an IP address. Swift's s3api enforces the same
 * with dns_compliant_bucket_names (its default).
 */
export function validBucketName(name: string): boolean {
  return /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) && !name.includes('..') && !/^\d+\.\d+\.\d+\.\d+$/.test(name) && !name.includes('.-') && !name.includes('-.');
}

interface SwiftContainerRow {
  name: string;
  last_modified?: string;
}

export async function listBuckets(swift: SwiftCall, owner: S3Owner): Promise<ProxyResponse> {
  const buckets: string[] = [];
  let marker = '';
  for (;;) {
    const res = await swift('GET', {}, { query: `format=json&limit=10000&marker=${encodeURIComponent(marker)}` });
    if (res.status === 204 || res.status === 404) break;
    if (res.status !== 200) throw errorForSwift(res.status, 'bucket');
    const rows = JSON.parse((await readAll(res)).toString('utf8')) as SwiftContainerRow[];
    // a bucket's hidden multipart container (multipart-core.ts) is not a bucket
    for (const r of rows) if (!isSegmentsContainer(r.name)) buckets.push(el('Bucket', [text('Name', r.name), text('CreationDate', s3Time(r.last_modified ?? '1970-01-01T00:00:00'))]));
    if (rows.length < 10000) break;
    marker = (rows[rows.length - 1] as SwiftContainerRow).name;
  }
  return respond(200, XML, doc('ListAllMyBucketsResult', [el('Owner', [text('ID', owner.id), text('DisplayName', owner.displayName)]), el('Buckets', buckets)]));
}

export async function createBucket(swift: SwiftCall, bucket: string, region: string, body: string): Promise<ProxyResponse> {
  if (!validBucketName(bucket)) throw new S3Error('InvalidBucketName', { extra: [['BucketName', bucket]] });
  // A LocationConstraint must name this endpoint's region (us-east-1 is the empty one).
  if (body.trim() !== '') {
    const conf = parseXml(body)['CreateBucketConfiguration'];
    const wanted = conf && typeof conf === 'object' ? (conf as Record<string, unknown>)['LocationConstraint'] : undefined;
    const asked = typeof wanted === 'string' ? wanted.trim() : '';
    if (asked !== region && !(region === 'us-east-1' && asked === '')) {
      throw new S3Error('InvalidLocationConstraint', { message: `The ${asked} location constraint is incompatible for the region specific endpoint this request was sent to.` });
    }
  }
  const res = await swift('PUT', { container: bucket });
  if (res.status === 202) throw new S3Error('BucketAlreadyOwnedByYou', { extra: [['BucketName', bucket]] });
  if (res.status !== 201) throw errorForSwift(res.status, 'bucket');
  return respond(200, { Location: `/${bucket}` });
}

export async function headBucket(swift: SwiftCall, bucket: string, region: string): Promise<ProxyResponse> {
  const res = await swift('HEAD', { container: bucket });
  if (res.status === 404) return respond(404);
  if (res.status === 401 || res.status === 403) return respond(403);
  if (res.status >= 300) throw errorForSwift(res.status, 'bucket');
  return respond(200, { 'x-amz-bucket-region': region });
}

export async function deleteBucket(swift: SwiftCall, bucket: string): Promise<ProxyResponse> {
  const res = await swift('DELETE', { container: bucket });
  if (res.status !== 204) throw errorForSwift(res.status, 'bucket');
  // its multipart container goes too when empty (Swift's s3api does the same)
  const segments = await swift('DELETE', { container: segmentsContainer(bucket) });
  discard(segments);
  return respond(204);
}

export async function bucketLocation(swift: SwiftCall, bucket: string, region: string): Promise<ProxyResponse> {
  const res = await swift('HEAD', { container: bucket });
  if (res.status >= 300) throw errorForSwift(res.status, 'bucket');
  // us-east-1 is the empty LocationConstraint (S3 API reference, GetBucketLocation)
  return respond(200, XML, `<?xml version="1.0" encoding="UTF-8"?>\n<LocationConstraint xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${region === 'us-east-1' ? '' : region}</LocationConstraint>`);
}

/** A listing's hash as S3's ETag: a multipart upload's object is listed with `<md5>; s3_etag=<etag>-N`. */
export function listedEtag(hash: string): string {
  const m = /;\s*s3_etag=([^;\s]+)/.exec(hash);
  return m ? (m[1] as string) : hash;
}

interface SwiftObjectRow {
  name?: string;
  subdir?: string;
  hash?: string;
  bytes?: number;
  last_modified?: string;
}

/** ListObjects (v1) and ListObjectsV2: a Swift container listing, one entry more than asked to see whether it is truncated. */
export async function listObjects(swift: SwiftCall, bucket: string, q: URLSearchParams, owner: S3Owner): Promise<ProxyResponse> {
  const v2 = q.get('list-type') === '2';
  const prefix = q.get('prefix') ?? '';
  const delimiter = q.get('delimiter') ?? '';
  const encoding = q.get('encoding-type');
  if (encoding !== null && encoding !== 'url') throw new S3Error('InvalidArgument', { message: 'Invalid Encoding Method specified in Request', extra: [['ArgumentName', 'encoding-type'], ['ArgumentValue', encoding]] });
  const maxKeysRaw = q.get('max-keys') ?? '1000';
  if (!/^\d+$/.test(maxKeysRaw)) throw new S3Error('InvalidArgument', { message: 'Provided max-keys not an integer or within integer range', extra: [['ArgumentName', 'max-keys'], ['ArgumentValue', maxKeysRaw]] });
  const maxKeys = Math.min(Number(maxKeysRaw), 1000);
  let marker: string;
  const token = q.get('continuation-token');
  if (v2) {
    if (token !== null) {
      marker = Buffer.from(token, 'base64').toString('utf8');
      if (token === '' || Buffer.from(marker, 'utf8').toString('base64') !== token) throw new S3Error('InvalidArgument', { message: 'The continuation token provided is incorrect', extra: [['ArgumentName', 'continuation-token']] });
    } else marker = q.get('start-after') ?? '';
  } else marker = q.get('marker') ?? '';
  const enc = (s: string): string => (encoding === 'url' ? uriEncode(s, true) : s);

  let rows: SwiftObjectRow[] = [];
  if (maxKeys > 0) {
    const sq = new URLSearchParams({ format: 'json', limit: String(maxKeys + 1), marker, prefix });
    if (delimiter) sq.set('delimiter', delimiter);
    const res = await swift('GET', { container: bucket }, { query: sq.toString().replace(/\+/g, '%20') });
    if (res.status === 204) rows = [];
    else if (res.status !== 200) throw errorForSwift(res.status, 'bucket');
    else rows = JSON.parse((await readAll(res)).toString('utf8')) as SwiftObjectRow[];
  } else {
    const res = await swift('HEAD', { container: bucket });
    if (res.status >= 300) throw errorForSwift(res.status, 'bucket');
  }
  const truncated = rows.length > maxKeys;
  rows = rows.slice(0, maxKeys);
  const last = rows[rows.length - 1];
  const lastName = last ? (last.subdir ?? last.name ?? '') : '';
  const ownerXml = el('Owner', [text('ID', owner.id), text('DisplayName', owner.displayName)]);
  const contents = rows
    .filter((r) => r.subdir === undefined)
    .map((r) =>
      el('Contents', [
        text('Key', enc(r.name ?? '')),
        text('LastModified', s3Time(r.last_modified ?? '')),
        text('ETag', `"${listedEtag(r.hash ?? '')}"`),
        text('Size', r.bytes ?? 0),
        ...(!v2 || q.get('fetch-owner') === 'true' ? [ownerXml] : []),
        text('StorageClass', 'STANDARD'),
      ]),
    );
  const prefixes = rows.filter((r) => r.subdir !== undefined).map((r) => el('CommonPrefixes', text('Prefix', enc(r.subdir as string))));
  const head = [text('Name', bucket), text('Prefix', enc(prefix))];
  const children = v2
    ? [
        ...head,
        ...(token !== null ? [text('ContinuationToken', token)] : []),
        ...(q.get('start-after') !== null ? [text('StartAfter', enc(q.get('start-after') as string))] : []),
        text('KeyCount', rows.length),
        text('MaxKeys', maxKeys),
        ...(delimiter ? [text('Delimiter', enc(delimiter))] : []),
        ...(encoding ? [text('EncodingType', encoding)] : []),
        text('IsTruncated', truncated),
        ...(truncated ? [text('NextContinuationToken', Buffer.from(lastName, 'utf8').toString('base64'))] : []),
        ...contents,
        ...prefixes,
      ]
    : [
        ...head,
        text('Marker', enc(marker)),
        ...(truncated && delimiter ? [text('NextMarker', enc(lastName))] : []),
        text('MaxKeys', maxKeys),
        ...(delimiter ? [text('Delimiter', enc(delimiter))] : []),
        ...(encoding ? [text('EncodingType', encoding)] : []),
        text('IsTruncated', truncated),
        ...contents,
        ...prefixes,
      ];
  return respond(200, XML, doc('ListBucketResult', children));
}
