import { randomBytes } from 'node:crypto';
import { STATUS_CODES } from 'node:http';
import { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { isInternalHeader } from '../common/headers.js';
import type { Body, ProxyResponse } from './pipeline.js';

/** Swift's (webob's) default bodies, so clients that print them show what they show against Swift. */
const STATUS_BODIES: Record<number, [string, string]> = {
  202: ['Accepted', 'The request is accepted for processing.'],
  400: ['Bad Request', 'The server could not comply with the request since it is either malformed or otherwise incorrect.'],
  401: ['Unauthorized', 'This server could not verify that you are authorized to access the document you requested.'],
  403: ['Forbidden', 'Access was denied to this resource.'],
  404: ['Not Found', 'The resource could not be found.'],
  405: ['Method Not Allowed', 'The method is not allowed for this resource.'],
  408: ['Request Timeout', 'The server has waited too long for the request to be sent by the client.'],
  409: ['Conflict', 'There was a conflict when trying to complete your request.'],
  411: ['Length Required', 'Length Required'],
  412: ['Precondition Failed', 'A precondition for this request was not met.'],
  413: ['Request Entity Too Large', 'The body of your request was too large for this server.'],
  416: ['Requested Range Not Satisfiable', 'The Range requested is not available.'],
  422: ['Unprocessable Entity', 'Unable to process the contained instructions'],
  499: ['Client Disconnect', 'The client was disconnected during request.'],
  500: ['Internal Error', 'The server has either erred or is incapable of performing the requested operation.'],
  501: ['Not Implemented', 'The requested method is not implemented by this server.'],
  497: ['Blacklisted', 'Your account has been blacklisted'],
  498: ['Rate Limited', 'Slow down'],
  503: ['Service Unavailable', 'The server is currently unavailable. Please try again at a later time.'],
  507: ['Insufficient Storage', 'There was not enough space to save the resource. Drive: unknown'],
};

/** The reason phrase Swift (webob) gives a status: "201 Created", "413 Request Entity Too Large". */
export function reasonPhrase(status: number): string {
  return STATUS_BODIES[status]?.[0] ?? STATUS_CODES[status] ?? 'Unknown';
}

/** "201 Created": the status line swob writes for a status (Swift reports sub-requests so). */
export function statusLine(status: number): string {
  return `${status} ${reasonPhrase(status)}`;
}

export function defaultBody(status: number): string {
  const b = STATUS_BODIES[status];
  return b ? `<html><h1>${b[0]}</h1><p>${b[1]}</p></html>` : '';
}

/** Python's urllib quote(s, safe='/') of a UTF-8 string: what Swift puts in a realm. */
function pyQuote(s: string): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) out += /[A-Za-z0-9_.~/-]/.test(String.fromCharCode(b)) ? String.fromCharCode(b) : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  return out;
}

/**
 * swob's WWW-Authenticate for a 401: 'Swift realm="<account>"', the second segment of the path
 * (quoted), or "unknown" when there is none or it is a login path's ("/auth/v1.0").
 */
export function wwwAuthenticate(url: string): string {
  const q = url.indexOf('?');
  const segs = (q === -1 ? url : url.slice(0, q)).split('/', 3);
  let realm = segs.length === 3 && segs[0] === '' && segs[1] && segs[2] ? safeDecode(segs[2]) : 'unknown';
  if (realm === 'v1.0' || realm === 'auth') realm = 'unknown';
  return `Swift realm="${pyQuote(realm)}"`;
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Swift's transaction id: "tx" + 21 hex chars + "-" + hex epoch seconds. */
export function newTransId(now: number): string {
  return `tx${randomBytes(11).toString('hex').slice(0, 21)}-${Math.floor(now / 1000).toString(16).padStart(10, '0')}`;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-connection', 'date']);

/** Headers of a backend answer that a client may see: no internal or hop-by-hop ones. */
export function clientHeaders(backend: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(backend)) {
    const lk = k.toLowerCase();
    if (HOP_BY_HOP.has(lk) || isInternalHeader(lk) || lk === 'x-trans-id' || lk === 'x-openstack-request-id') continue;
    out[k] = v;
  }
  return out;
}

/** The edge's last step: a pipeline's response written to the client (see send). */
export function writeResponse(reply: FastifyReply, res: ProxyResponse): FastifyReply {
  return send(reply, res.status, res.headers, nodeBody(res.body));
}

/** An async iterable body as a Readable (fastify pipes streams); the rest as they are. */
function nodeBody(b: Body | undefined): string | Buffer | Readable | undefined {
  if (b === undefined || typeof b === 'string' || Buffer.isBuffer(b) || typeof (b as Readable).pipe === 'function') return b as string | Buffer | Readable | undefined;
  return Readable.from(b as AsyncIterable<Buffer>, { objectMode: false, highWaterMark: 1024 * 1024 });
}

/**
 * Sends an answer. A string body gets Content-Length and, without a type of its own, swob's
 * text/html; an error status without a body gets Swift's HTML page, a 401 swob's
 * WWW-Authenticate; a stream is piped with backpressure (fastify destroys it if the client leaves).
 * A stream already destroyed (a backend body dropped) can never be sent: that answer is a 503.
 */
export function send(
  reply: FastifyReply,
  status: number,
  headers: Record<string, string> = {},
  body?: string | Buffer | Readable,
): FastifyReply {
  if (body !== undefined && typeof body !== 'string' && !Buffer.isBuffer(body) && body.destroyed) {
    reply.log.error({ status }, 'a backend body was dropped before it was relayed');
    return send(reply, 503);
  }
  reply.code(status);
  // Swift's own statuses (497, 498) have no reason phrase in Node: swob's.
  if (!STATUS_CODES[status]) reply.raw.statusMessage = reasonPhrase(status);
  for (const [k, v] of Object.entries(headers)) reply.header(k, v);
  if (status === 401 && !hasHeader(headers, 'www-authenticate')) reply.header('WWW-Authenticate', wwwAuthenticate(reply.request.url));
  const isHead = reply.request.method === 'HEAD';
  if (body === undefined && status >= 400 && !isHead) body = defaultBody(status);
  if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) {
    const buf = body === undefined ? Buffer.alloc(0) : typeof body === 'string' ? Buffer.from(body) : body;
    if (!isHead || !hasHeader(headers, 'content-length')) reply.header('content-length', String(buf.length));
    // swob's default type: every answer of Swift's has it unless it says otherwise (a 204 too).
    if (!hasHeader(headers, 'content-type') && !reply.hasHeader('content-type')) reply.header('content-type', 'text/html; charset=UTF-8');
    // No payload at all for an empty answer: fastify would strip a 204's headers for an empty one.
    return reply.send(isHead || buf.length === 0 ? undefined : buf);
  }
  return reply.send(body);
}

/**
 * A backend body that failed before any of it reached the client (the node went away after its
 * headers): fastify hands that to the error handler, which answers 503 with none of the failed
 * answer's headers, like any other node failure. (Once bytes went out, the connection is cut.)
 */
export function isBackendStreamError(err: { code?: string }): boolean {
  return typeof err.code === 'string' && (err.code.startsWith('UND_ERR_') || err.code === 'ERR_STREAM_PREMATURE_CLOSE');
}

/** Drops every header set for an answer that failed, but the transaction ids. */
export function resetHeaders(reply: FastifyReply): void {
  for (const name of reply.raw.getHeaderNames()) if (!/^x-(trans-id|openstack-request-id)$/.test(name)) reply.raw.removeHeader(name);
  for (const name of Object.keys(reply.getHeaders())) if (!/^x-(trans-id|openstack-request-id)$/i.test(name)) reply.removeHeader(name);
}

/** A refusal (proxy/constraints.ts) in Swift's content type for it. */
export function sendRejection(reply: FastifyReply, r: { status: number; body: string; contentType?: string }, headers: Record<string, string> = {}): FastifyReply {
  return send(reply, r.status, r.contentType ? { ...headers, 'Content-Type': r.contentType } : headers, r.body);
}

function hasHeader(h: Record<string, string>, name: string): boolean {
  return Object.keys(h).some((k) => k.toLowerCase() === name);
}
