import { configTrueValue } from '../../common/config.js';
import { titleCase } from '../../common/headers.js';
import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { SwiftletError } from '../../common/errors.js';
import { H } from '../../common/headers.js';
import { Timestamp } from '../../common/timestamp.js';
import { LISTING_LIMIT, type ListingQuery } from './listing.js';
import { liveMetadata, type DbRecord, type Metadata } from './merge.js';

/** HTTP helpers shared by the container and account servers: parsing in, headers out. */

/** X-Timestamp in internal form; BAD_REQUEST when missing or not a timestamp (Swift's valid_timestamp). */
export function requireTimestamp(headers: IncomingHttpHeaders, name: string = H.timestamp): string {
  const raw = headers[name];
  const ts = typeof raw === 'string' ? Timestamp.tryParse(raw) : undefined;
  if (!ts) throw new SwiftletError('BAD_REQUEST', `Missing or invalid ${name} header`);
  return ts.internal;
}

/** An optional timestamp header: `fallback` when absent, BAD_REQUEST when malformed. */
export function optionalTimestamp(headers: IncomingHttpHeaders, name: string, fallback: string): string {
  const raw = headers[name];
  if (raw === undefined || raw === '') return fallback;
  return requireTimestamp(headers, name);
}

/** A non-negative integer header; `fallback` when absent, BAD_REQUEST when malformed. */
export function optionalCount(headers: IncomingHttpHeaders, name: string, fallback: number): number {
  const raw = headers[name];
  if (raw === undefined || raw === '') return fallback;
  if (typeof raw !== 'string' || !/^\d+$/.test(raw) || !Number.isSafeInteger(Number(raw))) {
    throw new SwiftletError('BAD_REQUEST', `Invalid ${name} header`);
  }
  return Number(raw);
}


/** Metadata headers of a request, as [value, timestamp] under their Title-Case names. */
export function metadataFromHeaders(headers: IncomingHttpHeaders, isSaved: (lowerName: string) => boolean, timestamp: string): Metadata {
  const out: Metadata = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined || !isSaved(name)) continue;
    out[titleCase(name)] = [(Array.isArray(value) ? value.join(',') : value).trim(), timestamp];
  }
  return out;
}

const CONTAINER_SAVED = new Set(['x-container-read', 'x-container-write', 'x-versions-location', 'x-history-location']);

/** Container metadata Swift keeps: user and system metadata, ACLs, versioning and sync settings. */
export function isContainerMetadata(n: string): boolean {
  return n.startsWith('x-container-meta-') || n.startsWith('x-container-sysmeta-') || n.startsWith('x-container-sync-') || CONTAINER_SAVED.has(n);
}

export function isAccountMetadata(n: string): boolean {
  return n.startsWith('x-account-meta-') || n.startsWith('x-account-sysmeta-');
}

const trueValue = configTrueValue;

/**
 * prefix, delimiter, marker, end_marker, limit, reverse, and for containers `path`. A limit above
 * 10,000 is PRECONDITION_FAILED (412, as Swift); a limit that is not all digits is ignored, as Swift does.
 */
export function listingQueryFrom(q: URLSearchParams, opts: { path?: boolean } = {}): ListingQuery {
  const out: ListingQuery = { limit: LISTING_LIMIT, reverse: trueValue(q.get('reverse')) };
  const given = q.get('limit');
  if (given && /^\d+$/.test(given)) {
    out.limit = Number(given);
    if (out.limit > LISTING_LIMIT) throw new SwiftletError('PRECONDITION_FAILED', `Maximum limit is ${LISTING_LIMIT}`);
  }
  const prefix = q.get('prefix');
  const delimiter = q.get('delimiter');
  const marker = q.get('marker');
  const endMarker = q.get('end_marker');
  if (prefix !== null) out.prefix = prefix;
  if (delimiter) out.delimiter = delimiter;
  if (marker) out.marker = marker;
  if (endMarker) out.endMarker = endMarker;
  const path = q.get('path');
  if (opts.path && path !== null) out.path = path;
  return out;
}

/** X-Backend-* timestamps: always sent, deleted or not, so the proxy can pick the newest. */
export function backendTimestampHeaders(r: DbRecord): Record<string, string> {
  return {
    'X-Backend-Timestamp': r.createdAt,
    'X-Backend-Put-Timestamp': r.putTimestamp,
    'X-Backend-Delete-Timestamp': r.deleteTimestamp,
    'X-Backend-Status-Changed-At': r.statusChangedAt,
  };
}

/** X-Timestamp, X-PUT-Timestamp, Last-Modified and the live metadata of an existing container/account. */
export function recordHeaders(r: DbRecord): Record<string, string> {
  const put = Timestamp.parse(r.putTimestamp);
  const out: Record<string, string> = {
    'X-Timestamp': Timestamp.parse(r.createdAt).normal,
    'X-PUT-Timestamp': put.normal,
    'Last-Modified': put.httpDate,
  };
  for (const [k, v] of liveMetadata(r.metadata)) out[k] = v;
  return out;
}

/** Writes a whole response. HEAD and 204 get no body; others get Content-Length. */
export function respond(res: ServerResponse, status: number, headers: Record<string, string>, body = ''): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (status === 204 || res.req?.method === 'HEAD') {
    res.writeHead(status, headers);
    res.end();
    return;
  }
  const buf = Buffer.from(body, 'utf8');
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', ...headers, 'Content-Length': String(buf.length) });
  res.end(buf);
}
