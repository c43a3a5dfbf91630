import t from 'tap';
import { checkContainerName, checkHeaderLines, checkListingLimit, checkMetadata, checkObjectCreation } from '../../proxy/constraints.js';
import { ErrorLimiter } from '../../proxy/error-limiter.js';
import { parseSwiftPath } from '../../proxy/swift-request.js';
import { parseAcl, TempAuth } from '../../proxy/tempauth.js';

t.test('path parsing answers like Swift', async (t) => {
  t.same(parseSwiftPath('/v1/AUTH_test'), { ok: true, version: 'v1', account: 'AUTH_test' });
  t.same(parseSwiftPath('/v1/AUTH_test/c'), { ok: true, version: 'v1', account: 'AUTH_test', container: 'c' });
  t.same(parseSwiftPath('/v1/AUTH_test/c/'), { ok: true, version: 'v1', account: 'AUTH_test', container: 'c' });
  t.same(parseSwiftPath('/v1/AUTH_test/c/a/b%20c/'), { ok: true, version: 'v1', account: 'AUTH_test', container: 'c', object: 'a/b c/' });
  t.same(parseSwiftPath('/v1/AUTH_test/c/%E2%98%83'), { ok: true, version: 'v1', account: 'AUTH_test', container: 'c', object: '☃' });
  t.match(parseSwiftPath('/v1/AUTH_test/c/%FF'), { ok: false, status: 412 });
  t.match(parseSwiftPath('/v1/AUTH_test/c/a%00b'), { ok: false, status: 412 });
  // Swift's split_path and get_controller.
  t.same(parseSwiftPath('/v1'), { ok: false, status: 412, body: 'Bad URL' });
  t.same(parseSwiftPath('/v1/'), { ok: false, status: 412, body: 'Bad URL' });
  t.same(parseSwiftPath('/v1/AUTH_test//o'), { ok: false, status: 412, body: 'Bad URL' });
  t.same(parseSwiftPath('/v1//c'), { ok: false, status: 412, body: 'Bad URL' });
  t.same(parseSwiftPath('/foo'), { ok: false, status: 412, body: 'Bad URL' });
  t.same(parseSwiftPath('/'), { ok: false, status: 404 });
  t.same(parseSwiftPath('//v1/AUTH_test'), { ok: false, status: 404 });
  t.same(parseSwiftPath('/v2/AUTH_test'), { ok: false, status: 400 });
  t.same(parseSwiftPath('/v1/AUTH_test/'), { ok: true, version: 'v1', account: 'AUTH_test' });
  t.same(parseSwiftPath('/v1.0/AUTH_test/c/o//p'), { ok: true, version: 'v1.0', account: 'AUTH_test', container: 'c', object: 'o//p' });
});

t.test('constraints', async (t) => {
  t.equal(checkContainerName('a'.repeat(256)), undefined);
  t.match(checkContainerName('a'.repeat(257)), { status: 400 });
  t.match(checkContainerName('a/b'), { status: 400 });
  t.equal(checkMetadata({ 'x-object-meta-color': 'blue' }, 'object'), undefined);
  t.match(checkMetadata({ 'x-object-meta-': 'x' }, 'object'), { status: 400, body: 'Metadata name cannot be empty' });
  t.match(checkMetadata({ ['x-object-meta-' + 'k'.repeat(129)]: 'x' }, 'object'), { status: 400 });
  t.match(checkMetadata({ 'x-object-meta-k': 'v'.repeat(257) }, 'object'), { status: 400 });
  const many: Record<string, string> = {};
  for (let i = 0; i < 91; i++) many[`x-container-meta-k${i}`] = 'v';
  t.match(checkMetadata(many, 'container'), { status: 400, body: 'Too many metadata items; max 90' });
  const big: Record<string, string> = {};
  for (let i = 0; i < 20; i++) big[`x-account-meta-k${i}`] = 'v'.repeat(250);
  t.match(checkMetadata(big, 'account'), { status: 400, body: 'Total metadata too large; max 4096' });
  // Header values arrive latin1-decoded: one char per byte the client sent.
  const wire = (...bytes: Array<string | number[]>): string => Buffer.concat(bytes.map((b) => (typeof b === 'string' ? Buffer.from(b, 'utf8') : Buffer.from(b)))).toString('latin1');
  for (const target of ['account', 'container'] as const) {
    const utf8 = { status: 400, body: 'Metadata must be valid UTF-8' };
    t.match(checkMetadata({ [`x-${target}-meta-k`]: wire('a', [0xff], 'b') }, target), utf8, `${target}: a 0xff byte in a value`);
    t.match(checkMetadata({ [`x-${target}-meta-${wire([0xff])}`]: 'v' }, target), utf8, `${target}: a 0xff byte in a name`);
    t.match(checkMetadata({ [`x-${target}-meta-k`]: wire('caf', [0xc3]) }, target), utf8, `${target}: a cut-off sequence`);
    t.match(checkMetadata({ [`x-${target}-meta-k`]: wire([0xc0, 0xaf]) }, target), utf8, `${target}: an overlong encoding`);
    t.match(checkMetadata({ [`x-${target}-meta-k`]: wire([0xed, 0xa0, 0x80]) }, target), utf8, `${target}: an encoded surrogate`);
    t.equal(checkMetadata({ [`x-${target}-meta-k`]: wire('café ☃ 𝄞') }, target), undefined, `${target}: UTF-8 is fine`);
    t.equal(checkMetadata({ [`x-${target}-meta-k`]: '' }, target), undefined, `${target}: an empty value (a removal)`);
  }
  // Swift: "Object's OK; its metadata isn't serialized as JSON".
  t.equal(checkMetadata({ 'x-object-meta-k': wire('a', [0xff], 'b') }, 'object'), undefined, 'object: any bytes');
  // Limits count the bytes sent: 128 "é" are 256 bytes.
  t.equal(checkMetadata({ 'x-container-meta-k': wire('é'.repeat(128)) }, 'container'), undefined, '256 bytes of UTF-8');
  t.match(checkMetadata({ 'x-object-meta-k': wire('é'.repeat(128) + 'e') }, 'object'), { status: 400, body: /^Metadata value longer than 256/ }, '257 bytes');
  t.equal(checkMetadata({ ['x-object-meta-' + wire('é'.repeat(64))]: 'v' }, 'object'), undefined, 'a 128-byte name');
  // Swift names the header as its WSGI layer spells it: prefix lower case, the rest title case.
  t.same(checkMetadata({ 'x-object-meta-color-x': 'v'.repeat(257) }, 'object'), { status: 400, body: 'Metadata value longer than 256: x-object-meta-Color-X', contentType: 'text/plain' });
  t.same(checkMetadata({ ['x-container-meta-a1b' + 'c'.repeat(126)]: 'v' }, 'container'), { status: 400, body: `Metadata name too long: x-container-meta-A1B${'c'.repeat(126)}`, contentType: 'text/plain' });
  t.match(checkObjectCreation({}, 'o', 100), { status: 411 });
  t.match(checkObjectCreation({ 'content-length': '101' }, 'o', 100), { status: 413 });
  t.equal(checkObjectCreation({ 'transfer-encoding': 'chunked' }, 'o', 100), undefined);
  t.match(checkObjectCreation({ 'content-length': '1' }, 'o'.repeat(1025), 100), { status: 400 });
  t.match(checkListingLimit('10001', 10000), { status: 412 });
  t.equal(checkListingLimit('10000', 10000), undefined);
});

t.test('header lines: "name:value" CRLF shorter than 8192 bytes (eventlet MAX_HEADER_LINE)', async (t) => {
  const line = (n: number): string => 'v'.repeat(n - 'x-container-read'.length - 3);
  t.equal(checkHeaderLines({ host: 'x', 'x-container-read': line(8191) }), undefined, '8191 bytes');
  t.same(checkHeaderLines({ host: 'x', 'x-container-read': line(8192) }), { status: 400, body: 'Header Line Too Long' }, '8192 bytes');
  t.match(checkHeaderLines({ 'set-cookie': ['a', 'b'.repeat(9000)] }), { status: 400 }, 'each value of a list');
  t.equal(checkHeaderLines({ a: undefined, b: 'c' }), undefined);
});

t.test('tempauth: tokens, owners, ACLs', async (t) => {
  let now = 1_700_000_000_000;
  const auth = new TempAuth(
    {
      'test:tester': { key: 'testing', roles: ['.admin'] },
      'test:tester3': { key: 'testing3', roles: [] },
      'test2:tester2': { key: 'testing2', roles: ['.admin'] },
      'admin:admin': { key: 'admin', roles: ['.admin', '.reseller_admin'] },
    },
    'secret',
    'AUTH_',
    60,
    () => now,
  );
  t.equal(auth.login('test:tester', 'wrong', 'http://x').status, 401);
  t.equal(auth.login('nobody:x', 'testing', 'http://x').status, 401);
  const ok = auth.login('test:tester', 'testing', 'http://x');
  t.equal(ok.status, 200);
  t.equal(ok.headers['X-Storage-Url'], 'http://x/v1/AUTH_test');
  const token = ok.headers['X-Auth-Token'] as string;
  const id = auth.authenticate(token);
  t.equal(id?.account, 'AUTH_test');
  t.equal(auth.authenticate(token.slice(0, -1) + (token.endsWith('0') ? '1' : '0')), undefined, 'a forged token is refused');
  t.equal(auth.authorize(id, { method: 'PUT', account: 'AUTH_test', container: 'c' }, false), 'allow');
  t.equal(auth.authorize(id, { method: 'GET', account: 'AUTH_test2', container: 'c' }, false), 403, "another account's data");
  t.equal(auth.authorize(undefined, { method: 'GET', account: 'AUTH_test', container: 'c', object: 'o' }, false), 401);
  t.equal(auth.authorize(undefined, { method: 'GET', account: 'AUTH_test', container: 'c', object: 'o', readAcl: '.r:*' }, false), 'allow');
  t.equal(auth.authorize(undefined, { method: 'GET', account: 'AUTH_test', container: 'c', readAcl: '.r:*' }, false), 401, 'listing needs .rlistings');
  const plain = auth.authenticate(auth.login('test:tester3', 'testing3', 'http://x').headers['X-Auth-Token'] as string);
  t.equal(auth.authorize(plain, { method: 'PUT', account: 'AUTH_test', container: 'c', object: 'o' }, false), 403, 'plain user cannot write');
  t.equal(auth.authorize(plain, { method: 'PUT', account: 'AUTH_test', container: 'c', object: 'o', writeAcl: 'test:tester3' }, false), 'allow');
  const admin = auth.authenticate(auth.login('admin:admin', 'admin', 'http://x').headers['X-Auth-Token'] as string);
  t.equal(auth.authorize(admin, { method: 'GET', account: 'AUTH_test' }, false), 'allow', 'reseller admin reads any account');
  t.equal(auth.authorize(admin, { method: 'PUT', account: 'AUTH_new' }, false), 403);
  t.equal(auth.authorize(admin, { method: 'PUT', account: 'AUTH_new' }, true), 'allow');
  now += 61_000;
  t.equal(auth.authenticate(token), undefined, 'expired token');
  t.same(parseAcl('.r:*,.rlistings, test:tester3'), { referrers: ['*'], groups: ['test:tester3'], rlistings: true });
});

t.test("tempauth: accounts outside the reseller prefix are nobody's", async (t) => {
  const auth = new TempAuth(
    {
      'test:tester': { key: 'testing', roles: ['.admin'] },
      'test:tester3': { key: 'testing3', roles: [] },
      'admin:admin': { key: 'admin', roles: ['.admin', '.reseller_admin'] },
    },
    'secret',
    'AUTH_',
    60,
    () => 1_700_000_000_000,
  );
  const who = (user: string, key: string) => auth.authenticate(auth.login(user, key, 'http://x').headers['X-Auth-Token'] as string);
  const plain = who('test:tester3', 'testing3');
  const owner = who('test:tester', 'testing');
  const reseller = who('admin:admin', 'admin');
  t.ok(plain?.groups.includes('test'), 'the user is in group "test" (Swift: the account name is a group)');
  // Swift's tempauth authorize: an account not starting with reseller_prefix is denied.
  for (const target of [
    { method: 'PUT', account: 'test', container: 'c3' },
    { method: 'PUT', account: 'test', container: 'c3', object: 'o' },
    { method: 'GET', account: 'test' },
    { method: 'POST', account: 'test' },
    { method: 'GET', account: 'test', container: 'c3', object: 'o', readAcl: '.r:*' },
    { method: 'PUT', account: 'test', container: 'c3', object: 'o', writeAcl: 'test' },
  ]) {
    const what = `${target.method} /${[target.account, target.container, target.object].filter(Boolean).join('/')}`;
    t.equal(auth.authorize(plain, target, false), 403, `plain user: ${what}`);
    t.equal(auth.authorize(owner, target, false), 403, `account admin: ${what}`);
    t.equal(auth.authorize(reseller, target, true), 403, `reseller admin: ${what}`);
    t.equal(auth.authorize(undefined, target, false), 401, `anonymous: ${what}`);
    t.equal(auth.authorizeOwner(plain, target, false), 403, `decided before any ACL lookup: ${what}`);
    t.equal(auth.authorizeOwner(undefined, target, false), 401, `anonymous, before any ACL lookup: ${what}`);
  }
  t.equal(auth.authorize(undefined, { method: 'GET', account: '' }, false), 401, 'no account at all');
  // A reseller admin owns every prefixed account but the bare prefix and reserved ".name" ones.
  t.equal(auth.authorize(reseller, { method: 'GET', account: 'AUTH_other' }, false), 'allow');
  t.equal(auth.authorize(reseller, { method: 'GET', account: 'AUTH_' }, false), 403, 'the bare prefix');
  t.equal(auth.authorize(reseller, { method: 'GET', account: 'AUTH_.reserved', container: 'c' }, false), 403, 'a dot account');
  t.equal(auth.authorize(owner, { method: 'PUT', account: 'AUTH_test', container: 'c3' }, false), 'allow', "the prefixed account is still the owner's");
});

t.test('error limiter', async (t) => {
  let now = 0;
  const l = new ErrorLimiter(3, 1000, () => now);
  l.recordError('n');
  l.recordError('n');
  t.notOk(l.isLimited('n'));
  l.recordError('n');
  t.ok(l.isLimited('n'));
  now += 1001;
  t.notOk(l.isLimited('n'));
  l.limitNow('m');
  t.ok(l.isLimited('m'));
});

t.test('tempauth: the hidden .expiring_objects queue is nobody’s, even with an empty reseller prefix', async (t) => {
  const auth = new TempAuth({ 'admin:admin': { key: 'admin', roles: ['.admin', '.reseller_admin'] } }, 'secret', '', 60, () => 1_700_000_000_000);
  const reseller = auth.authenticate(auth.login('admin:admin', 'admin', 'http://x').headers['X-Auth-Token'] as string);
  t.ok(reseller?.resellerAdmin);
  t.equal(auth.authorize(reseller, { method: 'GET', account: 'admin' }, true), 'allow', 'an ordinary account is the reseller admin’s');
  for (const target of [
    { method: 'GET', account: '.expiring_objects' },
    { method: 'GET', account: '.expiring_objects', container: '1700000000' },
    { method: 'DELETE', account: '.expiring_objects', container: '1700000000', object: '1700000001-a/c/o' },
    { method: 'GET', account: '.expiring_objects', container: '1700000000', readAcl: '.r:*,.rlistings' },
  ]) {
    t.equal(auth.authorize(reseller, target, true), 403, `${target.method} ${target.container ?? ''}`);
    t.equal(auth.authorize(undefined, target, true), 401, `anonymous ${target.method} ${target.container ?? ''}`);
  }
});
