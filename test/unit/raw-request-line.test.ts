import t, { type Test } from 'tap';
import { createServer } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { onClientError } from '../../proxy/client-error.js';
import { encodeRequestLine } from '../../proxy/raw-request-line.js';
import { parseResponses } from '../helpers/raw-http.js';

t.test('encodeRequestLine: the bytes llhttp refuses in a target, percent-encoded', async (t) => {
  const enc = (s: Buffer | string): string | undefined => encodeRequestLine(Buffer.from(s as string))?.toString('latin1');
  t.equal(enc('GET /v1/a/caf\u00e9 HTTP/1.1'), 'GET /v1/a/caf%C3%A9 HTTP/1.1');
  t.equal(enc(Buffer.from([...Buffer.from('PUT /x/'), 0xff, 0x00, 0x7f, 0x01, ...Buffer.from('?q=\u2603 HTTP/1.0')])), 'PUT /x/%FF%00%7F%01?q=%E2%98%83 HTTP/1.0');
  t.equal(enc('GET /plain%20already?x=1 HTTP/1.1'), 'GET /plain%20already?x=1 HTTP/1.1', 'what llhttp takes stays as it is');
  t.equal(enc('GET /a b HTTP/1.1'), undefined, 'a space in the target: not a request line');
  t.equal(enc('GET /a\tb HTTP/1.1'), undefined, 'a tab: eventlet splits on it too');
  t.equal(enc('get /x HTTP/1.1'), undefined);
  t.equal(enc('GET /x HTTQ/1.1'), undefined);
  t.equal(enc('GET HTTP/1.1'), undefined);
});

/** A plain HTTP server with the proxy's clientError handling: echoes method, URL and body. */
async function echoServer(t: Test): Promise<number> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => res.end(`${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`));
  });
  server.on('clientError', onClientError);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return (server.address() as AddressInfo).port;
}

/** Writes `pieces` (each a separate write, a tick apart) and collects the answers' bodies until close. */
async function exchange(port: number, pieces: Buffer[]): Promise<string[]> {
  const sock = connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  const data: Buffer[] = [];
  sock.on('data', (d: Buffer) => data.push(d));
  const closed = new Promise((r) => sock.once('close', r));
  for (const p of pieces) {
    sock.write(p);
    await new Promise((r) => setTimeout(r, 20));
  }
  await closed;
  return parseResponses(Buffer.concat(data), false).all.map((r) => `${r.status} ${r.body.toString()}`);
}

const raw = (s: string): Buffer => Buffer.from(s, 'utf8');

t.test('a connection with raw UTF-8 request lines is replayed into the server, request by request', async (t) => {
  const port = await echoServer(t);
  t.same(
    await exchange(port, [raw('GET /a HTTP/1.1\r\nHost: x\r\n\r\n'), raw('PUT /caf\u00e9 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc'), raw('GET /\u2603 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]),
    ['200 GET /a ', '200 PUT /caf%C3%A9 abc', '200 GET /%E2%98%83 '],
    'keep-alive: a plain request, then two raw ones (the second on the replayed connection)',
  );
  t.same(
    await exchange(port, [raw('GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /\u00e9 HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]),
    ['200 GET /a ', '200 GET /%C3%A9 ', '200 GET /b '],
    'pipelined: the answer in flight goes first, then the replayed ones, in order',
  );
  t.same(
    await exchange(port, [raw('GET /caf\u00e9/x'), raw('yz/\u00fc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')]),
    ['200 GET /caf%C3%A9/xyz/%C3%BC '],
    'a request line that arrives in two pieces',
  );
  t.same(await exchange(port, [raw(`GET /\u00e9${'a'.repeat(9000)}`)]), [`400 <html><h1>Bad Request</h1><p>The server could not comply with the request since it is either malformed or otherwise incorrect.</p></html>`], 'a request line past 8 KiB: 400');
  t.same((await exchange(port, [raw('GET /a b\u00e9 HTTP/1.1\r\nHost: x\r\n\r\n')]))[0]?.slice(0, 3), '400', 'not a request line: 400');
});
