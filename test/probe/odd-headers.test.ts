import t from 'tap';
import { clusterWithContainer } from '../helpers/swift-api.js';

/**
 * Odd but legal header values are taken and kept as given, as Swift keeps them: Swift stores
 * Content-Type as the client sent it ("foo" has no "/", and is still stored), and the other
 * persisted headers and metadata likewise. These once hit fastify's content-type parser (500).
 */
const CONTENT_TYPES = ['foo', '', 'a b', ';;', 'text/plain;charset="utf-8"', 'application/x-thing; a=b; a=c', 'x/y; swift_bytesx=1'];

t.test('odd content types, encodings and metadata: accepted and stored as given', async (t) => {
  const { a } = await clusterWithContainer(t);
  for (const [i, ct] of CONTENT_TYPES.entries()) {
    const put = await a.req('PUT', `/c/o${i}.txt`, { body: 'hello', headers: { 'content-type': ct } });
    t.equal(put.status, 201, `object PUT, Content-Type ${JSON.stringify(ct)}`);
    const head = await a.req('HEAD', `/c/o${i}.txt`);
    // Swift guesses a type from the name when none is given.
    t.equal(head.headers['content-type'], ct === '' ? 'text/plain' : ct, `stored as given: ${JSON.stringify(ct)}`);
    const post = await a.req('POST', `/c/o${i}.txt`, { headers: { 'content-type': `${ct}2` } });
    t.equal(post.status, 202, `object POST, Content-Type ${JSON.stringify(`${ct}2`)}`);
    t.equal((await a.req('HEAD', `/c/o${i}.txt`)).headers['content-type'], `${ct}2`, 'the POST replaced it');
    for (const [method, path] of [
      ['PUT', '/c2'],
      ['POST', '/c2'],
      ['POST', ''],
    ] as const) {
      const res = await a.req(method, path, { headers: { 'content-type': ct, 'x-container-meta-k': 'v' } });
      t.ok(res.status >= 200 && res.status < 300, `${method} ${path || 'account'}, Content-Type ${JSON.stringify(ct)}: ${res.status}`);
    }
  }
  t.equal((await a.req('PUT', '/c/listed', { body: 'x', headers: { 'content-type': 'foo' } })).status, 201);
  const listing = JSON.parse((await a.req('GET', '/c?format=json')).body.toString()) as Array<{ name: string; content_type: string }>;
  t.equal(listing.find((o) => o.name === 'listed')?.content_type, 'foo', 'the listing has it as given');

  const odd: Record<string, string> = {
    'content-encoding': 'gzip, x-custom',
    'content-disposition': 'attachment; filename="a b.txt"; filename*=UTF-8\'\'a%20b.txt',
    'content-language': 'en-x-odd',
    'cache-control': 'no-cache="set-cookie", max-age=0',
    expires: 'not a date',
    'x-object-meta-punctuation': 'a: b, c=d; "q" <tag> \\ / ?',
    'x-object-meta-Mixed-CASE': 'x',
  };
  t.equal((await a.req('PUT', '/c/odd', { body: 'x', headers: odd })).status, 201, 'odd persisted headers and metadata');
  const got = await a.req('GET', '/c/odd');
  for (const [k, v] of Object.entries(odd)) {
    t.equal(got.headers[k.toLowerCase()], v, `${k} as given`);
  }
});
