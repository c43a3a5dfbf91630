import t from 'tap';
import { contentRangeValue, multipartChunks, newBoundary, parseRangeHeader, planMultipart, resolveRange, unsatisfiedContentRange, type RangeOutcome } from '../../common/range.js';

const full: RangeOutcome = { kind: 'full' };
const unsat: RangeOutcome = { kind: 'unsatisfiable' };
const part = (...ranges: Array<[number, number]>): RangeOutcome => ({ kind: 'partial', ranges });

t.test('resolveRange against a 10000-byte object', async (t) => {
  const table: Array<[string | undefined, RangeOutcome]> = [
    [undefined, full],
    ['', full],
    ['bytes=0-99', part([0, 100])],
    ['bytes=-500', part([9500, 10000])],
    ['bytes=9500-', part([9500, 10000])],
    ['bytes=0-0,-1', part([0, 1], [9999, 10000])],
    ['bytes=0-20000', part([0, 10000])], // end past the object is clipped
    ['bytes=9999-20000', part([9999, 10000])],
    ['bytes=-20000', part([0, 10000])], // suffix longer than the object: all of it
    ['bytes=10000-', unsat],
    ['bytes=10000-10005', unsat],
    ['bytes=-0', unsat],
    ['bytes=-0,5-6', part([5, 7])],
    ['bytes=1-2,10000-', part([1, 3])], // unsatisfiable specs are dropped
    ['BYTES=0-1', part([0, 2])],
    [' bytes = 0 - 1 ', part([0, 2])], // swob strips spaces
    ['bytes=5-3', full], // syntactically invalid → header ignored
    ['bytes=abc', full],
    ['bytes=', full],
    ['bytes=-', full],
    ['bytes=--5', full],
    ['bytes=1-2-3', full],
    ['bytes=0-1,', full],
    ['bytes=0x10-20', full],
    ['items=0-1', full],
    ['bytes 0-1', full],
    ['bytes=0-1,5-3', full], // one bad spec spoils the set
  ];
  for (const [header, want] of table) t.same(resolveRange(header, 10000), want, JSON.stringify(header));
});

t.test('zero-length and tiny objects', async (t) => {
  t.same(resolveRange('bytes=0-', 0), unsat);
  t.same(resolveRange('bytes=0-0', 0), unsat);
  t.same(resolveRange('bytes=-5', 0), full, 'suffix range of an empty object: 200 with the empty body');
  t.same(resolveRange('bytes=-1', 1), part([0, 1]));
  t.same(resolveRange('bytes=0-0', 1), part([0, 1]));
  t.same(resolveRange('bytes=1-', 1), unsat);
});

t.test('egregious range sets are ignored (200)', async (t) => {
  const spread = (n: number): string => 'bytes=' + Array.from({ length: n }, (_, i) => `${i * 10}-${i * 10 + 1}`).join(',');
  const fifty = resolveRange(spread(50), 10000);
  t.equal(fifty.kind, 'partial');
  t.equal(fifty.kind === 'partial' && fifty.ranges.length, 50);
  t.same(resolveRange(spread(51), 10000), full, 'more than 50 ranges');
  t.same(resolveRange('bytes=0-10,5-15', 100), part([0, 11], [5, 16]), 'one overlap is fine');
  t.same(resolveRange('bytes=0-10,5-15,8-20', 100), full, 'three overlapping pairs');
  const desc = (n: number): string => 'bytes=' + Array.from({ length: n }, (_, i) => `${(n - i) * 10}-${(n - i) * 10}`).join(',');
  t.equal(resolveRange(desc(7), 1000).kind, 'partial', '7 out-of-order ranges still served');
  t.same(resolveRange(desc(8), 1000), full, '8 out-of-order ranges');
  // unsatisfiable specs do not count towards the limit
  t.equal(resolveRange(spread(40) + ',' + Array.from({ length: 20 }, () => '20000-').join(','), 10000).kind, 'partial');
});

t.test('parseRangeHeader keeps specs as written', async (t) => {
  t.same(parseRangeHeader('bytes=1-2,-3,4-'), [{ start: 1, end: 2 }, { suffix: 3 }, { start: 4 }]);
  t.equal(parseRangeHeader('bytes=2-1'), undefined);
});

t.test('Content-Range values', async (t) => {
  t.equal(contentRangeValue(0, 100, 10000), 'bytes 0-99/10000');
  t.equal(contentRangeValue(9999, 10000, 10000), 'bytes 9999-9999/10000');
  t.equal(unsatisfiedContentRange(0), 'bytes */0');
  t.match(newBoundary(), /^[0-9a-f]{32}$/);
  t.not(newBoundary(), newBoundary());
});

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of it) parts.push(b);
  return Buffer.concat(parts);
}

t.test('multipart/byteranges layout is swob-exact and streamed part by part', async (t) => {
  const body = Buffer.from('0123456789');
  const plan = planMultipart([[0, 3], [5, 8]], 'text/plain', 10, 'BOUND');
  t.equal(plan.contentType, 'multipart/byteranges;boundary=BOUND');
  const reads: Array<[number, number]> = [];
  const out = await collect(
    multipartChunks(plan, async function* (s, e) {
      reads.push([s, e]);
      // deliver the range one byte at a time: the output must not depend on chunking
      for (let i = s; i < e; i++) yield body.subarray(i, i + 1);
    }),
  );
  const expected =
    '--BOUND\r\nContent-Type: text/plain\r\nContent-Range: bytes 0-2/10\r\n\r\n012\r\n' +
    '--BOUND\r\nContent-Type: text/plain\r\nContent-Range: bytes 5-7/10\r\n\r\n567\r\n' +
    '--BOUND--';
  t.equal(out.toString('latin1'), expected);
  t.equal(plan.contentLength, Buffer.byteLength(expected), 'Content-Length computed up front matches the body');
  t.same(reads, [[0, 3], [5, 8]], 'each range read once, in order');
});
