import t from 'tap';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import { parseConfig } from '../../common/config.js';
import { silentLogger } from '../../common/log.js';
import { buildProxy } from '../../proxy/app.js';
import { proxySpec } from '../../proxy/config.js';
import { SMALL_BODY_BYTES } from '../../proxy/object-put.js';
import { Ring, type RingDevice } from '../../ring-builder/ring.js';

/**
 * The proxy picks an object's ring by its container's storage policy (Swift: container info's
 * storage_policy → the policy's object ring) and tells the nodes the policy. Five fake nodes:
 * policy 0's ring keeps 3 replicas on nodes 0-2, policy 1's keeps 2 on nodes 3-4. Container
 * HEADs answer the policy by container name.
 */

interface Seen {
  node: number;
  method: string;
  depth: number;
  policy: string | undefined;
}

const CONTAINER_POLICY: Record<string, string | number> = { gold: '0', scratch: '1', unknown: '9', down: 503 };

async function fakeNode(i: number, seen: Seen[]): Promise<{ server: Server; port: number }> {
  const answer = (req: IncomingMessage, res: ServerResponse, expect: boolean): void => {
    const segs = (req.url ?? '').split('?')[0]!.split('/');
    const depth = segs.length - 1;
    const policy = req.headers['x-backend-storage-policy-index'];
    seen.push({ node: i, method: req.method ?? '', depth, policy: typeof policy === 'string' ? policy : undefined });
    if (depth === 3) return void (req.resume(), res.writeHead(204).end());
    if (depth === 4) {
      req.resume();
      const p = CONTAINER_POLICY[segs[4] ?? ''] ?? '0';
      if (typeof p === 'number') return void res.writeHead(p).end();
      return void res.writeHead(204, { 'x-container-object-count': '0', 'x-backend-storage-policy-index': p }).end();
    }
    if (expect) res.writeContinue();
    req.resume();
    req.on('end', () => {
      if (req.method === 'PUT') return void res.writeHead(201, { etag: 'abc' }).end();
      if (req.method === 'GET' || req.method === 'HEAD') return void res.writeHead(200, { 'content-length': '5', 'x-timestamp': '1700000000.00000' }).end(req.method === 'GET' ? 'hello' : undefined);
      res.writeHead(req.method === 'POST' ? 202 : 204).end();
    });
  };
  const server = createServer((req, res) => answer(req, res, false));
  server.on('checkContinue', (req, res) => answer(req, res, true));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

t.test("object requests go to the ring of the container's policy, with its index", async (t) => {
  const seen: Seen[] = [];
  const nodes = await Promise.all([0, 1, 2, 3, 4].map((i) => fakeNode(i, seen)));
  const devices: RingDevice[] = nodes.map((n, i) => ({ id: i, region: 1, zone: i + 1, ip: '127.0.0.1', port: n.port, device: `d${i}`, weight: 1, meta: '' }));
  const secret = { prefix: 'p', suffix: 's' };
  const gold = Ring.fromData({ partPower: 0, replicas: 3, devices, replica2part2dev: [Uint16Array.of(0), Uint16Array.of(1), Uint16Array.of(2)] }, secret);
  const scratch = Ring.fromData({ partPower: 0, replicas: 2, devices, replica2part2dev: [Uint16Array.of(3), Uint16Array.of(4)] }, secret);
  const config = parseConfig(proxySpec, {
    swift_hash_path_prefix: 'p',
    swift_hash_path_suffix: 's',
    node_timeout_ms: 2000,
    access_log: 'off',
    storage_policies: [
      { index: 0, name: 'gold', default: true },
      { index: 1, name: 'scratch' },
    ],
  });
  const objectRings = [gold, scratch];
  const { app, ctx } = buildProxy({
    config,
    rings: { account: () => gold, container: () => gold, object: (p = 0) => objectRings[p] as Ring },
    log: silentLogger,
    clock: Date.now,
  });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  t.teardown(async () => {
    await app.close();
    await ctx.backend.close();
    ctx.putAgent.destroy();
    await ctx.hashing.close();
    for (const n of nodes) n.server.close();
  });
  const login = await request(`${base}/auth/v1.0`, { headers: { 'x-auth-user': 'test:tester', 'x-auth-key': 'testing' } });
  await login.body.dump();
  const token = String(login.headers['x-auth-token']);
  const call = async (method: string, path: string, body?: string) => {
    seen.length = 0;
    const res = await request(`${base}/v1/AUTH_test/${path}`, {
      method: method as 'GET',
      headers: { 'x-auth-token': token, ...(body === undefined ? {} : { 'content-length': String(body.length) }) },
      ...(body === undefined ? {} : { body }),
    });
    await res.body.dump();
    return res.statusCode;
  };
  const objectNodes = (method: string) => [...new Set(seen.filter((s) => s.depth === 5 && s.method === method).map((s) => s.node))].sort();
  // Writes answer at quorum: the last replica's request may still be on its way.
  const writtenTo = async (method: string, want: number) => {
    for (let i = 0; i < 200 && objectNodes(method).length < want; i++) await new Promise((r) => setTimeout(r, 10));
    return objectNodes(method);
  };
  const policies = (method: string) => [...new Set(seen.filter((s) => s.depth === 5 && s.method === method).map((s) => s.policy))];

  for (const [body, how] of [
    ['hello', 'small'],
    ['x'.repeat(SMALL_BODY_BYTES + 1), 'streamed'],
  ] as const) {
    t.equal(await call('PUT', 'scratch/o', body), 201, `${how} PUT into a scratch container`);
    t.same(await writtenTo('PUT', 2), [3, 4], `${how}: exactly the 2 devices of policy 1's ring`);
    t.same(policies('PUT'), ['1'], `${how}: told policy 1`);
    t.equal(await call('PUT', 'gold/o', body), 201, `${how} PUT into a gold container`);
    t.same(await writtenTo('PUT', 3), [0, 1, 2], `${how}: the 3 devices of policy 0's ring`);
    t.same(policies('PUT'), ['0'], `${how}: told policy 0`);
  }
  t.equal(await call('GET', 'scratch/o'), 200);
  t.ok(objectNodes('GET').every((n) => n >= 3), 'GET reads from the policy 1 ring');
  t.same(policies('GET'), ['1']);
  t.equal(await call('HEAD', 'gold/o'), 200);
  t.ok(objectNodes('HEAD').every((n) => n <= 2), 'HEAD reads from the policy 0 ring');
  t.equal(await call('POST', 'scratch/o'), 202);
  t.same([await writtenTo('POST', 2), policies('POST')], [[3, 4], ['1']], 'POST');
  t.equal(await call('DELETE', 'scratch/o'), 204);
  t.same([await writtenTo('DELETE', 2), policies('DELETE')], [[3, 4], ['1']], 'DELETE');

  seen.length = 0;
  const copy = await request(`${base}/v1/AUTH_test/gold/copied`, { method: 'PUT', headers: { 'x-auth-token': token, 'x-copy-from': 'scratch/o', 'content-length': '0' } });
  await copy.body.dump();
  t.equal(copy.statusCode, 201, 'a copy across policies');
  t.ok(objectNodes('GET').every((n) => n >= 3) && policies('GET').join() === '1', 'read from the source policy');
  t.same([await writtenTo('PUT', 3), policies('PUT')], [[0, 1, 2], ['0']], 'written by the destination policy');

  t.equal(await call('GET', 'unknown/o'), 503, 'a policy index the proxy does not know: 503');
  t.same(objectNodes('GET'), [], 'no object node asked');
  t.equal(await call('GET', 'down/o'), 503, 'no container replica answers and two policies exist: 503, not a 404 from a guessed ring');
  // A write goes only into a container its lookup found (Swift: any other answer is a 404).
  t.equal(await call('PUT', 'down/o', 'x'), 404);
});
