import { createHmac, timingSafeEqual } from 'node:crypto';
import { S3Error } from './errors.js';
import { headerValue, MAX_SKEW_MS, queryPairs, UNSIGNED_PAYLOAD, type ParsedSigV4, type SigV4Request, type VerifiedSigV4 } from './sigv4.js';

/**
 * AWS Signature Version 2 as S3 checks it (S3 API reference, "Signing and authenticating REST
 * requests (AWS signature version 2)"), for older clients (s3cmd with signature_v2, boto 2):
 *
 *   Authorization: AWS <AccessKeyId>:<Signature>                      (header form)
 *   ?AWSAccessKeyId=<id>&Expires=<epoch s>&Signature=<Signature>      (query form)
 *   Signature = Base64(HMAC-SHA1(secret, UTF-8(StringToSign)))
 *   StringToSign = Verb \n Content-MD5 \n Content-Type \n Date \n CanonicalizedAmzHeaders CanonicalizedResource
 *
 * Date is the Date header, empty when x-amz-date is sent (it is then among the amz headers), and
 * the Expires parameter in the query form. Pure: the clock and the secret come from the caller.
 * The body is not signed by SigV2 (Content-MD5, when sent, is checked as for any request).
 */

export interface ParsedSigV2 {
  form: 'header' | 'query';
  accessKeyId: string;
  /** Base64, as sent. */
  signature: string;
  /** Query form: the URL's expiry (seconds since the epoch). */
  expires?: number;
}

/**
 * The query parameters that are sub-resources, signed as part of CanonicalizedResource: AWS's list,
 * with those botocore, s3cmd and Swift's s3api sign as well (a parameter is signed only when sent).
 */
export const SIGNED_SUBRESOURCES: ReadonlySet<string> = new Set([
  'accelerate', 'acl', 'analytics', 'cors', 'defaultObjectAcl', 'delete', 'encryption', 'inventory', 'legal-hold', 'lifecycle', 'location', 'logging', 'metrics', 'notification',
  'object-lock', 'partNumber', 'policy', 'replication', 'requestPayment', 'response-cache-control', 'response-content-disposition', 'response-content-encoding',
  'response-content-language', 'response-content-type', 'response-expires', 'restore', 'retention', 'select', 'select-type', 'storageClass', 'tagging', 'torrent', 'uploadId',
  'uploads', 'versionId', 'versioning', 'versions', 'website',
]);

/** Is this request signed with SigV2 (an "AWS " Authorization header, or AWSAccessKeyId in the query)? */
export function isSigV2(req: SigV4Request): boolean {
  const auth = headerValue(req.headers, 'authorization');
  if (auth !== undefined) return auth.startsWith('AWS ');
  return queryPairs(req.rawQuery).some(([k]) => k === 'AWSAccessKeyId');
}

export function parseSigV2(req: SigV4Request): ParsedSigV2 {
  const auth = headerValue(req.headers, 'authorization');
  if (auth !== undefined) {
    // The access key may hold a ':' itself (tempauth's "account:user"): the signature follows the last one.
    const rest = auth.slice(4).trim();
    const colon = rest.lastIndexOf(':');
    if (!auth.startsWith('AWS ') || colon <= 0 || colon === rest.length - 1) throw new S3Error('AccessDenied', { message: 'AWS authorization header is invalid.  Expected AwsAccessKeyId:signature' });
    return { form: 'header', accessKeyId: rest.slice(0, colon), signature: rest.slice(colon + 1) };
  }
  const q = new Map(queryPairs(req.rawQuery));
  const accessKeyId = q.get('AWSAccessKeyId');
  const signature = q.get('Signature');
  const expires = q.get('Expires');
  if (!accessKeyId || !signature || expires === undefined) {
    throw new S3Error('AccessDenied', { message: 'Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters' });
  }
  if (!/^\d{1,12}$/.test(expires)) throw new S3Error('AccessDenied', { message: 'Invalid date (should be seconds since epoch): ' + expires });
  return { form: 'query', accessKeyId, signature, expires: Number(expires) };
}

/** A presigned URL until its Expires; a header-signed request within 15 minutes of its Date / x-amz-date. */
export function checkRequestTimeV2(p: ParsedSigV2, req: SigV4Request, nowMs: number, maxSkewMs = MAX_SKEW_MS): void {
  if (p.form === 'query') {
    if (nowMs > (p.expires as number) * 1000) {
      throw new S3Error('AccessDenied', { message: 'Request has expired', extra: [['Expires', new Date((p.expires as number) * 1000).toISOString()], ['ServerTime', new Date(nowMs).toISOString()]] });
    }
    return;
  }
  const date = headerValue(req.headers, 'x-amz-date') ?? headerValue(req.headers, 'date');
  const t = date === undefined ? NaN : Date.parse(date);
  if (Number.isNaN(t)) throw new S3Error('AccessDenied', { message: 'AWS authentication requires a valid Date or x-amz-date header' });
  if (Math.abs(nowMs - t) > maxSkewMs) {
    throw new S3Error('RequestTimeTooSkewed', { extra: [['RequestTime', date as string], ['ServerTime', new Date(nowMs).toISOString()], ['MaxAllowedSkewMilliseconds', String(maxSkewMs)]] });
  }
}

/** x-amz-* headers: lower-case names, sorted, values trimmed, repeated headers' values joined by ','. */
export function canonicalAmzHeaders(headers: SigV4Request['headers'], omit?: string): string {
  const byName = new Map<string, string[]>();
  for (const [k, v] of headers) {
    const name = k.toLowerCase();
    if (!name.startsWith('x-amz-') || name === omit) continue;
    const list = byName.get(name) ?? [];
    list.push(v.trim());
    byName.set(name, list);
  }
  return [...byName.keys()]
    .sort()
    .map((n) => `${n}:${(byName.get(n) as string[]).join(',')}\n`)
    .join('');
}

/**
 * CanonicalizedResource: `/<bucket>` and the path as sent (for a virtual-hosted request the
 * caller passes `/<bucket>` + path; for path style the path is already that), then the
 * sub-resources among the query's parameters, sorted by name, values decoded.
 */
export function canonicalResourceV2(resourcePath: string, rawQuery: string): string {
  const subs = queryPairs(rawQuery)
    .filter(([k]) => SIGNED_SUBRESOURCES.has(k))
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))
    .map(([k, v]) => (v === '' ? k : `${k}=${v}`));
  return subs.length ? `${resourcePath}?${subs.join('&')}` : resourcePath;
}

function positional(req: SigV4Request, name: string): string {
  return (headerValue(req.headers, name) ?? '').trim();
}

/**
 * The StringToSign. `legacyAmzDate`: AWS's own DELETE example signs x-amz-date's value in the Date
 * position and leaves it out of the amz headers; clients that follow that example sign so.
 */
export function stringToSignV2(req: SigV4Request, p: ParsedSigV2, resourcePath: string, legacyAmzDate = false): string {
  const amzDate = headerValue(req.headers, 'x-amz-date');
  const date = p.form === 'query' ? String(p.expires) : amzDate !== undefined ? (legacyAmzDate ? amzDate.trim() : '') : positional(req, 'date');
  const amz = canonicalAmzHeaders(req.headers, legacyAmzDate ? 'x-amz-date' : undefined);
  return `${req.method}\n${positional(req, 'content-md5')}\n${positional(req, 'content-type')}\n${date}\n${amz}${canonicalResourceV2(resourcePath, req.rawQuery)}`;
}

export function signV2(secret: string, toSign: string): string {
  return createHmac('sha1', secret).update(toSign, 'utf8').digest('base64');
}

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Checks the signature with the secret; throws SignatureDoesNotMatch with the StringToSign, as AWS does. */
export function verifySigV2(p: ParsedSigV2, req: SigV4Request, secret: string, resourcePath: string): void {
  const toSign = stringToSignV2(req, p, resourcePath);
  if (equal(signV2(secret, toSign), p.signature)) return;
  if (p.form === 'header' && headerValue(req.headers, 'x-amz-date') !== undefined && equal(signV2(secret, stringToSignV2(req, p, resourcePath, true)), p.signature)) return;
  throw new S3Error('SignatureDoesNotMatch', {
    extra: [
      ['AWSAccessKeyId', p.accessKeyId],
      ['StringToSign', toSign],
      ['SignatureProvided', p.signature],
    ],
  });
}

/**
 * What the body checks (s3/body.ts) need of a SigV2 request, in SigV4's terms: no aws-chunked
 * framing, no chunk signatures; a hex x-amz-content-sha256, if a client sends one, is still checked.
 */
export function bodyTermsV2(p: ParsedSigV2, req: SigV4Request): { sig: ParsedSigV4; verified: VerifiedSigV4 } {
  const sha = headerValue(req.headers, 'x-amz-content-sha256');
  const payloadHash = sha !== undefined && /^[0-9a-f]{64}$/i.test(sha) ? sha : UNSIGNED_PAYLOAD;
  return {
    sig: { form: p.form, accessKeyId: p.accessKeyId, scope: { date: '', region: '', service: 's3' }, signedHeaders: [], signature: p.signature, amzDate: '', payloadHash },
    verified: { key: Buffer.alloc(0), seedSignature: '' },
  };
}
