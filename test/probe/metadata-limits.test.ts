import t from 'tap';
import { Agent, request, setGlobalDispatcher } from 'undici';
import { LIMITS } from '../../proxy/constraints.js';
import { startCluster } from '../helpers/cluster.js';
import { api } from '../helpers/swift-api.js';
import { rawRequest } from '../helpers/raw-http.js';

/**
 * Metadata and header limits across real processes. The attack this guards against: one tenant
 * POSTs ~3.9 KB of metadata five times (each request within the limits), its container's HEAD
 * outgrows what the proxy can parse, and every failed read counted against the nodes until they
 * were skipped for everyone's writes.
 */

/** 15 metadata headers of 256 bytes: ~3.9 KB, within every per-request limit. */
function metaBatch(prefix: string, tag: string, count = 15, size = 256): Record<string, string> {
  const h: Record<string, string> = {};
  for (let i = 0; i < count; i++) h[`${prefix}${tag}${i}`] = String.fromCharCode(97 + (i % 26)).repeat(size);
  return h;
}

/** A header value that makes its line ("name:value" CRLF) exactly `line` bytes. */
const valueForLine = (name: string, line: number, fill = 'x'): string => fill.repeat(line - name.length - 3);

/** A valid ACL (account names) close to `bytes` long. */
function aclOf(bytes: number): string {
  const items: string[] = [];
  for (let i = 0; items.join(',').length < bytes - 20; i++) items.push(`AUTH_u${i}`);
  return items.join(',');
}

// This test's own client reads the largest HEADs a container or object can have (undici's default: 16 KiB).
setGlobalDispatcher(new Agent({ maxHeaderSize: 256 * 1024 }));

t.test('metadata limits and header sizes through the proxy', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const a = await api(cluster);
  const other = await api(cluster, 'test2:tester2', 'testing2');
  t.equal((await other.req('PUT', '/theirs')).status, 201);

  // The attack: five ~3.9 KB POSTs. The second would take the stored total past 4096.
  t.equal((await a.req('PUT', '/mine')).status, 201);
  const answers: number[] = [];
  let refusal = '';
  for (let i = 0; i < 5; i++) {
    const r = await a.req('POST', '/mine', { headers: metaBatch('x-container-meta-', `p${i}-`) });
    answers.push(r.status);
    if (r.status === 400) refusal = r.body.toString();
  }
  t.same(answers, [204, 400, 400, 400, 400], 'the first POST fits, the rest would not');
  t.equal(refusal, 'Total metadata too large; max 4096', "the client gets Swift's 400 and its reason");
  for (let i = 0; i < 25; i++) {
    const h = await a.req('HEAD', '/mine');
    if (h.status !== 204) t.fail(`HEAD ${i} answered ${h.status}`);
  }
  const head = await a.req('HEAD', '/mine');
  t.equal(head.status, 204, 'the container still reads');
  t.ok('x-container-meta-p0-0' in head.headers && !('x-container-meta-p1-0' in head.headers), 'with the first batch only');
  for (let i = 0; i < 3; i++) {
    t.equal((await other.req('PUT', `/theirs/o${i}`, { body: 'hello' })).status, 201, "another account's writes go on");
  }

  // The largest legal container: 4 KiB of metadata, and both ACLs and the versions location each
  // on a line just under 8192 bytes: a HEAD of ~30 KB, past Node's and undici's 16 KiB defaults.
  const big = '/biggest';
  t.equal((await a.req('PUT', big, { headers: metaBatch('x-container-meta-', 'm', 16, 250) })).status, 201);
  const read = aclOf(8192 - 'x-container-read'.length - 3);
  const write = aclOf(8192 - 'x-container-write'.length - 3);
  const versions = valueForLine('x-versions-location', LIMITS.maxHeaderSize - 1, 'v');
  t.equal((await a.req('POST', big, { headers: { 'x-container-read': read } })).status, 204);
  t.equal((await a.req('POST', big, { headers: { 'x-container-write': write } })).status, 204);
  t.equal((await a.req('POST', big, { headers: { 'x-versions-location': versions } })).status, 204, 'a line of 8191 bytes is legal');
  const bigHead = await a.req('HEAD', big);
  t.equal(bigHead.status, 204, 'its HEAD reads');
  t.same([bigHead.headers['x-container-read'], bigHead.headers['x-container-write'], bigHead.headers['x-versions-location']], [read, write, versions]);
  t.equal(bigHead.headers['x-container-meta-m15'], 'p'.repeat(250));
  t.equal((await a.req('GET', big)).status, 204, 'and lists');

  // The largest object a single PUT can make: 4 KiB of metadata and two 8 KB persisted headers.
  const objHeaders = {
    ...metaBatch('x-object-meta-', 'm', 16, 250),
    'content-disposition': valueForLine('content-disposition', 8191, 'd'),
    'cache-control': valueForLine('cache-control', 8191, 'c'),
  };
  t.equal((await a.req('PUT', `${big}/obj`, { body: 'x', headers: objHeaders })).status, 201, 'a ~21 KB request is taken');
  const objHead = await a.req('HEAD', `${big}/obj`);
  t.equal(objHead.status, 200, 'its HEAD reads');
  t.equal(objHead.headers['content-disposition'], objHeaders['content-disposition']);
  // A copy may not pile its own metadata on top of the source's past the limits.
  const copy = await a.req('PUT', `${big}/copy`, { headers: { 'x-copy-from': `${big.slice(1)}/obj`, ...metaBatch('x-object-meta-', 'n', 15, 256) } });
  t.equal(copy.status, 400, 'a copy over the limits with its source metadata');
  t.equal((await a.req('HEAD', `${big}/copy`)).status, 404, 'nothing copied');
  t.equal((await a.req('PUT', `${big}/copy`, { headers: { 'x-copy-from': `${big.slice(1)}/obj`, 'x-object-meta-m0': 'y' } })).status, 201, 'a copy within them');

  // Header lines: 8192 bytes or more is Swift's 400; so is a header sent twice that adds up to it.
  const long = await a.req('POST', big, { headers: { 'x-container-meta-long': valueForLine('x-container-meta-long', LIMITS.maxHeaderSize) } });
  t.same([long.status, long.body.toString()], [400, 'Header Line Too Long']);
  const twice = await request(`${a.storageUrl}${big}`, {
    method: 'POST',
    headers: ['x-auth-token', a.token, 'x-container-read', read.slice(0, 5000), 'x-container-read', read.slice(0, 5000)],
  });
  t.same([twice.statusCode, await twice.body.text()], [400, 'Header Line Too Long'], 'a header sent twice counts as one line');
  // The whole block: past 64 KiB, Node answers 431 and drops the connection (the client may see
  // the reset before the answer); the request goes nowhere.
  const block: Record<string, string> = {};
  for (let i = 0; i < 10; i++) block[`x-container-meta-f${i}`] = 'f'.repeat(7000);
  const huge = await a.req('POST', big, { headers: block }).catch(() => ({ status: 0 }));
  t.ok(huge.status === 431 || huge.status === 0, `headers past 64 KiB refused (${huge.status})`);
  t.equal((await a.req('HEAD', big)).status, 204, 'the proxy is still up');
});

t.test('non-ASCII metadata through the proxy, as the bytes a client sends', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const a = await api(cluster);
  const account = a.storageUrl.split('/').pop() as string;
  const port = Number(new URL(cluster.proxyUrl).port);
  /** One request with raw UTF-8 header values (Swift's own tests send them so). */
  const raw = (method: string, path: string, headers: Record<string, string>, body = '') =>
    rawRequest(
      port,
      [`${method} /v1/${account}${path} HTTP/1.1`, 'Host: x', 'Connection: close', `X-Auth-Token: ${a.token}`, `Content-Length: ${Buffer.byteLength(body)}`, ...Object.entries(headers).map(([k, v]) => Buffer.from(`${k}: ${v}`, 'utf8'))],
      body,
    );
  t.equal((await a.req('PUT', '/utf8')).status, 201);
  t.equal((await a.req('PUT', '/utf8/o', { body: 'x' })).status, 201);
  // 100 "é" are 200 bytes: within the 256 of a value; 129 are 258.
  const fits = 'é'.repeat(100);
  const over = 'é'.repeat(129);
  const cases: Array<[string, string, string, string, number]> = [
    ['object PUT', 'PUT', '/utf8/o2', 'object', 201],
    ['object POST', 'POST', '/utf8/o', 'object', 202],
    ['container PUT', 'PUT', '/utf8b', 'container', 201],
    ['container POST', 'POST', '/utf8', 'container', 204],
    ['account POST', 'POST', '', 'account', 204],
  ];
  for (const [what, method, path, target, ok] of cases) {
    const body = method === 'PUT' && target === 'object' ? 'x' : '';
    const good = await raw(method, path, { [`X-${target}-Meta-E`]: fits }, body);
    t.equal(good.status, ok, `${what}: 100 x "é" (200 bytes) is taken`);
    const head = await raw('HEAD', path, {});
    t.equal(head.header(`x-${target}-meta-e`)?.toString('utf8'), fits, `${what}: and comes back byte for byte`);
    const bad = await raw(method, path, { [`X-${target}-Meta-E`]: over }, body);
    t.same([bad.status, bad.body.toString()], [400, `Metadata value longer than 256: x-${target}-meta-E`], `${what}: 129 x "é" (258 bytes) is not`);
  }

  // The stored total, on account POSTs too: ASCII adds up in bytes...
  const batch = (tag: string, value: string, n = 15): Record<string, string> => {
    const h: Record<string, string> = {};
    for (let i = 0; i < n; i++) h[`X-Account-Meta-${tag}${i}`] = value;
    return h;
  };
  t.equal((await raw('POST', '', { 'X-Account-Meta-E': '' })).status, 204, 'clean slate');
  t.equal((await raw('POST', '', batch('a', 'v'.repeat(250)))).status, 204, 'one batch of ~3.8 KB');
  const second = await raw('POST', '', batch('b', 'v'.repeat(250)));
  t.same([second.status, second.body.toString()], [400, 'Total metadata too large; max 4096'], 'the account refuses a second');
  t.equal((await raw('POST', '', Object.fromEntries(Object.keys(batch('a', '')).map((k) => [k, ''])))).status, 204, 'removed again');
  // ...while non-ASCII adds up in characters, as Swift's account and container servers count it:
  // two batches of 10 x 128 "é" are 5,160 bytes but 2,600 characters; four are over.
  for (const [path, prefix] of [['', 'Account'], ['/utf8', 'Container']] as const) {
    const wide = (tag: string): Record<string, string> => {
      const h: Record<string, string> = {};
      for (let i = 0; i < 10; i++) h[`X-${prefix}-Meta-${tag}${i}`] = 'é'.repeat(128);
      return h;
    };
    t.equal((await raw('POST', path, wide('a'))).status, 204, `${prefix}: the first batch`);
    t.equal((await raw('POST', path, wide('b'))).status, 204, `${prefix}: the second, 2,600 characters in all`);
    t.equal((await raw('POST', path, wide('c'))).status, 204, `${prefix}: the third, 3,900`);
    const fourth = await raw('POST', path, wide('d'));
    t.same([fourth.status, fourth.body.toString()], [400, 'Total metadata too large; max 4096'], `${prefix}: the fourth is over`);
  }
});
