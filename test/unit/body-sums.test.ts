import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { crc32c } from '@node-rs/crc32';
import { HASH_BEHIND_BYTES, HASH_OFF_LOOP_ABOVE_BYTES, HashPool, type BodySums } from '../../proxy/body-sums.js';

/**
 * A PUT body's MD5 and CRC32C, on the event loop for small bodies and on a hashing thread for large
 * ones: the same sums either way, chunks split anywhere, sessions interleaved; the client held
 * while the thread is behind; a thread that dies fails its bodies and is replaced.
 */
const LARGE = HASH_OFF_LOOP_ABOVE_BYTES + 1;

function expected(body: Buffer): { md5Hex: string; crc: number } {
  return { md5Hex: createHash('md5').update(body).digest('hex'), crc: crc32c(body) };
}

/** Feeds `body` in seeded-random chunks, flushing after a random number of chunks per "turn". */
function feed(sums: BodySums, body: Buffer, seed: number): void {
  let x = seed;
  const next = (n: number): number => ((x = (x * 1103515245 + 12345) >>> 0), x % n);
  let chunksThisTurn = 0;
  for (let at = 0; at < body.length; ) {
    const len = Math.min(body.length - at, 1 + next(200_000));
    sums.update(body.subarray(at, at + len));
    at += len;
    if (++chunksThisTurn > next(5)) {
      sums.flushTurn();
      chunksThisTurn = 0;
    }
  }
}

t.test('inline and on the thread: the sums of the whole body', async (t) => {
  const pool = new HashPool(2);
  t.teardown(() => pool.close());
  const small = randomBytes(100_000);
  const inline = pool.sumsFor(small.length);
  feed(inline, small, 1);
  t.same(await inline.result(), expected(small), 'a small body, inline');
  const chunked = pool.sumsFor(undefined);
  feed(chunked, small, 2);
  t.same(await chunked.result(), expected(small), 'a chunked body (no length), inline');

  const bodies = [randomBytes(LARGE), randomBytes(LARGE + 777_777), randomBytes(3 * LARGE)];
  const sessions = bodies.map((b) => pool.sumsFor(b.length));
  // interleaved turns of three bodies over two threads
  bodies.forEach((b, i) => feed(sessions[i]!, b.subarray(0, b.length >> 1), 10 + i));
  bodies.forEach((b, i) => feed(sessions[i]!, b.subarray(b.length >> 1), 20 + i));
  const got = await Promise.all(sessions.map((s) => s.result()));
  got.forEach((g, i) => t.same(g, expected(bodies[i]!), `large body ${i}, hashed off the loop`));
  const empty = pool.sumsFor(LARGE);
  t.same(await empty.result(), expected(Buffer.alloc(0)), 'a body that ended before its first byte');
});

t.test('a thread behind holds the client until it catches up', async (t) => {
  const pool = new HashPool(1);
  t.teardown(() => pool.close());
  const sums = pool.sumsFor(4 * LARGE);
  const turn = randomBytes(HASH_BEHIND_BYTES + 1);
  sums.update(turn);
  t.equal(sums.flushTurn(), true, 'more than HASH_BEHIND_BYTES unhashed: behind');
  await new Promise<void>((resolve) => sums.onDrain(resolve));
  t.pass('drained once the thread hashed it');
  sums.update(Buffer.from('tail'));
  t.equal(sums.flushTurn(), false, 'a small turn with nothing pending: not behind');
  t.same(await sums.result(), expected(Buffer.concat([turn, Buffer.from('tail')])));
});

t.test('a hashing thread that dies fails its bodies; the next body gets a new thread', async (t) => {
  const pool = new HashPool(1);
  t.teardown(() => pool.close());
  const doomed = pool.sumsFor(LARGE);
  doomed.update(randomBytes(HASH_BEHIND_BYTES + 1));
  t.equal(doomed.flushTurn(), true);
  const drained = new Promise<void>((resolve) => doomed.onDrain(resolve));
  await pool['threads'][0]!['worker'].terminate();
  await drained;
  t.pass('a client held for the dead thread is let go');
  await t.rejects(doomed.result(), /hashing thread exited/, 'its sums reject: the PUT fails');
  doomed.abort();
  const body = randomBytes(LARGE);
  const next = pool.sumsFor(body.length);
  feed(next, body, 3);
  t.same(await next.result(), expected(body), 'the next body is hashed by a new thread');
});

t.test('an aborted body is forgotten by its thread', async (t) => {
  const pool = new HashPool(1);
  t.teardown(() => pool.close());
  const gone = pool.sumsFor(LARGE);
  feed(gone, randomBytes(LARGE), 4);
  gone.abort();
  gone.update(Buffer.from('late'));
  t.equal(gone.flushTurn(), false, 'nothing more goes to the thread after abort');
  const thread = pool['threads'][0]!;
  t.equal(thread['sessions'].size, 0, 'no session left on the proxy side');
  const body = randomBytes(LARGE);
  const next = pool.sumsFor(body.length);
  feed(next, body, 5);
  t.same(await next.result(), expected(body), 'the thread goes on with the next body');
});
