import t from 'tap';
import { createHash } from 'node:crypto';
import { startCluster } from '../helpers/cluster.js';
import { api, devicesHoldingObject } from '../helpers/swift-api.js';

/**
 * The core promise, with real processes: 3 replicas on disk, quorum writes through a dead node
 * (kill -9) via a handoff, reads and listings still right, and nothing acknowledged lost after the
 * node comes back.
 */
t.test('three replicas, kill -9 a node, nothing lost', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const a = await api(cluster);
  const account = a.storageUrl.split('/').pop() as string;

  t.equal((await a.req('PUT', '/photos')).status, 201, 'container created');
  t.equal((await a.req('PUT', '/photos')).status, 202, 'second PUT accepted');
  const body = Buffer.from('hello swiftlet '.repeat(1000));
  const put = await a.req('PUT', '/photos/cat.jpg', { body, headers: { 'x-object-meta-color': 'tabby' } });
  t.equal(put.status, 201);
  t.equal(put.headers.etag, createHash('md5').update(body).digest('hex'));
  t.same((await devicesHoldingObject(cluster, account, 'photos', 'cat.jpg')).length, 3, 'on exactly 3 devices');

  const get = await a.req('GET', '/photos/cat.jpg');
  t.equal(get.status, 200);
  t.ok(get.body.equals(body), 'bytes round-trip');
  t.equal(get.headers['x-object-meta-color'], 'tabby');
  t.equal(get.headers['content-type'], 'image/jpeg', 'content type guessed from the name');

  // Kill one storage node that holds a replica.
  const holders = await devicesHoldingObject(cluster, account, 'photos', 'cat.jpg');
  const victim = cluster.nodes.find((n) => n.device === holders[0]);
  if (!victim) throw new Error('no victim');
  await cluster.kill(victim);

  const acked: Record<string, Buffer> = {};
  for (let i = 0; i < 20; i++) {
    const b = Buffer.from(`object ${i} `.repeat(50 + i));
    const r = await a.req('PUT', `/photos/during-outage-${i}`, { body: b });
    t.equal(r.status, 201, `PUT ${i} succeeds with a node down`);
    if (r.status === 201) acked[`during-outage-${i}`] = b;
  }
  const again = await a.req('GET', '/photos/cat.jpg');
  t.equal(again.status, 200, 'GET fails over');
  t.ok(again.body.equals(body), 'right bytes from a surviving replica');
  const listing = await a.req('GET', '/photos?format=json');
  t.equal(listing.status, 200, 'listing works with a node down');
  const names = (JSON.parse(listing.body.toString()) as Array<{ name: string }>).map((o) => o.name);
  t.ok(names.includes('cat.jpg'), 'listing has the old object');
  t.ok(names.filter((n) => n.startsWith('during-outage-')).length >= 18, 'listing has the new objects');

  t.equal((await a.req('DELETE', '/photos/during-outage-0')).status, 204, 'DELETE with a node down');
  delete acked['during-outage-0'];

  await cluster.restart(victim);
  for (const [name, b] of Object.entries(acked)) {
    const r = await a.req('GET', `/photos/${name}`);
    t.equal(r.status, 200, `${name} readable after restart`);
    t.ok(r.body.equals(b), `${name} bytes`);
    t.ok((await devicesHoldingObject(cluster, account, 'photos', name)).length >= 3, `${name} has 3 copies (a handoff included)`);
  }
  t.equal((await a.req('GET', '/photos/during-outage-0')).status, 404, 'the deletion holds');
  const head = await a.req('HEAD', '/photos');
  t.equal(head.status, 204);
  t.ok(Number(head.headers['x-container-object-count']) >= 19, 'container stats');
});

t.test('Swift semantics over HTTP', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const a = await api(cluster);
  t.equal((await a.req('PUT', '/c')).status, 201);
  for (const name of ['a/1', 'a/2', 'a/b/3', 'b/1', 'c', 'ünïcode']) {
    t.equal((await a.req('PUT', `/c/${encodeURIComponent(name).replace(/%2F/g, '/')}`, { body: name })).status, 201, `PUT ${name}`);
  }
  // A PUT is answered once 2 of 3 replicas stored it; the third replica's container update can
  // land a few ms after the 201, and the listing is read from one container replica. Give the
  // listing a moment to catch up (Swift's listings are eventually consistent the same way).
  const all = 'a/1\na/2\na/b/3\nb/1\nc\nünïcode\n';
  let plain = await a.req('GET', '/c');
  for (let i = 0; i < 50 && plain.body.toString() !== all; i++) {
    await new Promise((r) => setTimeout(r, 100));
    plain = await a.req('GET', '/c');
  }
  t.equal(plain.body.toString(), all);
  t.equal((await a.req('GET', '/c?prefix=a/')).body.toString(), 'a/1\na/2\na/b/3\n');
  t.equal((await a.req('GET', '/c?delimiter=/')).body.toString(), 'a/\nb/\nc\nünïcode\n');
  t.equal((await a.req('GET', '/c?prefix=a/&delimiter=/')).body.toString(), 'a/1\na/2\na/b/\n');
  t.equal((await a.req('GET', '/c?marker=a/2&limit=2')).body.toString(), 'a/b/3\nb/1\n');
  t.equal((await a.req('GET', '/c?end_marker=b')).body.toString(), 'a/1\na/2\na/b/3\n');
  t.equal((await a.req('GET', '/c?reverse=true&limit=2')).body.toString(), 'ünïcode\nc\n');
  t.equal((await a.req('GET', '/c?limit=10001')).status, 412);
  const json = JSON.parse((await a.req('GET', '/c?format=json&prefix=b')).body.toString()) as Array<Record<string, unknown>>;
  t.match(json, [{ name: 'b/1', bytes: 3, hash: createHash('md5').update('b/1').digest('hex'), content_type: String }]);
  const xml = (await a.req('GET', '/c?format=xml&prefix=c')).body.toString();
  t.match(xml, /<container name="c"><object><name>c<\/name>/);

  // Account stats and listing.
  const acct = await a.req('HEAD', '');
  t.equal(acct.status, 204);
  t.equal(acct.headers['x-account-container-count'], '1');
  t.equal((await a.req('GET', '?format=json')).status, 200);

  // Metadata, POST, conditional and range reads.
  t.equal((await a.req('POST', '/c/c', { headers: { 'x-object-meta-k': 'v' } })).status, 202);
  t.equal((await a.req('HEAD', '/c/c')).headers['x-object-meta-k'], 'v');
  t.equal((await a.req('POST', '/c', { headers: { 'x-container-meta-team': 'blue' } })).status, 204);
  t.equal((await a.req('HEAD', '/c')).headers['x-container-meta-team'], 'blue');
  t.equal((await a.req('POST', '', { headers: { 'x-account-meta-owner': 'me' } })).status, 204);
  t.equal((await a.req('HEAD', '')).headers['x-account-meta-owner'], 'me');
  t.equal((await a.req('PUT', '/c/r', { body: '0123456789' })).status, 201);
  const range = await a.req('GET', '/c/r', { headers: { range: 'bytes=2-4' } });
  t.equal(range.status, 206);
  t.equal(range.body.toString(), '234');
  const multi = await a.req('GET', '/c/r', { headers: { range: 'bytes=0-0,-1' } });
  t.equal(multi.status, 206);
  t.match(multi.headers['content-type'], /^multipart\/byteranges;\s*boundary=/);
  t.equal((await a.req('GET', '/c/r', { headers: { range: 'bytes=20-30' } })).status, 416, 'bad Range');
  const etag = (await a.req('HEAD', '/c/r')).headers.etag as string;
  t.equal((await a.req('GET', '/c/r', { headers: { 'if-none-match': etag } })).status, 304);
  t.equal((await a.req('GET', '/c/r', { headers: { 'if-match': '"nope"' } })).status, 412);
  t.equal((await a.req('GET', '/c/r', { headers: { 'if-modified-since': new Date(Date.now() + 3600_000).toUTCString() } })).status, 304);
  t.equal((await a.req('GET', '/c/r', { headers: { 'if-unmodified-since': 'Thu, 01 Jan 2004 00:00:00 GMT' } })).status, 412);

  // Copy, both ways.
  const copied = await a.req('PUT', '/c/r-copy', { headers: { 'x-copy-from': '/c/r', 'content-length': '0' } });
  t.equal(copied.status, 201);
  t.equal(copied.headers['x-copied-from'], 'c/r');
  t.equal((await a.req('GET', '/c/r-copy')).body.toString(), '0123456789');
  t.equal((await a.req('COPY', '/c/r', { headers: { destination: 'c/r-copy2', 'x-object-meta-new': '1' } })).status, 201);
  const c2 = await a.req('GET', '/c/r-copy2');
  t.equal(c2.body.toString(), '0123456789');
  t.equal(c2.headers['x-object-meta-new'], '1');

  // Deletes: container must be empty.
  t.equal((await a.req('DELETE', '/c')).status, 409, 'non-empty container');
  t.equal((await a.req('DELETE', '/c/nope')).status, 404);
  t.equal((await a.req('GET', '/nocontainer/x')).status, 404);
  t.equal((await a.req('PUT', '/nocontainer/x', { body: 'x' })).status, 404, 'PUT into a missing container');
  // Chunked PUT (no Content-Length).
  const { request } = await import('undici');
  const { Readable } = await import('node:stream');
  const chunked = await request(`${a.storageUrl}/c/chunked`, {
    method: 'PUT',
    headers: { 'x-auth-token': a.token },
    body: Readable.from([Buffer.from('abc'), Buffer.from('def')]),
  });
  await chunked.body.dump();
  t.equal(chunked.statusCode, 201, 'chunked PUT');
  t.equal((await a.req('GET', '/c/chunked')).body.toString(), 'abcdef');
});
