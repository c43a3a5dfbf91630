import t from 'tap';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { errors, request } from 'undici';
import { BACKEND_MAX_HEADER_BYTES } from '../../common/http-client.js';
import { parseConfig } from '../../common/config.js';
import { silentLogger } from '../../common/log.js';
import { buildProxy } from '../../proxy/app.js';
import { nodeKey } from '../../proxy/backend.js';
import { proxySpec } from '../../proxy/config.js';
import { countsAgainstNode } from '../../proxy/error-limiter.js';
import { RAW_BODY_ABOVE_BYTES, SMALL_BODY_BYTES } from '../../proxy/object-put.js';
import { RAW_BODY_PROTOCOL } from '../../common/raw-body.js';
import { Ring, type RingDevice } from '../../ring-builder/ring.js';

/**
 * Error limiting is for node health. An answer the proxy cannot take, or a client that gives up,
 * must not make a node skip everyone's requests (one tenant's data would otherwise take nodes out
 * for every tenant).
 */

const errno = (code: string): Error => Object.assign(new Error(`connect ${code} 127.0.0.1:1`), { code });

t.test('countsAgainstNode: node health counts, unparseable answers and our own aborts do not', async (t) => {
  const counts: Array<[unknown, string]> = [
    [new errors.ConnectTimeoutError(), 'connect timeout'],
    [new errors.HeadersTimeoutError(), 'no headers in node_timeout'],
    [new errors.BodyTimeoutError(), 'body went quiet'],
    [new errors.SocketError('other side closed'), 'the node closed the connection'],
    [errno('ECONNREFUSED'), 'refused'],
    [errno('ECONNRESET'), 'reset'],
    [errno('EHOSTUNREACH'), 'unreachable'],
    [errno('ETIMEDOUT'), 'TCP timeout'],
    [Object.assign(new AggregateError([errno('ECONNREFUSED'), errno('ECONNREFUSED')]), {}), 'every address refused (happy eyeballs)'],
    [new TypeError('fetch failed', { cause: errno('ECONNRESET') }), 'wrapped in a cause'],
    [new DOMException('deadline', 'TimeoutError'), 'an AbortSignal.timeout deadline'],
  ];
  for (const [err, why] of counts) t.equal(countsAgainstNode(err), true, why);

  // A deadline for the node set through the request's signal counts too.
  const deadline = AbortSignal.abort(new DOMException('node_timeout', 'TimeoutError'));
  t.equal(countsAgainstNode(deadline.reason, deadline), true, 'our deadline for the node passed');

  const clientLeft = AbortSignal.abort();
  const free: Array<[unknown, AbortSignal | undefined, string]> = [
    [new errors.HeadersOverflowError(), undefined, 'headers over our limit: the data, not the node'],
    [Object.assign(new errors.HTTPParserError('Invalid header value char'), { code: 'HPE_INVALID_HEADER_TOKEN' }), undefined, 'a malformed answer'],
    [new errors.ResponseContentLengthMismatchError(), undefined, 'a body longer than announced'],
    [new errors.ResponseExceededMaxSizeError(), undefined, 'a body larger than we take'],
    [new errors.RequestContentLengthMismatchError(), undefined, "the client's body did not match its length"],
    [new errors.RequestAbortedError(), clientLeft, 'we aborted it (the client left)'],
    [clientLeft.reason, clientLeft, "undici rejects with the signal's reason"],
    [new errors.SocketError('other side closed'), clientLeft, 'anything after our own abort'],
    [new errors.RequestAbortedError(), undefined, 'an abort nobody attributes to the node'],
    [new errors.ClientDestroyedError(), undefined, 'our agent was closed (shutting down)'],
    [new errors.ClientClosedError(), undefined, 'our agent was closed'],
    [new errors.InvalidArgumentError('bad header'), undefined, 'our own bad request'],
    [new Error('something else'), undefined, 'not known to be the node'],
    [undefined, undefined, 'nothing at all'],
  ];
  for (const [err, signal, why] of free) t.equal(countsAgainstNode(err, signal), false, why);
});

/**
 * 'huge': container HEAD/GET answers with headers past the proxy's limit (what a container with
 * too much metadata did to undici's 16 KiB). 'reset': drops every connection (a broken node).
 */
type Mode = 'ok' | 'huge' | 'reset';

interface FakeNode {
  server: Server;
  port: number;
  mode: Mode;
  /** Object PUT connections (streamed or raw) that have closed. */
  putsClosed: number;
}

async function fakeNode(): Promise<FakeNode> {
  const node = { mode: 'ok', putsClosed: 0 } as FakeNode;
  const answer = (req: IncomingMessage, res: ServerResponse, expect: boolean): void => {
    req.on('error', () => undefined);
    if (node.mode === 'reset') return void req.socket.destroy();
    const depth = (req.url ?? '').split('?')[0]!.split('/').length - 1;
    if (req.method === 'PUT' && depth === 5) {
      req.on('close', () => node.putsClosed++);
      if (expect) res.writeContinue();
      req.resume();
      req.on('end', () => res.writeHead(201, { etag: 'abc' }).end());
      return;
    }
    req.resume();
    const headers: Record<string, string> = { 'x-container-object-count': '0', 'x-timestamp': '1700000000.00000' };
    // (the account's HEAD stays readable: Swift looks the account up before the container)
    if (node.mode === 'huge' && depth === 4) {
      for (let i = 0; i < Math.ceil((BACKEND_MAX_HEADER_BYTES * 1.2) / 1000); i++) headers[`x-container-meta-k${i}`] = 'v'.repeat(1000);
    }
    res.writeHead(depth === 5 ? 200 : 204, headers).end(depth === 5 && req.method === 'GET' ? 'data' : undefined);
  };
  node.server = createServer((req, res) => answer(req, res, false));
  node.server.on('checkContinue', (req, res) => answer(req, res, true));
  // A large PUT's raw body (common/raw-body.ts): say 101 and read until the proxy closes.
  node.server.on('upgrade', (_req: IncomingMessage, socket: Socket) => {
    socket.on('error', () => undefined);
    socket.on('close', () => node.putsClosed++);
    socket.on('end', () => socket.end()); // the server's sockets are half-open: close ours too
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${RAW_BODY_PROTOCOL}\r\n\r\n`);
    socket.resume();
  });
  await new Promise<void>((r) => node.server.listen(0, '127.0.0.1', r));
  node.port = (node.server.address() as AddressInfo).port;
  return node;
}

async function waitFor(what: string, check: () => boolean): Promise<void> {
  for (let i = 0; i < 1000 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!check()) throw new Error(`timed out waiting for ${what}`);
}

t.test('unparseable answers and clients that leave never error-limit a node', async (t) => {
  const nodes = await Promise.all([0, 1, 2, 3, 4].map(() => fakeNode()));
  const devices: RingDevice[] = nodes.map((n, i) => ({ id: i, region: 1, zone: i + 1, ip: '127.0.0.1', port: n.port, device: `d${i}`, weight: 1, meta: '' }));
  const ring = Ring.fromData({ partPower: 0, replicas: 3, devices, replica2part2dev: [Uint16Array.of(0), Uint16Array.of(1), Uint16Array.of(2)] }, { prefix: 'p', suffix: 's' });
  const limit = 10;
  const config = parseConfig(proxySpec, { swift_hash_path_prefix: 'p', swift_hash_path_suffix: 's', error_suppression_limit: limit, node_timeout_ms: 5000, access_log: 'off' });
  const { app, ctx } = buildProxy({ config, rings: { account: () => ring, container: () => ring, object: () => ring }, log: process.env.DEBUG_PROXY ? (await import('../../common/log.js')).createLogger('proxy', 'debug') : silentLogger, clock: Date.now });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const port = (app.server.address() as AddressInfo).port;
  const base = `http://127.0.0.1:${port}`;
  const login = await request(`${base}/auth/v1.0`, { headers: { 'x-auth-user': 'test:tester', 'x-auth-key': 'testing' } });
  await login.body.dump();
  const token = String(login.headers['x-auth-token']);
  t.teardown(async () => {
    await app.close();
    await ctx.backend.close();
    ctx.putAgent.destroy();
    await ctx.hashing.close();
    for (const n of nodes) n.server.close();
  });
  const limited = (): string[] => devices.filter((d) => ctx.errorLimiter.isLimited(nodeKey(d))).map((d) => d.device);
  const setMode = (m: Mode): void => nodes.forEach((n) => (n.mode = m));
  const headContainer = async (): Promise<number> => {
    const res = await request(`${base}/v1/AUTH_test/c`, { method: 'HEAD', headers: { 'x-auth-token': token } });
    await res.body.dump();
    return res.statusCode;
  };

  // Every node answers the container HEAD with headers the proxy cannot take, over and over.
  setMode('huge');
  const statuses = new Set<number>();
  for (let i = 0; i < 2 * limit + 5; i++) statuses.add(await headContainer());
  t.same([...statuses], [503], 'no node could be read');
  t.same(limited(), [], 'yet no node is error-limited');
  setMode('ok');
  t.equal(await headContainer(), 204, 'and the next request is served by a primary');

  // A client giving up on its upload, streamed (100-continue) or raw (upgrade), again and again.
  for (const [path, length] of [
    ['streamed', SMALL_BODY_BYTES * 4],
    ['raw', RAW_BODY_ABOVE_BYTES * 2],
  ] as const) {
    const closedBefore = nodes.reduce((n, x) => n + x.putsClosed, 0);
    for (let i = 0; i < limit + 2; i++) {
      await new Promise<void>((resolve) => {
        const sock = connect(port, '127.0.0.1', () => {
          sock.write(`PUT /v1/AUTH_test/c/o HTTP/1.1\r\nHost: x\r\nX-Auth-Token: ${token}\r\nContent-Length: ${length}\r\n\r\n`);
          sock.write(Buffer.alloc(SMALL_BODY_BYTES, 0x61), () => setImmediate(() => (sock.destroy(), resolve())));
        });
        sock.on('error', () => resolve());
      });
    }
    // Each abandoned upload had three node connections, all closed by the proxy.
    await waitFor(`${path} node connections to close`, () => nodes.reduce((n, x) => n + x.putsClosed, 0) >= closedBefore + 3 * (limit + 2));
    t.same(limited(), [], `${path}: ${limit + 2} abandoned uploads error-limit no node`);
  }
  const put = await request(`${base}/v1/AUTH_test/c/o`, { method: 'PUT', headers: { 'x-auth-token': token }, body: 'hello' });
  await put.body.dump();
  t.equal(put.statusCode, 201, 'uploads still go to the primaries');

  // The control: a node that really fails (drops every connection) is limited after `limit` errors.
  setMode('reset');
  for (let i = 0; i < limit; i++) await headContainer();
  t.same(limited().sort(), devices.map((d) => d.device).sort(), 'broken nodes are error-limited');
});
