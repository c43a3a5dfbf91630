import t from 'tap';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { isSwiftletError } from '../../common/errors.js';
import { receiveBody, type ChunkSink } from '../../storage-node/object/body-receiver.js';

/** A request stand-in: a stream with the same pause/resume/end/close behaviour. */
const fakeReq = (): PassThrough => new PassThrough({ highWaterMark: 16 * 1024 });
const asReq = (p: PassThrough): IncomingMessage => p as unknown as IncomingMessage;

/** A sink whose writes take `delayMs`, recording what it got and whether writes ever overlapped. */
function slowSink(delayMs: number, fail?: Error): ChunkSink & { got: Buffer[]; calls: number; inflight: number; overlapped: boolean } {
  const s = {
    got: [] as Buffer[],
    calls: 0,
    inflight: 0,
    overlapped: false,
    async write(bufs: Buffer[]) {
      s.calls++;
      if (++s.inflight > 1) s.overlapped = true;
      await new Promise((r) => setTimeout(r, delayMs));
      s.inflight--;
      if (fail) throw fail;
      s.got.push(...bufs);
    },
  };
  return s;
}

/** Writes chunks like a socket: waits for 'drain' when the stream is full. Returns how often it had to wait. */
async function feed(req: PassThrough, chunks: Buffer[], end = true): Promise<number> {
  let waits = 0;
  for (const c of chunks) {
    if (!req.write(c)) {
      waits++;
      await new Promise((r) => req.once('drain', r));
    }
  }
  if (end) req.end();
  return waits;
}

t.test('chunks are batched while the sink is busy, backpressure reaches the sender, bytes stay in order', async (t) => {
  const req = fakeReq();
  const sink = slowSink(5);
  const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(16 * 1024, i));
  const done = receiveBody(asReq(req), sink, { expectedLength: 64 * 16 * 1024, idleTimeoutMs: 5000, highWaterBytes: 64 * 1024 });
  const waits = await feed(req, chunks);
  t.equal(await done, 64 * 16 * 1024);
  t.ok(Buffer.concat(sink.got).equals(Buffer.concat(chunks)), 'all bytes, in order');
  t.ok(sink.calls < chunks.length, `batched: ${sink.calls} writes for ${chunks.length} chunks`);
  t.notOk(sink.overlapped, 'one write at a time');
  t.ok(waits > 0, 'the sender was held back');
});

t.test('a chunked body (no length) ends cleanly', async (t) => {
  const req = fakeReq();
  const sink = slowSink(0);
  const done = receiveBody(asReq(req), sink, { expectedLength: undefined, idleTimeoutMs: 5000 });
  await feed(req, [Buffer.from('ab'), Buffer.from('cd')]);
  t.equal(await done, 4);
  t.equal(Buffer.concat(sink.got).toString(), 'abcd');
});

t.test('an empty body', async (t) => {
  const req = fakeReq();
  const done = receiveBody(asReq(req), slowSink(0), { expectedLength: 0, idleTimeoutMs: 5000 });
  req.end();
  t.equal(await done, 0);
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  return undefined;
}

t.test('the client going away mid-body: CLIENT_DISCONNECT, and no write left in flight', async (t) => {
  const req = fakeReq();
  const sink = slowSink(50);
  const done = receiveBody(asReq(req), sink, { expectedLength: 100, idleTimeoutMs: 5000 });
  req.write(Buffer.alloc(50));
  await new Promise((r) => setImmediate(r));
  req.destroy();
  const e = await rejection(done);
  t.ok(isSwiftletError(e, 'CLIENT_DISCONNECT'), String(e));
  t.equal(sink.inflight, 0, 'rejected only after the write settled');
});

t.test('a client going quiet: CLIENT_TIMEOUT', async (t) => {
  const req = fakeReq();
  const done = receiveBody(asReq(req), slowSink(0), { expectedLength: 100, idleTimeoutMs: 50 });
  req.write(Buffer.alloc(10));
  const e = await rejection(done);
  t.ok(isSwiftletError(e, 'CLIENT_TIMEOUT'), String(e));
});

t.test('time spent waiting for our own disk does not count as the client idling', async (t) => {
  const req = fakeReq();
  const sink = slowSink(300);
  const done = receiveBody(asReq(req), sink, { expectedLength: 4, idleTimeoutMs: 150, highWaterBytes: 1 });
  await feed(req, [Buffer.from('a'), Buffer.from('b'), Buffer.from('c'), Buffer.from('d')]);
  t.equal(await done, 4);
});

t.test('more bytes than Content-Length: BAD_REQUEST', async (t) => {
  const req = fakeReq();
  const done = receiveBody(asReq(req), slowSink(0), { expectedLength: 3, idleTimeoutMs: 5000 });
  req.write(Buffer.from('abcd'));
  const e = await rejection(done);
  t.ok(isSwiftletError(e, 'BAD_REQUEST'), String(e));
});

t.test('a failing sink rejects with its error', async (t) => {
  const req = fakeReq();
  const boom = Object.assign(new Error('disk on fire'), { code: 'EIO' });
  const done = receiveBody(asReq(req), slowSink(1, boom), { expectedLength: 10, idleTimeoutMs: 5000 });
  req.write(Buffer.alloc(10));
  t.equal(await rejection(done), boom);
});
