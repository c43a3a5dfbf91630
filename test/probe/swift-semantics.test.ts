import t, { type Test } from 'tap';
import { readdir, readFile, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { hashPath } from '../../common/hash-path.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';
import { api, type Api } from '../helpers/swift-api.js';

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
