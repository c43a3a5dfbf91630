import type { Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { defaultBody } from './responses.js';

/**
 * Request lines with raw bytes Node's HTTP parser refuses in a URL (llhttp: control bytes, DEL,
 * and every byte above 0x7f), which clients send for non-ASCII names (raw UTF-8 paths). Swift
 * takes them: valid UTF-8 names work, invalid UTF-8 or a NUL gets 412 "Invalid UTF8 or contains
 * NULL". llhttp has no option to accept them (insecureHTTPParser neither), so on its parse error
 * the proxy rewrites the request line with those bytes percent-encoded (what a careful client
 * sends, and what the rest of the proxy already answers Swift's way) and hands the connection
 * back to the HTTP server through a Duplex over the same socket, the rewritten bytes first.
 */

/** A request line longer than this (eventlet's MAX_REQUEST_LINE) is not rewritten: 400. */
const MAX_REQUEST_LINE = 8192;

const METHOD = /^[A-Z]+$/;

/** ASCII whitespace as Python's split() sees it: eventlet splits a request line on these (400). */
const SPLITS = new Set([0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x1c, 0x1d, 0x1e, 0x1f, 0x20]);

/**
 * The request line with the bytes llhttp refuses in its target percent-encoded; undefined if it
 * is no "METHOD target HTTP/x.y" line (a target with whitespace in it is three words too many).
 */
export function encodeRequestLine(line: Buffer): Buffer | undefined {
  const sp1 = line.indexOf(0x20);
  const sp2 = line.lastIndexOf(0x20);
  if (sp1 <= 0 || sp2 <= sp1 + 1) return undefined;
  if (!METHOD.test(line.subarray(0, sp1).toString('latin1'))) return undefined;
  if (!/^HTTP\/\d\.\d$/.test(line.subarray(sp2 + 1).toString('latin1'))) return undefined;
  const target = line.subarray(sp1 + 1, sp2);
  if (target.some((b) => SPLITS.has(b))) return undefined;
  let out = '';
  for (const b of target) out += b <= 0x20 || b >= 0x7f ? `%${b.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(b);
  return Buffer.concat([line.subarray(0, sp1 + 1), Buffer.from(out, 'latin1'), line.subarray(sp2)]);
}

/** The socket under a connection this module handed back to the server. */
const underneath = new WeakMap<Duplex, { socket: Socket; detach: () => void }>();

/**
 * On llhttp's HPE_INVALID_URL: takes the connection over, waits for the whole request line,
 * rewrites it and replays the connection into the server. Returns false when it cannot (the line
 * did not start in the chunk the parser failed on, or is not a request line): the caller answers
 * 400 as for any other parse error.
 */
export function replayWithEncodedTarget(err: NodeJS.ErrnoException & { rawPacket?: unknown; bytesParsed?: number }, conn: Socket | Duplex): boolean {
  const raw = err.rawPacket;
  const at = err.bytesParsed ?? 0;
  const server = (conn as Socket & { server?: Server }).server;
  if (err.code !== 'HPE_INVALID_URL' || !Buffer.isBuffer(raw) || at <= 0 || at > raw.length || !server) return false;
  const start = raw.lastIndexOf(0x0a, at - 1) + 1;
  const sp = raw.indexOf(0x20, start);
  if (sp <= start || sp > at || !METHOD.test(raw.subarray(start, sp).toString('latin1'))) return false;
  const socket = underneath.get(conn as Duplex)?.socket ?? (conn as Socket);
  detach(conn);
  let pending = Buffer.from(raw.subarray(start));
  const onData = (d: Buffer): void => {
    pending = Buffer.concat([pending, d]);
    tryReplay();
  };
  const tryReplay = (): void => {
    const lf = pending.indexOf(0x0a);
    if (lf === -1 && pending.length <= MAX_REQUEST_LINE) return;
    socket.off('data', onData);
    socket.pause();
    const cr = lf > 0 && pending[lf - 1] === 0x0d ? lf - 1 : lf;
    const line = lf === -1 || lf > MAX_REQUEST_LINE ? undefined : encodeRequestLine(pending.subarray(0, cr));
    if (!line) return void refuse(socket);
    const inFlight = (conn as { _httpMessage?: ServerResponse | null })._httpMessage;
    const go = (): void => void server.emit('connection', replay(socket, Buffer.concat([line, pending.subarray(cr)])));
    // An answer to an earlier request on this connection goes out first, whole.
    if (inFlight && !inFlight.writableFinished) inFlight.once('finish', go);
    else go();
  };
  socket.on('data', onData);
  tryReplay();
  socket.resume();
  return true;
}

function refuse(socket: Socket): void {
  const body = defaultBody(400);
  socket.end(`HTTP/1.1 400 Bad Request\r\nContent-Type: text/html; charset=UTF-8\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
}

/**
 * Stops the HTTP server reading `conn`, as Node does for an upgrade: its parser leaves the socket
 * and the server's list of connections (no timeouts for it), its listeners go. The parser itself
 * is freed when the socket closes.
 */
function detach(conn: Socket | Duplex): void {
  const parser = (conn as { parser?: { _consumed?: boolean; unconsume(): void; remove?(): void } | null }).parser;
  if (parser?._consumed) {
    parser.unconsume();
    parser._consumed = false;
  }
  parser?.remove?.();
  underneath.get(conn as Duplex)?.detach();
  for (const ev of ['data', 'end', 'drain', 'timeout', 'pause', 'resume']) conn.removeAllListeners(ev);
  // The server wrapped these to unconsume its parser; the socket is ours now.
  for (const k of ['on', 'addListener', 'prependListener', 'setEncoding']) delete (conn as unknown as Record<string, unknown>)[k];
}

/** A Duplex over `socket` that reads `head` first, for the HTTP server to parse as a connection. */
function replay(socket: Socket, head: Buffer): Duplex {
  let attached = true;
  const d = new Duplex({
    read: () => void socket.resume(),
    // Still writes once detached: an answer in flight on it goes out before the replay's.
    write: (chunk: Buffer, _enc, cb) => void socket.write(chunk, cb),
    final: (cb) => (attached ? void socket.end(cb) : cb()),
    destroy: (e, cb) => {
      if (attached) socket.destroy(e ?? undefined);
      cb(e);
    },
  });
  const onData = (c: Buffer): void => void (d.push(c) || socket.pause());
  const onEnd = (): void => void d.push(null);
  const onClose = (): void => void d.destroy();
  const onTimeout = (): void => void d.emit('timeout');
  socket.on('data', onData).on('end', onEnd).on('close', onClose).on('timeout', onTimeout);
  underneath.set(d, {
    socket,
    detach: () => {
      attached = false;
      socket.off('data', onData).off('end', onEnd).off('close', onClose).off('timeout', onTimeout);
    },
  });
  // What the server and fastify ask of a connection.
  Object.assign(d, {
    setTimeout: (ms: number) => (socket.setTimeout(ms), d),
    setNoDelay: (v?: boolean) => (socket.setNoDelay(v), d),
    setKeepAlive: (v?: boolean, ms?: number) => (socket.setKeepAlive(v, ms), d),
  });
  for (const k of ['remoteAddress', 'remotePort', 'remoteFamily', 'localAddress', 'localPort', 'bytesWritten']) {
    Object.defineProperty(d, k, { get: () => socket[k as keyof Socket] });
  }
  d.push(head);
  return d;
}
