import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { S3Error } from './errors.js';

/**
 * AWS Signature Version 4 as S3 checks it (AWS General Reference, "Create a signed AWS API
 * request"; S3 API reference, "Authenticating Requests (AWS Signature Version 4)"): the
 * Authorization header and presigned-URL (query) forms, the canonical request, the signing key,
 * and the chunk and trailer signatures of aws-chunked bodies. Pure: the clock and the secret come
 * from the caller. The request is taken as received (raw path and query, raw header pairs), so
 * what is checked is what the client signed, not what a parser made of it.
 */

export const ALGORITHM = 'AWS4-HMAC-SHA256';
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

/** The x-amz-content-sha256 values that are not a hash of the payload. */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';
export const STREAMING_SIGNED = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD';
export const STREAMING_SIGNED_TRAILER = 'STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER';
export const STREAMING_UNSIGNED_TRAILER = 'STREAMING-UNSIGNED-PAYLOAD-TRAILER';
const PAYLOAD_MODES = new Set([UNSIGNED_PAYLOAD, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER]);

/** A presigned URL lives at most 7 days (X-Amz-Expires 604800). */
export const MAX_PRESIGNED_EXPIRES_S = 604_800;

export interface SigV4Request {
  method: string;
  /** The path as received: percent-encoded, without the query. */
  rawPath: string;
  /** The query string as received, without the '?' ('' for none). */
  rawQuery: string;
  /** Header pairs as received (any case; a repeated header appears once per line). */
  headers: ReadonlyArray<readonly [string, string]>;
}

export interface CredentialScope {
  /** YYYYMMDD */
  date: string;
  region: string;
  service: string;
}

export interface ParsedSigV4 {
  form: 'header' | 'query';
  accessKeyId: string;
  scope: CredentialScope;
  /** Lower-case names, in the order the client listed them. */
  signedHeaders: string[];
  /** 64 lower-case hex digits. */
  signature: string;
  /** The request time as signed (ISO 8601 basic: 20150830T123600Z). */
  amzDate: string;
  /** The presigned URL's lifetime (query form only). */
  expiresSeconds?: number;
  /** The canonical request's last line: a hex SHA-256 of the body, or one of the payload modes. */
  payloadHash: string;
}

/** The header's value (lines of a repeated header joined by ','), or undefined. */
export function headerValue(headers: SigV4Request['headers'], name: string): string | undefined {
  let out: string | undefined;
  for (const [k, v] of headers) if (k.toLowerCase() === name) out = out === undefined ? v : `${out},${v}`;
  return out;
}

/** The query's parameters, decoded (a '+' stays a '+': S3 clients encode spaces as %20). */
export function queryPairs(rawQuery: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const part of rawQuery.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    out.push(eq < 0 ? [decode(part), ''] : [decode(part.slice(0, eq)), decode(part.slice(eq + 1))]);
  }
  return out;
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s; // not valid percent-encoding: signed as it came
  }
}

const UNRESERVED = /[A-Za-z0-9\-._~]/;

/** AWS's UriEncode: every byte but A-Z a-z 0-9 - . _ ~ as %XX (upper-case hex); '/' kept when asked. */
export function uriEncode(s: string, keepSlash: boolean): string {
  let out = '';
  for (const ch of s) {
    if (UNRESERVED.test(ch) || (keepSlash && ch === '/')) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** S3's canonical URI: the decoded path encoded once more, slashes kept, never normalized. */
export function canonicalUri(rawPath: string): string {
  return uriEncode(decode(rawPath), true) || '/';
}

/** The canonical query string, without X-Amz-Signature (a presigned URL's own signature). */
export function canonicalQuery(rawQuery: string): string {
  return queryPairs(rawQuery)
    .filter(([k]) => k !== 'X-Amz-Signature')
    .map(([k, v]) => [uriEncode(k, false), uriEncode(v, false)] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join('&');
}

/** `name:value\n` for each signed header: values trimmed, inner runs of spaces made one. */
export function canonicalHeaders(headers: SigV4Request['headers'], signed: readonly string[]): string {
  return signed.map((name) => `${name}:${(headerValue(headers, name) ?? '').trim().replace(/\s+/g, ' ')}\n`).join('');
}

export function canonicalRequest(req: SigV4Request, signedHeaders: readonly string[], payloadHash: string): string {
  return [req.method, canonicalUri(req.rawPath), canonicalQuery(req.rawQuery), canonicalHeaders(req.headers, signedHeaders), signedHeaders.join(';'), payloadHash].join('\n');
}

export function scopeString(s: CredentialScope): string {
  return `${s.date}/${s.region}/${s.service}/aws4_request`;
}

export function stringToSign(amzDate: string, scope: CredentialScope, canonical: string): string {
  return [ALGORITHM, amzDate, scopeString(scope), sha256Hex(canonical)].join('\n');
}

export function sha256Hex(data: string | Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

function hmac(key: Buffer | string, data: string): Buffer {
  return createHmac('sha256', key).update(data, 'utf8').digest();
}

const keyCache = new Map<string, Buffer>();
const KEY_CACHE_MAX = 1024;

/** kSigning = HMAC chain over date, region, service, "aws4_request" (cached: it changes once a day per key). */
export function signingKey(secret: string, scope: CredentialScope): Buffer {
  const id = `${secret}\0${scopeString(scope)}`;
  let key = keyCache.get(id);
  if (!key) {
    key = hmac(hmac(hmac(hmac(`AWS4${secret}`, scope.date), scope.region), scope.service), 'aws4_request');
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
    keyCache.set(id, key);
  }
  return key;
}

export function signHex(key: Buffer, toSign: string): string {
  return createHmac('sha256', key).update(toSign, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex signatures. */
export function signaturesEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'latin1');
  const y = Buffer.from(b, 'latin1');
  return x.length === y.length && timingSafeEqual(x, y);
}

/** An aws-chunked chunk's signature: chained on the previous one (the seed is the request's). */
export function chunkStringToSign(amzDate: string, scope: CredentialScope, previousSignature: string, chunkSha256Hex: string): string {
  return ['AWS4-HMAC-SHA256-PAYLOAD', amzDate, scopeString(scope), previousSignature, EMPTY_SHA256, chunkSha256Hex].join('\n');
}

/** The trailer's signature: over the trailing headers as `name:value\n` lines, chained on the last chunk's. */
export function trailerStringToSign(amzDate: string, scope: CredentialScope, previousSignature: string, canonicalTrailer: string): string {
  return ['AWS4-HMAC-SHA256-TRAILER', amzDate, scopeString(scope), previousSignature, sha256Hex(canonicalTrailer)].join('\n');
}

const AMZ_DATE = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/;
const SIGNATURE = /^[0-9a-f]{64}$/;
const HEX_SHA256 = /^[0-9a-f]{64}$/i;

/** Milliseconds since the epoch of an ISO 8601 basic time, or NaN. */
export function parseAmzDate(s: string): number {
  const m = AMZ_DATE.exec(s);
  if (!m) return NaN;
  const [, y, mo, d, h, mi, se] = m.map(Number) as [number, number, number, number, number, number, number];
  const t = Date.UTC(y, mo - 1, d, h, mi, se);
  // Date.UTC rolls 20150231 over into March: a date that does not exist is no date
  const back = new Date(t);
  return back.getUTCDate() === d && back.getUTCMonth() === mo - 1 ? t : NaN;
}

/** ISO 8601 basic form of a time (what X-Amz-Date carries). */
export function toAmzDate(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

function parseCredential(value: string, malformed: (message: string) => S3Error): { accessKeyId: string; scope: CredentialScope } {
  const parts = value.split('/');
  if (parts.length < 5) throw malformed(`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`);
  const [date, region, service, terminal] = parts.slice(-4) as [string, string, string, string];
  const accessKeyId = parts.slice(0, -4).join('/');
  if (accessKeyId === '' || !/^\d{8}$/.test(date) || region === '' || terminal !== 'aws4_request') {
    throw malformed(`the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".`);
  }
  return { accessKeyId, scope: { date, region, service } };
}

function parseSignedHeaders(value: string, malformed: (message: string) => S3Error): string[] {
  const names = value.split(';');
  if (names.some((n) => n === '' || n !== n.toLowerCase())) throw malformed('the SignedHeaders are mal-formed.');
  if (!names.includes('host')) throw malformed("the SignedHeaders must include 'host'.");
  return names;
}

/** Is this request signed with SigV4 at all (header or query form)? */
export function isSigV4(req: SigV4Request): boolean {
  const auth = headerValue(req.headers, 'authorization');
  if (auth !== undefined) return auth.startsWith(`${ALGORITHM} `);
  return queryPairs(req.rawQuery).some(([k, v]) => k === 'X-Amz-Algorithm' && v === ALGORITHM);
}

/**
 * The request's SigV4 parts, checked for shape (not yet for time or signature). Throws S3's error
 * for a malformed Authorization header or presigned query.
 */
export function parseSigV4(req: SigV4Request): ParsedSigV4 {
  const auth = headerValue(req.headers, 'authorization');
  if (auth !== undefined) return parseHeaderForm(req, auth);
  return parseQueryForm(req);
}

function parseHeaderForm(req: SigV4Request, auth: string): ParsedSigV4 {
  const malformed = (message: string): S3Error => new S3Error('AuthorizationHeaderMalformed', { message: `The authorization header is malformed; ${message}` });
  if (!auth.startsWith(`${ALGORITHM} `)) throw malformed(`the authorization header requires the algorithm ${ALGORITHM}.`);
  const fields = new Map<string, string>();
  for (const item of auth.slice(ALGORITHM.length + 1).split(',')) {
    const t = item.trim();
    if (t === '') continue;
    const eq = t.indexOf('=');
    if (eq <= 0) throw malformed(`the authorization component "${t}" is malformed.`);
    fields.set(t.slice(0, eq), t.slice(eq + 1));
  }
  const credential = fields.get('Credential');
  const signed = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined) throw malformed('the authorization header requires a Credential parameter.');
  if (signed === undefined) throw malformed('the authorization header requires a SignedHeaders parameter.');
  if (signature === undefined) throw malformed('the authorization header requires a Signature parameter.');
  const { accessKeyId, scope } = parseCredential(credential, malformed);
  const signedHeaders = parseSignedHeaders(signed, malformed);
  if (!SIGNATURE.test(signature)) throw new S3Error('SignatureDoesNotMatch');
  const amzDate = headerValue(req.headers, 'x-amz-date') ?? dateHeaderAsAmz(headerValue(req.headers, 'date'));
  if (amzDate === undefined || Number.isNaN(parseAmzDate(amzDate))) {
    throw new S3Error('AccessDenied', { message: 'AWS authentication requires a valid Date or x-amz-date header' });
  }
  if (amzDate.slice(0, 8) !== scope.date) throw malformed(`Invalid credential date "${scope.date}". This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`);
  const payloadHash = headerValue(req.headers, 'x-amz-content-sha256');
  if (payloadHash === undefined) throw new S3Error('InvalidRequest', { message: 'Missing required header for this request: x-amz-content-sha256' });
  if (!PAYLOAD_MODES.has(payloadHash) && !HEX_SHA256.test(payloadHash)) {
    throw new S3Error('InvalidArgument', { message: 'x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER or a valid sha256 value.', extra: [['ArgumentName', 'x-amz-content-sha256'], ['ArgumentValue', payloadHash]] });
  }
  return { form: 'header', accessKeyId, scope, signedHeaders, signature, amzDate, payloadHash };
}

/** An RFC 1123 Date header as ISO 8601 basic (SigV4 lets it stand in for X-Amz-Date). */
function dateHeaderAsAmz(date: string | undefined): string | undefined {
  if (date === undefined) return undefined;
  const t = Date.parse(date);
  return Number.isNaN(t) ? undefined : toAmzDate(t);
}

function parseQueryForm(req: SigV4Request): ParsedSigV4 {
  const q = new Map(queryPairs(req.rawQuery));
  const malformed = (message: string): S3Error => new S3Error('AuthorizationQueryParametersError', { message });
  const need = (k: string): string => {
    const v = q.get(k);
    if (v === undefined) throw malformed(`Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.`);
    return v;
  };
  if (need('X-Amz-Algorithm') !== ALGORITHM) throw malformed(`X-Amz-Algorithm only supports "${ALGORITHM}"`);
  const { accessKeyId, scope } = parseCredential(need('X-Amz-Credential'), (m) => malformed(`Error parsing the X-Amz-Credential parameter; ${m}`));
  const signedHeaders = parseSignedHeaders(need('X-Amz-SignedHeaders'), malformed);
  const signature = need('X-Amz-Signature');
  const amzDate = need('X-Amz-Date');
  const expires = need('X-Amz-Expires');
  if (Number.isNaN(parseAmzDate(amzDate))) throw malformed('X-Amz-Date must be in the ISO8601 Long Format "yyyyMMdd\'T\'HHmmss\'Z\'"');
  if (amzDate.slice(0, 8) !== scope.date) throw malformed(`Invalid credential date "${scope.date}". This date is not the same as X-Amz-Date: "${amzDate.slice(0, 8)}".`);
  if (!/^\d{1,7}$/.test(expires)) throw malformed('X-Amz-Expires should be a number');
  const expiresSeconds = Number(expires);
  if (expiresSeconds > MAX_PRESIGNED_EXPIRES_S) throw malformed('X-Amz-Expires must be less than a week (in seconds) that is 604800');
  if (!SIGNATURE.test(signature)) throw new S3Error('SignatureDoesNotMatch');
  const payloadHash = headerValue(req.headers, 'x-amz-content-sha256') ?? q.get('X-Amz-Content-Sha256') ?? UNSIGNED_PAYLOAD;
  return { form: 'query', accessKeyId, scope, signedHeaders, signature, amzDate, expiresSeconds, payloadHash };
}

/** S3 refuses a request signed more than 15 minutes from its own clock. */
export const MAX_SKEW_MS = 15 * 60 * 1000;

/**
 * The request's time against the server's: a header-signed request within the skew window, a
 * presigned URL not before its time (less the skew) and not after it expired.
 */
export function checkRequestTime(p: ParsedSigV4, nowMs: number, maxSkewMs = MAX_SKEW_MS): void {
  const t = parseAmzDate(p.amzDate);
  if (p.form === 'query') {
    if (t - nowMs > maxSkewMs) throw new S3Error('AccessDenied', { message: 'Request is not valid yet' });
    if (nowMs > t + (p.expiresSeconds ?? 0) * 1000) {
      throw new S3Error('AccessDenied', { message: 'Request has expired', extra: [['X-Amz-Expires', String(p.expiresSeconds)], ['Expires', new Date(t + (p.expiresSeconds ?? 0) * 1000).toISOString()], ['ServerTime', new Date(nowMs).toISOString()]] });
    }
    return;
  }
  if (Math.abs(nowMs - t) > maxSkewMs) {
    throw new S3Error('RequestTimeTooSkewed', { extra: [['RequestTime', p.amzDate], ['ServerTime', new Date(nowMs).toISOString()], ['MaxAllowedSkewMilliseconds', String(maxSkewMs)]] });
  }
}

export interface VerifiedSigV4 {
  /** The key that signed the request: aws-chunked bodies' chunks are checked with it. */
  key: Buffer;
  /** The request's signature: the seed of an aws-chunked body's chain. */
  seedSignature: string;
}

/**
 * Checks the signature with the access key's secret; region is the one this endpoint serves (a
 * scope naming another gets AuthorizationHeaderMalformed, as AWS answers). Throws
 * SignatureDoesNotMatch with the string to sign, as AWS's error document carries it.
 */
export function verifySigV4(p: ParsedSigV4, req: SigV4Request, secret: string, region: string): VerifiedSigV4 {
  if (p.scope.region !== region) {
    const message = `The authorization header is malformed; the region '${p.scope.region}' is wrong; expecting '${region}'`;
    throw p.form === 'header' ? new S3Error('AuthorizationHeaderMalformed', { message, extra: [['Region', region]] }) : new S3Error('AuthorizationQueryParametersError', { message });
  }
  if (p.scope.service !== 's3') throw new S3Error('SignatureDoesNotMatch', { message: `Credential should be scoped to correct service: 's3'.` });
  const canonical = canonicalRequest(req, p.signedHeaders, p.payloadHash);
  const toSign = stringToSign(p.amzDate, p.scope, canonical);
  const key = signingKey(secret, p.scope);
  if (!signaturesEqual(signHex(key, toSign), p.signature)) {
    throw new S3Error('SignatureDoesNotMatch', {
      extra: [
        ['AWSAccessKeyId', p.accessKeyId],
        ['StringToSign', toSign],
        ['SignatureProvided', p.signature],
        ['CanonicalRequest', canonical],
      ],
    });
  }
  return { key, seedSignature: p.signature };
}
