import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import { request } from 'undici';
import { signingDispatcher, TEST_BACKEND_KEY } from '../helpers/signing.js';
import { BACKEND_SIGNATURE_HEADER, signBackendRequest } from '../../common/backend-auth.js';
import { backendPath } from '../../common/backend-path.js';
import { decodeRawTrailer, encodeRawTrailer, RAW_BODY_METHOD, RAW_BODY_PROTOCOL, RAW_TRAILER_BYTES, ResponseHeadReader } from '../../common/raw-body.js';
import { Timestamp } from '../../common/timestamp.js';
import { directIoStats } from '../../storage-node/object/direct-io.js';
import { rawBodyStats } from '../../storage-node/object/raw-receiver.js';
import { DEV, PART, startNode, type Node } from '../helpers/object-node.js';

/**
 * The raw body transfer of large object PUTs (common/raw-body.ts), from the object server's side:
 * a hand-written client speaks the protocol over a plain socket, so every byte's timing is ours.
 */
const client = signingDispatcher();
t.teardown(() => client.close());

t.test('trailer and response head codecs', async (t) => {
  const tr = encodeRawTrailer('0123456789abcdef0123456789abcdef', 0x89abcdef);
  t.equal(tr.length, RAW_TRAILER_BYTES);
  t.same(decodeRawTrailer(tr), { etag: '0123456789abcdef0123456789abcdef', crc32c: '89abcdef' });
  t.equal(decodeRawTrailer(Buffer.from('x'.repeat(40))), undefined, 'not hex');
  t.throws(() => encodeRawTrailer('short', 0x89abcdef));

  const r = new ResponseHeadReader();
  t.equal(r.feed(Buffer.from('HTTP/1.1 201 Created\r\nContent-Le')), undefined, 'head incomplete');
  t.same(r.feed(Buffer.from('ngth: 0\r\nETag: abc123\r\n\r\n')), { status: 201, etag: 'abc123' }, 'split across reads');
  t.same(new ResponseHeadReader().feed(Buffer.from('HTTP/1.1 422 Unprocessable\r\n\r\n')), { status: 422 });
  t.equal(new ResponseHeadReader().feed(Buffer.from('garbage\r\n\r\n')), 'bad');
  t.equal(new ResponseHeadReader().feed(Buffer.alloc(20_000, 0x41)), 'bad', 'endless head');
});

let ticks = 1_700_000_000_00000;
const stamp = (): Timestamp => new Timestamp(ticks++ + 1000);
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

/** A raw-body client: sends the upgrade request, resolves with the socket once the 101 came (or the status of a refusal). */
function openRaw(port: number, path: string, length: number, extra: Record<string, string> = {}, protocol = RAW_BODY_PROTOCOL, method = RAW_BODY_METHOD): Promise<{ sock: Socket; refused?: number; answer: Promise<string> }> {
  return new Promise((resolve, reject) => {
    const sock = connect(port, '127.0.0.1');
    const headers: Record<string, string> = { Host: 'x', Connection: 'Upgrade', Upgrade: protocol, 'X-Timestamp': stamp().internal, 'Content-Type': 'application/octet-stream', 'X-Backend-Obj-Content-Length': String(length), [BACKEND_SIGNATURE_HEADER]: signBackendRequest(TEST_BACKEND_KEY, method, path, Date.now()), ...extra };
    sock.write(`${method} ${path} HTTP/1.1\r\n${Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`);
    let text = '';
    let opened = false;
    let answered!: (s: string) => void;
    const answer = new Promise<string>((r) => (answered = r));
    sock.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (!opened) {
        const end = text.indexOf('\r\n\r\n');
        if (end === -1) return;
        opened = true;
        const head = text.slice(0, end);
        text = text.slice(end + 4);
        if (head.startsWith('HTTP/1.1 101')) resolve({ sock, answer });
        else resolve({ sock, refused: Number(head.slice(9, 12)), answer });
      }
    });
    sock.on('end', () => answered(text));
    sock.on('close', () => answered(text));
    sock.on('error', reject);
  });
}

const statusOf = (answer: string): number => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0);
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

const path = (o: string): string => backendPath(DEV, PART, 'AUTH_a', 'c', o);

async function stored(n: Node, o: string): Promise<{ data: string[]; tmp: string[] }> {
  const list = async (d: string): Promise<string[]> => readdir(d).catch(() => []);
  return { data: (await list(n.loc('AUTH_a', 'c', o).hashDir)).filter((f) => f.endsWith('.data')), tmp: await list(join(n.root, DEV, 'tmp')) };
}

t.test('a large body arrives raw, lands in the O_DIRECT staging memory, and reads back', async (t) => {
  const n = await startNode(t);
  const body = randomBytes(6 * 1024 * 1024 + 12_345);
  const before = { ...rawBodyStats };
  const direct = directIoStats.filesWritten;
  const { sock, refused, answer } = await openRaw(n.port, path('big'), body.length);
  t.equal(refused, undefined, '101');
  sock.write(body);
  sock.write(encodeRawTrailer(md5(body), crc32c(body)));
  const a = await answer;
  t.equal(statusOf(a), 201, a.split('\r\n')[0]);
  t.match(a, new RegExp(`ETag: ${md5(body)}`, 'i'));
  t.match(a, /Connection: close/i);
  t.equal(rawBodyStats.bodies, before.bodies + 1);
  t.ok(rawBodyStats.bytesInPlace - before.bytesInPlace > body.length / 2, 'most of the body was read straight into the staging slots');
  t.equal(directIoStats.filesWritten, direct + 1, 'written O_DIRECT');
  const res = await request(n.url('AUTH_a', 'c', 'big'), { dispatcher: client });
  const got = Buffer.from(await res.body.arrayBuffer());
  t.equal(res.statusCode, 200);
  t.ok(got.equals(body), 'same bytes back');
  t.equal(res.headers['etag'], md5(body));
});

t.test('a body dribbled in small pieces, with pauses, and the trailer split', async (t) => {
  for (const directIoAboveBytes of [undefined, 0]) {
    // 0: no O_DIRECT, so every read goes through the writer's ordinary writes
    const n = await startNode(t, directIoAboveBytes === undefined ? {} : { directIoAboveBytes });
    const body = randomBytes(5 * 1024 * 1024 + 7);
    const { sock, answer } = await openRaw(n.port, path('dribble'), body.length);
    let off = 0;
    let step = 1;
    while (off < body.length) {
      const len = Math.min(body.length - off, (step * 7919) % 300_000 + 1);
      sock.write(body.subarray(off, off + len));
      off += len;
      if (step++ % 5 === 0) await sleep(2);
    }
    const trailer = encodeRawTrailer(md5(body), crc32c(body));
    sock.write(trailer.subarray(0, 13));
    await sleep(20);
    sock.write(trailer.subarray(13));
    t.equal(statusOf(await answer), 201, `direct_io_above_bytes ${directIoAboveBytes ?? 'default'}`);
    const res = await request(n.url('AUTH_a', 'c', 'dribble'), { dispatcher: client });
    t.ok(Buffer.from(await res.body.arrayBuffer()).equals(body), 'same bytes back');
  }
});

t.test('a body whose CRC32C does not match is refused and nothing is stored', async (t) => {
  const n = await startNode(t);
  const body = randomBytes(5 * 1024 * 1024);
  const { sock, answer } = await openRaw(n.port, path('bad'), body.length);
  sock.write(body);
  sock.write(encodeRawTrailer(md5(body), 0));
  t.equal(statusOf(await answer), 422);
  t.same(await stored(n, 'bad'), { data: [], tmp: [] }, 'no data file, no temp file');
});

t.test('a connection lost mid-body, or a client gone quiet: nothing stored, the node stays up', async (t) => {
  const n = await startNode(t, { clientTimeoutMs: 300 });
  const body = randomBytes(5 * 1024 * 1024);
  const lost = await openRaw(n.port, path('lost'), body.length);
  lost.sock.write(body.subarray(0, 3_000_000));
  await sleep(50);
  lost.sock.destroy();
  await sleep(100);
  t.same(await stored(n, 'lost'), { data: [], tmp: [] }, 'lost: nothing stored');

  const quiet = await openRaw(n.port, path('quiet'), body.length);
  quiet.sock.write(body.subarray(0, 2_000_000));
  t.equal(statusOf(await quiet.answer), 408, 'quiet: 408 on the connection');
  t.same(await stored(n, 'quiet'), { data: [], tmp: [] }, 'quiet: nothing stored');

  const res = await request(n.url('AUTH_a', 'c', 'lost'), { dispatcher: client });
  await res.body.dump();
  t.equal(res.statusCode, 404, 'the node still answers');
});

t.test('an upgrade that is not a raw object body is refused', async (t) => {
  const n = await startNode(t);
  const wrong = await openRaw(n.port, path('o'), 10, {}, 'websocket');
  t.equal(wrong.refused, 400, 'another protocol');
  const notObject = await openRaw(n.port, backendPath(DEV, PART, 'AUTH_a', 'c'), 10);
  t.equal(notObject.refused, 400, 'a container path');
  const putUpgrade = await openRaw(n.port, path('o'), 10, {}, RAW_BODY_PROTOCOL, 'PUT');
  t.equal(putUpgrade.refused, 400, 'an upgrade PUT (the raw transfer has its own method)');
  const noTs = await openRaw(n.port, path('o'), 10, { 'X-Timestamp': 'nope' });
  t.equal(noTs.refused, 400, 'a bad request is answered instead of the 101');

  // The object server's own checks come before the 101 too: an older write gets its 409 at once.
  const older = stamp();
  const body = randomBytes(5 * 1024 * 1024);
  const first = await openRaw(n.port, path('o'), body.length);
  first.sock.end(Buffer.concat([body, encodeRawTrailer(md5(body), crc32c(body))]));
  t.equal(statusOf(await first.answer), 201);
  const late = await openRaw(n.port, path('o'), body.length, { 'X-Timestamp': older.internal });
  t.equal(late.refused, 409, 'an older timestamp: 409 instead of the 101');
});
