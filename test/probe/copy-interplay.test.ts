import t from 'tap';
import { createHash } from 'node:crypto';
import { startCluster } from '../helpers/cluster.js';
import { api } from '../helpers/swift-api.js';

/**
 * The interplay of the pipeline's stages, as Swift's: a copy is a GET of the source and a PUT of
 * the destination through the stages below the copy stage (symlinks followed unless
 * ?symlink=get, versioning of the overwritten destination), versions of large-object manifests
 * stay large objects, and PUT ?version-id= makes an old version the current one.
 */
t.test('copy and the stages below it', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const a = await api(cluster);
  const text = (r: { body: Buffer }): string => r.body.toString();
  const md5 = (s: string): string => createHash('md5').update(s).digest('hex');
  // A listing read right after a write may miss the row on a replica that answered after the quorum.
  const listing = async <T>(path: string, n: number): Promise<T[]> => {
    let out: T[] = [];
    for (let i = 0; i < 20; i++) {
      out = JSON.parse(text(await a.req('GET', path))) as T[];
      if (out.length === n) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    return out;
  };
  for (const c of ['src', 'sl', 'seg', 'arch']) t.equal((await a.req('PUT', `/${c}`)).status, 201);
  t.equal((await a.req('PUT', '/src/x', { body: 'copied body' })).status, 201);

  await t.test('a copy of a symlink copies its target, with ?symlink=get the link', async (t) => {
    t.equal((await a.req('PUT', '/sl/target', { body: 'target body', headers: { 'x-object-meta-color': 'blue' } })).status, 201);
    t.equal((await a.req('PUT', '/sl/link', { headers: { 'x-symlink-target': 'sl/target', 'content-length': '0' } })).status, 201);

    const copied = await a.req('COPY', '/sl/link', { headers: { destination: 'sl/copy' } });
    t.equal(copied.status, 201);
    t.equal(copied.headers['x-copied-from'], 'sl/link');
    t.equal(copied.headers['x-object-meta-color'], 'blue', "the target's metadata");
    t.equal(text(await a.req('GET', '/sl/copy')), 'target body');
    const plainCopy = await a.req('GET', '/sl/copy?symlink=get');
    t.equal(plainCopy.headers['x-symlink-target'], undefined, 'the copy is no link');
    t.equal(text(plainCopy), 'target body');

    const putCopy = await a.req('PUT', '/sl/copy2', { headers: { 'x-copy-from': 'sl/link', 'content-length': '0' } });
    t.equal(putCopy.status, 201);
    t.equal(text(await a.req('GET', '/sl/copy2?symlink=get')), 'target body', 'PUT with X-Copy-From too');

    const linkCopy = await a.req('COPY', '/sl/link?symlink=get', { headers: { destination: 'sl/link2' } });
    t.equal(linkCopy.status, 201);
    const link2 = await a.req('GET', '/sl/link2?symlink=get');
    t.equal(link2.headers['x-symlink-target'], 'sl/target', 'with ?symlink=get the copy is a link');
    t.equal(link2.body.length, 0);
    t.equal(text(await a.req('GET', '/sl/link2')), 'target body');
    t.equal((await a.req('PUT', '/sl/target', { body: 'changed' })).status, 201);
    t.equal(text(await a.req('GET', '/sl/link2')), 'changed', 'the copied link follows its target');
  });

  await t.test('a copy over an object of a versioned container makes a version of it', async (t) => {
    t.equal((await a.req('PUT', '/v', { headers: { 'x-versions-enabled': 'true' } })).status, 201);
    const first = await a.req('PUT', '/v/o', { body: 'first' });
    t.equal(first.status, 201);
    const copied = await a.req('COPY', '/src/x', { headers: { destination: 'v/o' } });
    t.equal(copied.status, 201);
    t.ok(copied.headers['x-object-version-id'], 'the copy is a version');
    t.equal(text(await a.req('GET', '/v/o')), 'copied body');
    type Entry = { name: string; version_id: string; is_latest: boolean };
    const versions = await listing<Entry>('/v?versions&format=json', 2);
    t.same(
      versions.map((e) => [e.version_id, e.is_latest]),
      [
        [copied.headers['x-object-version-id'], true],
        [first.headers['x-object-version-id'], false],
      ],
    );
    t.equal(text(await a.req('GET', `/v/o?version-id=${first.headers['x-object-version-id'] as string}`)), 'first');

    // ?version-id= of a copy names a version of its source (Swift's copy_get keeps the query).
    const back = await a.req('PUT', `/v/restored?version-id=${first.headers['x-object-version-id'] as string}`, { headers: { 'x-copy-from': 'v/o', 'content-length': '0' } });
    t.equal(back.status, 201);
    t.equal(text(await a.req('GET', '/v/restored')), 'first');
    const fromVersion = await a.req('COPY', `/v/o?version-id=${first.headers['x-object-version-id'] as string}`, { headers: { destination: 'src/from-version' } });
    t.equal(fromVersion.status, 201);
    t.equal(fromVersion.headers['x-copied-from-version-id'], first.headers['x-object-version-id']);
    t.equal(text(await a.req('GET', '/src/from-version')), 'first');
  });

  await t.test('a link in a versioned container stays a link as a version, and copies back', async (t) => {
    t.equal((await a.req('PUT', '/vl', { headers: { 'x-versions-enabled': 'true' } })).status, 201);
    t.equal((await a.req('PUT', '/vl/target', { body: 'target data', headers: { 'content-type': 'text/t' } })).status, 201);
    const link = await a.req('PUT', '/vl/link', { headers: { 'x-symlink-target': 'vl/target', 'content-type': 'application/symlink', 'content-length': '0' } });
    t.equal(link.status, 201);
    const h = await a.req('HEAD', '/vl/link');
    t.equal(h.status, 200, JSON.stringify(h.headers));
    t.equal(text(await a.req('GET', '/vl/link')), 'target data');
    t.equal((await a.req('PUT', '/vl/link', { body: 'not a link' })).status, 201);
    const id = link.headers['x-object-version-id'] as string;
    t.equal((await a.req('HEAD', `/vl/link?version-id=${id}&symlink=get`)).headers['content-type'], 'application/symlink');
    // The version is a link, followed as the user (it names the user's container).
    t.equal(text(await a.req('GET', `/vl/link?version-id=${id}`)), 'target data');
    t.equal((await a.req('HEAD', `/vl/link?version-id=${id}`)).headers['content-type'], 'text/t');
    const back = await a.req('COPY', `/vl/link?version-id=${id}&symlink=get`, { headers: { destination: 'vl/link' } });
    t.equal(back.status, 201);
    t.equal((await a.req('HEAD', '/vl/link')).status, 200);
    t.equal(text(await a.req('GET', '/vl/link')), 'target data');
  });

  await t.test('a copy over an object of a legacy versioned container archives it', async (t) => {
    t.equal((await a.req('PUT', '/lv', { headers: { 'x-versions-location': 'arch' } })).status, 201);
    t.equal((await a.req('PUT', '/lv/o', { body: 'old' })).status, 201);
    t.equal((await a.req('PUT', '/lv/o', { headers: { 'x-copy-from': 'src/x', 'content-length': '0' } })).status, 201);
    t.equal(text(await a.req('GET', '/lv/o')), 'copied body');
    const archived = await listing<{ name: string }>('/arch?format=json&prefix=001o/', 1);
    t.equal(archived.length, 1);
    t.equal(text(await a.req('GET', `/arch/${(archived[0] as { name: string }).name}`)), 'old');
  });

  await t.test('an overwritten SLO manifest stays a large object as a version', async (t) => {
    t.equal((await a.req('PUT', '/seg/a', { body: 'aaaa' })).status, 201);
    t.equal((await a.req('PUT', '/seg/b', { body: 'bbbbbb' })).status, 201);
    const manifest = (seg: string, body: string): string => JSON.stringify([{ path: `/seg/${seg}`, etag: md5(body), size_bytes: body.length }]);
    const putSlo = (path: string, seg: string, body: string) => a.req('PUT', `${path}?multipart-manifest=put`, { body: manifest(seg, body) });

    // Legacy versioning: the archived manifest keeps X-Static-Large-Object and its size.
    t.equal((await a.req('PUT', '/slv', { headers: { 'x-versions-location': 'arch' } })).status, 201);
    t.equal((await putSlo('/slv/m', 'a', 'aaaa')).status, 201);
    t.equal((await putSlo('/slv/m', 'b', 'bbbbbb')).status, 201);
    t.equal(text(await a.req('GET', '/slv/m')), 'bbbbbb');
    const archived = await listing<{ name: string; bytes: number }>('/arch?format=json&prefix=001m/', 1);
    t.equal(archived.length, 1);
    const name = (archived[0] as { name: string }).name;
    t.equal((archived[0] as { bytes: number }).bytes, 4, "the listing counts the large object's bytes");
    const version = await a.req('GET', `/arch/${name}`);
    t.equal(version.headers['x-static-large-object'], 'True');
    t.equal(text(version), 'aaaa', 'the archived version reads as the large object');
    t.equal((await a.req('DELETE', '/slv/m')).status, 204);
    t.equal(text(await a.req('GET', '/slv/m')), 'aaaa', 'the restored manifest too');

    // Object versioning: ?version-id= of the old manifest reads the large object.
    t.equal((await a.req('PUT', '/sov', { headers: { 'x-versions-enabled': 'true' } })).status, 201);
    const v1 = await putSlo('/sov/m', 'a', 'aaaa');
    t.equal(v1.status, 201);
    t.equal((await putSlo('/sov/m', 'b', 'bbbbbb')).status, 201);
    const old = await a.req('GET', `/sov/m?version-id=${v1.headers['x-object-version-id'] as string}`);
    t.equal(old.headers['x-static-large-object'], 'True');
    t.equal(text(old), 'aaaa');
    const current = await listing<{ name: string; bytes: number }>('/sov?format=json', 1);
    t.equal((current[0] as { bytes: number }).bytes, 6, "the link's listing counts the large object's bytes");
  });

  await t.test('an overwritten DLO manifest stays a large object as a version', async (t) => {
    t.equal((await a.req('PUT', '/seg/d1', { body: '11' })).status, 201);
    t.equal((await a.req('PUT', '/seg/d2', { body: '22' })).status, 201);
    t.equal((await a.req('PUT', '/dlv', { headers: { 'x-history-location': 'arch' } })).status, 201);
    t.equal((await a.req('PUT', '/dlv/d', { headers: { 'x-object-manifest': 'seg/d' }, body: '' })).status, 201);
    t.equal(text(await a.req('GET', '/dlv/d')), '1122');
    t.equal((await a.req('PUT', '/dlv/d', { body: 'plain' })).status, 201);
    const archived = await listing<{ name: string }>('/arch?format=json&prefix=001d/', 1);
    t.equal(archived.length, 1);
    const version = await a.req('GET', `/arch/${(archived[0] as { name: string }).name}`);
    t.equal(version.headers['x-object-manifest'], 'seg/d');
    t.equal(text(version), '1122');
  });

  await t.test('PUT ?version-id= makes that version the current one (Swift 2.30)', async (t) => {
    t.equal((await a.req('PUT', '/pv', { headers: { 'x-versions-enabled': 'true' } })).status, 201);
    const v1 = await a.req('PUT', '/pv/o', { body: 'one', headers: { 'content-type': 'text/one' } });
    t.equal((await a.req('PUT', '/pv/o', { body: 'two' })).status, 201);
    const id = v1.headers['x-object-version-id'] as string;
    const withBody = await a.req('PUT', `/pv/o?version-id=${id}`, { body: 'x' });
    t.equal(withBody.status, 400);
    t.equal(text(withBody), 'PUT version-id requests require a zero byte body');
    t.equal((await a.req('PUT', '/pv/o?version-id=1234567890.12345', { headers: { 'content-length': '0' } })).status, 404, 'no such version');
    t.equal((await a.req('PUT', `/pv/o?version-id=nonsense`, { headers: { 'content-length': '0' } })).status, 400);
    t.equal((await a.req('POST', `/pv/o?version-id=${id}`)).status, 400);
    const restored = await a.req('PUT', `/pv/o?version-id=${id}`, { headers: { 'content-length': '0' } });
    t.equal(restored.status, 201);
    t.equal(restored.headers['x-object-version-id'], id);
    const now = await a.req('GET', '/pv/o');
    t.equal(text(now), 'one');
    t.equal(now.headers['content-type'], 'text/one');
    const versions = await listing<{ version_id: string; is_latest: boolean }>('/pv?versions&format=json', 2);
    t.same(versions.find((e) => e.is_latest)?.version_id, id, 'the listing shows it as the latest');
  });

  await t.test('a static link in a versioned container: checked through its version, target type kept', async (t) => {
    t.equal((await a.req('PUT', '/vs', { headers: { 'x-versions-enabled': 'true' } })).status, 201);
    const tgt = await a.req('PUT', '/vs/t', { body: 'target object data', headers: { 'content-type': 'text/one' } });
    const put = await a.req('PUT', '/vs/l', { headers: { 'x-symlink-target': 'vs/t', 'x-symlink-target-etag': tgt.headers['etag'] as string, 'content-length': '0' } });
    t.equal(put.status, 201);
    const got = await a.req('GET', '/vs/l');
    t.equal(got.status, 200, text(got));
    t.equal(text(got), 'target object data');
    const rows = await listing<{ name: string; content_type: string; bytes: number }>('/vs?format=json', 2);
    t.same(rows.map((r) => [r.name, r.content_type, r.bytes]), [['l', 'text/one', 18], ['t', 'text/one', 18]], "the link's version has its target's type and size");
    t.equal((await a.req('PUT', '/vs/t', { body: 'updated target data' })).status, 201);
    t.equal((await a.req('GET', '/vs/l')).status, 409, 'a changed target no longer reads');
  });

  await t.test("an SLO's slo_etag reaches the listing through a version's link and a static link", async (t) => {
    t.equal((await a.req('PUT', '/seg/s1', { body: 'ssss' })).status, 201);
    const manifest = JSON.stringify([{ path: '/seg/s1', etag: md5('ssss'), size_bytes: 4 }]);
    t.equal((await a.req('PUT', '/vslo', { headers: { 'x-versions-enabled': 'true' } })).status, 201);
    const v1 = await a.req('PUT', '/vslo/m?multipart-manifest=put', { body: manifest });
    t.equal(v1.status, 201);
    const sloEtag = (await a.req('HEAD', '/vslo/m')).headers['etag'] as string;
    const manifestEtag = (await a.req('HEAD', '/vslo/m?multipart-manifest=get')).headers['etag'] as string;
    const rows = await listing<Record<string, unknown>>('/vslo?format=json', 1);
    t.equal(rows[0]?.['slo_etag'], sloEtag, "the versioned manifest's link lists slo_etag");
    t.equal(rows[0]?.['hash'], manifestEtag.replace(/"/g, ''));
    t.equal(rows[0]?.['bytes'], 4);

    // A static link to the manifest (its etag is the manifest's) lists the SLO's etag too.
    t.equal((await a.req('PUT', '/sl/static-slo', { headers: { 'x-symlink-target': 'vslo/m', 'x-symlink-target-etag': manifestEtag, 'content-length': '0' } })).status, 201);
    const links = await listing<Record<string, unknown>>('/sl?format=json&prefix=static-slo', 1);
    t.equal(links[0]?.['slo_etag'], sloEtag);
    t.equal(links[0]?.['symlink_bytes'], 4);
    t.equal(links[0]?.['hash'], 'd41d8cd98f00b204e9800998ecf8427e');

    // ?multipart-manifest=delete&version-id= deletes that version of the manifest and its segments.
    t.equal((await a.req('PUT', '/vslo/m', { body: 'plain now' })).status, 201);
    const del = await a.req('DELETE', `/vslo/m?multipart-manifest=delete&version-id=${v1.headers['x-object-version-id'] as string}`, { headers: { accept: 'application/json' } });
    t.equal(del.status, 200);
    t.equal((JSON.parse(text(del)) as Record<string, unknown>)['Number Deleted'], 2);
    const versions = await listing<{ version_id: string }>('/vslo?versions&format=json', 1);
    t.equal(versions.length, 1, 'only the plain version is left, no delete marker');
    t.equal(text(await a.req('GET', '/vslo/m')), 'plain now');
  });
});
