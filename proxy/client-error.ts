import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { replayWithEncodedTarget } from './raw-request-line.js';
import { defaultBody } from './responses.js';

/** What the proxy's Allow says for a method it has no controller for. */
export const SWIFT_METHODS_ALLOW = 'HEAD, GET, PUT, POST, COPY, OPTIONS, DELETE';

/** Sockets whose in-flight answer goes out before they close (see onClientError). */
const closingAfterAnswer = new WeakSet<Socket>();

/**
 * The HTTP server's 'clientError': bytes on a connection that do not parse as a request.
 *
 * A PUT with neither Content-Length nor chunked encoding has no body as far as HTTP goes, so
 * whatever body it sends reads as a broken next request, often before the PUT itself has been
 * answered. Swift answers that PUT 411; fastify's default handler would write a 400 at once in its
 * place. So while a complete request is still being answered on the connection, its answer goes
 * out first, and the connection closes after it (nothing after a parse error can be trusted).
 * Otherwise: 400 (408 on a request timeout, 431 for oversized headers), then close; `answered`
 * is told the status and the request line, for the access log.
 */
export function onClientError(err: NodeJS.ErrnoException, socket: Socket, answered?: (status: number, requestLine: string) => void): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  // Raw non-ASCII bytes in the request line: the request is replayed with them percent-encoded.
  if (replayWithEncodedTarget(err, socket)) return;
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (inFlight && !inFlight.writableFinished && inFlight.req?.complete) {
    if (closingAfterAnswer.has(socket)) return;
    closingAfterAnswer.add(socket);
    // Before the head is written this makes it "Connection: close" and Node ends the socket after it.
    if (!inFlight.headersSent) inFlight.shouldKeepAlive = false;
    inFlight.once('finish', () => socket.destroySoon());
    inFlight.once('close', () => socket.destroySoon());
    return;
  }
  // A body coded some way other than plain chunked ("gzip,chunked") that Node could not parse:
  // Swift answers the coding itself, 501, before reading any of it.
  const te = String(inFlight?.req?.headers['transfer-encoding'] ?? '').toLowerCase();
  const unknownCoding = te !== '' && te !== 'chunked';
  // A well-formed request line with a method Node's parser does not know ("LICK"): Swift answers
  // any unknown method 405. A line that is no request line at all stays a 400.
  const line = ((err as { rawPacket?: Buffer }).rawPacket ?? Buffer.alloc(0)).toString('latin1').split('\n', 1)[0] ?? '';
  const unknownMethod = err.code === 'HPE_INVALID_METHOD' && /^[!#$%&'*+.^_`|~0-9A-Za-z-]+ \S+ HTTP\/1\.[01]\r?$/.test(line);
  const status = unknownCoding ? 501 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : err.code === 'HPE_HEADER_OVERFLOW' ? 431 : unknownMethod ? 405 : 400;
  const reason = { 408: 'Request Timeout', 431: 'Request Header Fields Too Large', 405: 'Method Not Allowed', 501: 'Not Implemented' }[status as 408] ?? 'Bad Request';
  const allow = status === 405 ? `Allow: ${SWIFT_METHODS_ALLOW}\r\n` : '';
  const body = defaultBody(status);
  if (socket.writable && !inFlight?.headersSent) {
    socket.write(`HTTP/1.1 ${status} ${reason}\r\n${allow}Content-Type: text/html; charset=UTF-8\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    // A request Node had parsed (inFlight) has its own access log line already.
    if (!inFlight) answered?.(status, line);
  }
  socket.destroy(err);
}
