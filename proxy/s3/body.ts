import { createHash, type Hash } from 'node:crypto';
import { pipeline, Transform, type Readable, type TransformCallback } from 'node:stream';
import { AwsChunkedStream } from './aws-chunked.js';
import { algorithmOfHeader, checksumHeader, createChecksum, isChecksumValue, type ChecksumAlgorithm, type RunningChecksum } from './checksums.js';
import { isS3Error, S3Error } from './errors.js';
import { STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER, type ParsedSigV4, type VerifiedSigV4 } from './sigv4.js';

/**
 * An S3 request body on its way to a Swift PUT: aws-chunked framing removed (signed chunks and
 * trailer checked), and every digest the client gave checked while it streams — the
 * x-amz-content-sha256 hash and the x-amz-checksum-* value (a header, or a trailer). A mismatch
 * errors the stream instead of ending it, so the PUT it feeds stores nothing; `failure()` then
 * says which S3 error it was. Never buffered.
 */
export interface S3Body {
  stream: Readable;
  /** The data's length when known (Content-Length, or x-amz-decoded-content-length). */
  length: number | undefined;
  /** The checksum the client sent as a header (verified before the PUT commits): stored with the object. */
  headerChecksum?: { algorithm: ChecksumAlgorithm; value: string };
  /** The checksum algorithm sent as a trailer, if any (verified, not yet stored: see README). */
  trailerChecksum?: ChecksumAlgorithm;
  /** Why the stream failed, when it was the body's fault. */
  failure(): S3Error | undefined;
}

const STREAMING = new Set([STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER]);

export function s3Body(headers: Record<string, string>, body: Readable, sig: ParsedSigV4, verified: VerifiedSigV4): S3Body {
  const mode = sig.payloadHash;
  const streaming = STREAMING.has(mode);
  let failure: S3Error | undefined;
  const record = (e: unknown): void => {
    if (isS3Error(e) && failure === undefined) failure = e;
  };

  let length: number | undefined;
  const contentLength = headers['content-length'];
  let chunked: AwsChunkedStream | undefined;
  const trailerNames = (headers['x-amz-trailer'] ?? '')
    .split(',')
    .map((s) => s.trim().toLowerCase())
    .filter((s) => s !== '');
  if (streaming) {
    const decoded = headers['x-amz-decoded-content-length'];
    if (decoded === undefined) throw new S3Error('MissingContentLength', { message: 'You must provide the x-amz-decoded-content-length header for an aws-chunked body.' });
    if (!/^\d{1,16}$/.test(decoded)) throw new S3Error('InvalidArgument', { message: 'x-amz-decoded-content-length must be a number.', extra: [['ArgumentName', 'x-amz-decoded-content-length'], ['ArgumentValue', decoded]] });
    length = Number(decoded);
    const trailers = mode === STREAMING_SIGNED ? [] : trailerNames;
    if (mode !== STREAMING_SIGNED && trailers.length === 0) throw new S3Error('InvalidRequest', { message: `${mode} needs the x-amz-trailer header.` });
    chunked = new AwsChunkedStream({
      ...(mode === STREAMING_UNSIGNED_TRAILER ? {} : { signing: { key: verified.key, amzDate: sig.amzDate, scope: sig.scope, seedSignature: verified.seedSignature } }),
      trailers,
      decodedLength: length,
    });
  } else {
    if (trailerNames.length > 0) throw new S3Error('InvalidRequest', { message: 'x-amz-trailer needs an aws-chunked body (x-amz-content-sha256: STREAMING-…-TRAILER).' });
    if (contentLength !== undefined) length = Number(contentLength);
  }

  // The checksum: one header, or one trailer (S3 takes one algorithm per request).
  let headerChecksum: S3Body['headerChecksum'];
  for (const [name, value] of Object.entries(headers)) {
    const alg = algorithmOfHeader(name);
    if (!alg) continue;
    if (headerChecksum) throw new S3Error('InvalidRequest', { message: 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.' });
    if (!isChecksumValue(alg, value)) throw new S3Error('InvalidRequest', { message: `Value for ${checksumHeader(alg)} header is invalid.` });
    headerChecksum = { algorithm: alg, value };
  }
  const trailerAlgs = trailerNames.map((n) => algorithmOfHeader(n));
  if (trailerAlgs.some((a) => a === undefined)) throw new S3Error('InvalidRequest', { message: 'The value specified in the x-amz-trailer header is not supported' });
  if (trailerAlgs.length > 1 || (trailerAlgs.length === 1 && headerChecksum)) throw new S3Error('InvalidRequest', { message: 'Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.' });
  const trailerChecksum = trailerAlgs[0];

  const check = new BodyCheck({
    ...(/^[0-9a-f]{64}$/i.test(mode) ? { sha256: mode.toLowerCase() } : {}),
    ...(headerChecksum ? { checksum: createChecksum(headerChecksum.algorithm), expected: async () => headerChecksum.value } : {}),
    ...(trailerChecksum && chunked
      ? { checksum: createChecksum(trailerChecksum), expected: async () => (await (chunked as AwsChunkedStream).trailers).get(checksumHeader(trailerChecksum)) as string }
      : {}),
    ...(length !== undefined ? { length } : {}),
  });
  const out = chunked ? pipeline(body, chunked, check, record) : pipeline(body, check, record);
  return {
    stream: out,
    length,
    ...(headerChecksum ? { headerChecksum } : {}),
    ...(trailerChecksum ? { trailerChecksum } : {}),
    failure: () => failure,
  };
}

interface CheckOptions {
  /** The hex SHA-256 the client signed as x-amz-content-sha256. */
  sha256?: string;
  checksum?: RunningChecksum;
  /** The value the checksum must have (from a header, or the trailer once the body ended). */
  expected?: () => Promise<string>;
  /** Bytes the body must have (Content-Length or the decoded length). */
  length?: number;
}

/** Passes the data on, hashing it; at the end, errors instead of ending if a digest or the length is wrong. */
class BodyCheck extends Transform {
  private readonly sha: Hash | undefined;
  private seen = 0;
  constructor(private readonly o: CheckOptions) {
    super();
    this.sha = o.sha256 ? createHash('sha256') : undefined;
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    this.sha?.update(chunk);
    this.o.checksum?.update(chunk);
    cb(null, chunk);
  }

  override _flush(cb: TransformCallback): void {
    void this.verify().then(
      () => cb(),
      (e: unknown) => cb(e as Error),
    );
  }

  private async verify(): Promise<void> {
    if (this.o.length !== undefined && this.seen !== this.o.length) throw new S3Error('IncompleteBody');
    if (this.sha && this.sha.digest('hex') !== this.o.sha256) throw new S3Error('XAmzContentSHA256Mismatch');
    const c = this.o.checksum;
    if (c && this.o.expected) {
      const [got, want] = await Promise.all([c.digest(), this.o.expected()]);
      if (want === undefined || !isChecksumValue(c.algorithm, want)) throw new S3Error('InvalidRequest', { message: `Value for ${checksumHeader(c.algorithm)} trailing header is invalid.` });
      if (got !== want) throw new S3Error('BadDigest', { message: `The ${c.algorithm} you specified did not match the calculated checksum.` });
    }
  }
}
