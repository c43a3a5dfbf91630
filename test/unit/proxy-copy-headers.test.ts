import t from 'tap';
import { accountName, containerAndObject, headerName, pyQuote } from '../../proxy/copy-headers.js';

/** Header values as Node hands them over: a latin1 char per byte the client sent. */
const wire = (...parts: Array<string | number[]>): string =>
  Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p)))).toString('latin1');

t.test('names in copy headers: raw UTF-8 and percent-encoding alike (Swift unquotes the bytes)', async (t) => {
  t.equal(headerName(wire('c/é ☃')), 'c/é ☃', 'raw UTF-8');
  t.equal(headerName('c/%C3%A9%20%E2%98%83'), 'c/é ☃', 'percent-encoded');
  t.equal(headerName(wire('c/é%20') + '%E2%98%83'), 'c/é ☃', 'mixed');
  t.equal(headerName('c/100%'), 'c/100%', 'a lone % stays');
  t.equal(headerName('c/%zz'), 'c/%zz');
  t.equal(headerName('a+b'), 'a+b', 'unquote, not unquote_plus');
  t.equal(headerName(wire('c/', [0xff])), undefined, 'invalid UTF-8');
  t.equal(headerName('c/%FF'), undefined, 'invalid UTF-8, percent-encoded');
  t.equal(headerName('c/a%00b'), undefined, 'NUL');
  t.equal(headerName('c/☃'), 'c/☃', 'a string already decoded (chars above U+00FF) is taken as text');
});

t.test("Destination / X-Copy-From: <container>/<object> (Swift's check_path_header)", async (t) => {
  t.same(containerAndObject('c/o', 'X-Copy-From'), { container: 'c', object: 'o' });
  t.same(containerAndObject('/c/o/p/', 'Destination'), { container: 'c', object: 'o/p/' });
  t.same(containerAndObject('c//o', 'Destination'), { container: 'c', object: '/o' });
  t.same(containerAndObject(wire('/cé/ö'), 'Destination'), { container: 'cé', object: 'ö' });
  for (const bad of ['c', 'c/', '/c', '//o', '', '/']) {
    t.same(containerAndObject(bad, 'Destination'), { status: 412, body: 'Destination header must be of the form <container name>/<object name>' }, JSON.stringify(bad));
  }
  t.same(containerAndObject(wire('c/', [0xc3]), 'X-Copy-From'), { status: 412, body: 'Invalid UTF8 or contains NULL' });
});

t.test("account headers (Swift's check_account_format)", async (t) => {
  t.equal(accountName('AUTH_test2'), 'AUTH_test2');
  t.equal(accountName('AUTH_t%C3%A9'), 'AUTH_té');
  t.same(accountName(''), { status: 412, body: 'Account name cannot be empty' });
  t.same(accountName('a/b'), { status: 412, body: 'Account name cannot contain slashes' });
  t.same(accountName('a%2Fb'), { status: 412, body: 'Account name cannot contain slashes' });
});

t.test("Python's quote for X-Copied-From", async (t) => {
  t.equal(pyQuote('c/dé/☃ x'), 'c/d%C3%A9/%E2%98%83%20x');
  t.equal(pyQuote("a-b_c.d~e/(f)!*'"), 'a-b_c.d~e/%28f%29%21%2A%27');
});
