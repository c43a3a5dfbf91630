import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { parseConfig } from '../../common/config.js';
import { silentLogger } from '../../common/log.js';
import { buildProxy } from '../../proxy/app.js';
import { proxySpec } from '../../proxy/config.js';
import type { AccessLog } from '../../proxy/access-log.js';
import type { ProxyContext } from '../../proxy/context.js';
import type { Stage } from '../../proxy/pipeline.js';
import { Ring, type RingDevice } from '../../ring-builder/ring.js';

/** What a fake node was asked: `depth` 1 = account, 2 = container, 3 = object path. */
export interface NodeRequest {
  method: string;
  depth: number;
  /** The node's index: 0-2 primaries, 3-4 handoffs (one ring for all three tiers). */
  node: number;
  req: IncomingMessage;
}

/**
 * How a fake node answers: a status with optional headers and body; 'drop' closes the connection
 * without an answer; `breakAfter` sends that many bytes of the body, then closes; 'drop-mid-body' sends a 200's headers and part of its body, then closes;
 * 'drop-after-headers' closes after a 200's headers, before any of its body.
 */
export type NodeAnswer =
  | { status: number; headers?: Record<string, string>; body?: string | Buffer; breakAfter?: number }
  | 'drop'
  | 'drop-mid-body'
  | 'drop-after-headers';

export interface FakeNodeProxy {
  base: string;
  ctx: ProxyContext;
  /** The proxy's access log, unless access_log is 'off'. */
  accessLog: AccessLog | undefined;
  /** Replaced by each test case: decides every node's answer. */
  answer: (r: NodeRequest) => NodeAnswer;
  /** Tokens from the proxy's own tempauth. */
  token(user: string, key: string): Promise<string>;
  /** Forgets error-limited nodes (each case starts from healthy nodes). */
  reset(): void;
  close(): Promise<void>;
}

function reply(res: ServerResponse, a: NodeAnswer): void {
  if (a === 'drop') return void res.socket?.destroy();
  if (a === 'drop-mid-body' || a === 'drop-after-headers') {
    res.writeHead(200, { 'content-length': '1000', 'x-timestamp': '1700000000.00000', etag: 'abc' });
    if (a === 'drop-mid-body') res.write('x'.repeat(10), () => res.socket?.destroy());
    else res.flushHeaders(), setTimeout(() => res.socket?.destroy(), 20);
    return;
  }
  const body = a.body ?? '';
  res.writeHead(a.status, { 'content-length': String(Buffer.byteLength(body)), ...a.headers });
  // breakAfter: the answer's first bytes only, then the connection closes (a node dying mid-body).
  if (a.breakAfter !== undefined && res.req.method !== 'HEAD') {
    const part = Buffer.from(body).subarray(0, a.breakAfter);
    return void res.write(part, () => setImmediate(() => res.socket?.destroy()));
  }
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

/**
 * A real proxy (its HTTP server and backend client included) over five node:http fake storage
 * nodes that answer what `answer` says: every backend path, object PUTs included (which go over
 * node:http, out of reach of an undici MockAgent). Info caches are off so each case asks afresh.
 * `opts.stages` changes the proxy's pipeline (a test inserts its own middleware).
 */
export async function fakeNodeProxy(config: Record<string, unknown> = {}, opts: { stages?: (stages: Stage[]) => Stage[] } = {}): Promise<FakeNodeProxy> {
  const servers: Server[] = [];
  const devices: RingDevice[] = [];
  const proxy = { answer: (): NodeAnswer => ({ status: 503 }) } as unknown as FakeNodeProxy;
  for (let i = 0; i < 5; i++) {
    const server = createServer((req, res) => {
      const depth = (req.url ?? '').split('?')[0]!.split('/').length - 3;
      const a = proxy.answer({ method: req.method ?? '', depth, node: i, req });
      req.resume();
      // An answer before the body (a refusal) or after it: the node decides once it has read it.
      if (a !== 'drop' && req.method === 'PUT' && !req.headers.expect) req.on('end', () => reply(res, a));
      else reply(res, a);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server);
    devices.push({ id: i, region: 1, zone: i + 1, ip: '127.0.0.1', port: (server.address() as AddressInfo).port, device: `d${i}`, weight: 1, meta: '' });
  }
  const ring = Ring.fromData({ partPower: 0, replicas: 3, devices, replica2part2dev: [Uint16Array.of(0), Uint16Array.of(1), Uint16Array.of(2)] }, { prefix: 'p', suffix: 's' });
  const parsed = parseConfig(proxySpec, {
    swift_hash_path_prefix: 'p',
    swift_hash_path_suffix: 's',
    node_timeout_ms: 5000,
    recheck_container_existence_s: 0,
    recheck_account_existence_s: 0,
    access_log: 'off',
    ...config,
  });
  const { app, ctx, accessLog } = buildProxy({ config: parsed, rings: { account: () => ring, container: () => ring, object: () => ring }, log: silentLogger, clock: Date.now, ...(opts.stages ? { stages: opts.stages } : {}) });
  await app.listen({ port: 0, host: '127.0.0.1' });
  proxy.base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  proxy.ctx = ctx;
  proxy.accessLog = accessLog;
  proxy.token = async (user, key) => {
    const res = await request(`${proxy.base}/auth/v1.0`, { headers: { 'x-auth-user': user, 'x-auth-key': key } });
    await res.body.dump();
    return String(res.headers['x-auth-token']);
  };
  proxy.reset = () => (ctx.errorLimiter as unknown as { state: Map<string, unknown> }).state.clear();
  proxy.close = async () => {
    await app.close();
    await ctx.backend.close();
    ctx.putAgent.destroy();
    await ctx.hashing.close();
    for (const s of servers) {
      s.closeAllConnections();
      s.close();
    }
  };
  return proxy;
}
