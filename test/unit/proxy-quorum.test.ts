import t from 'tap';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { parseConfig } from '../../common/config.js';
import { silentLogger } from '../../common/log.js';
import { buildProxy } from '../../proxy/app.js';
import { RAW_BODY_ABOVE_BYTES, SMALL_BODY_BYTES } from '../../proxy/object-put.js';
import { RAW_BODY_PROTOCOL, RAW_TRAILER_BYTES } from '../../common/raw-body.js';
import { proxySpec } from '../../proxy/config.js';
import { Ring, type RingDevice } from '../../ring-builder/ring.js';

/**
 * The proxy's quorum decisions, as tables of backend statuses: five fake nodes (three primaries,
 * two handoffs) answer what each row says, and the client must get Swift's answer.
 */
/**
 * 'hold': takes the whole body, then answers 201 only when the test calls release().
 * 'stall': says continue, then never reads another byte nor answers (a hung disk or process).
 * 'old': a node from before the raw body transfer (405 to its method), else 201.
 */
type Behaviour = number | 'down' | 'reset' | 'hold' | 'stall' | 'old';

interface FakeNode {
  server: Server;
  port: number;
  behaviour: { put: Behaviour; get: Behaviour; delete: Behaviour };
  seen: string[];
  /** Held PUTs: their answer, and whether the proxy still waits on the connection. */
  held: Array<{ release: () => void; open: () => boolean }>;
  /** Stalled PUTs: each reads what is buffered and calls `done` once the connection ends. */
  stalled: Array<(done: () => void) => void>;
}

async function fakeNode(): Promise<FakeNode> {
  const node = { behaviour: { put: 201, get: 200, delete: 204 }, seen: [] as string[], held: [], stalled: [] } as unknown as FakeNode;
  const answer = (req: IncomingMessage, res: ServerResponse, expect: boolean): void => {
    const depth = (req.url ?? '').split('?')[0]!.split('/').length - 1;
    node.seen.push(`${req.method} ${depth}`);
    if (depth === 4) {
      // Container HEAD/updates: always fine.
      res.writeHead(204, { 'x-container-object-count': '0' }).end();
      req.resume();
      return;
    }
    const b = req.method === 'PUT' ? node.behaviour.put : req.method === 'DELETE' ? node.behaviour.delete : node.behaviour.get;
    if (b === 'reset') {
      req.socket.destroy();
      return;
    }
    if (b === 'down') return void req.socket.destroy();
    if (req.method === 'PUT') {
      if (b === 507) {
        res.writeHead(507).end();
        return;
      }
      if (expect) res.writeContinue();
      if (b === 'stall') return void node.stalled.push((done) => (req.on('close', done), req.resume()));
      req.resume();
      if (b === 'hold') req.on('end', () => node.held.push({ release: () => res.writeHead(201, { etag: 'abc' }).end(), open: () => !req.socket.destroyed }));
      else req.on('end', () => res.writeHead(b === 'old' ? 201 : (b as number), { etag: 'abc' }).end());
      return;
    }
    req.resume();
    const body = b === 200 ? `from ${node.port}` : '';
    res.writeHead(b as number, { 'content-length': String(body.length), 'x-timestamp': '1700000000.00000' }).end(body);
  };
  node.server = createServer((req, res) => answer(req, res, false));
  node.server.on('checkContinue', (req, res) => answer(req, res, true));
  // A large PUT's raw body (common/raw-body.ts): 101, then the body and the 40-byte trailer, then our answer.
  node.server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
    node.seen.push(`${req.method} ${(req.url ?? '').split('/').length - 1} raw`);
    const b = node.behaviour.put;
    if (b === 'down' || b === 'reset') return void socket.destroy();
    const reply = (status: number): void => void socket.end(`HTTP/1.1 ${status} X\r\nETag: abc\r\nContent-Length: 0\r\nConnection: close\r\n\r\n`);
    if (b === 507) return reply(507);
    if (b === 'old') return reply(405);
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${RAW_BODY_PROTOCOL}\r\n\r\n`);
    if (b === 'stall') {
      socket.pause();
      return void node.stalled.push((done) => (socket.on('end', done), socket.on('close', done), socket.resume()));
    }
    let left = Number(req.headers['x-backend-obj-content-length']) + RAW_TRAILER_BYTES;
    socket.on('data', (d: Buffer) => {
      left -= d.length;
      if (left !== 0) return;
      if (b === 'hold') node.held.push({ release: () => reply(201), open: () => !socket.destroyed });
      else reply(b);
    });
  });
  await new Promise<void>((r) => node.server.listen(0, '127.0.0.1', r));
  node.port = (node.server.address() as AddressInfo).port;
  return node;
}

t.test('quorum tables through the real proxy', async (t) => {
  const nodes = await Promise.all([0, 1, 2, 3, 4].map(() => fakeNode()));
  const devices: RingDevice[] = nodes.map((n, i) => ({ id: i, region: 1, zone: i + 1, ip: '127.0.0.1', port: n.port, device: `d${i}`, weight: 1, meta: '' }));
  const secret = { prefix: 'p', suffix: 's' };
  const ring = Ring.fromData({ partPower: 0, replicas: 3, devices, replica2part2dev: [Uint16Array.of(0), Uint16Array.of(1), Uint16Array.of(2)] }, secret);
  // Container info cached for the whole test: a re-check after its 10 s default would add a HEAD to the nodes' logs.
  const config = parseConfig(proxySpec, { swift_hash_path_prefix: 'p', swift_hash_path_suffix: 's', node_timeout_ms: 2000, error_suppression_limit: 1000, recheck_container_existence_s: 3600, access_log: 'off' });
  const { app, ctx } = buildProxy({ config, rings: { account: () => ring, container: () => ring, object: () => ring }, log: process.env.DEBUG_PROXY ? (await import('../../common/log.js')).createLogger('proxy', 'debug') : silentLogger, clock: Date.now });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
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
  const set = (kind: 'put' | 'get' | 'delete', bs: Behaviour[]): void => {
    nodes.forEach((n, i) => {
      n.behaviour[kind] = bs[i] ?? 201;
      n.seen = [];
    });
    ctx.errorLimiter['state'].clear();
  };
  const obj = `${base}/v1/AUTH_test/c/o`;

  const putTable: Array<[Behaviour[], number, string]> = [
    [[201, 201, 201, 201, 201], 201, 'all primaries store'],
    [[201, 201, 'down', 201, 201], 201, 'a dead primary is replaced by a handoff'],
    [[507, 507, 201, 201, 201], 201, 'unmounted primaries are replaced before the body is sent'],
    [[201, 503, 503, 503, 503], 503, 'one success is not a quorum'],
    [['down', 'down', 'down', 'down', 'down'], 503, 'nothing reachable'],
    [[201, 503, 201, 201, 201], 201, 'a node failing after the body is outvoted'],
    [[422, 422, 422, 201, 201], 422, 'every node rejects the etag'],
    [[201, 'old', 'old', 201, 201], 201, 'nodes from before the raw transfer get the chunked PUT'],
  ];
  // The three PUT paths: a small body goes whole to each node; a bigger one streams after
  // 100-continue; a large one streams raw after an upgrade.
  for (const [body, path] of [
    ['hello', 'small'],
    ['x'.repeat(SMALL_BODY_BYTES + 1), 'streamed'],
    ['r'.repeat(RAW_BODY_ABOVE_BYTES + 1), 'raw'],
  ] as const) {
    for (const [bs, want, why] of putTable) {
      set('put', bs);
      const res = await request(obj, { method: 'PUT', headers: { 'x-auth-token': token, 'content-length': String(body.length) }, body });
      await res.body.dump();
      t.equal(res.statusCode, want, `${path} PUT ${bs.join(',')}: ${why}`);
    }
    set('put', [201, 201, 'down', 201, 201]);
    const res = await request(obj, { method: 'PUT', headers: { 'x-auth-token': token, 'content-length': String(body.length) }, body });
    await res.body.dump();
    // the answer comes at quorum (two primaries): the handoff's copy may land just after it
    const seenPut = path === 'raw' ? 'SOURCE 5 raw' : 'PUT 5';
    const handoffGotIt = (): boolean => nodes[3]!.seen.includes(seenPut) || nodes[4]!.seen.includes(seenPut);
    for (let i = 0; i < 100 && !handoffGotIt(); i++) await new Promise((r) => setTimeout(r, 20));
    t.ok(handoffGotIt(), `${path} PUT: a handoff got the object PUT`);

    // Two primaries stored it: the client has its 201 while the third is still writing.
    set('put', [201, 201, 'hold']);
    const quick = await request(obj, { method: 'PUT', headers: { 'x-auth-token': token, 'content-length': String(body.length) }, body });
    await quick.body.dump();
    t.equal(quick.statusCode, 201, `${path} PUT: answered at quorum`);
    // (waiting for all three would have meant the proxy's node timeout, then dropping the connection)
    t.ok(nodes[2]!.held.length === 1 && nodes[2]!.held[0]!.open(), `${path} PUT: the third primary got the whole body and is still being waited on`);
    for (const h of nodes[2]!.held.splice(0)) h.release();

    // Two primaries refuse after the body, the third hangs: the refusal is the answer once the
    // post-quorum wait is over, while the proxy still waits on the third (not its node timeout).
    set('put', [422, 422, 'hold']);
    const refusedFast = await request(obj, { method: 'PUT', headers: { 'x-auth-token': token, 'content-length': String(body.length) }, body });
    await refusedFast.body.dump();
    t.equal(refusedFast.statusCode, 422, `${path} PUT: a quorum of 422s`);
    t.ok(nodes[2]!.held.length === 1 && nodes[2]!.held[0]!.open(), `${path} PUT: answered before the hung third primary timed out`);
    for (const h of nodes[2]!.held.splice(0)) h.release();
  }

  // A node that stops taking the body mid-way (its socket full) is dropped after node_timeout;
  // the other two store the object. Big enough a body to fill the socket buffers on the way.
  const big = Buffer.alloc(48 * 1024 * 1024, 0x62);
  for (const [path, headers] of [
    ['chunked', {}],
    ['raw', { 'content-length': String(big.length) }],
  ] as const) {
    set('put', [201, 'stall', 201, 201, 201]);
    const res = await request(obj, { method: 'PUT', headers: { 'x-auth-token': token, ...headers }, body: Readable.from([big.subarray(0, 24 << 20), big.subarray(24 << 20)]) });
    await res.body.dump();
    t.equal(res.statusCode, 201, `${path} PUT: a node that stops reading mid-body is dropped, the other two store it`);
    const stalled = nodes[1]!.stalled.splice(0);
    t.equal(stalled.length, 1, `${path} PUT: one connection stalled`);
    // read what is buffered: the proxy's end is closed, so the connection ends
    const closed = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), 5000);
      stalled[0]!(() => (clearTimeout(timer), resolve(true)));
    });
    t.ok(closed, `${path} PUT: the proxy closed the stalled node's connection`);
  }

  // An old node answered 405 to the raw transfer and then got the body the chunked way.
  set('put', [201, 'old', 201, 201, 201]);
  const mixed = await request(obj, { method: 'PUT', headers: { 'x-auth-token': token, 'content-length': String(RAW_BODY_ABOVE_BYTES + 1) }, body: 'm'.repeat(RAW_BODY_ABOVE_BYTES + 1) });
  await mixed.body.dump();
  t.equal(mixed.statusCode, 201, 'raw PUT with an old node among the primaries');
  t.same(nodes[1]!.seen.filter((s) => s !== 'HEAD 3'), ['SOURCE 5 raw', 'PUT 5'], 'the old node: the raw request, then the chunked PUT');
  // (An account HEAD may come first: the account quota's lookup, when its cached info expired.)
  t.same(nodes[0]!.seen.filter((s) => s !== 'HEAD 3'), ['SOURCE 5 raw'], 'a new node: the raw request only');

  const getTable: Array<[Behaviour[], number, string]> = [
    [[200, 200, 200, 200, 200], 200, 'first primary answers'],
    [[404, 200, 200, 200, 200], 200, 'a 404 on one primary fails over'],
    [['down', 'down', 200, 200, 200], 200, 'dead primaries fail over'],
    [[404, 404, 404, 200, 200], 404, 'every primary says 404'],
    [[503, 503, 503, 503, 503], 503, 'nobody answers'],
  ];
  for (const [bs, want, why] of getTable) {
    set('get', bs);
    const res = await request(obj, { headers: { 'x-auth-token': token } });
    const text = await res.body.text();
    t.equal(res.statusCode, want, `GET ${bs.join(',')}: ${why}`);
    if (want === 200) t.match(text, /^from \d+$/);
  }

  const deleteTable: Array<[Behaviour[], number, string]> = [
    [[204, 204, 204], 204, 'all delete'],
    [[204, 204, 404], 204, 'quorum of 204'],
    [[404, 404, 204], 404, 'quorum of 404'],
    [['down', 204, 204, 204, 204], 204, 'handoff stands in'],
    [[503, 503, 204, 503, 503], 503, 'no quorum'],
    [[204, 404, 503, 503, 503], 204, "no quorum of one status: a 404 counts as deleted (Swift's 404 → 204 override)"],
    [[404, 503, 503, 503, 503], 503, 'one tombstone is no quorum, override or not'],
  ];
  for (const [bs, want, why] of deleteTable) {
    set('delete', bs);
    const res = await request(obj, { method: 'DELETE', headers: { 'x-auth-token': token } });
    await res.body.dump();
    t.equal(res.statusCode, want, `DELETE ${bs.join(',')}: ${why}`);
  }
});
