import t from 'tap';
import { createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BACKEND_SIGNATURE_HEADER, backendKeyFrom, verifyBackendRequest } from '../../common/backend-auth.js';
import { parseConfig } from '../../common/config.js';
import { silentLogger } from '../../common/log.js';
import { buildProxy } from '../../proxy/app.js';
import { proxySpec } from '../../proxy/config.js';
import { Ring, type RingDevice } from '../../ring-builder/ring.js';
import { parseBackendPath } from '../../storage-node/server.js';

/**
 * What the proxy sends a storage node for names with dot segments: the authorized account's
 * path, each dot segment encoded, signed over exactly those bytes. A fake node records every
 * request; the client sends its paths raw (node:http does not normalize them).
 */
t.test('dot segments in names reach the node literally, in the authorized account, signed', async (t) => {
  const seen: Array<{ method: string; url: string; signature: string }> = [];
  const key = backendKeyFrom({ swift_hash_path_prefix: 'p', swift_hash_path_suffix: 's' });
  const node = createServer((req: IncomingMessage, res: ServerResponse) => {
    const url = req.url ?? '';
    seen.push({ method: req.method ?? '', url, signature: verifyBackendRequest(key, req.method ?? '', url, req.headers[BACKEND_SIGNATURE_HEADER], Date.now()) });
    req.resume();
    const depth = url.split('?')[0]!.split('/').length - 1;
    // Containers exist (and are public); objects answer a body naming the path they were asked for.
    if (depth <= 4) return void res.writeHead(204, { 'x-container-object-count': '0', 'x-container-read': '.r:*,.rlistings' }).end();
    if (req.method === 'GET') return void res.writeHead(200, { 'content-length': String(url.length), 'x-timestamp': '1700000000.00000' }).end(url);
    res.writeHead(req.method === 'PUT' ? 201 : 204, { etag: 'd41d8cd98f00b204e9800998ecf8427e' }).end();
  });
  node.on('checkContinue', (req, res) => node.emit('request', req, res));
  await new Promise<void>((r) => node.listen(0, '127.0.0.1', r));
  const port = (node.address() as AddressInfo).port;
  const devices: RingDevice[] = [{ id: 0, region: 1, zone: 1, ip: '127.0.0.1', port, device: 'd0', weight: 1, meta: '' }];
  const ring = Ring.fromData({ partPower: 0, replicas: 1, devices, replica2part2dev: [Uint16Array.of(0)] }, { prefix: 'p', suffix: 's' });
  const config = parseConfig(proxySpec, { swift_hash_path_prefix: 'p', swift_hash_path_suffix: 's', node_timeout_ms: 2000, access_log: 'off' });
  const { app, ctx } = buildProxy({ config, rings: { account: () => ring, container: () => ring, object: () => ring }, log: silentLogger, clock: Date.now });
  await app.listen({ port: 0, host: '127.0.0.1' });
  const proxyPort = (app.server.address() as AddressInfo).port;
  t.teardown(async () => {
    await app.close();
    await ctx.backend.close();
    ctx.putAgent.destroy();
    await ctx.hashing.close();
    node.close();
  });

  const send = (method: string, path: string, headers: Record<string, string> = {}, body = ''): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: proxyPort, method, path, headers: { ...headers, 'content-length': String(body.length) } }, (res) => {
        let text = '';
        res.setEncoding('latin1');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  const login = await send('GET', '/auth/v1.0', { 'x-auth-user': 'test:tester', 'x-auth-key': 'testing' });
  t.equal(login.status, 200);
  const token = ctx.auth.login('test:tester', 'testing', 'http://x').headers['X-Auth-Token'] as string;
  const auth = { 'x-auth-token': token };

  const cases: Array<{ name: string; method: string; path: string; headers?: Record<string, string>; body?: string; object: string }> = [
    { name: 'GET raw ..', method: 'GET', path: '/v1/AUTH_test/bad/x/../../../AUTH_test2/secret/s', object: 'x/../../../AUTH_test2/secret/s' },
    { name: 'HEAD %2e%2e', method: 'HEAD', path: '/v1/AUTH_test/bad/x/%2e%2e/%2e%2e/%2e%2e/AUTH_test2/secret/s', object: 'x/../../../AUTH_test2/secret/s' },
    { name: 'DELETE .%2e', method: 'DELETE', path: '/v1/AUTH_test/bad/.%2e/.%2E/AUTH_test2/secret/s', object: '../../AUTH_test2/secret/s' },
    { name: 'POST trailing /.', method: 'POST', path: '/v1/AUTH_test/bad/x/.', object: 'x/.' },
    { name: 'PUT ..', method: 'PUT', path: '/v1/AUTH_test/bad/../../AUTH_test2/secret/s', body: 'x', object: '../../AUTH_test2/secret/s' },
  ];
  for (const c of cases) {
    seen.length = 0;
    const r = await send(c.method, c.path, { ...auth, ...(c.headers ?? {}) }, c.body ?? '');
    t.ok(r.status < 500, `${c.name}: answered ${r.status}`);
    const objectRequests = seen.filter((s) => (parseBackendPath(s.url.split('?')[0]!)?.object ?? '') !== '');
    t.ok(objectRequests.length > 0, `${c.name}: the object request reached the node`);
    for (const s of seen) {
      const p = parseBackendPath(s.url.split('?')[0]!);
      t.equal(p?.account, 'AUTH_test', `${c.name}: ${s.method} ${s.url} stays in AUTH_test`);
      t.equal(s.signature, 'ok', `${c.name}: ${s.method} ${s.url} is signed over what arrived`);
    }
    for (const s of objectRequests) t.equal(parseBackendPath(s.url.split('?')[0]!)?.object, c.object, `${c.name}: the literal name`);
  }

  // A copy's source is read from the authorized account under its literal name, too.
  seen.length = 0;
  const copy = await send('PUT', '/v1/AUTH_test/bad/dst', { ...auth, 'x-copy-from': 'bad/x/../../../AUTH_test2/secret/s' });
  t.equal(copy.status, 201);
  const get = seen.find((s) => s.method === 'GET');
  t.equal(get?.url, '/d0/0/AUTH_test/bad/x/%2E%2E/%2E%2E/%2E%2E/AUTH_test2/secret/s', 'the copy source, literally');
  t.notOk(seen.some((s) => s.url.includes('/AUTH_test2/') && !s.url.includes('%2E%2E')), 'nothing addressed to AUTH_test2');

  // The anonymous reader of a public container gets the same literal treatment.
  seen.length = 0;
  const anon = await send('GET', '/v1/AUTH_test/bad/x/../../../AUTH_test2/secret/s');
  t.equal(anon.status, 200);
  t.equal(anon.body, '/d0/0/AUTH_test/bad/x/%2E%2E/%2E%2E/%2E%2E/AUTH_test2/secret/s');
});
