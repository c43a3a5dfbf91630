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

t.test('precedence and outcomes', async (t) => {
  const table: Array<[string, ConditionalHeaders, ConditionalOutcome]> = [
    ['GET', {}, 'ok'],
    ['GET', { ifMatch: '"abc"' }, 'ok'],
    ['GET', { ifMatch: 'abc' }, 'ok'], // unquoted, as Swift accepts
    ['GET', { ifMatch: '"x", "abc"' }, 'ok'],
    ['GET', { ifMatch: '*' }, 'ok'],
    ['GET', { ifMatch: '"x"' }, 412],
    ['GET', { ifMatch: 'W/"abc"' }, 412], // If-Match compares strongly
    ['PUT', { ifMatch: '"x"' }, 412],
    ['GET', { ifNoneMatch: '"abc"' }, 304],
    ['HEAD', { ifNoneMatch: 'abc' }, 304],
    ['GET', { ifNoneMatch: 'W/"abc"' }, 304], // If-None-Match compares weakly
    ['GET', { ifNoneMatch: '*' }, 304],
    ['GET', { ifNoneMatch: '"x","y"' }, 'ok'],
    ['DELETE', { ifNoneMatch: '"abc"' }, 412], // 304 only for GET/HEAD
    ['GET', { ifModifiedSince: LM }, 304],
    ['GET', { ifModifiedSince: after }, 304],
    ['GET', { ifModifiedSince: before }, 'ok'],
    ['HEAD', { ifModifiedSince: LM }, 304],
    ['POST', { ifModifiedSince: LM }, 'ok'], // If-Modified-Since is for GET/HEAD only
    ['GET', { ifModifiedSince: 'garbage' }, 'ok'], // invalid dates are ignored
    ['GET', { ifUnmodifiedSince: before }, 412],
    ['GET', { ifUnmodifiedSince: LM }, 'ok'],
    ['GET', { ifUnmodifiedSince: after }, 'ok'],
    ['PUT', { ifUnmodifiedSince: before }, 412],
    ['GET', { ifUnmodifiedSince: 'nope' }, 'ok'],
    // If-Match first; If-Unmodified-Since only when If-Match is absent
    ['GET', { ifMatch: '"abc"', ifUnmodifiedSince: before }, 'ok'],
    ['GET', { ifMatch: '"x"', ifUnmodifiedSince: after }, 412],
    // If-None-Match first; If-Modified-Since only when If-None-Match is absent
    ['GET', { ifNoneMatch: '"x"', ifModifiedSince: after }, 'ok'],
    ['GET', { ifNoneMatch: '"abc"', ifModifiedSince: before }, 304],
    // 412 from If-Match wins over 304 from If-None-Match
    ['GET', { ifMatch: '"x"', ifNoneMatch: '"abc"' }, 412],
    ['GET', { ifMatch: '"abc"', ifNoneMatch: '"abc"' }, 304],
  ];
  for (const [method, c, want] of table) t.equal(evaluateConditionals(method, c, etag, ts), want, `${method} ${JSON.stringify(c)}`);
});

t.test('no object: only If-Match: * fails', async (t) => {
  t.equal(evaluateConditionalsMissing({ ifMatch: '*' }), 412);
  t.equal(evaluateConditionalsMissing({ ifMatch: '"abc"' }), 'ok');
  t.equal(evaluateConditionalsMissing({ ifNoneMatch: '*' }), 'ok');
});

t.test('etag lists and dates', async (t) => {
  t.same(parseEtagList('"a", b ,W/"c",,'), ['a', 'b', 'W/c']);
  t.equal(parseEtagList('"a", *'), '*');
  t.equal(normalizeEtag('"x"'), 'x');
  t.equal(normalizeEtag('"'), '"');
  t.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), 784111777);
  t.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT'), 784111777);
  t.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), 784111777, 'asctime is GMT');
  t.equal(parseHttpDate('yesterday'), undefined);
});
