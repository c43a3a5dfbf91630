import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { startCluster } from '../helpers/cluster.js';
import { api } from '../helpers/swift-api.js';

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const SWIFT = '/usr/bin/swift';

/**
 * Object versioning (X-Versions-Enabled) through the proxy, as Swift's object_versioning: versions
 * kept in a hidden container no client can name, ?versions listings, ?version-id reads and
 * deletes, delete markers, suspension; and the swift CLI's --versions / --version-id.
 */
t.test('object versioning', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const a = await api(cluster);
  const other = await api(cluster, 'test2:tester2', 'testing2');
  const text = (r: { body: Buffer }): string => r.body.toString();
  type Entry = { name: string; version_id: string; is_latest: boolean; bytes: number; content_type: string; hash: string };
  // A listing read right after a write may miss the row on the container replica that answered
  // after the quorum: read again (at most 20 times) until it has `n` entries.
  const versions = async (c: string, n?: number): Promise<Entry[]> => {
    let out: Entry[] = [];
    for (let i = 0; i < 20; i++) {
      out = JSON.parse(text(await a.req('GET', `/${c}?versions&format=json`))) as Entry[];
      if (n === undefined || out.length === n) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return out;
  };

  t.equal((await a.req('PUT', '/v', { headers: { 'x-versions-enabled': 'true' } })).status, 201);
  t.equal((await a.req('HEAD', '/v')).headers['x-versions-enabled'], 'True');

  const p1 = await a.req('PUT', '/v/o', { body: 'one' });
  t.equal(p1.status, 201);
  const id1 = p1.headers['x-object-version-id'] as string;
  t.match(id1, /^\d{10}\.\d{5}$/);
  const p2 = await a.req('PUT', '/v/o', { body: 'second' });
  const id2 = p2.headers['x-object-version-id'] as string;
  t.not(id1, id2);
  const cur = await a.req('GET', '/v/o');
  t.equal(text(cur), 'second');
  t.equal(cur.headers['x-object-version-id'], id2);
  t.equal(text(await a.req('GET', `/v/o?version-id=${id1}`)), 'one');
  t.equal((await a.req('HEAD', `/v/o?version-id=${id1}`)).headers['content-length'], '3');

  const listing = JSON.parse(text(await a.req('GET', '/v?format=json'))) as Array<Record<string, unknown>>;
  t.equal(listing.length, 1);
  t.equal(listing[0]?.['bytes'], 6, 'the current version\'s size');
  t.equal(listing[0]?.['version_symlink'], true);
  let vs = await versions('v', 2);
  t.same(vs.map((e) => [e.name, e.version_id, e.is_latest, e.bytes]), [
    ['o', id2, true, 6],
    ['o', id1, false, 3],
  ]);

  // DELETE writes a delete marker; the versions stay.
  const del = await a.req('DELETE', '/v/o');
  t.equal(del.status, 204);
  const markerId = del.headers['x-object-version-id'] as string;
  t.equal((await a.req('GET', '/v/o')).status, 404);
  vs = await versions('v', 3);
  t.same(vs.map((e) => [e.version_id, e.is_latest, e.content_type]), [
    [markerId, true, 'application/x-deleted;swift_versions_deleted=1'],
    [id2, false, 'application/octet-stream'],
    [id1, false, 'application/octet-stream'],
  ]);
  const gone = await a.req('GET', `/v/o?version-id=${markerId}`);
  t.equal(gone.status, 404);
  t.equal(gone.headers['content-type'], 'application/x-deleted;swift_versions_deleted=1');

  // DELETE ?version-id= removes one version only.
  const dv = await a.req('DELETE', `/v/o?version-id=${id1}`);
  t.equal(dv.status, 204);
  t.equal((await a.req('GET', `/v/o?version-id=${id1}`)).status, 404);
  t.equal((await versions('v', 2)).length, 2);

  // Refusals, as Swift's.
  t.equal((await a.req('POST', `/v/o?version-id=${id2}`)).status, 400);
  t.equal((await a.req('GET', '/v/o?version-id=bogus')).status, 400);
  t.equal((await a.req('PUT', '/plain')).status, 201);
  t.equal((await a.req('GET', `/plain/x?version-id=${id2}`)).status, 400);

  // The hidden container: in no listing, and no client may name it.
  const containers = text(await a.req('GET', ''));
  t.equal(containers, 'plain\nv\n');
  const hidden = `/${encodeURIComponent('\u{10FFFF}versions\u{10FFFF}v')}`;
  t.equal((await a.req('GET', hidden)).status, 412);
  t.equal((await a.req('PUT', `${hidden}/x`, { body: 'x' })).status, 412);
  t.equal((await a.req('PUT', '/plain/link', { headers: { 'x-symlink-target': '%F4%8F%BF%BFversions%F4%8F%BF%BFv/x' } })).status, 412);
  // Another account's user reads no version.
  const theirs = await request(`${a.storageUrl}/v/o?version-id=${id2}`, { headers: { 'x-auth-token': other.token } });
  await theirs.body.dump();
  t.equal(theirs.statusCode, 403);

  // Suspended: new writes are version "null" and overwrite it.
  t.equal((await a.req('POST', '/v', { headers: { 'x-versions-enabled': 'false' } })).status, 204);
  t.equal((await a.req('HEAD', '/v')).headers['x-versions-enabled'], 'False');
  t.equal((await a.req('PUT', '/v/n', { body: 'n1' })).status, 201);
  t.equal((await a.req('PUT', '/v/n', { body: 'n2' })).status, 201);
  const nv = (await versions('v', 3)).filter((e) => e.name === 'n');
  t.same(nv.map((e) => [e.version_id, e.is_latest]), [['null', true]]);

  // A versioned container is deleted only without versions.
  t.equal((await a.req('DELETE', '/v/n')).status, 204);
  t.equal((await a.req('DELETE', '/v')).status, 409);

  await t.test('/info', async (t) => {
    const res = await request(`${cluster.proxyUrl}/info`);
    const info = (await res.body.json()) as Record<string, unknown>;
    t.ok(info['object_versioning']);
  });

  await t.test('the swift CLI', { skip: !existsSync(SWIFT) ? 'python3-swiftclient not installed (.ci/run installs it)' : false }, async (t) => {
    const work = await mkdtemp(join(tmpdir(), 'swiftcli-ov-'));
    t.teardown(() => rm(work, { recursive: true, force: true }));
    const swift = async (...args: string[]): Promise<string> => {
      const { stdout } = await run(PYTHON, [SWIFT, '-A', cluster.authUrl, '-U', 'test:tester', '-K', 'testing', ...args], { cwd: work });
      return stdout;
    };
    await swift('post', '-H', 'X-Versions-Enabled: true', 'cli');
    await writeFile(join(work, 'f.txt'), 'first\n');
    await swift('upload', 'cli', 'f.txt');
    await writeFile(join(work, 'f.txt'), 'second!\n');
    await swift('upload', 'cli', 'f.txt');
    const listed = await swift('list', '--versions', 'cli');
    const ids = [...listed.matchAll(/(\d{10}\.\d{5})/g)].map((m) => m[1] as string);
    t.equal(ids.length, 2, listed);
    await swift('download', 'cli', 'f.txt', '--version-id', ids[1] as string, '-o', join(work, 'old.txt'));
    t.equal(await readFile(join(work, 'old.txt'), 'utf8'), 'first\n');
    await swift('delete', 'cli', 'f.txt', '--version-id', ids[1] as string);
    const after = await swift('list', '--versions', 'cli');
    t.notMatch(after, ids[1] as string);
    t.match(after, ids[0] as string);
  });
});
