import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ESCAPE_SPELLINGS, literalName, pctEncode, secretsIn } from '../helpers/attack.js';
import { rawHttpClient } from '../helpers/verbatim-http.js';

/**
 * The security suite's tools. The client must put every escape on the wire as typed: if it
 * resolved dot segments the way fetch and undici do, every path-escape case would pass without
 * the escape ever reaching the server.
 */
t.test('the raw client sends the path exactly as given', async (t) => {
  const seen: string[] = [];
  const server = createServer((req, res) => {
    seen.push(`${req.method} ${req.url} ${req.headers['content-length'] ?? '-'}`);
    req.resume();
    res.setHeader('x-echo', 'h-value');
    res.end('body-value');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => server.close());
  const client = rawHttpClient(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  t.teardown(() => client.close());
  const paths = ['/v1/a/c/../../b', '/v1/a/c/%2e%2e/%2E%2e/b', '/v1/a/c/.%2e/b/.', '/v1/a/c//../b/..', '/v1/a/c/..\\..\\b', '/v1/a/%252e%252e/b'];
  for (const path of paths) {
    const res = await client.send({ method: 'GET', path });
    t.equal(res.status, 200);
    t.equal(res.body.toString(), 'body-value');
    t.equal(res.headers['x-echo'], 'h-value');
  }
  await client.send({ method: 'COPY', path: '/x/../y', headers: { destination: 'c/o' } });
  await client.send({ method: 'PUT', path: '/x/./y', body: 'abc' });
  t.same(seen, [...paths.map((p) => `GET ${p} -`), 'COPY /x/../y 0', 'PUT /x/./y 3']);
});

t.test('literal names: decoded once, refused when Swift refuses them', async (t) => {
  t.equal(literalName('c/%2e%2e/%2E./.%2e/o'), 'c/../../../o');
  t.equal(literalName('c/%252e%252e'), 'c/%2e%2e', 'decoded once only');
  t.equal(literalName('c/..%5c..\\o'), 'c/..\\..\\o');
  t.equal(literalName('c/%C3%BC/ü'), 'c/ü/ü');
  t.equal(literalName('c/..%00/o'), undefined, 'NUL');
  t.equal(literalName('c/%c0%ae%c0%ae/o'), undefined, 'overlong UTF-8');
  t.equal(pctEncode('../a b/ü'), '%2E%2E%2Fa%20b%2F%C3%BC');
  t.equal(pctEncode('../a', true), '%2E%2E/a');
  t.equal(literalName(pctEncode('..\\%2e/x ü')), '..\\%2e/x ü', 'pctEncode and literalName round-trip');
});

t.test('spellings and secrets', async (t) => {
  const raw = ESCAPE_SPELLINGS.find((s) => s.name === 'raw ..');
  t.equal(raw?.climb(2, 'AUTH_v/c/o'), '../../AUTH_v/c/o');
  const spelled = ESCAPE_SPELLINGS.map((s) => s.climb(2, 'AUTH_v/c'));
  t.equal(new Set(spelled).size, spelled.length, 'every spelling writes a different path');
  for (const [i, s] of spelled.entries()) t.ok(s.includes('AUTH_v/c'), `${ESCAPE_SPELLINGS[i]?.name} ends up in the target`);
  const secrets = [
    { label: 'bytes', value: 'S3CRET' },
    { label: 'meta', value: 'M3TA' },
    { label: 'name', value: 'N4ME' },
  ];
  const found = secretsIn({ status: 200, headers: { 'x-object-meta-a': 'M3TA' }, body: Buffer.from('..S3CRET..') }, secrets);
  t.same(
    found.map((s) => s.label),
    ['bytes', 'meta'],
  );
});
