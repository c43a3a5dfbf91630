import type { BackendPath } from '../common/backend-path.js';
import { createHash } from 'node:crypto';
import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { crc32c } from '../common/native-sums.js';
import { crcHex } from '../common/checksum.js';
import { H } from '../common/headers.js';
import { encodeRawTrailer, RAW_BODY_METHOD, RAW_BODY_PROTOCOL, ResponseHeadReader } from '../common/raw-body.js';
import { bestResponse, gatherUntilQuorum, quorumSize, timerSleep, type Sleep } from '../common/quorum.js';
import { withTimeout } from '../common/with-timeout.js';
import type { Ring, RingDevice } from '../ring-builder/ring.js';
import { nodeIter, nodeKey, type NodeTarget } from './backend.js';
import type { BodySums } from './body-sums.js';
import type { ProxyContext } from './context.js';

/**
 * The object PUT fan-out: the body streams from the client to every replica at once.
 *
 * Each replica is opened with `Expect: 100-continue`, so a node that cannot take the write
 * (507, unreachable) is replaced by a handoff before a byte is sent. Once a quorum of nodes said
 * "continue", every chunk is written to all of them and the client is paused while any node is
 * behind (backpressure). A node that fails mid-body is dropped; the PUT answers 201 as soon as a
 * quorum of nodes stored and fsynced the object (the last replica's write goes on meanwhile).
 *
 * The body's MD5 (the ETag) and CRC32C are computed here, once (body-sums.ts: a large body's on a
 * worker thread), and sent to every node as chunked trailers (X-Backend-Etag, X-Backend-Crc32c):
 * each node checks the CRC32C of the bytes it got against ours and stores our ETag, instead of
 * three nodes computing the same MD5.
 */
export interface PutOutcome {
  status: number;
  etag?: string;
  /** Per node, for logs and tests. */
  statuses: Array<{ node: string; status: number }>;
}

export type PutErrorKind = 'client-disconnect' | 'client-timeout' | 'too-large';

interface Conn {
  node: NodeTarget;
  req: ClientRequest;
  /** Where the body goes: the request (chunked), or the upgraded socket of a raw transfer. */
  out: Writable;
  failed: boolean;
  response: Promise<{ status: number; etag?: string }>;
}

type ConnectResult = { conn: Conn } | { status: number };

/** The node request's headers: the body goes chunked, its length (if known) in a header, its checksums in trailers. */
function backendPutHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = { ...headers, Expect: '100-continue', 'transfer-encoding': 'chunked', [H.checksumTrailer]: 'md5,crc32c', Trailer: `${H.backendEtag}, ${H.backendCrc32c}` };
  const length = out['content-length'];
  delete out['content-length'];
  if (length !== undefined) out[H.objContentLength] = length;
  return out;
}

/** A raw transfer's request headers: an upgrade instead of a body, the length in the same header as a chunked body's. */
function rawPutHeaders(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = { ...headers, Connection: 'Upgrade', Upgrade: RAW_BODY_PROTOCOL };
  out[H.objContentLength] = out['content-length'] ?? '0';
  delete out['content-length'];
  return out;
}

function connect(ctx: ProxyContext, node: NodeTarget, path: BackendPath, headers: Record<string, string>, raw: boolean): Promise<ConnectResult> {
  return new Promise((resolve) => {
    let settled = false;
    let resolveResponse!: (v: { status: number; etag?: string }) => void;
    const response = new Promise<{ status: number; etag?: string }>((r) => (resolveResponse = r));
    const req = httpRequest({
      host: node.dev.ip,
      port: node.dev.port,
      method: raw ? RAW_BODY_METHOD : 'PUT',
      path,
      headers: ctx.backend.sign(raw ? RAW_BODY_METHOD : 'PUT', path, raw ? rawPutHeaders(headers) : backendPutHeaders(headers)),
      // An upgraded connection is never reused: no pool for it.
      agent: raw ? false : ctx.putAgent,
    });
    const conn: Conn = { node, req, out: req, failed: false, response };
    const fail = (status: number, why: string): void => {
      conn.failed = true;
      if (!settled) {
        settled = true;
        ctx.errorLimiter.recordError(nodeKey(node.dev));
        ctx.log.warn({ node: nodeKey(node.dev), path, why }, 'object PUT: node unavailable');
        resolve({ status });
      }
      resolveResponse({ status });
    };
    const timer = setTimeout(() => {
      fail(503, 'timeout');
      req.destroy();
    }, ctx.config.conn_timeout_ms + ctx.config.node_timeout_ms);
    req.on('continue', () => {
      clearTimeout(timer);
      if (!settled) {
        settled = true;
        resolve({ conn });
      }
    });
    req.on('response', (res: IncomingMessage) => {
      clearTimeout(timer);
      res.resume();
      let status = res.statusCode ?? 503;
      if (!settled && raw && status === 405) {
        // A node from before the raw transfer: it gets the chunked PUT on a new connection.
        settled = true;
        conn.failed = true;
        resolve(connect(ctx, node, path, headers, false));
        return;
      }
      // Stored before the body was sent? Not a node that speaks our protocol: never a success.
      if (!settled && status >= 200 && status < 300) {
        ctx.log.error({ node: nodeKey(node.dev), path, status }, 'object PUT: a node answered 2xx before the body');
        status = 503;
      }
      if (status === 507) ctx.errorLimiter.limitNow(nodeKey(node.dev));
      const etag = res.headers.etag;
      res.on('end', () => resolveResponse(etag === undefined ? { status } : { status, etag: String(etag) }));
      res.on('error', () => resolveResponse({ status: 503 }));
      if (!settled) {
        // Answered before asking for the body (507, 409, 400...): this node will not take it.
        settled = true;
        conn.failed = true;
        resolve({ status });
      }
    });
    req.on('upgrade', (res: IncomingMessage, socket: Socket, early: Buffer) => {
      // The node is ready for the raw body (its 101 is our 100 Continue); its answer comes on the socket after the body.
      clearTimeout(timer);
      conn.out = socket;
      const head = new ResponseHeadReader();
      let answered = false;
      const onData = (chunk: Buffer): void => {
        const got = head.feed(chunk);
        if (got === undefined) return;
        answered = true;
        socket.off('data', onData);
        socket.destroy();
        if (got === 'bad') return fail(503, 'bad response after the raw body');
        if (got.status === 507) ctx.errorLimiter.limitNow(nodeKey(node.dev));
        resolveResponse(got);
      };
      socket.on('data', onData);
      socket.on('error', (err) => {
        if (!answered) fail(503, err.message);
      });
      socket.on('close', () => {
        if (!answered) fail(503, 'connection closed before an answer');
      });
      if (early.length) onData(early);
      if (!settled) {
        settled = true;
        resolve({ conn });
      }
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      fail(503, err.message);
    });
    if (raw) req.end();
    else req.flushHeaders();
  });
}

/** Where an object PUT goes: its ring and partition, each node's path, and replica i's headers. */
export interface PutPlacement {
  ring: Ring;
  part: number;
  pathFor: (dev: RingDevice) => BackendPath;
  headersFor: (i: number) => Record<string, string>;
  /**
   * A conditional create (If-None-Match: *): every replica is asked before any body byte, and one
   * that already holds the object (412) fails the PUT, as Swift's proxy does.
   */
  create?: boolean;
  /** The most bytes the body may bring (a quota's room, for a chunked body); more is a PutError 'too-large'. */
  maxBytes?: number;
}

/**
 * One attempt per replica slot, all slots at once: each starts at its primary (or a handoff when
 * the primary is error-limited) and moves down the shared handoff list while `attempt` says the
 * node did not settle it. One promise per slot, of its last result (`none` when no node was left).
 */
function walkSlots<R>(ctx: ProxyContext, p: PutPlacement, none: R, attempt: (node: NodeTarget, i: number) => Promise<{ result: R; settled: boolean }>): Array<Promise<R>> {
  const handoffs = (function* () {
    for (const n of nodeIter(ctx, p.ring, p.part, p.ring.replicaCount * 3)) if (n.handoff) yield n;
  })();
  return p.ring.primaries(p.part).map(async (dev, i) => {
      let node: NodeTarget | undefined = { dev, index: i, handoff: false };
      if (ctx.errorLimiter.isLimited(nodeKey(dev))) node = handoffs.next().value ?? undefined;
      let last = none;
      while (node) {
        const a = await attempt(node, i);
        last = a.result;
        if (a.settled) return last;
        node = handoffs.next().value ?? undefined;
      }
      return last;
    });
}

/**
 * The nodes' final answers, collected until the PUT can be answered: at once when a quorum stored
 * it (the others carry on and the replicator repairs a straggler); when a quorum agrees on
 * another class (two 422s, two 409s), after at most `graceMs` more for the rest (Swift's
 * post_quorum_timeout), not the node timeout of a hung one; else when all are in.
 */
export async function untilQuorum(
  answers: Array<Promise<{ status: number; etag?: string }>>,
  replicas: number,
  graceMs: number,
  sleep: Sleep = timerSleep,
): Promise<Array<{ status: number; etag?: string }>> {
  const need = quorumSize(replicas);
  const stored = (statuses: number[]): boolean => statuses.filter((s) => s >= 200 && s < 300).length >= need;
  const got = await gatherUntilQuorum(answers, (r) => r.status, replicas, graceMs, sleep, stored);
  return got.filter((r): r is { status: number; etag?: string } => r !== undefined);
}

/** Opens one connection per replica slot, moving down the handoffs while nodes refuse. */
async function connectAll(ctx: ProxyContext, p: PutPlacement, raw: boolean) {
  const refused: Array<{ node: string; status: number }> = [];
  const slots = await Promise.all(walkSlots<Conn | undefined>(ctx, p, undefined, async (node, i) => {
    const r = await connect(ctx, node, p.pathFor(node.dev), p.headersFor(i), raw);
    if ('conn' in r) return { result: r.conn, settled: true };
    refused.push({ node: nodeKey(node.dev), status: r.status });
    // A 4xx before the body (409: newer data there; 400) is the node's verdict, not a fault.
    return { result: undefined, settled: r.status < 500 };
  }));
  return { conns: slots.filter((c): c is Conn => c !== undefined), refused };
}

/** The X-Backend-Etag / X-Backend-Crc32c values every node checks the body against. */
function sumHeaders(md5Hex: string, crc: number): Record<string, string> {
  return { [H.backendEtag]: md5Hex, [H.backendCrc32c]: crcHex(crc) };
}

/** The PUT's answer from every node's final status: Swift's quorum rule, the ETag of a 201. */
function putOutcome(ctx: ProxyContext, p: PutPlacement, finals: Array<{ status: number; etag?: string }>, statuses: PutOutcome['statuses']): PutOutcome {
  const best = bestResponse(
    finals.map((f) => f.status),
    p.ring.replicaCount,
  );
  const etag = finals.find((f) => f.status === 201 && f.etag)?.etag;
  if (best.status === 503) ctx.log.warn({ part: p.part, statuses }, 'object PUT: no quorum');
  return etag === undefined ? { status: best.status, statuses } : { status: best.status, etag, statuses };
}

export class PutError extends Error {
  constructor(readonly kind: PutErrorKind) {
    super(kind);
  }
}

/**
 * Streams `body` to the replicas. `contentLength` undefined means chunked. The body is read only
 * here; on a client failure a PutError says why and every node request is aborted (nothing stored).
 */
export async function putToReplicas(ctx: ProxyContext, p: PutPlacement, body: Readable, contentLength: number | undefined): Promise<PutOutcome> {
  // A create needs every node's verdict before the body: the small path sends body and headers at once.
  if (contentLength !== undefined && contentLength <= SMALL_BODY_BYTES && !p.create) return putSmall(ctx, p, body, contentLength);
  const need = quorumSize(p.ring.replicaCount);
  const raw = contentLength !== undefined && contentLength > RAW_BODY_ABOVE_BYTES;
  const { conns, refused } = await connectAll(ctx, p, raw);
  const statuses = [...refused];
  if (p.create && refused.some((r) => r.status === 412)) {
    // Any copy of the object found means it exists (Swift's _check_failure_put_connections).
    for (const c of conns) destroyConn(c);
    body.resume();
    return { status: 412, statuses };
  }
  if (conns.length < need) {
    for (const c of conns) destroyConn(c);
    body.resume();
    const verdicts = refused.map((r) => r.status);
    // A quorum of 4xx verdicts (e.g. 409) is the answer; otherwise the cluster cannot take it.
    const best = bestResponse([...verdicts, ...conns.map(() => 503)], p.ring.replicaCount);
    return { status: best.quorum && best.status < 500 ? best.status : 503, statuses };
  }
  const abortAll = (): void => {
    for (const c of conns) {
      c.failed = true;
      destroyConn(c);
    }
  };
  const alive = (): Conn[] => conns.filter((c) => !c.failed);
  let received: number;
  const sums = ctx.hashing.sumsFor(contentLength);
  let md5Hex: string;
  let crc: number;
  try {
    received = await streamBody(ctx, body, conns, need, Math.min(contentLength ?? Infinity, p.maxBytes ?? Infinity), sums);
    if (alive().length < need) {
      abortAll();
      sums.abort();
      return { status: 503, statuses };
    }
    if (contentLength !== undefined && received < contentLength) throw new PutError('client-disconnect');
    ({ md5Hex, crc } = await sums.result());
  } catch (err) {
    abortAll();
    sums.abort();
    throw err;
  }
  const trailers = sumHeaders(md5Hex, crc);
  const rawTrailer = raw ? encodeRawTrailer(md5Hex, crc) : undefined;
  for (const c of alive()) {
    if (rawTrailer && upgraded(c)) {
      c.out.write(rawTrailer);
    } else {
      c.req.addTrailers(trailers);
      c.req.end();
    }
  }
  const finals = await untilQuorum(
    conns.map(async (c) => {
      const r = c.failed ? { status: 503 } : await withTimeout(c.response, ctx.config.node_timeout_ms, () => ({ status: 503 }));
      if (r.status === 503 && !c.failed) destroyConn(c);
      statuses.push({ node: nodeKey(c.node.dev), status: r.status });
      return r;
    }),
    p.ring.replicaCount,
    ctx.config.post_quorum_timeout_ms,
  );
  return putOutcome(ctx, p, [...finals, ...refused], [...statuses]);
}

/** A node connection during the body: whether its socket is full, since when (the timer that drops it). */
type Slow = Conn & { behind?: boolean; behindTimer?: NodeJS.Timeout };

/**
 * Copies the client's body to every live node request with backpressure: each chunk goes to all
 * of them, and the client is paused while any node is behind (its socket still holds bytes past
 * its high-water mark: a few chunks in flight per node, never the object), resumed once all have
 * drained. Event driven: no promise per chunk. The chunks of one event-loop turn (a socket read
 * yields up to 64 KiB; libuv reads several per turn) are corked and go to each node in one
 * writev: per GB that is a fraction of the send syscalls, and the nodes wake for fewer, larger
 * reads (an A/B of 64 MiB PUTs in bench/RESULTS.md: the cluster's CPU per GB −10 %, the nodes'
 * −19 %). Resolves with the bytes received (fewer than Content-Length if the body ended early, or
 * stopped early when fewer than `need` nodes are left); rejects with a PutError when the client
 * fails, stalls or sends too much.
 */
function streamBody(ctx: ProxyContext, body: Readable, conns: Conn[], need: number, maxBytes: number, sums: BodySums): Promise<number> {
  const limit = Math.min(ctx.config.max_file_size, maxBytes);
  return new Promise<number>((resolve, reject) => {
    let received = 0;
    let settled = false;
    let waiting = 0;
    let idleTimer: NodeJS.Timeout | undefined;
    const listeners: Array<() => void> = [];
    /** The connections corked this turn, and the turn's end that uncorks them (flushTurn). */
    let corked: Slow[] = [];
    let turnEnd: NodeJS.Immediate | undefined;
    /** The hashing thread is more than HASH_BEHIND_BYTES behind (body-sums.ts): counted in `waiting` like a node. */
    let hashBehind = false;
    const finish = (err?: PutError): void => {
      if (settled) return;
      settled = true;
      flushTurn();
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = undefined;
      for (const c of conns as Slow[]) clearTimeout(c.behindTimer);
      detach();
      for (const off of listeners) off();
      if (err) {
        stopBody(body, err);
        reject(err);
      } else {
        if (!body.readableEnded) body.pause();
        resolve(received);
      }
    };
    const armIdle = (): void => {
      // Called per chunk: refresh() re-arms the same timer instead of making a new one.
      if (idleTimer) idleTimer.refresh();
      else idleTimer = setTimeout(() => finish(new PutError('client-timeout')), ctx.config.client_timeout_ms);
    };
    const liveCount = (): number => conns.reduce((n, c) => n + (c.failed ? 0 : 1), 0);
    /** A node drained or dropped out: resume the client once no live node is behind. */
    const settle = (c: Slow): void => {
      if (!c.behind) return;
      c.behind = false;
      clearTimeout(c.behindTimer);
      waiting--;
      if (settled) return;
      if (liveCount() < need) return finish();
      resumeClient();
    };
    /** Reads the client's body again once nothing is behind. */
    const resumeClient = (): void => {
      if (settled || waiting > 0) return;
      armIdle();
      body.resume();
    };
    /**
     * A node that takes nothing for node_timeout while the others wait (a hung disk, a stopped
     * process) is dropped, as Swift's ChunkWriteTimeout does: the rest go on if they are a quorum.
     */
    const fallBehind = (c: Slow): void => {
      c.behind = true;
      waiting++;
      c.behindTimer = setTimeout(() => {
        ctx.log.warn({ node: nodeKey(c.node.dev), ms: ctx.config.node_timeout_ms }, 'object PUT: node took no body for node_timeout, dropped');
        ctx.errorLimiter.recordError(nodeKey(c.node.dev));
        c.failed = true;
        destroyConn(c);
      }, ctx.config.node_timeout_ms);
    };
    for (const conn of conns as Slow[]) {
      const onDrain = (): void => settle(conn);
      const onGone = (): void => {
        conn.failed = true;
        settle(conn);
        if (!settled && liveCount() < need) finish();
      };
      conn.out.on('drain', onDrain);
      conn.out.on('close', onGone);
      conn.out.on('error', onGone);
      listeners.push(() => {
        conn.out.off('drain', onDrain);
        conn.out.off('close', onGone);
        conn.out.off('error', onGone);
      });
    }
    /** While any node is behind: stop reading, and stop the client's idle clock (the wait is ours). */
    const holdClient = (): void => {
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = undefined;
      body.pause();
    };
    /** The turn's end: each corked node gets its chunks in one writev; one left holding bytes is behind. */
    const flushTurn = (): void => {
      if (turnEnd) clearImmediate(turnEnd);
      turnEnd = undefined;
      const these = corked;
      corked = [];
      for (const c of these) {
        c.out.uncork();
        // 'drain' comes only after a write that returned false (needDrain): wait only for that.
        if (!settled && !c.failed && !c.behind && c.out.writableLength > 0 && c.out.writableNeedDrain) fallBehind(c);
      }
      if (sums.flushTurn() && !hashBehind && !settled) {
        hashBehind = true;
        waiting++;
        sums.onDrain(() => {
          hashBehind = false;
          waiting--;
          resumeClient();
        });
      }
      if (waiting > 0 && !settled) holdClient();
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > limit) return finish(new PutError('too-large'));
      sums.update(chunk);
      if (!turnEnd) {
        corked = (conns as Slow[]).filter((c) => !c.failed);
        for (const c of corked) c.out.cork();
        turnEnd = setImmediate(flushTurn);
      }
      for (const c of conns as Slow[]) if (!c.failed) c.out.write(chunk);
      if (liveCount() < need) return finish();
      if (waiting > 0) holdClient();
      else armIdle();
    };
    const detach = listenToBody(body, onData, () => finish(), finish);
    armIdle();
    if (body.readableEnded) finish();
    else if (body.destroyed) finish(new PutError('client-disconnect'));
  });
}

/**
 * After a body failed: a client still connected (timed out, sent too much) is answered first (the
 * caller replies with Connection: close, and the unread rest is dropped with the connection);
 * destroying the body now would close the socket unanswered. A client already gone is dropped.
 */
function stopBody(body: Readable, err: PutError): void {
  body.on('error', () => undefined);
  if (err.kind === 'client-disconnect') body.destroy();
  else body.pause();
}

/** The client body's listeners: chunks, the end, and an error or a close before the end (client-disconnect). Returns their removal. */
function listenToBody(body: Readable, onData: (chunk: Buffer) => void, onEnd: () => void, fail: (e: PutError) => void): () => void {
  const onError = (): void => fail(new PutError('client-disconnect'));
  const onClose = (): void => {
    if (!body.readableEnded) fail(new PutError('client-disconnect'));
  };
  body.on('data', onData);
  body.on('end', onEnd);
  body.on('error', onError);
  body.on('close', onClose);
  return () => {
    body.off('data', onData);
    body.off('end', onEnd);
    body.off('error', onError);
    body.off('close', onClose);
  };
}

/** Whether the node took the raw transfer (its body goes to the upgraded socket, not the request). */
function upgraded(c: Conn): boolean {
  return c.out !== c.req;
}

function destroyConn(c: Conn): void {
  c.req.destroy();
  if (upgraded(c)) c.out.destroy();
}

/**
 * Bodies of a known length above this go to the nodes raw over an upgraded connection
 * (common/raw-body.ts): they go O_DIRECT there, and the nodes read them straight into the
 * staging memory. Smaller ones keep the pooled keep-alive connections.
 */
export const RAW_BODY_ABOVE_BYTES = 4 * 1024 * 1024;


/**
 * Bodies up to this size take the small-object path: read whole (bounded memory), then sent to
 * each node in one request with Content-Length and the checksums as headers, no 100-continue.
 * A node that refuses (507, down) is replaced by a handoff with the same bytes, which is what the
 * 100-continue handshake buys a streamed body; here it would only cost a round trip per node.
 */
export const SMALL_BODY_BYTES = 64 * 1024;

async function putSmall(ctx: ProxyContext, p: PutPlacement, body: Readable, contentLength: number): Promise<PutOutcome> {
  const data = await readSmallBody(ctx, body, contentLength);
  const sums = { 'content-length': String(data.length), ...sumHeaders(createHash('md5').update(data).digest('hex'), crc32c(data)) };
  const statuses: PutOutcome['statuses'] = [];
  const finals = await untilQuorum(
    walkSlots<{ status: number; etag?: string }>(ctx, p, { status: 503 }, async (node, i) => {
      const r = await sendWhole(ctx, node, p.pathFor(node.dev), { ...p.headersFor(i), ...sums }, data);
      statuses.push({ node: nodeKey(node.dev), status: r.status });
      // A 4xx (409: newer data there; 412; 422) is the node's verdict, not a fault.
      return { result: r, settled: r.status < 500 };
    }),
    p.ring.replicaCount,
    ctx.config.post_quorum_timeout_ms,
  );
  return putOutcome(ctx, p, finals, [...statuses]);
}

/** The client's whole (small) body; PutError when it stalls, ends short or goes away. */
function readSmallBody(ctx: ProxyContext, body: Readable, contentLength: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let timer: NodeJS.Timeout | undefined;
    const finish = (err?: PutError): void => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      detach();
      if (!err) return resolve(Buffer.concat(chunks, received));
      stopBody(body, err);
      reject(err);
    };
    const arm = (): void => {
      if (timer) timer.refresh();
      else timer = setTimeout(() => finish(new PutError('client-timeout')), ctx.config.client_timeout_ms);
    };
    const onData = (chunk: Buffer): void => {
      received += chunk.length;
      if (received > contentLength) return finish(new PutError('too-large'));
      chunks.push(chunk);
      arm();
    };
    const onEnd = (): void => finish(received < contentLength ? new PutError('client-disconnect') : undefined);
    const detach = listenToBody(body, onData, onEnd, finish);
    if (body.readableEnded) finish(received < contentLength ? new PutError('client-disconnect') : undefined);
    else if (body.destroyed) finish(new PutError('client-disconnect'));
    else arm();
  });
}

/** One node PUT with the whole body; 503 when the node is unreachable or too slow. */
function sendWhole(ctx: ProxyContext, node: NodeTarget, path: BackendPath, headers: Record<string, string>, data: Buffer): Promise<{ status: number; etag?: string }> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: { status: number; etag?: string }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(r);
    };
    const req = httpRequest({ host: node.dev.ip, port: node.dev.port, method: 'PUT', path, headers: ctx.backend.sign('PUT', path, headers), agent: ctx.putAgent });
    const fail = (why: string): void => {
      if (settled) return;
      ctx.errorLimiter.recordError(nodeKey(node.dev));
      ctx.log.warn({ node: nodeKey(node.dev), path, why }, 'object PUT: node unavailable');
      req.destroy();
      done({ status: 503 });
    };
    const timer = setTimeout(() => fail('timeout'), ctx.config.conn_timeout_ms + ctx.config.node_timeout_ms);
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 503;
      if (status === 507) ctx.errorLimiter.limitNow(nodeKey(node.dev));
      const etag = res.headers.etag;
      res.on('end', () => done(etag === undefined ? { status } : { status, etag: String(etag) }));
      res.on('error', () => fail('response failed'));
      res.resume();
    });
    req.on('error', (err) => fail(err.message));
    req.end(data);
  });
}
