import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, readFile, truncate, writeFile } from 'node:fs/promises';
import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { crc32c } from '@node-rs/crc32';
import { request } from 'undici';
import { signatureLine, signingDispatcher, TEST_BACKEND_KEY } from '../helpers/signing.js';
import { BACKEND_SIGNATURE_HEADER, signBackendRequest } from '../../common/backend-auth.js';
import { backendPath } from '../../common/backend-path.js';
import { Timestamp } from '../../common/timestamp.js';
import { listAsyncPendings, loadAsyncPending } from '../../storage-node/object/async-pending.js';
import { DIRECT_IO_ABOVE_BYTES, directIoStats } from '../../storage-node/object/direct-io.js';

import { crcHex } from '../../common/checksum.js';
import { DEV, PART, startNode, type Node } from '../helpers/object-node.js';

const client = signingDispatcher();
t.teardown(() => client.close());

let clockTicks = 1_700_000_000_00000;
/** Strictly increasing request timestamps. */
const stamp = (): Timestamp => new Timestamp(clockTicks++ * 1 + 1000);

async function call(method: string, url: string, headers: Record<string, string> = {}, body?: string | Buffer | Readable) {
  const res = await request(url, { method: method as 'GET', headers, body, dispatcher: client });
  const buf = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body: buf };
}

function put(n: Node, o: string, body: string | Buffer, ts: Timestamp, headers: Record<string, string> = {}) {
  return call('PUT', n.url('AUTH_a', 'c', o), { 'X-Timestamp': ts.internal, 'Content-Type': 'text/plain', ...headers }, body);
}

const md5 = (b: string | Buffer): string => createHash('md5').update(b).digest('hex');

async function ls(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

t.test('PUT, GET and HEAD round trip with metadata; files on disk', async (t) => {
  const n = await startNode(t);
  const name = 'dir/sub/ñ☃ obj?x#y';
  const ts = stamp();
  const body = 'hello world';
  const r = await put(n, name, body, ts, { 'X-Object-Meta-Color': 'blue', 'Content-Disposition': 'inline', 'X-Object-Sysmeta-Foo': 'bar', 'X-Unrelated': 'no' });
  t.equal(r.status, 201);
  t.equal(r.headers.etag, md5(body));
  const loc = n.loc('AUTH_a', 'c', name);
  t.same(await ls(loc.hashDir), [`${ts.internal}.data`]);
  t.equal(await readFile(join(loc.partitionDir, 'hashes.invalid'), 'utf8'), `${loc.suffix}\n`);
  t.same(await ls(join(n.root, DEV, 'tmp')), [], 'temp file renamed away');

  const g = await call('GET', n.url('AUTH_a', 'c', name));
  t.equal(g.status, 200);
  t.equal(g.body.toString(), body);
  const h = g.headers;
  t.equal(h['content-type'], 'text/plain');
  t.equal(h['content-length'], String(body.length));
  t.equal(h.etag, md5(body));
  t.equal(h['last-modified'], ts.httpDate);
  t.equal(h['x-timestamp'], ts.normal);
  t.equal(h['x-backend-timestamp'], ts.internal);
  t.equal(h['x-backend-data-timestamp'], ts.internal);
  t.match(h['x-backend-crc32c'], /^[0-9a-f]{8}$/);
  t.equal(h['accept-ranges'], 'bytes');
  t.equal(h['x-object-meta-color'], 'blue');
  t.equal(h['content-disposition'], 'inline');
  t.equal(h['x-object-sysmeta-foo'], 'bar');
  t.equal(h['x-unrelated'], undefined, 'only persisted headers are stored');

  const hd = await call('HEAD', n.url('AUTH_a', 'c', name));
  t.equal(hd.status, 200);
  t.equal(hd.body.length, 0);
  t.equal(hd.headers['content-length'], String(body.length));
  t.equal(hd.headers.etag, md5(body));

  // metadata on disk keeps Swift's Title-Case names
  const raw = await readFile(join(loc.hashDir, `${ts.internal}.data`));
  t.match(raw.toString('utf8'), /"X-Object-Meta-Color":"blue"/);
  t.match(raw.toString('utf8'), new RegExp(`"name":"/AUTH_a/c/${name.replace(/[?]/g, '\\?')}"`));
  t.equal(raw.subarray(raw.length - 8).toString(), 'SWLTMETA');
});

t.test('a zero-byte object', async (t) => {
  const n = await startNode(t);
  t.equal((await put(n, 'empty', '', stamp())).status, 201);
  const u = n.url('AUTH_a', 'c', 'empty');
  const g = await call('GET', u);
  t.equal(g.status, 200);
  t.equal(g.headers['content-length'], '0');
  t.equal(g.headers.etag, md5(''));
  t.equal((await call('GET', u, { Range: 'bytes=-5' })).status, 200, 'suffix range of an empty object: 200');
  const r = await call('GET', u, { Range: 'bytes=0-' });
  t.equal(r.status, 416);
  t.equal(r.headers['content-range'], 'bytes */0');
});

t.test('PUT validation and conflicts', async (t) => {
  const n = await startNode(t);
  const u = n.url('AUTH_a', 'c', 'o');
  t.equal((await call('PUT', u, { 'Content-Type': 'a/b' }, 'x')).status, 400, 'no X-Timestamp');
  t.equal((await call('PUT', u, { 'X-Timestamp': 'yesterday', 'Content-Type': 'a/b' }, 'x')).status, 400, 'bad X-Timestamp');
  t.equal((await call('PUT', u, { 'X-Timestamp': stamp().internal }, 'x')).status, 400, 'no Content-Type');
  const past = stamp();
  t.equal((await put(n, 'o', 'x', stamp(), { 'X-Delete-At': String(Math.floor(past.seconds) - 10) })).status, 400, 'X-Delete-At in the past');
  const older = stamp();
  const ts = stamp();
  t.equal((await put(n, 'o', 'v1', ts)).status, 201);
  const same = await put(n, 'o', 'v2', ts);
  t.equal(same.status, 409, 'same timestamp');
  t.equal(same.headers['x-backend-timestamp'], ts.internal);
  const old = await put(n, 'o', 'v0', older);
  t.equal(old.status, 409, 'older timestamp');
  t.equal(old.headers['x-backend-timestamp'], ts.internal);
  t.equal((await call('GET', u)).body.toString(), 'v1');
  t.equal((await put(n, 'o', 'v3', stamp(), { 'If-None-Match': '*' })).status, 412, 'If-None-Match: * on an existing object');
  const newer = stamp();
  t.equal((await put(n, 'o', 'v4', newer)).status, 201);
  t.equal((await call('GET', u)).body.toString(), 'v4');
  t.same(await ls(n.loc('AUTH_a', 'c', 'o').hashDir), [`${newer.internal}.data`], 'the superseded .data is gone');
});

t.test('422 on an ETag mismatch stores nothing; a matching quoted ETag is fine', async (t) => {
  const n = await startNode(t);
  const r = await put(n, 'o', 'body', stamp(), { ETag: md5('other') });
  t.equal(r.status, 422);
  t.same(await ls(n.loc('AUTH_a', 'c', 'o').hashDir), []);
  t.same(await ls(join(n.root, DEV, 'tmp')), []);
  t.equal((await put(n, 'o', 'body', stamp(), { ETag: `"${md5('body').toUpperCase()}"` })).status, 201);
});

function rawRequest(port: number, head: string, body: Buffer | string): Promise<{ socket: import('node:net').Socket; response: Promise<string> }> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(head + '\r\n');
      socket.write(body);
      let got = '';
      const response = new Promise<string>((res) => {
        socket.on('data', (d) => (got += d.toString('latin1')));
        socket.on('close', () => res(got));
        socket.on('error', () => res(got));
      });
      resolve({ socket, response });
    });
  });
}

function portOf(n: Node): number {
  return Number(new URL(n.base).port);
}

t.test('499: the client sends less than Content-Length and closes; nothing stored', async (t) => {
  const n = await startNode(t);
  const path = backendPath(DEV, PART, 'AUTH_a', 'c', 'short');
  const head = `PUT ${path} HTTP/1.1\r\nHost: x\r\n${signatureLine('PUT', path)}X-Timestamp: ${stamp().internal}\r\nContent-Type: a/b\r\nContent-Length: 100\r\n`;
  const { socket } = await rawRequest(portOf(n), head, Buffer.alloc(50, 0x61));
  socket.end();
  const rec = await n.waitLog((r) => typeof r.msg === 'string' && r.msg.includes('client disconnected'));
  t.ok(rec, 'server saw the disconnect');
  t.same(await ls(n.loc('AUTH_a', 'c', 'short').hashDir), []);
  t.same(await ls(join(n.root, DEV, 'tmp')), [], 'temp file removed');
  t.equal((await call('GET', n.url('AUTH_a', 'c', 'short'))).status, 404);
});

t.test('408: the client goes quiet mid-body; nothing stored', async (t) => {
  const n = await startNode(t, { clientTimeoutMs: 150 });
  const path = backendPath(DEV, PART, 'AUTH_a', 'c', 'slow');
  const head = `PUT ${path} HTTP/1.1\r\nHost: x\r\n${signatureLine('PUT', path)}X-Timestamp: ${stamp().internal}\r\nContent-Type: a/b\r\nContent-Length: 100\r\n`;
  const { response } = await rawRequest(portOf(n), head, 'abc');
  const text = await response;
  t.match(text, /^HTTP\/1\.1 408 /);
  t.match(text, /Connection: close/i);
  t.same(await ls(n.loc('AUTH_a', 'c', 'slow').hashDir), []);
  t.same(await ls(join(n.root, DEV, 'tmp')), []);
});

/**
 * A chunked PUT with Expect: 100-continue on a raw socket, as the proxy sends one: `head()` is the
 * first status line the node sends (100 Continue, or a refusal before the body), `finish()` sends
 * the rest and resolves with the final status.
 */
async function expectPut(n: Node, o: string, headers: Record<string, string>) {
  const path = backendPath(DEV, PART, 'AUTH_a', 'c', o);
  const lines = Object.entries({ 'X-Timestamp': stamp().internal, 'Content-Type': 'a/b', ...headers }).map(([k, v]) => `${k}: ${v}\r\n`).join('');
  const socket = connect(portOf(n), '127.0.0.1');
  let got = '';
  const waiters: Array<() => void> = [];
  socket.on('data', (d: Buffer) => {
    got += d.toString('latin1');
    for (const w of waiters.splice(0)) w();
  });
  const closed = new Promise<void>((r) => socket.on('close', () => r()));
  socket.on('error', () => undefined);
  const until = async (pred: () => boolean): Promise<void> => {
    while (!pred()) await Promise.race([new Promise<void>((r) => waiters.push(r)), closed]).then(() => undefined);
  };
  socket.write(`PUT ${path} HTTP/1.1\r\nHost: x\r\n${signatureLine('PUT', path)}${lines}Expect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n`);
  const statusAt = (i: number): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(got.split('\r\n\r\n')[i] ?? '')?.[1] ?? 0);
  return {
    async head(): Promise<number> {
      await until(() => got.includes('\r\n\r\n') || socket.destroyed);
      return statusAt(0);
    },
    send(data: string): void {
      socket.write(`${Buffer.byteLength(data).toString(16)}\r\n${data}\r\n`);
    },
    async finish(data: string): Promise<number> {
      this.send(data);
      socket.write('0\r\n\r\n');
      await until(() => got.split('\r\n\r\n').length > 2 || socket.destroyed);
      socket.destroy();
      return statusAt(1);
    },
    close: () => socket.destroy(),
  };
}

t.test('If-None-Match: * (a create): refused before the body; two creates never both stored', async (t) => {
  const n = await startNode(t);
  const read = async (o: string) => (await call('GET', n.url('AUTH_a', 'c', o))).body.toString();
  t.equal((await put(n, 'there', 'old', stamp())).status, 201);
  const refused = await expectPut(n, 'there', { 'If-None-Match': '*' });
  t.equal(await refused.head(), 412, 'the object exists: 412 instead of 100 Continue');
  refused.close();
  const late = await expectPut(n, 'there', { 'X-Timestamp': new Timestamp(1).internal });
  t.equal(await late.head(), 409, 'an older write: 409 before the body too');
  late.close();

  // Two creates of one new name: the second is refused while the first is under way.
  const first = await expectPut(n, 'new', { 'If-None-Match': '*' });
  t.equal(await first.head(), 100, 'no object yet: continue');
  first.send('first ');
  const second = await expectPut(n, 'new', { 'If-None-Match': '*' });
  t.equal(await second.head(), 412, 'another create of it is under way');
  second.close();
  t.equal(await first.finish('create'), 201);
  t.equal(await read('new'), 'first create');
  t.equal((await put(n, 'new', 'x', stamp(), { 'If-None-Match': '*' })).status, 412, 'and afterwards it exists');

  // A plain PUT landing while a create streams: the create is refused at its rename.
  const create = await expectPut(n, 'raced', { 'If-None-Match': '*' });
  t.equal(await create.head(), 100);
  create.send('create ');
  t.equal((await put(n, 'raced', 'plain', stamp())).status, 201, 'an unconditional PUT is not held');
  t.equal(await create.finish('body'), 412, 'the object appeared meanwhile');
  t.equal(await read('raced'), 'plain', 'the plain PUT stays');
  t.same((await ls(n.loc('AUTH_a', 'c', 'raced').hashDir)).length, 1, 'the create left nothing');
  t.same(await ls(join(n.root, DEV, 'tmp')), [], 'no temp file left');

  // An expired object does not exist.
  const ts = stamp();
  const at = Math.ceil(ts.seconds) + 100;
  n.now.ms = ts.seconds * 1000;
  t.equal((await put(n, 'expiring', 'x', ts, { 'X-Delete-At': String(at) })).status, 201);
  n.now.ms = (at + 1) * 1000;
  t.equal((await put(n, 'expiring', 'again', stamp(), { 'If-None-Match': '*' })).status, 201, 'an expired object can be created again');
});

t.test('chunked PUT and a large streamed GET', async (t) => {
  const n = await startNode(t);
  const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(50_000, i));
  const all = Buffer.concat(chunks);
  const r = await call('PUT', n.url('AUTH_a', 'c', 'big'), { 'X-Timestamp': stamp().internal, 'Content-Type': 'application/octet-stream' }, Readable.from(chunks));
  t.equal(r.status, 201);
  t.equal(r.headers.etag, md5(all));
  const g = await call('GET', n.url('AUTH_a', 'c', 'big'));
  t.equal(g.status, 200);
  t.equal(g.headers['content-length'], String(all.length));
  t.ok(g.body.equals(all), '2 MB body intact');
});

function parseMultipart(body: Buffer, contentType: string): Array<{ range: string; data: string }> {
  const boundary = /boundary=([0-9a-f]+)/.exec(contentType)?.[1];
  const text = body.toString('latin1');
  const parts = text.split(`--${boundary}`).slice(1, -1);
  t.ok(text.endsWith(`--${boundary}--`));
  return parts.map((p) => {
    const [headers, data] = p.replace(/^\r\n/, '').split('\r\n\r\n') as [string, string];
    return { range: /Content-Range: (.*)/.exec(headers)?.[1] ?? '', data: data.replace(/\r\n$/, '') };
  });
}

for (const [label, size] of [['small', 1000], ['large', 300_000]] as const) {
  t.test(`Range on a ${label} object: single, multi, 416, ignored`, async (t) => {
    const n = await startNode(t);
    const body = Buffer.from(Array.from({ length: size }, (_, i) => 97 + (i % 26)));
    t.equal((await put(n, 'r', body, stamp())).status, 201);
    const u = n.url('AUTH_a', 'c', 'r');
    const one = await call('GET', u, { Range: 'bytes=10-19' });
    t.equal(one.status, 206);
    t.equal(one.headers['content-range'], `bytes 10-19/${size}`);
    t.equal(one.headers['content-length'], '10');
    t.equal(one.body.toString(), body.subarray(10, 20).toString());
    const suffix = await call('GET', u, { Range: 'bytes=-5' });
    t.equal(suffix.body.toString(), body.subarray(size - 5).toString());
    const multi = await call('GET', u, { Range: `bytes=0-2,${size - 3}-` });
    t.equal(multi.status, 206);
    const ct = multi.headers['content-type'] as string;
    t.match(ct, /^multipart\/byteranges;boundary=[0-9a-f]{32}$/);
    t.equal(Number(multi.headers['content-length']), multi.body.length);
    t.same(parseMultipart(multi.body, ct), [
      { range: `bytes 0-2/${size}`, data: body.subarray(0, 3).toString() },
      { range: `bytes ${size - 3}-${size - 1}/${size}`, data: body.subarray(size - 3).toString() },
    ]);
    const bad = await call('GET', u, { Range: `bytes=${size}-` });
    t.equal(bad.status, 416);
    t.equal(bad.headers['content-range'], `bytes */${size}`);
    const ignored = await call('GET', u, { Range: 'bytes=5-1' });
    t.equal(ignored.status, 200);
    t.equal(ignored.body.length, size);
    const head = await call('HEAD', u, { Range: 'bytes=0-1' });
    t.equal(head.status, 200, 'HEAD ignores Range');
  });
}

t.test('conditional GET/HEAD: 304 and 412', async (t) => {
  const n = await startNode(t);
  const ts = stamp();
  await put(n, 'c1', 'cond', ts);
  const u = n.url('AUTH_a', 'c', 'c1');
  const etag = md5('cond');
  const lm = ts.httpDate;
  const later = new Date(Date.parse(lm) + 5000).toUTCString();
  const earlier = new Date(Date.parse(lm) - 5000).toUTCString();
  const cases: Array<[string, Record<string, string>, number]> = [
    ['GET', { 'If-None-Match': `"${etag}"` }, 304],
    ['HEAD', { 'If-None-Match': etag }, 304],
    ['GET', { 'If-None-Match': '"nope"' }, 200],
    ['GET', { 'If-Match': '"nope"' }, 412],
    ['GET', { 'If-Match': `"${etag}"` }, 200],
    ['GET', { 'If-Modified-Since': later }, 304],
    ['GET', { 'If-Modified-Since': earlier }, 200],
    ['GET', { 'If-Unmodified-Since': earlier }, 412],
    ['GET', { 'If-Match': `"${etag}"`, Range: 'bytes=0-0' }, 206],
    ['GET', { 'If-Match': '"nope"', Range: 'bytes=0-0' }, 412], // conditionals before Range
    // swob checks each header on its own (Swift's testIfMatchAndUnmodified)
    ['GET', { 'If-Match': `"${etag}"`, 'If-Unmodified-Since': earlier }, 412],
    ['HEAD', { 'If-Match': `"${etag}"`, 'If-Unmodified-Since': later }, 200],
    ['GET', { 'If-None-Match': '"nope"', 'If-Modified-Since': later }, 304],
  ];
  for (const [method, headers, want] of cases) {
    const r = await call(method, u, headers);
    t.equal(r.status, want, `${method} ${JSON.stringify(headers)}`);
    if (want === 304) {
      t.equal(r.headers.etag, etag);
      t.equal(r.body.length, 0);
    }
  }
  t.equal((await call('GET', n.url('AUTH_a', 'c', 'missing'), { 'If-Match': '*' })).status, 412);
  t.equal((await call('GET', n.url('AUTH_a', 'c', 'missing'), { 'If-None-Match': '*' })).status, 404);
});

t.test('507 for a device that is not there', async (t) => {
  const n = await startNode(t);
  const r = await call('PUT', n.url('AUTH_a', 'c', 'o', 'sdz9'), { 'X-Timestamp': stamp().internal, 'Content-Type': 'a/b' }, 'x');
  t.equal(r.status, 507);
  t.equal((await call('GET', n.url('AUTH_a', 'c', 'o', 'sdz9'))).status, 507);
});

t.test('POST replaces user metadata; 404 and 409', async (t) => {
  const n = await startNode(t);
  const u = n.url('AUTH_a', 'c', 'p');
  t.equal((await call('POST', u, { 'X-Timestamp': stamp().internal })).status, 404, 'nothing to POST to');
  const t0 = stamp();
  await put(n, 'p', 'body', t0, { 'X-Object-Meta-Old': 'o', 'X-Object-Sysmeta-S': 's', 'Content-Encoding': 'gzip' });
  const t1 = stamp();
  const p = await call('POST', u, { 'X-Timestamp': t1.internal, 'X-Object-Meta-New': 'n', 'Content-Type': 'image/png' });
  t.equal(p.status, 202);
  const g = await call('GET', u);
  t.equal(g.body.toString(), 'body');
  t.equal(g.headers['x-object-meta-new'], 'n');
  t.equal(g.headers['x-object-meta-old'], undefined);
  t.equal(g.headers['content-encoding'], undefined);
  t.equal(g.headers['x-object-sysmeta-s'], 's', 'sysmeta survives a POST');
  t.equal(g.headers['content-type'], 'image/png');
  t.equal(g.headers['x-timestamp'], t1.normal);
  t.equal(g.headers['x-backend-data-timestamp'], t0.internal);
  t.equal(g.headers.etag, md5('body'));
  const c = await call('POST', u, { 'X-Timestamp': t1.internal, 'X-Object-Meta-X': 'x' });
  t.equal(c.status, 409);
  t.equal(c.headers['x-backend-timestamp'], t1.internal);
  // a later POST without Content-Type keeps the one set by the earlier POST
  t.equal((await call('POST', u, { 'X-Timestamp': stamp().internal, 'X-Object-Meta-Third': '3' })).status, 202);
  const g2 = await call('HEAD', u);
  t.equal(g2.headers['content-type'], 'image/png');
  t.equal(g2.headers['x-object-meta-new'], undefined);
  t.equal(g2.headers['x-object-meta-third'], '3');
  t.equal((await ls(n.loc('AUTH_a', 'c', 'p').hashDir)).length, 2, '.data and the newest .meta');
  t.equal((await call('POST', u, { 'X-Object-Meta-X': 'x' })).status, 400, 'POST needs X-Timestamp');
});

t.test('DELETE: 204, tombstone, 404 with X-Backend-Timestamp, 409 when older', async (t) => {
  const n = await startNode(t);
  const u = n.url('AUTH_a', 'c', 'd');
  const t0 = stamp();
  await put(n, 'd', 'x', t0);
  const tOld = new Timestamp(t0.ticks - 1);
  const c = await call('DELETE', u, { 'X-Timestamp': tOld.internal });
  t.equal(c.status, 409, 'older than the object');
  t.equal(c.headers['x-backend-timestamp'], t0.internal);
  t.equal((await call('DELETE', u, { 'X-Timestamp': t0.internal })).status, 409, 'equal to the object');
  const t1 = stamp();
  const d = await call('DELETE', u, { 'X-Timestamp': t1.internal });
  t.equal(d.status, 204);
  t.equal(d.headers['x-backend-timestamp'], t1.internal);
  t.same(await ls(n.loc('AUTH_a', 'c', 'd').hashDir), [`${t1.internal}.ts`], 'tombstone only');
  const g = await call('GET', u);
  t.equal(g.status, 404);
  t.equal(g.headers['x-backend-timestamp'], t1.internal);
  const h = await call('HEAD', u);
  t.equal(h.headers['x-backend-timestamp'], t1.internal);
  const again = await call('DELETE', u, { 'X-Timestamp': tOld.internal });
  t.equal(again.status, 404, 'already deleted');
  t.equal(again.headers['x-backend-timestamp'], t1.internal);
  t.same(await ls(n.loc('AUTH_a', 'c', 'd').hashDir), [`${t1.internal}.ts`], 'no older tombstone written');
  t.equal((await put(n, 'd', 'y', tOld)).status, 409, 'PUT older than the tombstone');
  const t2 = stamp();
  const m = await call('DELETE', n.url('AUTH_a', 'c', 'never'), { 'X-Timestamp': t2.internal });
  t.equal(m.status, 404);
  t.same(await ls(n.loc('AUTH_a', 'c', 'never').hashDir), [`${t2.internal}.ts`], 'a tombstone is written either way');
  t.equal((await call('POST', u, { 'X-Timestamp': stamp().internal })).status, 404, 'POST to a deleted object');
});

t.test("X-If-Delete-At: only the version with that X-Delete-At is deleted (Swift's obj server)", async (t) => {
  const n = await startNode(t);
  const u = n.url('AUTH_a', 'c', 'x');
  const t0 = stamp();
  const at = Math.ceil(t0.seconds) + 100;
  n.now.ms = t0.seconds * 1000;
  t.equal((await put(n, 'x', 'v', t0, { 'X-Delete-At': String(at) })).status, 201);
  const del = (ifDeleteAt: string, ts = stamp()) => call('DELETE', u, { 'X-Timestamp': ts.internal, 'X-If-Delete-At': ifDeleteAt });
  const bad = await del('bad');
  t.same([bad.status, bad.body.toString()], [400, 'Bad X-If-Delete-At header value'], 'not a time');
  t.equal((await del('1'.repeat(11))).status, 400, 'past Swift’s largest timestamp');
  const other = await del(String(at + 1));
  t.same([other.status, other.body.toString()], [412, 'X-If-Delete-At and X-Delete-At do not match']);
  t.equal((await del(String(at), new Timestamp(t0.ticks - 1))).status, 409, 'the object is newer than the DELETE');
  t.same(await ls(n.loc('AUTH_a', 'c', 'x').hashDir), [`${t0.internal}.data`], 'nothing deleted by the refusals');
  t.equal((await call('DELETE', n.url('AUTH_a', 'c', 'nothing'), { 'X-Timestamp': stamp().internal, 'X-If-Delete-At': String(at) })).status, 404, 'no object at all');
  t.same(await ls(n.loc('AUTH_a', 'c', 'nothing').hashDir), [], 'and no tombstone for it');
  // Due: the object already reads as missing, but the delete meant for it succeeds.
  n.now.ms = (at + 1) * 1000;
  const t1 = stamp();
  t.equal((await del(`${at}.00000`, t1)).status, 204, 'the matching X-Delete-At (as a timestamp)');
  t.same(await ls(n.loc('AUTH_a', 'c', 'x').hashDir), [`${t1.internal}.ts`]);
  t.equal((await del(String(at))).status, 412, 'a tombstone has no X-Delete-At');
  t.equal((await del('0')).status, 204, 'which is 0');
});

t.test('expired objects (X-Delete-At reached) read as missing', async (t) => {
  const n = await startNode(t);
  const ts = stamp();
  const at = Math.ceil(ts.seconds) + 100;
  n.now.ms = ts.seconds * 1000;
  t.equal((await put(n, 'e', 'x', ts, { 'X-Delete-At': String(at) })).status, 201);
  t.equal((await call('GET', n.url('AUTH_a', 'c', 'e'))).status, 200);
  n.now.ms = (at + 1) * 1000;
  t.equal((await call('GET', n.url('AUTH_a', 'c', 'e'))).status, 404);
  t.equal((await call('DELETE', n.url('AUTH_a', 'c', 'e'), { 'X-Timestamp': stamp().internal })).status, 404);
});

t.test('CRC32C: a corrupt small object is quarantined and answered 404', async (t) => {
  const n = await startNode(t);
  const ts = stamp();
  await put(n, 'q', 'precious bytes', ts);
  const loc = n.loc('AUTH_a', 'c', 'q');
  const file = join(loc.hashDir, `${ts.internal}.data`);
  const raw = await readFile(file);
  raw[3] ^= 0x20;
  await writeFile(file, raw);
  const g = await call('GET', n.url('AUTH_a', 'c', 'q'));
  t.equal(g.status, 404);
  t.not(g.body.toString(), 'preCious bytes');
  t.same(await ls(join(n.root, DEV, 'quarantined', 'objects', loc.hash)), [`${ts.internal}.data`]);
  t.same(await ls(loc.hashDir), []);
  t.equal((await call('GET', n.url('AUTH_a', 'c', 'q'))).status, 404);
});

for (const [label, size] of [
  ['read through the page cache', 2_700_000],
  ['read O_DIRECT', DIRECT_IO_ABOVE_BYTES + 300_000],
] as const) {
  t.test(`CRC32C: a corrupt large object is cut before its last byte and quarantined (${label})`, async (t) => {
    const n = await startNode(t);
    const ts = stamp();
    // more than one read (READ_CHUNK): the bad byte is in the last chunk
    const body = Buffer.alloc(size, 0x42);
    await put(n, 'Q', body, ts);
    const loc = n.loc('AUTH_a', 'c', 'Q');
    const file = join(loc.hashDir, `${ts.internal}.data`);
    const raw = await readFile(file);
    raw[size - 100_000] ^= 0x01;
    await writeFile(file, raw);
    const res = await request(n.url('AUTH_a', 'c', 'Q'), { dispatcher: client });
    t.equal(res.statusCode, 200);
    let received = 0;
    let failed = false;
    try {
      for await (const chunk of res.body) received += (chunk as Buffer).length;
    } catch {
      failed = true;
    }
    t.ok(failed, 'the body did not end cleanly');
    t.ok(received < body.length, `short body (${received} of ${body.length})`);
    await n.waitLog((r) => typeof r.msg === 'string' && r.msg.includes('quarantined'));
    t.same(await ls(join(n.root, DEV, 'quarantined', 'objects', loc.hash)), [`${ts.internal}.data`]);
  });
}

t.test('a body past direct_io_above_bytes (O_DIRECT both ways): whole and ranged GETs', async (t) => {
  const n = await startNode(t);
  const before = { ...directIoStats };
  const ts = stamp();
  const body = randomBytes(DIRECT_IO_ABOVE_BYTES + 1_234_567);
  t.equal((await put(n, 'big', body, ts)).status, 201);
  t.equal(directIoStats.filesWritten, before.filesWritten + 1, 'written O_DIRECT');
  const whole = await call('GET', n.url('AUTH_a', 'c', 'big'));
  t.equal(whole.status, 200);
  t.ok(whole.body.equals(body), 'whole body');
  const ranged = await call('GET', n.url('AUTH_a', 'c', 'big'), { Range: 'bytes=4097-5000000' });
  t.equal(ranged.status, 206);
  t.ok(ranged.body.equals(body.subarray(4097, 5_000_001)), 'unaligned range');
  t.equal(directIoStats.filesRead, before.filesRead + 2, 'both read O_DIRECT');
});

t.test('a read error mid-body cuts the response', async (t) => {
  const n = await startNode(t);
  const ts = stamp();
  const size = 20 * 1024 * 1024;
  t.equal((await put(n, 'trunc', Buffer.alloc(size, 0x33), ts)).status, 201);
  const file = join(n.loc('AUTH_a', 'c', 'trunc').hashDir, `${ts.internal}.data`);
  const res = await request(n.url('AUTH_a', 'c', 'trunc'), { dispatcher: client });
  t.equal(res.statusCode, 200);
  let received = 0;
  let failed = false;
  let truncated = false;
  try {
    for await (const chunk of res.body) {
      received += (chunk as Buffer).length;
      if (!truncated) {
        truncated = true;
        await truncate(file, 0); // the disk "loses" the rest while the server streams
      }
    }
  } catch {
    failed = true;
  }
  t.ok(failed, 'the body did not end cleanly');
  t.ok(received < size, `short body (${received} of ${size})`);
  await n.waitLog((r) => typeof r.msg === 'string' && r.msg.includes('read error mid-body'));
});

interface Recorded {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

async function fakeContainerServer(t: { teardown: (f: () => unknown) => void }, status = 201, hang = false): Promise<{ host: string; got: Recorded[]; server: Server }> {
  const got: Recorded[] = [];
  const server = createServer((req, res) => {
    got.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    if (hang) return;
    res.writeHead(status, { 'Content-Length': '2' });
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });
  return { host: `127.0.0.1:${(server.address() as AddressInfo).port}`, got, server };
}

const updateHeaders = (host: string): Record<string, string> => ({
  'X-Container-Host': host,
  'X-Container-Device': 'sdc1',
  'X-Container-Partition': '99',
  'X-Account-Host': '10.0.0.1:6002',
  'X-Account-Device': 'sda9',
  'X-Account-Partition': '5',
  'X-Trans-Id': 'tx123',
});

t.test('container update is sent after PUT, POST and DELETE', async (t) => {
  const n = await startNode(t);
  const cs = await fakeContainerServer(t);
  const name = 'photos/cat ☃.jpg';
  const ts = stamp();
  t.equal((await put(n, name, 'meow', ts, updateHeaders(cs.host))).status, 201);
  t.equal(cs.got.length, 1);
  const u = cs.got[0] as Recorded;
  t.equal(u.method, 'PUT');
  t.equal(u.url, backendPath('sdc1', 99, 'AUTH_a', 'c', name));
  t.equal(u.headers['x-timestamp'], ts.internal);
  t.equal(u.headers['x-size'], '4');
  t.equal(u.headers['x-content-type'], 'text/plain');
  t.equal(u.headers['x-etag'], md5('meow'));
  t.equal(u.headers['x-backend-source'], 'object-server');
  t.equal(u.headers['x-trans-id'], 'tx123');
  t.equal(u.headers['x-account-host'], '10.0.0.1:6002');
  t.equal(u.headers['x-account-device'], 'sda9');
  t.equal(u.headers['x-account-partition'], '5');
  // A POST updates the row too (Swift's object server): a new content type, the POST's time.
  const tp = stamp();
  t.equal((await call('POST', n.url('AUTH_a', 'c', name), { 'X-Timestamp': tp.internal, 'Content-Type': 'image/cat', ...updateHeaders(cs.host) })).status, 202);
  const p = cs.got[1] as Recorded;
  t.equal(p.method, 'PUT', 'an object POST updates the container with a PUT of the row');
  t.same(
    [p.headers['x-timestamp'], p.headers['x-size'], p.headers['x-etag'], p.headers['x-content-type'], p.headers['x-content-type-timestamp'], p.headers['x-meta-timestamp']],
    [ts.internal, '4', md5('meow'), 'image/cat', tp.internal, tp.internal],
  );
  const tp2 = stamp();
  t.equal((await call('POST', n.url('AUTH_a', 'c', name), { 'X-Timestamp': tp2.internal, 'X-Object-Meta-A': '1', ...updateHeaders(cs.host) })).status, 202);
  const p2 = cs.got[2] as Recorded;
  t.same(
    [p2.headers['x-content-type'], p2.headers['x-content-type-timestamp'], p2.headers['x-meta-timestamp']],
    ['image/cat', tp.internal, tp2.internal],
    'a POST without Content-Type keeps the last one, with its time',
  );
  cs.got.splice(1, 2);
  const td = stamp();
  t.equal((await call('DELETE', n.url('AUTH_a', 'c', name), { 'X-Timestamp': td.internal, ...updateHeaders(cs.host) })).status, 204);
  const d = cs.got[1] as Recorded;
  t.equal(d.method, 'DELETE');
  t.equal(d.headers['x-timestamp'], td.internal);
  t.equal(d.headers['x-backend-source'], 'object-server');
  t.same(await listAsyncPendings(join(n.root, DEV)), [], 'nothing pending');
  // no update headers, no update
  await put(n, 'quiet', 'x', stamp());
  t.equal(cs.got.length, 2);
});

t.test('a failed container update is saved as an async pending before the answer', async (t) => {
  for (const [label, setup] of [
    ['server down', async () => {
      const cs = await fakeContainerServer(t);
      cs.server.closeAllConnections();
      await new Promise((r) => cs.server.close(r));
      return { host: cs.host, timeout: 2000 };
    }],
    ['server answers 500', async () => ({ host: (await fakeContainerServer(t, 500)).host, timeout: 2000 })],
    ['server too slow', async () => ({ host: (await fakeContainerServer(t, 201, true)).host, timeout: 150 })],
  ] as const) {
    const { host, timeout } = await setup();
    const n = await startNode(t, { containerUpdateTimeoutMs: timeout });
    const ts = stamp();
    const r = await put(n, 'o/pending', 'abc', ts, updateHeaders(host));
    t.equal(r.status, 201, `${label}: the PUT still succeeds`);
    const dev = join(n.root, DEV);
    const loc = n.loc('AUTH_a', 'c', 'o/pending');
    const pendings = await listAsyncPendings(dev);
    t.equal(pendings.length, 1, `${label}: one pending`);
    const p = pendings[0];
    if (!p) continue;
    t.equal(p.path, join(dev, 'async_pending', loc.suffix, `${loc.hash}-${ts.internal}`));
    const saved = await loadAsyncPending(p.path);
    t.same(saved, {
      op: 'PUT',
      account: 'AUTH_a',
      container: 'c',
      obj: 'o/pending',
      headers: {
        'x-timestamp': ts.internal,
        'x-size': '3',
        'x-content-type': 'text/plain',
        'x-etag': md5('abc'),
        'x-backend-source': 'object-server',
        'x-trans-id': 'tx123',
        'x-account-host': '10.0.0.1:6002',
        'x-account-device': 'sda9',
        'x-account-partition': '5',
      },
      host,
      device: 'sdc1',
      partition: 99,
    });
  }
});

t.test('unknown methods get 405', async (t) => {
  const n = await startNode(t);
  t.equal((await call('PATCH', n.url('AUTH_a', 'c', 'o'))).status, 405);
});

/** A PUT the way the proxy sends it: chunked, with the body's MD5 and CRC32C as trailers. */
function trailerPut(n: Node, obj: string, body: Buffer, trailers: Record<string, string> | undefined, extra: Record<string, string> = {}): Promise<{ status: number; etag: string | undefined }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(n.url('AUTH_a', 'c', obj), {
      method: 'PUT',
      headers: {
        'X-Timestamp': stamp().internal,
        [BACKEND_SIGNATURE_HEADER]: signBackendRequest(TEST_BACKEND_KEY, 'PUT', new URL(n.url('AUTH_a', 'c', obj)).pathname, Date.now()),
        'Content-Type': 'a/b',
        'Transfer-Encoding': 'chunked',
        'X-Backend-Checksum-Trailer': 'md5,crc32c',
        'X-Backend-Obj-Content-Length': String(body.length),
        Trailer: 'X-Backend-Etag, X-Backend-Crc32c',
        ...extra,
      },
    });
    req.on('response', (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, etag: res.headers.etag as string | undefined }));
    });
    req.on('error', reject);
    req.write(body.subarray(0, 1000));
    req.write(body.subarray(1000));
    if (trailers) req.addTrailers(trailers);
    req.end();
  });
}

t.test('checksum trailers from the proxy: its MD5 is the ETag when the CRC32C matches', async (t) => {
  const n = await startNode(t);
  const body = Buffer.from('trailer body '.repeat(500));
  const md5 = createHash('md5').update(body).digest('hex');
  const crc = crcHex(crc32c(body));
  const ok = await trailerPut(n, 'good', body, { 'X-Backend-Etag': md5, 'X-Backend-Crc32c': crc });
  t.equal(ok.status, 201);
  t.equal(ok.etag, md5);
  const get = await call('GET', n.url('AUTH_a', 'c', 'good'));
  t.equal(get.status, 200);
  t.equal(get.headers.etag, md5);
  t.ok(get.body.equals(body), 'bytes round-trip');

  const bad = await trailerPut(n, 'bent', body, { 'X-Backend-Etag': md5, 'X-Backend-Crc32c': 'deadbeef' });
  t.equal(bad.status, 422, 'CRC32C of the received bytes differs from the sender');
  t.equal((await call('GET', n.url('AUTH_a', 'c', 'bent'))).status, 404, 'nothing stored');

  const none = await trailerPut(n, 'bare', body, undefined);
  t.equal(none.status, 400, 'no trailers');
  t.equal((await call('GET', n.url('AUTH_a', 'c', 'bare'))).status, 404, 'nothing stored');

  const wrongClientEtag = await trailerPut(n, 'etag', body, { 'X-Backend-Etag': md5, 'X-Backend-Crc32c': crc }, { ETag: '0'.repeat(32) });
  t.equal(wrongClientEtag.status, 422, "the client's ETag is checked against the proxy's MD5");
  t.same(await ls(join(n.root, DEV, 'tmp')), [], 'no temp files left');
});

t.test('checksum headers from the proxy (a small body sent whole): checked like the trailers', async (t) => {
  const n = await startNode(t);
  const body = Buffer.from('small body '.repeat(20));
  const sum = md5(body);
  const crc = crcHex(crc32c(body));
  const ok = await put(n, 'hgood', body, stamp(), { 'X-Backend-Etag': sum, 'X-Backend-Crc32c': crc });
  t.equal(ok.status, 201);
  t.equal(ok.headers.etag, sum);
  const get = await call('GET', n.url('AUTH_a', 'c', 'hgood'));
  t.equal(get.headers.etag, sum);
  t.ok(get.body.equals(body), 'bytes round-trip');

  const bent = await put(n, 'hbent', body, stamp(), { 'X-Backend-Etag': sum, 'X-Backend-Crc32c': 'deadbeef' });
  t.equal(bent.status, 422, 'CRC32C of the received bytes differs from the sender');
  const half = await put(n, 'hhalf', body, stamp(), { 'X-Backend-Etag': sum });
  t.equal(half.status, 400, 'an ETag without its CRC32C');
  for (const o of ['hbent', 'hhalf']) t.equal((await call('GET', n.url('AUTH_a', 'c', o))).status, 404, `${o}: nothing stored`);
  t.same(await ls(join(n.root, DEV, 'tmp')), [], 'no temp files left');
});
