import type { Timestamp } from './timestamp.js';

/**
 * Conditional requests (RFC 7232 §6 precedence, Swift's etag and date handling), pure.
 *
 * 1. If-Match (strong comparison) fails → 412; only when it is absent, If-Unmodified-Since.
 * 2. If-None-Match (weak comparison) matches → 304 for GET/HEAD, 412 otherwise; only when it is
 *    absent, If-Modified-Since, and only for GET/HEAD.
 * Dates compare at one-second resolution against Last-Modified, which is the object's timestamp
 * rounded up to the second (Timestamp.httpDate), as Swift's object server sends it.
 */
export type ConditionalOutcome = 'ok' | 304 | 412;

export interface ConditionalHeaders {
  ifMatch?: string | undefined;
  ifNoneMatch?: string | undefined;
  ifModifiedSince?: string | undefined;
  ifUnmodifiedSince?: string | undefined;
}

/** Reads the four headers off Node's lower-cased header object. */
export function conditionalHeadersOf(h: Record<string, string | string[] | undefined>): ConditionalHeaders {
  const one = (v: string | string[] | undefined): string | undefined => (Array.isArray(v) ? v.join(', ') : v);
  return {
    ifMatch: one(h['if-match']),
    ifNoneMatch: one(h['if-none-match']),
    ifModifiedSince: one(h['if-modified-since']),
    ifUnmodifiedSince: one(h['if-unmodified-since']),
  };
}

export function hasConditionals(c: ConditionalHeaders): boolean {
  return c.ifMatch !== undefined || c.ifNoneMatch !== undefined || c.ifModifiedSince !== undefined || c.ifUnmodifiedSince !== undefined;
}

/** An entity-tag list: `*` or tags without quotes; weak tags keep their `W/` marker. */
export type EtagList = '*' | string[];

/** Splits `"a", b, W/"c"` into tags; quotes are optional, as Swift accepts bare md5s. */
export function parseEtagList(header: string): EtagList {
  const tags: string[] = [];
  for (const raw of header.split(',')) {
    const t = raw.trim();
    if (!t) continue;
    if (t === '*') return '*';
    tags.push(normalizeEtag(t));
  }
  return tags;
}

/** Removes the quotes of an entity tag (keeping a `W/` prefix): `"abc"` → `abc`, `W/"abc"` → `W/abc`. */
export function normalizeEtag(tag: string): string {
  let weak = '';
  let t = tag;
  if (t.startsWith('W/')) {
    weak = 'W/';
    t = t.slice(2);
  }
  if (t.length >= 2 && t.startsWith('"') && t.endsWith('"')) t = t.slice(1, -1);
  return weak + t;
}

/** If-Match: strong comparison, a weak tag never matches. */
export function strongMatch(list: EtagList, etag: string): boolean {
  if (list === '*') return true;
  const e = normalizeEtag(etag);
  return list.some((t) => !t.startsWith('W/') && t === e);
}

/** If-None-Match: weak comparison, `W/x` matches `x`. */
export function weakMatch(list: EtagList, etag: string): boolean {
  if (list === '*') return true;
  const e = normalizeEtag(etag).replace(/^W\//, '');
  return list.some((t) => t.replace(/^W\//, '') === e);
}

/**
 * An HTTP-date in seconds since the epoch, or undefined when unparsable (the header is then
 * ignored, RFC 7232 §3.3/§3.4). Accepts IMF-fixdate, RFC 850 and asctime (which has no zone and is GMT).
 */
export function parseHttpDate(value: string): number | undefined {
  let v = value.trim();
  if (!v) return undefined;
  if (/^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d\d:\d\d:\d\d \d{4}$/.test(v)) v += ' GMT';
  const ms = Date.parse(v);
  if (!Number.isFinite(ms)) return undefined;
  return Math.floor(ms / 1000);
}

/** Last-Modified in whole seconds, rounded up like Timestamp.httpDate. */
export function lastModifiedSeconds(ts: Timestamp): number {
  return Math.ceil(ts.ticks / 100000);
}

/**
 * Evaluates the preconditions of a request against an existing object (etag without quotes,
 * timestamp whose httpDate is the Last-Modified).
 */
export function evaluateConditionals(method: string, c: ConditionalHeaders, etag: string, timestamp: Timestamp): ConditionalOutcome {
  const getOrHead = method === 'GET' || method === 'HEAD';
  const lastModified = lastModifiedSeconds(timestamp);
  if (c.ifMatch !== undefined) {
    if (!strongMatch(parseEtagList(c.ifMatch), etag)) return 412;
  } else if (c.ifUnmodifiedSince !== undefined) {
    const d = parseHttpDate(c.ifUnmodifiedSince);
    if (d !== undefined && lastModified > d) return 412;
  }
  if (c.ifNoneMatch !== undefined) {
    if (weakMatch(parseEtagList(c.ifNoneMatch), etag)) return getOrHead ? 304 : 412;
  } else if (c.ifModifiedSince !== undefined && getOrHead) {
    const d = parseHttpDate(c.ifModifiedSince);
    if (d !== undefined && lastModified <= d) return 304;
  }
  return 'ok';
}

/**
 * Preconditions when there is no object: `If-Match: *` cannot hold → 412 (swob does the same);
 * anything else leaves the 404 alone so the proxy keeps looking at other replicas.
 */
export function evaluateConditionalsMissing(c: ConditionalHeaders): ConditionalOutcome {
  if (c.ifMatch !== undefined && parseEtagList(c.ifMatch) === '*') return 412;
  return 'ok';
}
