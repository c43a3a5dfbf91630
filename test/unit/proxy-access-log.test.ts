import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { connect } from 'node:net';
import { request } from 'undici';
import { formatAccessLine, type AccessEntry } from '../../proxy/access-log.js';
import { fakeNodeProxy, type NodeAnswer } from '../helpers/fake-nodes.js';

/**
 * The access log: one line per client request and per sub-request, in Swift's proxy-logging
 * format (proxy/access-log.ts), secrets cut to their first characters.
 */

const entry = (over: Partial<AccessEntry> = {}): AccessEntry => ({
  method: 'GET',
  path: '/v1/AUTH_test/c/o',
  query: '',
  protocol: 'HTTP/1.1',
  status: 200,
  headers: {},
  remoteAddr: '10.0.0.9',
  bytesIn: undefined,
  bytesOut: 5,
  transId: 'txabc-0000000001',
  start: 1_700_000_000_000,
  end: 1_700_000_000_250.5,
  ...over,
});

/** Sends `text` as it is and returns what came back before the server closed. */
function rawRequest(base: string, text: string): Promise<string> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const sock = connect(Number(url.port), url.hostname, () => sock.write(text));
    let got = '';
    sock.on('data', (d) => (got += d.toString('latin1')));
    sock.on('close', () => resolve(got));
    sock.on('error', reject);
  });
}

t.test("a line's fields, in Swift's order and quoting", async (t) => {
  const line = formatAccessLine(entry({ headers: { 'user-agent': 'curl/8.0 x', 'x-auth-token': 'AUTH_tk0123456789abcdefXYZ', etag: 'e1' }, user: 'test:tester', account: 'AUTH_test' }), 16);
  t.equal(
    line,
    '10.0.0.9 10.0.0.9 14/Nov/2023/22/13/20 GET /v1/AUTH_test/c/o HTTP/1.1 200 - curl/8.0%20x AUTH_tk012345678... - 5 e1 txabc-0000000001 - 0.2505 - - 1700000000.000000000 1700000000.250500000 - test:tester AUTH_test',
  );
  t.equal(line.split(' ').length, 23, "Swift's 21 fields, then user and account");
});

t.test('secrets are cut; odd paths quoted; the forwarded client', async (t) => {
  const sig = 'f'.repeat(40);
  const line = formatAccessLine(
    entry({
      path: '/v1/AUTH_test/c/a%20b',
      query: `temp_url_sig=${sig}&temp_url_expires=1700000000&X-Amz-Signature=${'a'.repeat(64)}`,
      headers: { 'x-forwarded-for': '192.0.2.1, 10.0.0.1', 'x-storage-token': 'AUTH_tkshort' },
      source: 'SLO',
    }),
    4,
  );
  t.notMatch(line, sig, 'no whole temp_url_sig');
  t.notMatch(line, 'a'.repeat(64), 'no whole signature');
  t.match(line, '/v1/AUTH_test/c/a%2520b%3Ftemp_url_sig%3Dffff...%26temp_url_expires%3D1700000000%26X-Amz-Signature%3Daaaa...', "the path as Swift logs it");
  t.match(line, /^192\.0\.2\.1 10\.0\.0\.9 /, 'X-Forwarded-For first');
  t.match(line, / AUTH\.\.\. /, 'the token cut');
  t.match(line, / SLO - /, 'the source');
});

t.test('the proxy logs client requests and their sub-requests to the file', async (t) => {
  const dir = t.testdir();
  const file = join(dir, 'logs', 'access.log');
  const p = await fakeNodeProxy({ access_log: file });
  let closed = false;
  t.teardown(() => (closed ? undefined : p.close()));
  const token = await p.token('test:tester', 'testing');
  p.answer = ({ method, depth }): NodeAnswer => {
    const headers: Record<string, string> = { 'x-timestamp': '1700000000.00000', 'x-backend-timestamp': '1700000000.00000' };
    if (depth === 3 && method === 'GET') return { status: 200, headers: { ...headers, etag: '5d41402abc4b2a76b9719d911017c592' }, body: 'hello' };
    return { status: method === 'PUT' ? 201 : method === 'GET' ? 200 : 204, headers, body: method === 'GET' ? '[]' : '' };
  };
  const get = await request(`${p.base}/v1/AUTH_test/c/o`, { headers: { 'x-auth-token': token, 'user-agent': 'probe' } });
  t.equal(await get.body.text(), 'hello');
  const copy = await request(`${p.base}/v1/AUTH_test/c/o`, { method: 'COPY', headers: { 'x-auth-token': token, destination: 'c/o2' } });
  await copy.body.dump();
  t.equal(copy.statusCode, 201);
  const bulk = await request(`${p.base}/v1/AUTH_test?bulk-delete`, { method: 'POST', headers: { 'x-auth-token': token, 'content-type': 'text/plain', accept: 'application/json' }, body: 'c/o2\n' });
  await bulk.body.dump();
  t.equal(bulk.statusCode, 200);
  const sig = '0123456789abcdef0123456789abcdef01234567';
  const tu = await request(`${p.base}/v1/AUTH_test/c/o?temp_url_sig=${sig}&temp_url_expires=1`);
  await tu.body.dump();
  const put = await request(`${p.base}/v1/AUTH_test/c/o3`, { method: 'PUT', headers: { 'x-auth-token': token }, body: 'x'.repeat(1000) });
  await put.body.dump();
  t.equal(put.statusCode, 201);
  // Answers made before the pipeline: a path that is not UTF-8, a method no controller has, a
  // header line over the limit, a method Node's parser does not know.
  const badUrl = await request(`${p.base}/v1/AUTH_test/c/%FF`, { headers: { 'user-agent': 'bad-url' } });
  await badUrl.body.dump();
  t.equal(badUrl.statusCode, 412);
  const patch = await request(`${p.base}/v1/AUTH_test/c/o`, { method: 'PATCH', headers: { 'user-agent': 'patcher' } });
  await patch.body.dump();
  t.equal(patch.statusCode, 405);
  const long = await request(`${p.base}/v1/AUTH_test/c/o`, { headers: { 'user-agent': 'long', 'x-object-meta-big': 'x'.repeat(9000) } });
  await long.body.dump();
  t.equal(long.statusCode, 400);
  const lick = await rawRequest(p.base, 'LICK /v1/AUTH_test/c/o HTTP/1.1\r\nHost: x\r\n\r\n');
  t.match(lick, /^HTTP\/1\.1 405/);
  await p.close();
  closed = true;

  const lines = (await readFile(file, 'utf8')).trim().split('\n');
  const fields = lines.map((l) => l.split(' '));
  const getLine = fields.find((f) => f[3] === 'GET' && f[4] === '/v1/AUTH_test/c/o' && f[16] === '-');
  t.ok(getLine, 'the GET');
  t.same([getLine?.[6], getLine?.[8], getLine?.[11], getLine?.[21], getLine?.[22]], ['200', 'probe', '5', 'test:tester', 'AUTH_test'], 'status, agent, bytes out, user, account');
  t.equal(getLine?.[9], `${token.slice(0, 16)}...`, 'the token cut to 16 characters');
  t.ok(
    fields.some((f) => f[3] === 'DELETE' && f[16] === 'BD' && f[4] === '/v1/AUTH_test/c/o2' && f[21] === 'test:tester'),
    "the bulk delete's sub-request, tagged with its source, as its user",
  );
  t.ok(fields.some((f) => f[3] === 'POST' && f[4] === '/v1/AUTH_test%3Fbulk-delete'), 'the bulk delete itself');
  t.ok(fields.some((f) => f[3] === 'COPY' && f[6] === '201'), 'the COPY itself');
  const putLine = fields.find((f) => f[3] === 'PUT' && f[4] === '/v1/AUTH_test/c/o3');
  t.equal(putLine?.[10], '1000', 'bytes in');
  // The COPY's own sub-requests (a GET of the source, a PUT of the destination), each once.
  t.equal(fields.filter((f) => f[16] === 'SSC' && f[3] === 'GET' && f[4] === '/v1/AUTH_test/c/o').length, 1, "the COPY's GET");
  t.equal(fields.filter((f) => f[16] === 'SSC' && f[3] === 'PUT' && f[4] === '/v1/AUTH_test/c/o2').length, 1, "the COPY's PUT");
  for (const [agent, status] of [['bad-url', '412'], ['patcher', '405'], ['long', '400']]) {
    const l = fields.filter((f) => f[8] === agent);
    t.same(l.map((f) => f[6]), [status], `${agent}: one line, ${status}`);
    t.match(l[0]?.[13], /^tx/, 'with its transaction id');
  }
  t.ok(fields.some((f) => f[3] === 'LICK' && f[6] === '405' && f[4] === '/v1/AUTH_test/c/o'), "the parser's 405 too");
  const all = lines.join('\n');
  t.notMatch(all, sig, 'no temp_url_sig in the log');
  t.notMatch(all, token, 'no whole token in the log');
});

t.test("access_log 'off': nothing written", async (t) => {
  const p = await fakeNodeProxy({ access_log: 'off' });
  t.teardown(() => p.close());
  t.equal(p.accessLog, undefined);
});
