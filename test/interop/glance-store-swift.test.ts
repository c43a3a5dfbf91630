import t from 'tap';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { request } from 'undici';
import { startCluster } from '../helpers/cluster.js';
import { pythonSession, seededBytes } from '../helpers/client-tools.js';

const GLANCE_STORE = '/usr/lib/python3/dist-packages/glance_store';
/** The script that drives glance_store (kept with the test's source: it is not compiled). */
const SCRIPT = resolve('test/interop/glance-store-swift.py');
/** glance_store's "MB" (swift_store_large_object_chunk_size = 1): 1000 KiB. */
const GLANCE_MB = 1000 * 1024;

/**
 * Swiftlet as Glance's image store: Debian's glance_store swift driver (single tenant, auth v1
 * against tempauth, 1 MB chunks) adds an image larger than a chunk as a DLO, gets it back, deletes it
 * with its segments.
 */
t.test('glance_store\'s swift driver: add, get, delete an image larger than its chunk size', { skip: !existsSync(GLANCE_STORE) ? 'python3-glance-store not installed (.ci/run installs it)' : false }, async (t) => {
  const cluster = await startCluster();
  const work = await mkdtemp(join(tmpdir(), 'glance-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  type Answer = { location?: string; size?: number; checksum?: string; multihash?: string; md5?: string; bytes_read?: number; deleted?: boolean; error?: string; message?: string };
  // One glance_store process for the whole test; a command a line, an answer a line.
  const py = pythonSession(SCRIPT, [cluster.authUrl, 'test:tester', 'testing', 'images'], work);
  t.teardown(py.close);
  const glance = async (...command: Array<string | number>): Promise<Answer> => JSON.parse(await py.ask(command)) as Answer;
  const { token, storageUrl } = await cluster.token();
  const call = async (method: string, path: string) => {
    const res = await request(`${storageUrl}${path}`, { method: method as 'GET', headers: { 'x-auth-token': token } });
    return { status: res.statusCode, headers: res.headers as Record<string, string>, text: await res.body.text() };
  };
  const listing = async (): Promise<Array<{ name: string; bytes: number }>> => {
    const res = await call('GET', '/images?format=json');
    return res.status === 200 ? (JSON.parse(res.text) as Array<{ name: string; bytes: number }>) : [];
  };
  const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');
  const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

  const image = seededBytes(3 * GLANCE_MB + 428_000, 5);
  await writeFile(join(work, 'image.raw'), image);

  for (const [label, id, told] of [
    ['its size told: chunks of exactly 1 MB', '8b5a4b9e-1d2f-4c1e-9a57-3c1f0e6d2a01', image.length],
    ['its size not told (0): chunks read up to 1 MB', '8b5a4b9e-1d2f-4c1e-9a57-3c1f0e6d2a02', 0],
  ] as const) {
    await t.test(`an image, ${label}`, async (t) => {
      const added = await glance('add', id, join(work, 'image.raw'), told);
      t.notOk(added.error, added.message ?? 'added');
      t.equal(added.size, image.length);
      t.equal(added.checksum, md5(image));
      t.equal(added.multihash, sha256(image));
      t.match(added.location, new RegExp(`^swift\\+http://test%3Atester:testing@127\\.0\\.0\\.1:\\d+/auth/v1\\.0/images/${id}$`));

      // Glance's layout: the manifest (a DLO over "<id>-") next to its segments <id>-00001...
      t.same(
        (await listing()).map((o) => [o.name, o.bytes]),
        [[id, 0], [`${id}-00001`, GLANCE_MB], [`${id}-00002`, GLANCE_MB], [`${id}-00003`, GLANCE_MB], [`${id}-00004`, 428_000]],
      );
      const head = await call('HEAD', `/images/${id}`);
      t.equal(head.headers['x-object-manifest'], `images/${id}-`);
      t.equal(head.headers['content-length'], String(image.length));

      const got = await glance('get', added.location ?? '');
      t.same(got, { size: image.length, md5: md5(image), bytes_read: image.length }, 'the same bytes back');

      t.same(await glance('delete', added.location ?? ''), { deleted: true });
      t.same(await listing(), [], 'the manifest and every segment are gone');
      t.equal((await glance('get', added.location ?? '')).error, 'NotFound');
      t.equal((await glance('delete', added.location ?? '')).error, 'NotFound');
    });
  }

  await t.test('an image under the large-object size: one object', async (t) => {
    const small = seededBytes(500_000, 6);
    await writeFile(join(work, 'small.raw'), small);
    const added = await glance('add', 'small-image', join(work, 'small.raw'), small.length);
    t.equal(added.checksum, md5(small));
    t.same((await listing()).map((o) => [o.name, o.bytes]), [['small-image', small.length]]);
    t.equal((await call('HEAD', '/images/small-image')).headers['etag'], md5(small));
    t.same(await glance('get', added.location ?? ''), { size: small.length, md5: md5(small), bytes_read: small.length });
    t.same(await glance('delete', added.location ?? ''), { deleted: true });
    t.same(await listing(), []);
  });
});
