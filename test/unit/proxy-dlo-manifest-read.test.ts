import t from 'tap';
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { H } from '../../common/headers.js';
import { resolveRange, unsatisfiedContentRange, contentRangeValue } from '../../common/range.js';
import type { ProxyRequest } from '../../proxy/pipeline.js';
import { ignoreRangeIfMetadata } from '../../proxy/middleware/subrequest.js';
import { fakeNodeProxy, type NodeAnswer, type NodeRequest } from '../helpers/fake-nodes.js';

const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
const TS = { 'x-timestamp': '1700000000.00000', 'x-backend-timestamp': '1700000000.00000' };
const SEGMENTS: Record<string, string> = { p1: 'hello ', p2: 'world' };
const DLO_ETAG = `"${md5(md5('hello ') + md5('world'))}"`;

/**
 * Fake nodes that answer as Swift's object server does: the manifest c/m (X-Object-Manifest:
 * segs/p, its own body empty) and the segments segs/p1, segs/p2, each with Range and If-Match /
 * If-None-Match applied, unless X-Backend-Ignore-Range-If-Metadata-Present names metadata it has.
 */
function objectServer({ method, depth, req }: NodeRequest): NodeAnswer {
  const [path, query = ''] = (req.url ?? '').split('?');
  const name = decodeURIComponent((path ?? '').split('/').slice(4).join('/'));
  if (depth === 2 && name === 'segs' && method === 'GET' && query.includes('prefix=p')) {
    const listing = Object.entries(SEGMENTS).map(([n, body]) => ({ name: n, bytes: body.length, hash: md5(body), content_type: 'application/octet-stream', last_modified: '2023-11-14T22:13:20.000000' }));
    return { status: 200, headers: { ...TS, 'content-type': 'application/json; charset=utf-8' }, body: JSON.stringify(listing) };
  }
  if (depth < 3) return { status: method === 'GET' ? 200 : 204, headers: TS, body: method === 'GET' ? '[]' : '' };
  const obj: { body: string; meta: Record<string, string> } | undefined = name === 'c/m'
    ? { body: '', meta: { 'content-type': 'application/x-dlo-test', 'x-object-manifest': 'segs/p' } }
    : name.startsWith('segs/') && SEGMENTS[name.slice(5)] !== undefined
      ? { body: SEGMENTS[name.slice(5)] as string, meta: { 'content-type': 'application/octet-stream' } }
      : undefined;
  if (!obj) return { status: 404, headers: TS };
  const etag = md5(obj.body);
  const headers: Record<string, string> = { ...TS, ...obj.meta, etag };
  const ignored = String(req.headers[H.ignoreRangeIfMetadata] ?? '').split(',').map((n) => n.trim().toLowerCase());
  const whole = Object.keys(obj.meta).some((k) => ignored.includes(k));
  const ifMatch = whole ? undefined : req.headers['if-match'];
  const ifNoneMatch = whole ? undefined : req.headers['if-none-match'];
  if (ifMatch !== undefined && ifMatch !== '*' && !ifMatch.includes(etag)) return { status: 412, headers: { ...TS, etag } };
  if (ifNoneMatch !== undefined && (ifNoneMatch === '*' || ifNoneMatch.includes(etag))) return { status: 304, headers: { ...TS, etag } };
  const range = resolveRange(whole ? undefined : req.headers['range'], obj.body.length);
  if (range.kind === 'unsatisfiable') return { status: 416, headers: { ...TS, etag, 'content-range': unsatisfiedContentRange(obj.body.length) } };
  if (range.kind === 'partial' && range.ranges.length === 1) {
    const [s, e] = range.ranges[0] as [number, number];
    return { status: 206, headers: { ...headers, 'content-range': contentRangeValue(s, e, obj.body.length) }, body: obj.body.slice(s, e + 1) };
  }
  return { status: 200, headers, body: obj.body };
}

t.test('a DLO\'s manifest is read whole: Range and conditionals apply to the DLO, with the manifest\'s headers', async (t) => {
  const p = await fakeNodeProxy();
  t.teardown(() => p.close());
  p.answer = objectServer;
  const token = await p.token('test:tester', 'testing');
  const get = async (headers: Record<string, string>) => {
    const res = await request(`${p.base}/v1/AUTH_test/c/m`, { headers: { 'x-auth-token': token, ...headers } });
    return { status: res.statusCode, headers: res.headers as Record<string, string>, body: await res.body.text() };
  };

  const whole = await get({});
  t.same([whole.status, whole.body, whole.headers['content-type'], whole.headers['etag']], [200, 'hello world', 'application/x-dlo-test', DLO_ETAG]);

  // The manifest's own body is empty: a Range applied to it would answer 416, and its headers were served.
  const ranged = await get({ range: 'bytes=4-7' });
  t.same([ranged.status, ranged.body, ranged.headers['content-range']], [206, 'o wo', 'bytes 4-7/11']);
  t.equal(ranged.headers['content-type'], 'application/x-dlo-test', 'a ranged answer has the manifest\'s Content-Type');
  t.equal(ranged.headers['x-object-manifest'], 'segs/p');
  const open = await get({ range: 'bytes=6-' });
  t.same([open.status, open.body, open.headers['content-type']], [206, 'world', 'application/x-dlo-test']);

  // Conditionals are the DLO's ETag's, not the manifest object's.
  const matching = await get({ 'if-match': DLO_ETAG });
  t.same([matching.status, matching.body, matching.headers['content-type']], [200, 'hello world', 'application/x-dlo-test'], 'If-Match: the DLO\'s ETag');
  t.equal((await get({ 'if-match': `"${md5('')}"` })).status, 412, 'If-Match: the manifest\'s own ETag is not the DLO\'s');
  const ownEtag = await get({ 'if-none-match': `"${md5('')}"` });
  t.same([ownEtag.status, ownEtag.body, ownEtag.headers['content-type']], [200, 'hello world', 'application/x-dlo-test'], 'If-None-Match: the manifest\'s own ETag');
  t.equal((await get({ 'if-none-match': DLO_ETAG })).status, 304);

  const manifest = await get({ range: 'bytes=0-0' });
  t.equal(manifest.body, 'h');
  const itself = await request(`${p.base}/v1/AUTH_test/c/m?multipart-manifest=get`, { headers: { 'x-auth-token': token, range: 'bytes=0-0' } });
  t.equal(itself.statusCode, 416, '?multipart-manifest=get: the manifest object itself, Range and all');
  await itself.body.dump();
});

t.test('ignoreRangeIfMetadata adds a name to those already asked for', async (t) => {
  const req = { headers: {} } as unknown as ProxyRequest;
  ignoreRangeIfMetadata(req, 'X-Object-Manifest');
  t.equal(req.headers[H.ignoreRangeIfMetadata], 'X-Object-Manifest');
  ignoreRangeIfMetadata(req, 'X-Object-Sysmeta-Symlink-Target');
  ignoreRangeIfMetadata(req, 'x-object-manifest');
  t.equal(req.headers[H.ignoreRangeIfMetadata], 'X-Object-Manifest,X-Object-Sysmeta-Symlink-Target', 'a symlink to a DLO: both, once each');
});
