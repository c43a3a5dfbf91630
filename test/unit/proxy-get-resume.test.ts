import t from 'tap';
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { SeededRandom } from '../../common/random.js';
import { contentRangeValue, newBoundary, planMultipart, resolveRange } from '../../common/range.js';
import { fakeNodeProxy, type NodeAnswer, type NodeRequest } from '../helpers/fake-nodes.js';

/**
 * A GET whose node breaks off mid-body resumes from the next node at the right offset (Swift's
 * GetOrHeadHandler fast_forward): the client gets exactly the object's bytes, whatever the break
 * points (seeded), for whole-object and single-range reads; a node holding another version is
 * never spliced in; when every node breaks the client's connection is cut.
 */

const SIZE = 300_000;

function objectBytes(seed: number): Buffer {
  const rnd = new SeededRandom(seed);
  const b = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i++) b[i] = rnd.int(256);
  return b;
}

const OBJ = objectBytes(7);
const ETAG = createHash('md5').update(OBJ).digest('hex');
const OTHER = objectBytes(8);
const OTHER_ETAG = createHash('md5').update(OTHER).digest('hex');

interface NodePlan {
  /** Break after this many bytes of its answer (undefined: serve it whole). */
  breakAfter?: number;
  /** Holds another version of the object. */
  other?: boolean;
}

/** An object server answering with Range and If-Match as ours does, broken as planned. */
function objectNode(r: NodeRequest, plan: NodePlan, log: string[]): NodeAnswer {
  const h: Record<string, string> = { 'x-timestamp': '1700000000.00000', 'x-backend-timestamp': '1700000000.00000' };
  if (r.depth !== 3) return { status: r.method === 'GET' ? 200 : 204, headers: h, body: r.method === 'GET' ? '[]' : '' };
  const data = plan.other ? OTHER : OBJ;
  const etag = plan.other ? OTHER_ETAG : ETAG;
  const headers: Record<string, string> = { ...h, etag, 'content-type': 'application/octet-stream' };
  const range = r.req.headers['range'];
  log.push(`${r.node}:${range ?? ''}:${r.req.headers['if-match'] ?? ''}`);
  const ifMatch = r.req.headers['if-match'];
  if (ifMatch !== undefined && ifMatch !== etag) return { status: 412, headers };
  const outcome = resolveRange(range, data.length);
  if (outcome.kind === 'unsatisfiable') return { status: 416, headers };
  if (outcome.kind === 'partial' && outcome.ranges.length > 1) {
    // Framed as our object server frames it (swob's layout), with a boundary of its own.
    const m = multipartBody(data, outcome.ranges, newBoundary());
    const answer: NodeAnswer = { status: 206, headers: { ...headers, 'content-type': m.contentType }, body: m.body };
    if (plan.breakAfter !== undefined) answer.breakAfter = plan.breakAfter;
    return answer;
  }
  const [start, end] = outcome.kind === 'partial' ? (outcome.ranges[0] as [number, number]) : [0, data.length];
  const status = outcome.kind === 'partial' ? 206 : 200;
  if (status === 206) headers['content-range'] = contentRangeValue(start, end, data.length);
  const answer: NodeAnswer = { status, headers, body: data.subarray(start, end) };
  if (plan.breakAfter !== undefined) answer.breakAfter = plan.breakAfter;
  return answer;
}

/** A multipart/byteranges body of `data` laid out by common/range.ts, as the object server sends it. */
function multipartBody(data: Buffer, ranges: Array<[number, number]>, boundary: string): { contentType: string; body: Buffer } {
  const plan = planMultipart(ranges, 'application/octet-stream', data.length, boundary);
  const parts: Buffer[] = [];
  for (const p of plan.parts) parts.push(p.head, data.subarray(p.start, p.end), Buffer.from('\r\n'));
  parts.push(plan.tail);
  const body = Buffer.concat(parts);
  if (body.length !== plan.contentLength) throw new Error('layout length');
  return { contentType: plan.contentType, body };
}

async function get(base: string, token: string, range?: string): Promise<{ status: number; body: Buffer } | 'cut'> {
  try {
    const res = await request(`${base}/v1/AUTH_test/c/o`, { headers: { 'x-auth-token': token, ...(range ? { range } : {}) } });
    const chunks: Buffer[] = [];
    for await (const c of res.body) chunks.push(c as Buffer);
    return { status: res.statusCode, body: Buffer.concat(chunks) };
  } catch {
    return 'cut';
  }
}

t.test('seeded break points: the client gets exactly the bytes it asked for', async (t) => {
  const p = await fakeNodeProxy();
  t.teardown(() => p.close());
  const token = await p.token('test:tester', 'testing');
  const ranges: Array<[string | undefined, number, number]> = [
    [undefined, 0, SIZE],
    ['bytes=1000-250000', 1000, 250_001],
    ['bytes=123456-', 123_456, SIZE],
    ['bytes=-100000', SIZE - 100_000, SIZE],
  ];
  for (let seed = 1; seed <= 12; seed++) {
    const rnd = new SeededRandom(seed);
    const [range, start, end] = ranges[seed % ranges.length] as [string | undefined, number, number];
    const want = OBJ.subarray(start, end);
    // Up to four requests break somewhere in what they were asked for; the last one serves whole.
    const breaking = 1 + rnd.int(4);
    const plans: NodePlan[] = [];
    let left = want.length;
    for (let i = 0; i < 5; i++) {
      if (i >= breaking) plans.push({});
      else {
        const at = rnd.int(Math.max(1, Math.floor(left / 2)));
        plans.push({ breakAfter: at });
        left -= at;
      }
    }
    const log: string[] = [];
    p.reset();
    // The k-th object request gets plans[k] (the handoffs' order is the ring's).
    p.answer = (r) => objectNode(r, (plans[log.length] ?? {}) as NodePlan, log);
    const got = await get(p.base, token, range);
    const why = `seed ${seed}: range ${range ?? 'none'}, breaks ${plans.map((x) => x.breakAfter ?? '-').join(',')}`;
    if (got === 'cut') {
      t.fail(`${why}: cut`);
      continue;
    }
    t.equal(got.status, range ? 206 : 200, `${why}: status of the first answer`);
    t.equal(got.body.length, want.length, `${why}: length`);
    t.ok(got.body.equals(want), `${why}: exact bytes`);
    // Every resumed request asked for the rest, for this ETag only.
    const resumed = log.slice(1);
    t.equal(resumed.length, breaking, `${why}: one resumed request per break`);
    for (const line of resumed) t.match(line, new RegExp(`:bytes=\\d+-${end - 1}:${ETAG}$`), `${why}: ${line}`);
  }
});

t.test('a node with another version is skipped, never spliced in', async (t) => {
  const p = await fakeNodeProxy();
  t.teardown(() => p.close());
  const token = await p.token('test:tester', 'testing');
  const plans: NodePlan[] = [{ breakAfter: 70_000 }, { other: true }, {}, {}, {}];
  const log: string[] = [];
  p.answer = (r) => objectNode(r, plans[r.node] as NodePlan, log);
  const got = await get(p.base, token);
  if (got === 'cut') return void t.fail('cut');
  t.ok(got.body.equals(OBJ), 'the bytes of one version');
  t.same(
    log.map((l) => l.split(':')[0]),
    ['0', '1', '2'],
    'node 1 (412 for the If-Match) is passed over for node 2',
  );
});

t.test('every node breaking: the connection is cut, never a short body ending cleanly', async (t) => {
  const p = await fakeNodeProxy();
  t.teardown(() => p.close());
  const token = await p.token('test:tester', 'testing');
  for (const range of [undefined, 'bytes=10-200000']) {
    p.reset();
    const log: string[] = [];
    p.answer = (r) => objectNode(r, { breakAfter: 20_000 }, log);
    t.equal(await get(p.base, token, range), 'cut', `range ${range ?? 'none'}: cut`);
    t.equal(log.length, 5, 'every node (primaries and handoffs) was tried');
  }
  // A multi-range answer whose layout is not swob's cannot be located: not resumed, cut.
  p.reset();
  p.answer = (r): NodeAnswer => {
    if (r.depth !== 3) return { status: 204, headers: { 'x-timestamp': '1700000000.00000' } };
    const body = Buffer.alloc(5000, 'x');
    return { status: 206, headers: { etag: ETAG, 'content-type': 'multipart/byteranges;boundary=b' }, body, breakAfter: 100 };
  };
  t.equal(await get(p.base, token, 'bytes=0-10,20-30'), 'cut', 'multi-range: cut');
});

t.test('a node failing before any byte: the next node serves it whole', async (t) => {
  const p = await fakeNodeProxy();
  t.teardown(() => p.close());
  const token = await p.token('test:tester', 'testing');
  const log: string[] = [];
  const plans: NodePlan[] = [{ breakAfter: 0 }, {}, {}, {}, {}];
  p.answer = (r) => objectNode(r, plans[r.node] as NodePlan, log);
  const got = await get(p.base, token);
  if (got === 'cut') return void t.fail('cut');
  t.equal(got.status, 200);
  t.ok(got.body.equals(OBJ));
  t.same(log, ['0::', `1:bytes=0-${SIZE - 1}:${ETAG}`]);
});

t.test('multi-range GETs resume too: the first framing kept, seeded break points anywhere', async (t) => {
  const p = await fakeNodeProxy();
  t.teardown(() => p.close());
  const token = await p.token('test:tester', 'testing');
  const ranges = ['bytes=10-20000,50000-120000,-7000', 'bytes=0-0,5-5,299999-', 'bytes=1000-1999,100-199,250000-260000,270000-'];
  for (let seed = 1; seed <= 15; seed++) {
    const rnd = new SeededRandom(100 + seed);
    const range = ranges[seed % ranges.length] as string;
    const outcome = resolveRange(range, SIZE);
    if (outcome.kind !== 'partial') throw new Error('test range');
    const total = planMultipart(outcome.ranges, 'application/octet-stream', SIZE, newBoundary()).contentLength;
    // Breaks in heads, in data, in the framing between parts, in the tail: anywhere in the body.
    const breaking = 1 + rnd.int(3);
    const plans: NodePlan[] = [];
    for (let i = 0; i < 5; i++) plans.push(i < breaking ? { breakAfter: 100 + rnd.int(Math.max(1, Math.floor(total / (breaking + 1)))) } : {});
    const log: string[] = [];
    p.reset();
    p.answer = (r) => objectNode(r, (plans[log.length] ?? {}) as NodePlan, log);
    const res = await request(`${p.base}/v1/AUTH_test/c/o`, { headers: { 'x-auth-token': token, range } });
    const why = `seed ${seed}: ${range}, breaks ${plans.map((x) => x.breakAfter ?? '-').join(',')}`;
    let body: Buffer;
    try {
      const chunks: Buffer[] = [];
      for await (const c of res.body) chunks.push(c as Buffer);
      body = Buffer.concat(chunks);
    } catch {
      t.fail(`${why}: cut`);
      continue;
    }
    t.equal(res.statusCode, 206, why);
    const boundary = /boundary=(\w+)/.exec(String(res.headers['content-type']))?.[1] as string;
    const want = multipartBody(OBJ, outcome.ranges, boundary).body;
    t.equal(body.length, want.length, `${why}: length`);
    t.ok(body.equals(want), `${why}: exactly the first node's framing and the object's bytes`);
    // Each resumed request asked only for what was left, for this ETag.
    for (const line of log.slice(1)) t.match(line, new RegExp(`:bytes=[\\d,-]+:${ETAG}$`), `${why}: ${line}`);
    t.ok(log.length <= breaking + 1, `${why}: at most one request per break (${log.length})`);
  }
});
