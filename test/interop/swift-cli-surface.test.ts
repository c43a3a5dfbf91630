import t from 'tap';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startCluster } from '../helpers/cluster.js';
import { curl, seededBytes, swiftSession, SWIFT } from '../helpers/client-tools.js';

/**
 * The rest of the swift CLI's surface (swift-cli*.test.ts and swift-tempurl.test.ts have the rest):
 * DLO uploads into --segment-container, re-uploads and --skip-identical, container ACLs set with
 * post -r/-w and used by other users, object versioning with list --versions, copy with metadata,
 * capabilities.
 */
t.test('swift CLI: segment containers, ACLs, versions, copy, capabilities', { skip: !existsSync(SWIFT) ? 'python3-swiftclient not installed (.ci/run installs it)' : false }, async (t) => {
  const cluster = await startCluster();
  const work = await mkdtemp(join(tmpdir(), 'swiftcli-surface-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  const session = swiftSession(cluster, work);
  t.teardown(() => session.close());
  const swift = session.as('test:tester', 'testing');
  const swift2 = session.as('test2:tester2', 'testing2');
  // tester3: a user of the same account without the admin group (tempauth's test:tester3).
  const swift3 = session.as('test:tester3', 'testing3');
  const { storageUrl } = await cluster.token();
  /** The CLI's failure: its stderr (a success is a test failure). */
  const fails = (p: Promise<string>): Promise<string> => p.then(
    (out) => `succeeded: ${out}`,
    (e: { stderr?: string }) => e.stderr ?? '',
  );

  const data = seededBytes(2_500_000, 7);
  await writeFile(join(work, 'mid.bin'), data);

  await t.test('upload -S (DLO) --segment-container; re-upload; --skip-identical; delete takes the segments', async (t) => {
    t.equal(await swift('upload', '-S', '1000000', '--segment-container', 'dsegs', 'dlo', 'mid.bin').then((o) => o.split('\n').sort().join('\n')), '\nmid.bin\nmid.bin segment 0\nmid.bin segment 1\nmid.bin segment 2');
    const stat = await swift('stat', 'dlo', 'mid.bin');
    t.match(stat, /Content Length: 2500000/);
    t.match(stat, /Manifest: dsegs\/mid\.bin\/\d+\.\d+\/2500000\/1000000\//);
    const segs = (await swift('list', 'dsegs')).trim().split('\n');
    t.equal(segs.length, 3);
    await swift('download', 'dlo', 'mid.bin', '-o', join(work, 'dlo.out'));
    t.ok((await readFile(join(work, 'dlo.out'))).equals(data), 'download returns the bytes');
    // --skip-identical compares the local file with the segments listed: nothing is sent.
    t.equal(await swift('upload', '-S', '1000000', '--skip-identical', '--segment-container', 'dsegs', 'dlo', 'mid.bin'), 'mid.bin\n');
    t.same((await swift('list', 'dsegs')).trim().split('\n'), segs);
    t.match(await swift('download', '--skip-identical', 'dlo', 'mid.bin'), /Skipped identical file 'mid\.bin'/);
    // A new upload over it in other segments: swiftclient deletes the old ones (it reads the old manifest).
    await writeFile(join(work, 'mid.bin'), data.subarray(0, 1_500_000));
    await swift('upload', '-S', '1000000', '--segment-container', 'dsegs', 'dlo', 'mid.bin');
    const again = (await swift('list', 'dsegs')).trim().split('\n');
    t.equal(again.length, 2);
    t.ok(again.every((s) => s.includes('/1500000/')), 'only the new upload\'s segments are left');
    await writeFile(join(work, 'mid.bin'), data);
    await swift('delete', 'dlo', 'mid.bin');
    t.equal(await swift('list', 'dsegs'), '', 'deleting the manifest deleted its segments');
    t.equal(await swift('list', 'dlo'), '');
  });

  await t.test('upload -S --use-slo over a DLO, then delete: the segments of both go', async (t) => {
    await swift('upload', '-S', '1000000', '--segment-container', 'segs', 'lo', 'mid.bin');
    await swift('upload', '-S', '1000000', '--use-slo', '--segment-container', 'segs', 'lo', 'mid.bin');
    t.match(await swift('stat', 'lo', 'mid.bin'), /X-Static-Large-Object: True/);
    t.match(await swift('list', 'segs'), /^mid\.bin\/slo\//m);
    t.notMatch(await swift('list', 'segs'), /^mid\.bin\/\d/m, 'the DLO\'s segments went when the SLO replaced it');
    t.match(await swift('download', '--skip-identical', 'lo', 'mid.bin', '-o', join(work, 'mid.bin')), /Skipped identical file/);
    await swift('delete', 'lo', 'mid.bin');
    t.equal(await swift('list', 'segs'), '');
  });

  await t.test('post -r / -w: another account\'s user reads, then writes; .r:* for anyone', async (t) => {
    await writeFile(join(work, 'note.txt'), 'shared note\n');
    await swift('upload', 'shared', 'note.txt');
    const theirs = ['--os-storage-url', storageUrl];
    t.match(await fails(swift2(...theirs, 'list', 'shared')), /403 Forbidden/, 'no ACL: 403');
    t.match(await fails(swift3(...theirs, 'list', 'shared')), /403 Forbidden/, 'a non-admin user of the account too');

    await swift('post', '-r', 'test2:tester2,test:tester3', 'shared');
    const stat = await swift('stat', 'shared');
    t.match(stat, /Read ACL: test2:tester2,test:tester3/);
    t.equal(await swift2(...theirs, 'list', 'shared'), 'note.txt\n');
    t.equal(await swift3(...theirs, 'list', 'shared'), 'note.txt\n');
    await swift2(...theirs, 'download', 'shared', 'note.txt', '-o', join(work, 'note.out'));
    t.equal(await readFile(join(work, 'note.out'), 'utf8'), 'shared note\n');
    await writeFile(join(work, 'reply.txt'), 'a reply\n');
    t.match(await fails(swift2(...theirs, 'upload', 'shared', 'reply.txt')), /Object PUT failed: .* 403 Forbidden/, 'read is not write');

    await swift('post', '-w', 'test2:tester2', 'shared');
    t.match(await swift('stat', 'shared'), /Write ACL: test2:tester2/);
    await swift2(...theirs, 'upload', 'shared', 'reply.txt');
    t.equal(await swift('list', 'shared'), 'note.txt\nreply.txt\n');
    await swift2(...theirs, 'delete', 'shared', 'reply.txt');
    t.equal(await swift('list', 'shared'), 'note.txt\n');
    t.match(await fails(swift3(...theirs, 'upload', 'shared', 'reply.txt')), /403 Forbidden/, 'the write ACL names test2:tester2 only');

    const anonymous = `${storageUrl}/shared/note.txt`;
    t.equal((await curl(anonymous)).status, 401, 'anonymous, no ACL: 401');
    await swift('post', '-r', '.r:*,.rlistings', 'shared');
    const got = await curl(anonymous);
    t.equal(got.status, 200);
    t.equal(got.body, 'shared note\n');
    t.equal((await curl(`${storageUrl}/shared`)).body, 'note.txt\n', '.rlistings: the listing too');
    await swift('post', '-r', '.r:*', 'shared');
    t.equal((await curl(`${storageUrl}/shared`)).status, 401, 'without .rlistings no listing');
    t.equal((await curl(anonymous)).status, 200);
    await swift('post', '-r', '', 'shared');
    t.equal((await curl(anonymous)).status, 401, 'the ACL removed');
    t.match(await fails(swift2(...theirs, 'list', 'shared')), /403 Forbidden/);
  });

  await t.test('post -H "X-Versions-Enabled: true", then list --versions, --version-id, delete markers', async (t) => {
    await swift('post', '-H', 'X-Versions-Enabled: true', 'ver');
    t.match(await swift('stat', 'ver'), /X-Versions-Enabled: True/);
    for (const body of ['one\n', 'two!\n', 'three!!\n']) {
      await writeFile(join(work, 'f.txt'), body);
      await swift('upload', 'ver', 'f.txt');
    }
    const parse = (out: string) => out.trim().split('\n').map((l) => l.trim().split(/\s+/)).map((f) => ({ bytes: Number(f[0]), id: f[3] ?? '', type: f[4], name: f[5] }));
    const versions = parse(await swift('list', '--versions', 'ver'));
    t.same(versions.map((v) => [v.bytes, v.name]), [[8, 'f.txt'], [5, 'f.txt'], [4, 'f.txt']], 'newest first, each with its version id');
    t.ok(versions.every((v) => /^\d+\.\d{5}$/.test(v.id)), 'version ids');
    t.equal(await swift('list', 'ver'), 'f.txt\n', 'the plain listing: the latest only');
    const [latest, middle, oldest] = versions.map((v) => v.id);
    t.equal(await swift('download', 'ver', 'f.txt', '--version-id', middle ?? '', '-o', '-'), 'two!\n');
    t.match(await swift('stat', 'ver', 'f.txt', '--version-id', oldest ?? ''), /Content Length: 4/);
    t.equal(await swift('download', 'ver', 'f.txt', '-o', '-'), 'three!!\n');

    await swift('delete', 'ver', 'f.txt');
    t.equal(await swift('list', 'ver'), '', 'deleted: gone from the listing');
    const afterDelete = parse(await swift('list', '--versions', 'ver'));
    t.equal(afterDelete.length, 4);
    t.same([afterDelete[0]?.bytes, afterDelete[0]?.type], [0, 'application/x-deleted;swift_versions_deleted=1'], 'a delete marker on top');
    t.equal(await swift('download', 'ver', 'f.txt', '--version-id', latest ?? '', '-o', '-'), 'three!!\n', 'older versions stay readable');
    await swift('delete', 'ver', 'f.txt', '--version-id', middle ?? '');
    t.same(parse(await swift('list', '--versions', 'ver')).map((v) => v.id).slice(1), [latest, oldest], 'one version deleted by id');
    await swift('delete', 'ver', '--versions');
    t.notMatch(await swift('list'), /^ver$/m, 'delete --versions: every version, then the container');
  });

  await t.test('copy with -m and --fresh-metadata', async (t) => {
    await swift('post', '-m', 'color:blue', 'shared', 'note.txt');
    await swift('copy', '-m', 'size:big', 'shared', 'note.txt', '--destination', '/shared/kept');
    const kept = await swift('stat', 'shared', 'kept');
    t.match(kept, /Meta Color: blue/);
    t.match(kept, /Meta Size: big/);
    await swift('copy', '--fresh-metadata', '-m', 'size:small', 'shared', 'note.txt', '--destination', '/shared/fresh');
    const fresh = await swift('stat', 'shared', 'fresh');
    t.notMatch(fresh, /Meta Color/);
    t.match(fresh, /Meta Size: small/);
    t.equal(await swift('download', 'shared', 'fresh', '-o', '-'), 'shared note\n');
  });

  await t.test('capabilities: the middlewares Swift registers, as Swift names them', async (t) => {
    const caps = JSON.parse(await swift('capabilities', '--json')) as Record<string, Record<string, unknown>>;
    for (const name of ['swift', 'account_quotas', 'bulk_delete', 'bulk_upload', 'container_quotas', 'formpost', 'object_versioning', 'slo', 'staticweb', 'symlink', 'tempauth', 'tempurl', 'versioned_writes']) {
      t.ok(caps[name], name);
    }
    t.equal(caps['swift']?.['max_file_size'], 5368709122);
    t.same(caps['tempauth'], { account_acls: true });
    const text = await swift('capabilities');
    t.match(text, /^Core: swift$/m);
    t.match(text, /^Additional middleware: slo$/m);
  });
});
