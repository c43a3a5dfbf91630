import t, { type Test } from 'tap';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { hashPath } from '../../common/hash-path.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';
import { api, type Api } from '../helpers/swift-api.js';
import { rawRequest } from '../helpers/raw-http.js';
import { createHash } from 'node:crypto';

/**
 * Swift's API semantics across real processes, each as OpenStack Swift answers (issue 22):
 * expiry headers, conditional writes, container timestamps and listings, server-side copy.
 * One cluster; each subtest works in its own container.
 */
t.test('Swift semantics through the proxy', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const a = await api(cluster);
  const account = a.storageUrl.split('/').pop() as string;
  const ctx: Ctx = { a, account, port: Number(new URL(cluster.proxyUrl).port) };

  await t.test('expiry: X-Delete-At far in the future, X-If-Delete-At', (t) => expiry(t, ctx));
  await t.test('containers: POST moves Last-Modified, object POST reaches the listing, path=', (t) => containers(t, ctx));
  await t.test('conditional creates: If-None-Match: * on PUT', (t) => creates(t, ctx, cluster));
  await t.test('copies: Range, raw UTF-8 names, cross-account statuses in Swift order', async (t) => copies(t, ctx, await api(cluster, 'test2:tester2', 'testing2')));
});

/** Reads until `done` holds (replicas answered after the quorum may still be writing), at most 20 times. */
async function eventually<T>(read: () => Promise<T>, done: (v: T) => boolean): Promise<T> {
  let v = await read();
  for (let i = 1; i < 20 && !done(v); i++) {
    await new Promise((r) => setTimeout(r, 50));
    v = await read();
  }
  return v;
}

/** The bodies of the object's .data files on every device (each starts with the object's body). */
async function dataFiles(cluster: Cluster, account: string, container: string, object: string): Promise<Buffer[]> {
  const hash = hashPath({ prefix: cluster.secret.swift_hash_path_prefix, suffix: cluster.secret.swift_hash_path_suffix }, account, container, object);
  const out: Buffer[] = [];
  for (const node of cluster.nodes) {
    const objects = join(node.devicesRoot, node.device, 'objects');
    for (const part of await readdir(objects).catch(() => [] as string[])) {
      const dir = join(objects, part, hash.slice(-3), hash);
      for (const f of await readdir(dir).catch(() => [] as string[])) if (f.endsWith('.data')) out.push(await readFile(join(dir, f)));
    }
  }
  return out;
}

interface Ctx {
  a: Api;
  account: string;
  port: number;
}

async function expiry(t: Test, { a }: Ctx): Promise<void> {
  t.equal((await a.req('PUT', '/exp')).status, 201);
  // Swift clamps to 9999999999 (normalize_delete_at_timestamp) however many digits it is given.
  const far = await a.req('PUT', '/exp/far', { body: 'x', headers: { 'x-delete-at': '9'.repeat(30) } });
  t.equal(far.status, 201, 'a 30-digit X-Delete-At');
  t.equal((await a.req('HEAD', '/exp/far')).headers['x-delete-at'], '9999999999');
  t.equal((await a.req('POST', '/exp/far', { headers: { 'x-delete-after': '9'.repeat(20) } })).status, 202, 'a 20-digit X-Delete-After');
  t.equal((await a.req('HEAD', '/exp/far')).headers['x-delete-at'], '9999999999');
  t.equal((await a.req('POST', '/exp/far', { headers: { 'x-delete-at': '1.5' } })).status, 400, 'not an integer');

  const bad = await a.req('DELETE', '/exp/far', { headers: { 'x-if-delete-at': 'bad' } });
  t.same([bad.status, bad.body.toString()], [400, 'Bad X-If-Delete-At header value']);
  t.equal((await a.req('DELETE', '/exp/far', { headers: { 'x-if-delete-at': '9999999998' } })).status, 412, 'another X-Delete-At');
  t.equal((await a.req('HEAD', '/exp/far')).status, 200, 'still there');
  t.equal((await a.req('DELETE', '/exp/far', { headers: { 'x-if-delete-at': '9999999999' } })).status, 204, 'its own X-Delete-At');
  t.equal((await a.req('HEAD', '/exp/far')).status, 404);
  t.equal((await a.req('DELETE', '/exp/never', { headers: { 'x-if-delete-at': '9999999999' } })).status, 404, 'no such object');
}

async function containers(t: Test, { a }: Ctx): Promise<void> {
  t.equal((await a.req('PUT', '/ctr')).status, 201);
  const before = (await a.req('HEAD', '/ctr')).headers;
  t.equal((await a.req('POST', '/ctr', { headers: { 'x-container-meta-color': 'blue' } })).status, 204);
  const after = (await eventually(
    () => a.req('HEAD', '/ctr'),
    (r) => r.headers['x-put-timestamp'] !== before['x-put-timestamp'],
  )).headers;
  t.ok((after['x-put-timestamp'] ?? '') > (before['x-put-timestamp'] ?? ''), `a POST moves X-PUT-Timestamp (${before['x-put-timestamp']} → ${after['x-put-timestamp']})`);
  t.equal(after['last-modified'], new Date(Math.ceil(Number(after['x-put-timestamp'])) * 1000).toUTCString(), 'and Last-Modified with it');

  // An object POST's new Content-Type reaches the listing (Swift's object server updates the row).
  t.equal((await a.req('PUT', '/ctr/pic', { body: 'png bytes', headers: { 'content-type': 'application/octet-stream' } })).status, 201);
  t.equal((await a.req('POST', '/ctr/pic', { headers: { 'content-type': 'image/png' } })).status, 202);
  type Row = { name: string; content_type: string; bytes: number; hash: string; last_modified: string };
  const listing = async (): Promise<Row[]> => JSON.parse((await a.req('GET', '/ctr?format=json')).body.toString()) as Row[];
  const rows = await eventually(listing, (r) => r.every((e) => e.content_type === 'image/png'));
  t.match(rows, [{ name: 'pic', content_type: 'image/png', bytes: 9 }]);
  t.equal((await a.req('HEAD', '/ctr')).headers['x-container-object-count'], '1', 'still one object');

  // path=: the names right under a pseudo-directory.
  for (const name of ['d/', 'd/x', 'd/y', 'd/sub/z', 'e']) t.equal((await a.req('PUT', `/ctr/${name}`, { body: 'x' })).status, 201, name);
  const listed = async (qs: string, want: string): Promise<string> =>
    (await eventually(() => a.req('GET', `/ctr?${qs}`), (r) => r.body.toString() === want)).body.toString();
  for (const [qs, want] of [
    ['path=d', 'd/x\nd/y\n'],
    ['path=d/', 'd/x\nd/y\n'],
    ['path=d/sub', 'd/sub/z\n'],
    ['path=', 'd/\ne\npic\n'],
    ['path=d&prefix=e&delimiter=x', 'd/x\nd/y\n'],
  ] as const) {
    t.equal(await listed(qs, want), want, qs);
  }
}

async function creates(t: Test, { a, account }: Ctx, cluster: Cluster): Promise<void> {
  t.equal((await a.req('PUT', '/cre')).status, 201);
  t.equal((await a.req('PUT', '/cre/o', { body: 'first', headers: { 'if-none-match': '*' } })).status, 201, 'a new name');
  t.equal((await a.req('PUT', '/cre/o', { body: 'second', headers: { 'if-none-match': '*' } })).status, 412, 'it exists');
  t.equal((await a.req('GET', '/cre/o')).body.toString(), 'first', 'unchanged');
  const tag = await a.req('PUT', '/cre/o', { body: 'third', headers: { 'if-none-match': '"abc"' } });
  t.same([tag.status, tag.body.toString()], [400, 'If-None-Match only supports *'], "Swift's proxy takes only *");

  // One replica holding the object is enough (Swift's proxy: any 412 before the body), and the
  // replicas that lack it get nothing.
  t.equal((await a.req('PUT', '/cre/lone', { body: 'original' })).status, 201);
  const hash = hashPath({ prefix: cluster.secret.swift_hash_path_prefix, suffix: cluster.secret.swift_hash_path_suffix }, account, 'cre', 'lone');
  let removed = 0;
  for (const node of cluster.nodes) {
    const objects = join(node.devicesRoot, node.device, 'objects');
    for (const part of await readdir(objects).catch(() => [] as string[])) {
      const dir = join(objects, part, hash.slice(-3), hash);
      for (const f of await readdir(dir).catch(() => [] as string[])) {
        if (f.endsWith('.data') && removed < 2) {
          await unlink(join(dir, f));
          removed++;
        }
      }
    }
  }
  t.equal(removed, 2, 'two of three replicas lost it');
  t.equal((await a.req('PUT', '/cre/lone', { body: 'replaced', headers: { 'if-none-match': '*' } })).status, 412, 'one copy found: 412');
  t.same((await dataFiles(cluster, account, 'cre', 'lone')).map((b) => b.subarray(0, 8).toString()), ['original'], 'nothing written anywhere');

  // Concurrent creates: whatever the interleaving, never two 201s, and what is stored is the
  // winner's (or nothing at all).
  for (let i = 0; i < 8; i++) {
    const name = `race${i}`;
    const bodies = ['AAAAAAAA', 'BBBBBBBB'];
    const answers = await Promise.all(bodies.map((body) => a.req('PUT', `/cre/${name}`, { body, headers: { 'if-none-match': '*' } })));
    const won = answers.flatMap((r, j) => (r.status === 201 ? [bodies[j] as string] : []));
    t.ok(answers.every((r) => r.status === 201 || r.status === 412), `${name}: ${answers.map((r) => r.status).join(', ')}`);
    t.ok(won.length <= 1, `${name}: at most one create succeeds`);
    const stored = await eventually(
      async () => (await dataFiles(cluster, account, 'cre', name)).map((b) => b.subarray(0, 8).toString()),
      (files) => files.length === (won.length ? 3 : 0),
    );
    t.same(new Set(stored), new Set(won), `${name}: the stored copies are the winner's`);
  }
}

async function copies(t: Test, { a, account, port }: Ctx, b: Api): Promise<void> {
  const account2 = b.storageUrl.split('/').pop() as string;
  /** A request with header values sent as raw bytes (UTF-8 names unquoted, as Swift's own tests send them). */
  const raw = async (method: string, path: string, headers: Record<string, string>) => {
    const lines = Object.entries({ 'X-Auth-Token': a.token, 'Content-Length': '0', ...headers }).map(([k, v]) => Buffer.concat([Buffer.from(`${k}: `), Buffer.from(v, 'utf8')]));
    return rawRequest(port, [`${method} ${path} HTTP/1.1`, 'Host: x', 'Connection: close', ...lines]);
  };
  const body = Buffer.from('0123456789abcdefghij');
  t.equal((await a.req('PUT', '/cp')).status, 201);
  t.equal((await a.req('PUT', '/cp/src', { body, headers: { 'content-type': 'text/x-src', 'x-object-meta-color': 'red' } })).status, 201);

  // Range: Swift copies that range of the source (testCopyRange).
  const ranged = await a.req('PUT', '/cp/ranged', { headers: { 'x-copy-from': 'cp/src', range: 'bytes=5-9' } });
  t.equal(ranged.status, 201, 'X-Copy-From with Range');
  t.equal(ranged.headers['etag'], createHash('md5').update(body.subarray(5, 10)).digest('hex'));
  const got = await a.req('GET', '/cp/ranged');
  t.same([got.body.toString(), got.headers['content-type'], got.headers['x-object-meta-color']], ['56789', 'text/x-src', 'red']);
  t.equal((await a.req('COPY', '/cp/src', { headers: { destination: '/cp/ranged2', range: 'bytes=-3' } })).status, 201, 'COPY with Range');
  t.equal((await a.req('GET', '/cp/ranged2')).body.toString(), 'hij');
  t.equal((await a.req('PUT', '/cp/nope', { headers: { 'x-copy-from': 'cp/src', range: 'bytes=100-200' } })).status, 416, "an unsatisfiable range is the source read's answer");
  t.equal((await a.req('HEAD', '/cp/nope')).status, 404, 'nothing copied');
  const withBody = await a.req('PUT', '/cp/nope', { body: 'x', headers: { 'x-copy-from': 'cp/src' } });
  t.same([withBody.status, withBody.body.toString()], [400, 'Copy requests require a zero byte body']);
  // The source's X-Delete-At goes with its metadata (Swift copies every source header but a few).
  t.equal((await a.req('PUT', '/cp/expiring', { body: 'x', headers: { 'x-delete-at': '9999999990', 'x-object-meta-k': 'v' } })).status, 201);
  t.equal((await a.req('PUT', '/cp/expiring2', { headers: { 'x-copy-from': 'cp/expiring' } })).status, 201);
  t.same([(await a.req('HEAD', '/cp/expiring2')).headers['x-delete-at'], (await a.req('HEAD', '/cp/expiring2')).headers['x-object-meta-k']], ['9999999990', 'v']);
  t.equal((await a.req('PUT', '/cp/expiring3', { headers: { 'x-copy-from': 'cp/expiring', 'x-fresh-metadata': 'true' } })).status, 201);
  t.same([(await a.req('HEAD', '/cp/expiring3')).headers['x-delete-at'], (await a.req('HEAD', '/cp/expiring3')).headers['x-object-meta-k']], [undefined, undefined], 'X-Fresh-Metadata: none of it');
  t.equal((await a.req('COPY', '/cp/src')).status, 412, 'COPY without Destination');
  t.equal((await a.req('COPY', '/cp/src', { headers: { destination: 'no-slash' } })).status, 412);

  // Names as raw UTF-8 in X-Copy-From and Destination (Swift's tests send them unquoted).
  const name = 'dé/☃ x';
  t.equal((await a.req('PUT', `/cp/${encodeURIComponent(name)}`, { body: 'utf8 source' })).status, 201);
  const fromRaw = await raw('PUT', `/v1/${account}/cp/from-raw`, { 'X-Copy-From': `cp/${name}` });
  t.equal(fromRaw.status, 201, 'X-Copy-From with raw UTF-8');
  t.equal(fromRaw.header('x-copied-from')?.toString(), `cp/${encodeURIComponent('dé')}/${encodeURIComponent('☃')}%20x`, 'X-Copied-From quoted as Swift');
  t.equal((await a.req('GET', '/cp/from-raw')).body.toString(), 'utf8 source');
  const toRaw = await raw('COPY', `/v1/${account}/cp/from-raw`, { Destination: `/cp/${name} copy` });
  t.equal(toRaw.status, 201, 'Destination with raw UTF-8');
  t.equal((await a.req('GET', `/cp/${encodeURIComponent(`${name} copy`)}`)).body.toString(), 'utf8 source', 'stored under that name');
  t.equal((await a.req('PUT', '/cp/pct', { headers: { 'x-copy-from': `cp/${encodeURIComponent(name)}` } })).status, 201, 'and percent-encoded');
  const badUtf8 = await rawRequest(port, [`PUT /v1/${account}/cp/bad HTTP/1.1`, 'Host: x', 'Connection: close', `X-Auth-Token: ${a.token}`, 'Content-Length: 0', Buffer.from([...Buffer.from('X-Copy-From: cp/'), 0xff])]);
  t.same([badUtf8.status, badUtf8.body.toString()], [412, 'Invalid UTF8 or contains NULL']);

  // Cross-account copies, Swift's order: the source read (its ACL, then its existence), then the
  // destination write (its ACL, then its container). test2's "w" lets test:tester write and read.
  t.equal((await b.req('PUT', '/w', { headers: { 'x-container-write': 'test:tester', 'x-container-read': 'test:tester' } })).status, 201);
  t.equal((await b.req('PUT', '/w/theirs', { body: 'from test2' })).status, 201);
  t.equal((await b.req('PUT', '/private')).status, 201);
  const copyTo = (src: string, dest: string) => raw('COPY', `/v1/${account}/${src}`, { Destination: dest, 'Destination-Account': account2 });
  const copyFrom = (dest: string, src: string) => raw('PUT', `/v1/${account}/${dest}`, { 'X-Copy-From': src, 'X-Copy-From-Account': account2 });
  const table: Array<[string, () => Promise<{ status: number }>, number]> = [
    ['COPY into their writable container', () => copyTo('cp/src', 'w/mine'), 201],
    ['COPY of a missing source into their writable container', () => copyTo('cp/missing', 'w/x'), 404],
    ['COPY into their missing container', () => copyTo('cp/src', 'nowhere/x'), 403],
    // The source is read first: its 404 before the destination's 403 (testCopyAccount404s).
    ['COPY of a missing source into their missing container', () => copyTo('missing-ctr/x', 'nowhere/x'), 404],
    ['COPY into their private container', () => copyTo('cp/src', 'private/x'), 403],
    ['PUT from their readable container', () => copyFrom('cp/theirs', 'w/theirs'), 201],
    ['PUT from a missing object there', () => copyFrom('cp/x', 'w/missing'), 404],
    ['PUT from their missing container', () => copyFrom('cp/x', 'nowhere/x'), 403],
    // The source's 403 before the destination's 404 (testCopyFromAccountHeader404s order).
    ['PUT into my missing container from their missing container', () => copyFrom('my-missing/x', 'nowhere/x'), 403],
    ['PUT into my missing container from their object', () => copyFrom('my-missing/x', 'w/theirs'), 404],
    ['PUT from their private container', () => copyFrom('cp/x', 'private/x'), 403],
  ];
  for (const [what, send, want] of table) t.equal((await send()).status, want, what);
  t.equal((await b.req('GET', '/w/mine')).body.toString(), body.toString(), 'the copy landed in their account');
  t.equal((await a.req('GET', '/cp/theirs')).body.toString(), 'from test2');
  const badAccount = await raw('PUT', `/v1/${account}/cp/x`, { 'X-Copy-From': 'w/theirs', 'X-Copy-From-Account': 'a/b' });
  t.same([badAccount.status, badAccount.body.toString()], [412, 'Account name cannot contain slashes']);
}
