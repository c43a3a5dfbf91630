import t from 'tap';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { isSwiftletError } from '../../common/errors.js';
import { respond, type ProxyResponse } from '../../proxy/pipeline.js';
import { storedManifestBody, type StoredSegment } from '../../proxy/large-object/manifest.js';
import { openSegmentStream, sloPieces, type SegmentSource } from '../../proxy/large-object/stream.js';

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

/** Objects served in 1000-byte chunks, counting what was read; `lie` serves other bytes under the same headers. */
function fakeSource(objects: Map<string, Buffer>, manifests: Map<string, StoredSegment[]> = new Map(), lie = new Map<string, Buffer>()) {
  const stats = { fetches: [] as string[], destroyed: 0 };
  const source: SegmentSource = {
    async segment(name, range) {
      stats.fetches.push(range ? `${name}:${range[0]}-${range[1]}` : name);
      const obj = objects.get(name);
      if (!obj) return respond(404, {}, 'Not Found');
      const served = lie.get(name) ?? obj;
      const bytes = range ? served.subarray(range[0], range[1] + 1) : served;
      const chunks: Buffer[] = [];
      for (let i = 0; i < bytes.length; i += 1000) chunks.push(bytes.subarray(i, i + 1000));
      const body = Readable.from(chunks, { objectMode: false });
      body.on('close', () => stats.destroyed++);
      return respond(range ? 206 : 200, { etag: md5(obj), 'content-length': String(bytes.length) }, body);
    },
    async manifest(name): Promise<ProxyResponse> {
      const m = manifests.get(name);
      return m ? respond(200, {}, storedManifestBody(m)) : respond(404);
    },
  };
  return { source, stats };
}

const seg = (name: string, b: Buffer, extra: Partial<Extract<StoredSegment, { name: string }>> = {}): StoredSegment => ({ name, bytes: b.length, hash: md5(b), content_type: 'x', last_modified: '', ...extra });
const opts = (length: number) => ({ length, name: '/v1/a/c/big', deadlineMs: 1e9, now: () => 0 });

async function collect(body: AsyncIterable<Buffer>): Promise<{ bytes: Buffer; error?: unknown; chunks: number }> {
  const parts: Buffer[] = [];
  try {
    for await (const c of body) parts.push(c);
  } catch (error) {
    return { bytes: Buffer.concat(parts), error, chunks: parts.length };
  }
  return { bytes: Buffer.concat(parts), chunks: parts.length };
}

const A = Buffer.alloc(2500, 1);
const B = Buffer.alloc(3000, 2);
const C = Buffer.alloc(1500, 3);

t.test('segments stream in order, chunk by chunk, with ranges and nesting', async (t) => {
  const objects = new Map([['/c/a', A], ['/c/b', B], ['/c/c', C]]);
  const manifests = new Map([['/c/sub', [seg('/c/b', B), { data: Buffer.from('zz').toString('base64') }]]]);
  const { source, stats } = fakeSource(objects, manifests);
  const segs: StoredSegment[] = [seg('/c/a', A), { name: '/c/sub', bytes: 3002, hash: 'x', content_type: '', last_modified: '', sub_slo: true }, seg('/c/c', C, { range: '100-199' })];
  const whole = Buffer.concat([A, B, Buffer.from('zz'), C.subarray(100, 200)]);
  const all = await collect(await openSegmentStream(source, sloPieces(source, segs, 0, whole.length - 1), opts(whole.length)));
  t.notOk(all.error);
  t.ok(all.bytes.equals(whole));
  t.ok(all.chunks >= 7, 'never a whole segment at once');
  t.same(stats.fetches, ['/c/a', '/c/b', '/c/c:100-199']);
  stats.fetches.length = 0;
  const part = await collect(await openSegmentStream(source, sloPieces(source, segs, 2400, 2600), opts(201)));
  t.ok(part.bytes.equals(whole.subarray(2400, 2601)));
  t.same(stats.fetches, ['/c/a:2400-2499', '/c/b:0-100']);
});

t.test('a bad first segment is an error before any byte; a later one cuts the body', async (t) => {
  const objects = new Map([['/c/a', A], ['/c/b', B]]);
  const { source } = fakeSource(objects);
  const missingFirst = [seg('/c/gone', A), seg('/c/b', B)];
  await t.rejects(openSegmentStream(source, sloPieces(source, missingFirst, 0, 5499), opts(5500)), { code: 'CONFLICT' });
  const changedFirst = [seg('/c/a', A, { hash: 'f'.repeat(32) }), seg('/c/b', B)];
  await t.rejects(openSegmentStream(source, sloPieces(source, changedFirst, 0, 5499), opts(5500)), { code: 'CONFLICT' });
  const sizeFirst = [seg('/c/a', A, { bytes: 2499 }), seg('/c/b', B)];
  await t.rejects(openSegmentStream(source, sloPieces(source, sizeFirst, 0, 5498), opts(5499)), { code: 'CONFLICT' });

  const missingLater = [seg('/c/a', A), seg('/c/gone', B)];
  const r = await collect(await openSegmentStream(source, sloPieces(source, missingLater, 0, 5499), opts(5500)));
  t.ok(isSwiftletError(r.error, 'CONFLICT'), 'the body throws: the edge cuts the connection');
  t.equal(r.bytes.length, 2500, 'the first segment went out, nothing after it');
});

t.test('a segment whose bytes do not match its ETag is found at its end', async (t) => {
  const objects = new Map([['/c/a', A], ['/c/b', B]]);
  const { source } = fakeSource(objects, new Map(), new Map([['/c/a', Buffer.alloc(2500, 9)]]));
  const r = await collect(await openSegmentStream(source, sloPieces(source, [seg('/c/a', A), seg('/c/b', B)], 0, 5499), opts(5500)));
  t.ok(isSwiftletError(r.error, 'CONFLICT'));
  t.equal(r.bytes.length, 2500, 'the bad segment is not followed by the next');
});

t.test('too deep a nesting is refused', async (t) => {
  const manifests = new Map<string, StoredSegment[]>();
  for (let i = 0; i < 12; i++) manifests.set(`/c/m${i}`, [{ name: `/c/m${i + 1}`, bytes: 10, hash: 'x', content_type: '', last_modified: '', sub_slo: true }]);
  const { source } = fakeSource(new Map(), manifests);
  await t.rejects(openSegmentStream(source, sloPieces(source, manifests.get('/c/m0') as StoredSegment[], 0, 9), opts(10)), { code: 'CONFLICT' });
});

t.test('a client that stops reading destroys the segment being read', async (t) => {
  const big = Buffer.alloc(50_000, 5);
  const { source, stats } = fakeSource(new Map([['/c/big', big]]));
  const body = await openSegmentStream(source, sloPieces(source, [seg('/c/big', big)], 0, big.length - 1), opts(big.length));
  for await (const _ of body) break;
  await new Promise((r) => setImmediate(r));
  t.equal(stats.destroyed, 1);
});

/** Five 3000-byte segments served in 1000-byte chunks; `fetchedAt[i]`: chunks the client had received when segment i was asked for. */
async function prefetchRun(streamOpts: { ahead?: number; aheadBytes?: number }) {
  const bodies = [0, 1, 2, 3, 4].map((i) => Buffer.alloc(3000, i + 1));
  const objects = new Map(bodies.map((b, i) => [`/c/s${i}`, b]));
  const { source } = fakeSource(objects);
  let received = 0;
  const fetchedAt: number[] = [];
  const counting: SegmentSource = {
    segment: (name, range) => {
      fetchedAt[Number(name.slice(4))] = received;
      return source.segment(name, range);
    },
    manifest: (name) => source.manifest(name),
  };
  const segs = bodies.map((b, i) => seg(`/c/s${i}`, b));
  const parts: Buffer[] = [];
  for await (const c of await openSegmentStream(counting, sloPieces(counting, segs, 0, 14_999), { ...opts(15_000), ...streamOpts })) {
    parts.push(c);
    received++;
  }
  return { fetchedAt, bytes: Buffer.concat(parts), whole: Buffer.concat(bodies) };
}

t.test('the next segment is opened while one streams, never more than `ahead` of them', async (t) => {
  const one = await prefetchRun({ ahead: 1, aheadBytes: 1e9 });
  t.ok(one.bytes.equals(one.whole));
  for (let i = 1; i < 5; i++) {
    t.ok((one.fetchedAt[i] as number) >= (i - 1) * 3, `segment ${i} not opened before segment ${i - 1} streams`);
    t.ok((one.fetchedAt[i] as number) < i * 3, `segment ${i} opened before segment ${i - 1}'s last byte went out`);
  }
  const two = await prefetchRun({ ahead: 2, aheadBytes: 1e9 });
  t.ok(two.bytes.equals(two.whole));
  for (let i = 2; i < 5; i++) t.ok((two.fetchedAt[i] as number) >= (i - 2) * 3, `segment ${i}: at most two ahead`);
  t.ok((two.fetchedAt[2] as number) < 3, 'two ahead while the first streams');
  const none = await prefetchRun({ ahead: 0 });
  for (let i = 1; i < 5; i++) t.equal(none.fetchedAt[i], i * 3, 'ahead 0: each after the last byte of the one before');
});

t.test('a segment is opened ahead only once fewer than aheadBytes are left before it', async (t) => {
  const r = await prefetchRun({ ahead: 1, aheadBytes: 1500 });
  t.ok(r.bytes.equals(r.whole));
  for (let i = 1; i < 5; i++) t.equal(r.fetchedAt[i], (i - 1) * 3 + 2, `segment ${i} once 1000 bytes of the one before were left`);
});

t.test('a prefetched segment that fails is reported where it is reached; nothing after it is opened', async (t) => {
  const objects = new Map([['/c/a', A], ['/c/c', C]]);
  const { source, stats } = fakeSource(objects);
  const r = await collect(await openSegmentStream(source, sloPieces(source, [seg('/c/a', A), seg('/c/gone', B), seg('/c/c', C)], 0, 6999), { ...opts(7000), ahead: 1 }));
  t.ok(isSwiftletError(r.error, 'CONFLICT'), 'the body throws: the edge cuts the connection');
  t.ok(r.bytes.equals(A), 'every byte of the segment before it went out, none after');
  t.same(stats.fetches, ['/c/a', '/c/gone'], 'the segment after the failed one is never asked for');
});

t.test('a bad segment or a client that leaves drops the segment opened ahead', async (t) => {
  const objects = new Map([['/c/a', A], ['/c/b', B]]);
  const bad = fakeSource(objects, new Map(), new Map([['/c/a', Buffer.alloc(2500, 9)]]));
  const r = await collect(await openSegmentStream(bad.source, sloPieces(bad.source, [seg('/c/a', A), seg('/c/b', B)], 0, 5499), { ...opts(5500), ahead: 1 }));
  t.ok(isSwiftletError(r.error, 'CONFLICT'));
  t.equal(r.bytes.length, 2500, 'nothing of the segment opened ahead went out');
  await new Promise((res) => setImmediate(res));
  t.same(bad.stats.fetches, ['/c/a', '/c/b'], 'the next one had been opened ahead');
  t.equal(bad.stats.destroyed, 2, 'and is dropped with the bad one');

  const left = fakeSource(objects);
  for await (const _ of await openSegmentStream(left.source, sloPieces(left.source, [seg('/c/a', A), seg('/c/b', B)], 0, 5499), { ...opts(5500), ahead: 1 })) break;
  await new Promise((res) => setImmediate(res));
  t.equal(left.stats.destroyed, 2, 'the streaming segment and the one opened ahead');
});
