import type { Readable } from 'node:stream';
import type { ProxyResponse } from '../pipeline.js';
import { S3Error, type S3ErrorCode } from './errors.js';

/**
 * How the S3 layer speaks to Swift: a sub-request into the rest of the pipeline (after auth, as
 * the S3 request's user), by names; and the S3 error a Swift answer stands for.
 */
export interface SwiftTarget {
  container?: string;
  object?: string;
}

export interface SwiftInit {
  query?: string;
  headers?: Record<string, string>;
  body?: Readable;
}

export type SwiftCall = (method: string, target: SwiftTarget, init?: SwiftInit) => Promise<ProxyResponse>;

/**
 * The S3 error for a Swift error status (Swift's s3api does the same mapping), given what the
 * request was about: a 404 is NoSuchBucket for a bucket, NoSuchKey for a key.
 */
const BY_STATUS: ReadonlyMap<number, S3ErrorCode> = new Map<number, S3ErrorCode>([
  [401, 'AccessDenied'],
  [403, 'AccessDenied'],
  [409, 'BucketNotEmpty'],
  [411, 'MissingContentLength'],
  [412, 'PreconditionFailed'],
  [413, 'EntityTooLarge'],
  [416, 'InvalidRange'],
  [422, 'BadDigest'],
  [429, 'ServiceUnavailable'],
  [498, 'ServiceUnavailable'],
  [503, 'ServiceUnavailable'],
]);

export function errorForSwift(status: number, about: 'bucket' | 'key', swiftBody?: string): S3Error {
  if (status === 404) return new S3Error(about === 'bucket' ? 'NoSuchBucket' : 'NoSuchKey');
  if (status === 400) {
    const message = swiftBody?.trim().slice(0, 500);
    return new S3Error(message && /too long/i.test(message) ? 'KeyTooLongError' : 'InvalidArgument', message ? { message } : {});
  }
  return new S3Error(BY_STATUS.get(status) ?? 'InternalError');
}
