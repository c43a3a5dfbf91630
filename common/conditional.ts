import type { Timestamp } from './timestamp.js';

/**
 * Conditional requests on an object's GET/HEAD, as Swift's swob evaluates them
 * (swift/common/swob.py Response._get_conditional_response_status), pure. Each header is checked
 * on its own, in this order, and the first that fails decides:
 *
 * 1. If-None-Match lists the ETag (or `*`) → 304.
 * 2. If-Match does not list it (and is not `*`) → 412.
 * 3. If-Modified-Since: Last-Modified at or before it → 304.
 * 4. If-Unmodified-Since: Last-Modified after it → 412.
 *
 * Unlike RFC 7232, a header is not skipped because another is present: If-Match that matches
 * still lets If-Unmodified-Since fail (Swift's functional tests check exactly that), and
 * If-Modified-Since still applies when If-None-Match did not match. Tags compare after their
 * quotes are removed, nothing more: `W/"x"` is a different tag from `x`, as in swob.
 * Dates compare at one-second resolution against Last-Modified, which is the object's timestamp
 * rounded up to the second (Timestamp.httpDate), as Swift's object server sends it; a date that
 * does not parse is ignored.
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
    const tag = normalizeEtag(t);
    // swob unquotes first: `"*"` is a wildcard too.
    if (tag === '*') return '*';
    tags.push(tag);
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

/** swob's Match: `*` matches anything; otherwise the tag, without its quotes, must be listed. */
export function etagMatches(list: EtagList, etag: string): boolean {
  if (list === '*') return true;
  const e = normalizeEtag(etag);
  return list.includes(e);
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
 * Evaluates the preconditions of a GET/HEAD against an existing object (etag without quotes,
 * timestamp whose httpDate is the Last-Modified), in swob's order.
 */
export function evaluateConditionals(c: ConditionalHeaders, etag: string, timestamp: Timestamp): ConditionalOutcome {
  const lastModified = lastModifiedSeconds(timestamp);
  if (c.ifNoneMatch !== undefined && etagMatches(parseEtagList(c.ifNoneMatch), etag)) return 304;
  if (c.ifMatch !== undefined && !etagMatches(parseEtagList(c.ifMatch), etag)) return 412;
  if (c.ifModifiedSince !== undefined) {
    const d = parseHttpDate(c.ifModifiedSince);
    if (d !== undefined && lastModified <= d) return 304;
  }
  if (c.ifUnmodifiedSince !== undefined) {
    const d = parseHttpDate(c.ifUnmodifiedSince);
    if (d !== undefined && lastModified > d) return 412;
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
