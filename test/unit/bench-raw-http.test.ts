import t from 'tap';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { RawHttpConnection, ResponseCounter } from '../../bench/raw-http.js';

/**
 * The large-object load generator's HTTP client: the response framing (length, chunked with
 * trailers, no body, to the close, a 100 before the answer) fed split at every offset, then
 * requests against a real node:http server: bodies counted, PUT bodies delivered whole,
 * keep-alive, reconnects, an error answer in the middle of a PUT body.
 */
const responses: Array<[string, string, string, { status: number; body: number; closes: boolean }]> = [
  ['GET', 'length', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\nX-A: b\r\n\r\n0123456789', { status: 200, body: 10, closes: false }],
  ['GET', 'chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n', { status: 200, body: 15, closes: false }],
  ['HEAD', 'HEAD with a length', 'HTTP/1.1 200 OK\r\nContent-Length: 999\r\n\r\n', { status: 200, body: 0, closes: false }],
  ['DELETE', '204', 'HTTP/1.1 204 No Content\r\n\r\n', { status: 204, body: 0, closes: false }],
  ['PUT', '100 then 201', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', { status: 201, body: 0, closes: true }],
];

t.test('response framing, split at every offset', async (t) => {
  for (const [method, what, text, want] of responses) {
    const bytes = Buffer.from(text, 'latin1');
    let ok = true;
    for (let cut = 0; cut <= bytes.length; cut++) {
      for (const cut2 of [cut, Math.min(bytes.length, cut + 1), Math.min(bytes.length, cut + 7)]) {
        const c = new ResponseCounter(method);
        let used = c.feed(bytes, 0, cut);
        used += c.feed(bytes, cut, cut2);
        used += c.feed(bytes, cut2, bytes.length);
        if (!c.done || used !== bytes.length || c.status !== want.status || c.bodyBytes !== want.body || c.closes !== want.closes) {
          ok = false;
          t.fail(`${what}: cut at ${cut}/${cut2}: done ${c.done} used ${used} status ${c.status} body ${c.bodyBytes}`);
          break;
        }
      }
      if (!ok) break;
    }
    if (ok) t.pass(`${what}: status ${want.status}, ${want.body} body bytes, wherever the reads split it`);
  }
  const toClose = new ResponseCounter('GET');
  toClose.feed(Buffer.from('HTTP/1.1 200 OK\r\n\r\nabc'), 0, 22);
  t.equal(toClose.done, false, 'no length: not done until the close');
  t.equal(toClose.closed(), true, 'the close ends it');
  t.equal(toClose.bodyBytes, 3);
  const cut = new ResponseCounter('GET');
  cut.feed(Buffer.from('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab'), 0, 40);
  t.equal(cut.closed(), false, 'a close before Content-Length bytes: cut short');
  t.throws(() => new ResponseCounter('GET').feed(Buffer.from('SSH-2.0-x\r\n\r\n'), 0, 13), /not an HTTP\/1.1 response/);
});

t.test('onBody sees the body bytes only, in order, wherever the reads split them', async (t) => {
  for (const [method, what, text] of responses) {
    const bytes = Buffer.from(text, 'latin1');
    const want = { length: '0123456789', chunked: 'hello0123456789' }[what] ?? '';
    for (let cut = 0; cut <= bytes.length; cut++) {
      let seen = '';
      const c = new ResponseCounter(method, (buf, start, end) => (seen += buf.toString('latin1', start, end)));
      c.feed(bytes, 0, cut);
      c.feed(bytes, cut, bytes.length);
      if (seen !== want) {
        t.fail(`${what}: cut at ${cut}: onBody saw ${JSON.stringify(seen)}`);
        break;
      }
    }
    t.pass(`${what}: onBody saw ${JSON.stringify(want)}`);
  }
  let seen = '';
  const toClose = new ResponseCounter('GET', (buf, start, end) => (seen += buf.toString('latin1', start, end)));
  toClose.feed(Buffer.from('HTTP/1.1 200 OK\r\n\r\nabc'), 0, 22);
  t.equal(seen, 'abc', 'a body that runs to the close');
});

t.test('requests against a real server', async (t) => {
  const connections = new Set<Socket>();
  const received: Array<{ method: string; url: string; bytes: number }> = [];
  let lastBody = Buffer.alloc(0);
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    if (req.url === '/too-big') {
      // answers before reading the body, as a proxy refusing an upload does
      res.writeHead(413, { 'content-length': '0', connection: 'close' }).end();
      return;
    }
    let bytes = 0;
    const parts: Buffer[] = [];
    req.on('data', (d: Buffer) => {
      bytes += d.length;
      if (bytes <= 1 << 20) parts.push(d);
    });
    req.on('end', () => {
      received.push({ method: req.method ?? '', url: req.url ?? '', bytes });
      lastBody = Buffer.concat(parts);
      if (req.url === '/chunked') {
        res.writeHead(200);
        res.write(Buffer.alloc(70_000));
        res.end(Buffer.alloc(5));
      } else if (req.url === '/close') res.writeHead(200, { connection: 'close', 'content-length': '3' }).end('bye');
      else if (req.method === 'PUT') res.writeHead(201, { 'content-length': '0' }).end();
      else res.writeHead(200, { 'content-length': String(3 << 20) }).end(Buffer.alloc(3 << 20));
    });
  });
  server.on('connection', (s: Socket) => connections.add(s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const conn = new RawHttpConnection('127.0.0.1', (server.address() as AddressInfo).port);
  t.teardown(() => conn.close());

  t.same(await conn.request('GET', '/big', { 'x-auth-token': 't' }), { status: 200, bodyBytes: 3 << 20 }, 'a 3 MiB body counted');
  t.same(await conn.request('GET', '/chunked', {}), { status: 200, bodyBytes: 70_005 }, 'a chunked body counted');
  const pattern = Buffer.alloc(64 * 1024, 7);
  t.same(await conn.request('PUT', '/obj', {}, { size: 3.5 * pattern.length + 3, pattern }), { status: 201, bodyBytes: 0 });
  t.same(received.at(-1), { method: 'PUT', url: '/obj', bytes: 3.5 * pattern.length + 3 }, 'the server got the whole PUT body');
  t.equal(connections.size, 1, 'three requests, one keep-alive connection');
  const pieces = [Buffer.from('abc'), Buffer.from('defgh'), Buffer.from('i')];
  t.same(await conn.request('PUT', '/pieces', {}, { size: 9, pieces }), { status: 201, bodyBytes: 0 });
  t.equal(lastBody.toString(), 'abcdefghi', 'a body of pieces arrives as their concatenation');
  let got = 0;
  t.same(await conn.request('GET', '/big', {}, undefined, (_b, start, end) => (got += end - start)), { status: 200, bodyBytes: 3 << 20 });
  t.equal(got, 3 << 20, 'onBody saw every body byte of a real response');

  t.same(await conn.request('GET', '/close', {}), { status: 200, bodyBytes: 3 });
  t.same(await conn.request('GET', '/big', {}), { status: 200, bodyBytes: 3 << 20 }, 'reconnected after Connection: close');
  t.equal(connections.size, 2);

  const refused = await conn.request('PUT', '/too-big', {}, { size: 64 << 20, pattern });
  t.equal(refused.status, 413, 'an answer in the middle of the body ends the request');
  t.same(await conn.request('GET', '/big', {}), { status: 200, bodyBytes: 3 << 20 }, 'the next request on a new connection');
});
