import type { Readable } from 'node:stream';
import type { ProxyResponse } from '../pipeline.js';
import { createBucket, bucketLocation, deleteBucket, headBucket, listBuckets, listObjects, type S3Owner } from './bucket.js';
import { s3Body } from './body.js';
import { S3Error } from './errors.js';
import { deleteObjects } from './delete-objects.js';
import { copyObject, deleteObject, getObject, putObject } from './object.js';
import { abortMultipartUpload, completeMultipartUpload, createMultipartUpload, getObjectPart, listMultipartUploads, listParts, uploadPart, uploadPartCopy } from './multipart.js';
import { uriEncode, type ParsedSigV4, type VerifiedSigV4 } from './sigv4.js';
import type { SwiftCall } from './swift-call.js';
import { readXmlBody } from './xml-input.js';

/**
 * Which S3 operation a request is (S3 API reference: method, bucket, key and sub-resource), and
 * running it. What is not built answers NotImplemented, never a Swift answer in disguise.
 */
export interface S3Request {
  method: string;
  bucket?: string;
  key?: string;
  query: URLSearchParams;
  headers: Record<string, string>;
  body: Readable;
  sig: ParsedSigV4;
  verified: VerifiedSigV4;
  owner: S3Owner;
  region: string;
  /** The transaction id, an error document's RequestId when it is written in a body (CompleteMultipartUpload). */
  requestId?: string;
}

/** Query parameters that name a sub-resource: a request with one is another operation. */
const SUBRESOURCES = [
  'accelerate', 'acl', 'analytics', 'attributes', 'cors', 'delete', 'encryption', 'intelligent-tiering', 'inventory', 'legal-hold', 'lifecycle', 'location', 'logging', 'metrics',
  'notification', 'object-lock', 'ownershipControls', 'partNumber', 'policy', 'policyStatus', 'publicAccessBlock', 'replication', 'requestPayment', 'restore', 'retention', 'select',
  'tagging', 'torrent', 'uploadId', 'uploads', 'versionId', 'versioning', 'versions', 'website',
];

function subresource(q: URLSearchParams): string | undefined {
  return SUBRESOURCES.find((s) => q.has(s));
}

function notImplemented(what: string): S3Error {
  return new S3Error('NotImplemented', { message: `${what} is not implemented yet.` });
}

export async function dispatch(r: S3Request, swift: SwiftCall): Promise<ProxyResponse> {
  const sub = subresource(r.query);
  if (r.bucket === undefined) {
    if (r.method === 'GET') return listBuckets(swift, r.owner);
    throw new S3Error('MethodNotAllowed');
  }
  if (r.key === undefined) {
    switch (r.method) {
      case 'PUT':
        if (sub) throw notImplemented(`PUT Bucket ?${sub}`);
        return createBucket(swift, r.bucket, r.region, await xmlBody(r));
      case 'HEAD':
        return headBucket(swift, r.bucket, r.region);
      case 'DELETE':
        if (sub) throw notImplemented(`DELETE Bucket ?${sub}`);
        return deleteBucket(swift, r.bucket);
      case 'GET':
        if (sub === 'location') return bucketLocation(swift, r.bucket, r.region);
        if (sub === 'uploads') return listMultipartUploads(swift, r.bucket, r.query, r.owner);
        if (sub) throw notImplemented(`GET Bucket ?${sub}`);
        return listObjects(swift, r.bucket, r.query, r.owner);
      case 'POST':
        if (sub === 'delete') return deleteObjects(swift, r.bucket, r.headers, await xmlBody(r));
        throw notImplemented(`POST Bucket${sub ? ` ?${sub}` : ''}`);
      default:
        throw notImplemented(`${r.method} Bucket${sub ? ` ?${sub}` : ''}`);
    }
  }
  switch (r.method) {
    case 'PUT':
      if (sub === 'partNumber' || sub === 'uploadId') {
        if (r.headers['x-amz-copy-source'] === undefined) return uploadPart(swift, r.bucket, r.key, r.query, r.headers, s3Body(r.headers, r.body, r.sig, r.verified));
        r.body.resume();
        return uploadPartCopy(swift, r.bucket, r.key, r.query, r.headers);
      }
      if (sub) throw notImplemented(`PUT Object ?${sub}`);
      if (r.headers['x-amz-copy-source'] !== undefined) {
        r.body.resume();
        return copyObject(swift, r.bucket, r.key, r.headers);
      }
      return putObject(swift, r.bucket, r.key, r.headers, s3Body(r.headers, r.body, r.sig, r.verified));
    case 'GET':
    case 'HEAD':
      if (sub === 'partNumber') return getObjectPart(swift, r.method, r.bucket, r.key, r.headers, r.query);
      if (sub === 'uploadId' && r.method === 'GET') return listParts(swift, r.bucket, r.key, r.query, r.owner);
      if (sub) throw notImplemented(`${r.method} Object ?${sub}`);
      return getObject(swift, r.method, r.bucket, r.key, r.headers, r.query);
    case 'DELETE':
      if (sub === 'uploadId') return abortMultipartUpload(swift, r.bucket, r.key, r.query);
      if (sub) throw notImplemented(`DELETE Object ?${sub}`);
      return deleteObject(swift, r.bucket, r.key);
    case 'POST':
      if (sub === 'uploads') {
        r.body.resume();
        return createMultipartUpload(swift, r.bucket, r.key, r.headers);
      }
      // Complete's x-amz-checksum-* headers are the object's checksum, not its document's
      if (sub === 'uploadId') return completeMultipartUpload(swift, r.bucket, r.key, r.query, r.headers, await xmlBody({ ...r, headers: withoutChecksums(r.headers) }), { location: `http://${r.headers['host'] ?? 'localhost'}/${r.bucket}/${uriEncode(r.key, true)}`, requestId: r.requestId ?? '' });
      throw notImplemented(`POST Object${sub ? ` ?${sub}` : ''}`);
    default:
      throw notImplemented(`${r.method} Object${sub ? ` ?${sub}` : ''}`);
  }
}

function withoutChecksums(h: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).filter(([k]) => !k.startsWith('x-amz-checksum-')));
}

/** A request's XML document, its body checked as any S3 body (signed hash, aws-chunked, checksums). */
async function xmlBody(r: S3Request): Promise<string> {
  const body = s3Body(r.headers, r.body, r.sig, r.verified);
  try {
    return await readXmlBody(body.stream);
  } catch (e) {
    throw body.failure() ?? e;
  }
}
