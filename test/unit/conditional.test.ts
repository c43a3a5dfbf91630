import t from 'tap';
import {
  evaluateConditionals,
  evaluateConditionalsMissing,
  normalizeEtag,
  parseEtagList,
  parseHttpDate,
  type ConditionalHeaders,
  type ConditionalOutcome,
} from '../../common/conditional.js';
import { Timestamp } from '../../common/timestamp.js';

// The object: etag "abc", stamped 1700000000.5 → Last-Modified rounds up to 1700000001.
const etag = 'abc';
const ts = Timestamp.parse('1700000000.50000');
const LM = new Date(1700000001 * 1000).toUTCString();
const before = new Date(1700000000 * 1000).toUTCString();
const after = new Date(1700000002 * 1000).toUTCString();

t.test('Last-Modified is the timestamp rounded up to the second', async (t) => {
  t.equal(ts.httpDate, LM);
});

t.test("outcomes, in swob's order", async (t) => {
  const table: Array<[ConditionalHeaders, ConditionalOutcome]> = [
    [{}, 'ok'],
    [{ ifMatch: '"abc"' }, 'ok'],
    [{ ifMatch: 'abc' }, 'ok'], // unquoted, as Swift accepts
    [{ ifMatch: '"x", "abc"' }, 'ok'],
    [{ ifMatch: '*' }, 'ok'],
    [{ ifMatch: '"*"' }, 'ok'], // swob unquotes before it looks for the wildcard
    [{ ifMatch: '"x"' }, 412],
    [{ ifMatch: 'W/"abc"' }, 412], // a weak tag is another tag
    [{ ifNoneMatch: '"abc"' }, 304],
    [{ ifNoneMatch: 'abc' }, 304],
    [{ ifNoneMatch: 'W/"abc"' }, 'ok'], // swob compares tags as they are: no weak comparison
    [{ ifNoneMatch: '*' }, 304],
    [{ ifNoneMatch: '"x","y"' }, 'ok'],
    [{ ifModifiedSince: LM }, 304],
    [{ ifModifiedSince: after }, 304],
    [{ ifModifiedSince: before }, 'ok'],
    [{ ifModifiedSince: 'garbage' }, 'ok'], // invalid dates are ignored
    [{ ifUnmodifiedSince: before }, 412],
    [{ ifUnmodifiedSince: LM }, 'ok'],
    [{ ifUnmodifiedSince: after }, 'ok'],
    [{ ifUnmodifiedSince: 'nope' }, 'ok'],
    // Each header on its own (Swift's testIfMatchAndUnmodified): a matching If-Match does not
    // excuse an old If-Unmodified-Since.
    [{ ifMatch: '"abc"', ifUnmodifiedSince: before }, 412],
    [{ ifMatch: '"abc"', ifUnmodifiedSince: after }, 'ok'],
    [{ ifMatch: '"x"', ifUnmodifiedSince: after }, 412],
    // If-Modified-Since applies when If-None-Match did not match.
    [{ ifNoneMatch: '"x"', ifModifiedSince: after }, 304],
    [{ ifNoneMatch: '"x"', ifModifiedSince: before }, 'ok'],
    [{ ifNoneMatch: '"abc"', ifModifiedSince: before }, 304],
    // If-None-Match is looked at first: its 304 wins over If-Match's 412.
    [{ ifMatch: '"x"', ifNoneMatch: '"abc"' }, 304],
    [{ ifMatch: '"abc"', ifNoneMatch: '"abc"' }, 304],
    [{ ifMatch: '"x"', ifModifiedSince: after }, 412],
    [{ ifModifiedSince: after, ifUnmodifiedSince: before }, 304],
  ];
  for (const [c, want] of table) t.equal(evaluateConditionals(c, etag, ts), want, JSON.stringify(c));
});

t.test('no object: only If-Match: * fails', async (t) => {
  t.equal(evaluateConditionalsMissing({ ifMatch: '*' }), 412);
  t.equal(evaluateConditionalsMissing({ ifMatch: '"abc"' }), 'ok');
  t.equal(evaluateConditionalsMissing({ ifNoneMatch: '*' }), 'ok');
});

t.test('etag lists and dates', async (t) => {
  t.same(parseEtagList('"a", b ,W/"c",,'), ['a', 'b', 'W/c']);
  t.equal(parseEtagList('"a", *'), '*');
  t.equal(parseEtagList('"*"'), '*');
  t.equal(normalizeEtag('"x"'), 'x');
  t.equal(normalizeEtag('"'), '"');
  t.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), 784111777);
  t.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'), 784111777);
  t.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), 784111777, 'asctime is GMT');
  t.equal(parseHttpDate('yesterday'), undefined);
});
