import t from 'tap';
import { connect } from 'node:net';
import { rawRequest } from '../helpers/raw-http.js';
import { clusterWithContainer } from '../helpers/swift-api.js';

/**
 * Clients send raw UTF-8 in the request line (no percent-encoding). Swift takes valid UTF-8 as
 * the name it spells and answers 412 "Invalid UTF8 or contains NULL" otherwise; Node's HTTP
 * parser refuses any byte above 0x7f in a URL, which answered 400 before anything ran.
 */
const NAME = 'café☃/ünï-日本';

function line(method: string, path: Buffer | string, query = ''): Buffer {
  return Buffer.concat([Buffer.from(`${method} `), Buffer.from(path), Buffer.from(`${query} HTTP/1.1`)]);
}

/**
 * Requests on one connection, each after the previous answer; a group (an array) is written in
 * one go (pipelined) and its answers read after.
 */
async function keepAlive(port: number, requests: Array<Buffer | Buffer[]>): Promise<number[]> {
  const sock = connect(port, '127.0.0.1');
  await new Promise((r) => sock.once('connect', r));
  const statuses: number[] = [];
  let buf = '';
  for (const req of requests) {
    const group = Array.isArray(req) ? req : [req];
    sock.write(Buffer.concat(group));
    // Each answer here has a Content-Length and a short body: read until it is complete.
    for (let answered = 0; answered < group.length; ) {
      const end = buf.indexOf('\r\n\r\n');
      const isHead = group[answered]!.subarray(0, 5).toString() === 'HEAD ';
      const len = end === -1 || isHead ? 0 : Number(/content-length: *(\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0);
      if (end !== -1 && buf.length >= end + 4 + len) {
        statuses.push(Number(buf.slice(9, 12)));
        buf = buf.slice(end + 4 + len);
        answered++;
        continue;
      }
      const more = await new Promise<Buffer | undefined>((r) => (sock.once('data', r), sock.once('close', () => r(undefined))));
      if (!more) return statuses;
      buf += more.toString('latin1');
    }
  }
  sock.destroy();
  return statuses;
}

t.test('raw UTF-8 in the request line: PUT, GET and list; invalid UTF-8 or NUL: 412', async (t) => {
  const { a } = await clusterWithContainer(t);
  const url = new URL(a.storageUrl);
  const port = Number(url.port);
  const head = (l: Buffer, ...more: string[]): Array<string | Buffer> => [l, `Host: ${url.host}`, `X-Auth-Token: ${a.token}`, ...more];
  const objPath = Buffer.from(`${url.pathname}/c/${NAME}`);

  const put = await rawRequest(port, head(line('PUT', objPath), 'Content-Length: 5', 'Connection: close'), 'hello');
  t.equal(put.status, 201, 'PUT with a raw UTF-8 name');
  const get = await rawRequest(port, head(line('GET', objPath), 'Connection: close'));
  t.equal(get.status, 200, 'GET with the raw name');
  t.equal(get.body.toString(), 'hello');
  const encoded = await a.req('GET', `/c/${NAME.split('/').map(encodeURIComponent).join('/')}`);
  t.equal(encoded.body.toString(), 'hello', 'the same object as its percent-encoded name');
  const list = await rawRequest(port, head(line('GET', Buffer.from(`${url.pathname}/c`), `?prefix=${'café'}`), 'Connection: close'));
  t.equal(list.status, 200, 'a listing with a raw UTF-8 query');
  t.equal(list.body.toString(), `${NAME}\n`, 'lists the name as given');

  for (const [why, bytes] of [
    ['a 0xff byte', Buffer.from([0x61, 0xff, 0x62])],
    ['a cut-off sequence', Buffer.from([0x63, 0x61, 0x66, 0xc3])],
    ['a NUL', Buffer.from([0x61, 0x00, 0x62])],
  ] as const) {
    const bad = await rawRequest(port, head(line('PUT', Buffer.concat([Buffer.from(`${url.pathname}/c/`), bytes])), 'Content-Length: 1', 'Connection: close'), 'x');
    t.equal(bad.status, 412, `${why}: 412`);
    t.equal(bad.body.toString(), 'Invalid UTF8 or contains NULL', `${why}: Swift's words`);
  }
  t.equal(
    (await rawRequest(port, head(line('GET', Buffer.from(`${url.pathname}/c/a b`)), 'Connection: close'))).status,
    400,
    'a raw space: a request line of four words (eventlet: 400)',
  );

  // On one kept-alive connection: a plain request, raw ones (each replayed), and pipelined ones.
  const req = (l: Buffer): Buffer => Buffer.concat([l, Buffer.from(`\r\nHost: x\r\nX-Auth-Token: ${a.token}\r\n\r\n`)]);
  const statuses = await keepAlive(port, [
    req(line('HEAD', Buffer.from(`${url.pathname}/c`))),
    req(line('HEAD', objPath)),
    req(line('HEAD', Buffer.from(`${url.pathname}/c/x\xff`, 'latin1'))),
    req(line('GET', objPath)),
    [req(line('HEAD', Buffer.from(`${url.pathname}/c`))), req(line('HEAD', objPath))],
    [req(line('HEAD', objPath)), req(line('HEAD', objPath))],
  ]);
  t.same(statuses, [204, 200, 412, 200, 204, 200, 200, 200], 'every request on the connection answered');
  t.equal((await rawRequest(port, head(line('HEAD', objPath), 'Connection: close'))).status, 200, 'and after it the proxy still serves');
});
