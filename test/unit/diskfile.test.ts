import t from 'tap';
import { createHash } from 'node:crypto';
import { mkdtemp, readdir, readFile, rm, writeFile, stat } from 'node:fs/promises';
import { closeSync, existsSync, rmdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isSwiftletError } from '../../common/errors.js';
import { Timestamp } from '../../common/timestamp.js';
import { fileChunks } from '../../storage-node/object/body-sender.js';
import {
  DataFileWriter,
  finishWrite,
  listHashes,
  listPartitions,
  listSuffixes,
  loadObject,
  readObjectInfo,
  verifyDataFile,
  writeMetaFile,
  writeTombstone,
  type OpenObject,
} from '../../storage-node/object/diskfile.js';
import { asDiskError, fsyncDirsSync, makeDirs, openTempFile, renameIntoDir } from '../../storage-node/object/fs-durable.js';
import { objectLocation, type ObjectLocation } from '../../storage-node/object/layout.js';
import { encodeTrailer, mergeMetaFile, parseTrailer, type ObjectMetadata } from '../../storage-node/object/metadata.js';
import { titleCase } from '../../common/headers.js';
import { classifyHashDirFiles } from '../../storage-node/object/ondisk.js';
import { commitWritten } from '../helpers/data-file.js';

const HASH = '0123456789abcdef0123456789abcdef';
const ts = (s: number): Timestamp => Timestamp.fromSeconds(s);

async function device(t: { teardown: (f: () => unknown) => void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'swiftlet-diskfile-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function putObject(loc: ObjectLocation, at: Timestamp, body: Buffer, extra: ObjectMetadata = {}, chunk = 7): Promise<void> {
  const w = await DataFileWriter.create(loc.devicePath, true);
  for (let i = 0; i < body.length; i += chunk) await w.write([body.subarray(i, i + chunk)]);
  await commitWritten(w, loc, at, { name: '/a/c/o', length: body.length, contentType: 'text/plain', extra });
  await finishWrite(loc);
}

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    return isSwiftletError(e) ? e.code : 'not a SwiftletError';
  }
  return undefined;
}

async function bodyOf(o: OpenObject, chunk = 5): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const b of fileChunks(o.fd, 0, o.bodyLength, chunk)) parts.push(b);
  return Buffer.concat(parts);
}

async function live(loc: ObjectLocation): Promise<OpenObject> {
  const f = await loadObject(loc, { fsync: false });
  if (f.kind !== 'live') throw new Error(`expected live, got ${f.kind}`);
  return f.object;
}

t.test('write then read round trip; the write invalidates the suffix', async (t) => {
  const dev = await device(t);
  const loc = objectLocation(dev, 7, HASH);
  const body = Buffer.from('hello, object world'.repeat(100));
  await putObject(loc, ts(1000), body, { 'X-Object-Meta-Color': 'blue' });
  t.same(await readdir(loc.hashDir), [`${ts(1000).internal}.data`]);
  t.equal(loc.suffix, 'def');
  t.equal(await readFile(join(loc.partitionDir, 'hashes.invalid'), 'utf8'), 'def\n');
  const o = await live(loc);
  t.equal(o.bodyLength, body.length);
  t.equal(o.metadata['X-Object-Meta-Color'], 'blue');
  t.equal(o.metadata.ETag, createHash('md5').update(body).digest('hex'));
  t.match(o.metadata['X-Crc32c'], /^[0-9a-f]{8}$/);
  t.ok((await bodyOf(o)).equals(body));
  await o.close();
  t.same(await readdir(join(dev, 'tmp')), [], 'no temp file left');
  const v = await verifyDataFile(join(loc.hashDir, `${ts(1000).internal}.data`));
  t.equal(v.ok, true);
  t.same(await listPartitions(dev), [7]);
  t.same(await listSuffixes(dev, 7), ['def']);
  t.same(await listHashes(dev, 7, 'def'), [HASH]);
});

t.test('small files are read whole in one go, whatever their size against the first read', async (t) => {
  const dev = await device(t);
  const loc = objectLocation(dev, 1, HASH);
  await putObject(loc, ts(1), Buffer.from('tiny'));
  const fileSize = (await stat(join(loc.hashDir, `${ts(1).internal}.data`))).size;
  for (const readFirst of [0, fileSize - 1, fileSize, fileSize + 1, 1 << 16]) {
    const f = await loadObject(loc, { fsync: false, readFirst });
    t.equal(f.kind, 'live');
    if (f.kind !== 'live') continue;
    t.equal(f.object.bodyLength, 4, `readFirst=${readFirst}`);
    t.equal(f.object.fileSize, fileSize);
    t.equal(f.object.metadata['Content-Length'], '4');
    if (f.object.body) t.equal(f.object.body.toString(), 'tiny');
    else t.equal((await bodyOf(f.object)).toString(), 'tiny');
    await f.object.close();
  }
});

t.test('zero-length body', async (t) => {
  const dev = await device(t);
  const loc = objectLocation(dev, 1, HASH);
  await putObject(loc, ts(1), Buffer.alloc(0));
  const o = await live(loc);
  t.equal(o.bodyLength, 0);
  t.equal((await bodyOf(o)).length, 0);
  await o.close();
});

t.test('newest .data wins and the older one is cleaned up', async (t) => {
  const dev = await device(t);
  const loc = objectLocation(dev, 1, HASH);
  await putObject(loc, ts(2000), Buffer.from('new'));
  await putObject(loc, ts(1000), Buffer.from('old')); // a late, older replica write
  const o = await live(loc);
  t.equal((await bodyOf(o)).toString(), 'new');
  await o.close();
  t.same(await readdir(loc.hashDir), [`${ts(2000).internal}.data`], 'older .data removed');
});

t.test('a newer .ts hides the .data; an older one does not', async (t) => {
  const dev = await device(t);
  const loc = objectLocation(dev, 1, HASH);
  await putObject(loc, ts(1000), Buffer.from('x'));
  await writeTombstone(loc, ts(500), { 'X-Timestamp': ts(500).internal }, true);
  t.equal((await loadObject(loc, { fsync: false })).kind, 'live');
  await finishWrite(loc);
  t.same(await readdir(loc.hashDir), [`${ts(1000).internal}.data`], 'older tombstone cleaned up');
  await writeTombstone(loc, ts(3000), { 'X-Timestamp': ts(3000).internal }, true);
  const f = await loadObject(loc, { fsync: false });
  t.equal(f.kind, 'deleted');
  t.equal(f.kind === 'deleted' && f.timestamp.internal, ts(3000).internal);
  await finishWrite(loc);
  t.same(await readdir(loc.hashDir), [`${ts(3000).internal}.ts`]);
});

t.test('a newer .meta replaces user metadata, keeps the rest of the .data', async (t) => {
  const dev = await device(t);
  const loc = objectLocation(dev, 1, HASH);
  await putObject(loc, ts(1000), Buffer.from('body'), { 'X-Object-Meta-Old': '1', 'Content-Encoding': 'gzip', 'X-Object-Sysmeta-Keep': 'k' });
  await writeMetaFile(loc, ts(2000), { 'X-Timestamp': ts(2000).internal, 'X-Object-Meta-New': '2' }, true);
  await finishWrite(loc);
  const o = await live(loc);
  t.equal(o.metadata['X-Object-Meta-New'], '2');
  t.equal(o.metadata['X-Object-Meta-Old'], undefined, 'old user metadata replaced');
  t.equal(o.metadata['Content-Encoding'], undefined, 'allowed headers replaced too');
  t.equal(o.metadata['X-Object-Sysmeta-Keep'], 'k', 'sysmeta kept');
  t.equal(o.metadata['Content-Type'], 'text/plain', 'content type of the .data');
  t.equal(o.metadata['Content-Length'], '4');
  t.equal(o.timestamp.internal, ts(2000).internal, 'X-Timestamp is the .meta one');
  t.equal(o.dataTimestamp.internal, ts(1000).internal);
  await o.close();
  // a second POST: the older .meta goes
  await writeMetaFile(loc, ts(3000), { 'X-Timestamp': ts(3000).internal, 'X-Object-Meta-Third': '3' }, true);
  await finishWrite(loc);
  t.same((await readdir(loc.hashDir)).sort(), [`${ts(1000).internal}.data`, `${ts(3000).internal}.meta`]);
  // a .meta older than the .data is obsolete
  await putObject(loc, ts(4000), Buffer.from('newer'));
  t.same(await readdir(loc.hashDir), [`${ts(4000).internal}.data`]);
});

t.test('content type from a .meta wins only when set after the .data', async (t) => {
  const data = { 'Content-Type': 'a/b', 'X-Timestamp': '1', ETag: 'e', 'Content-Length': '1', name: '/a/c/o' };
  const newer = mergeMetaFile(data, { 'X-Timestamp': '3', 'Content-Type': 'c/d', 'Content-Type-Timestamp': '0000000003.00000' }, ts(2));
  t.equal(newer['Content-Type'], 'c/d');
  const older = mergeMetaFile(data, { 'X-Timestamp': '3', 'Content-Type': 'c/d', 'Content-Type-Timestamp': '0000000001.00000' }, ts(2));
  t.equal(older['Content-Type'], 'a/b');
  t.equal(older['Content-Type-Timestamp'], undefined);
  t.equal(newer.ETag, 'e');
});

t.test('classifyHashDirFiles (hash_cleanup_listdir rules)', async (t) => {
  const n = (s: number, ext: string): string => `${ts(s).internal}.${ext}`;
  const names = (f: { name: string } | undefined): string | undefined => f?.name;
  let c = classifyHashDirFiles([n(1, 'data'), n(2, 'meta'), n(3, 'meta'), n(0.5, 'ts'), 'junk.tmp', '.lock']);
  t.equal(names(c.data), n(1, 'data'));
  t.equal(names(c.meta), n(3, 'meta'));
  t.same(c.obsolete.map((f) => f.name).sort(), [n(0.5, 'ts'), n(2, 'meta')].sort());
  c = classifyHashDirFiles([n(1, 'data'), n(2, 'ts'), n(3, 'meta'), n(1.5, 'meta')]);
  t.equal(c.data, undefined);
  t.equal(names(c.tombstone), n(2, 'ts'));
  t.same(c.obsolete.map((f) => f.name).sort(), [n(1, 'data'), n(1.5, 'meta')].sort(), 'a .meta newer than the tombstone is left alone');
  c = classifyHashDirFiles([n(5, 'data'), n(5, 'ts')]);
  t.equal(names(c.tombstone), n(5, 'ts'), 'a tie goes to the tombstone');
  c = classifyHashDirFiles([n(5, 'meta')]);
  t.same(c, { obsolete: [] }, 'orphan .meta: no object, nothing removed');
  t.same(classifyHashDirFiles([]), { obsolete: [] });
});

t.test('trailer encoding and parsing', async (t) => {
  const meta = { name: '/a/c/ö', 'Content-Length': '3' };
  const file = Buffer.concat([Buffer.from('abc'), encodeTrailer(meta)]);
  const p = parseTrailer(file, file.length);
  t.same(p, { ok: true, metadata: meta, bodyLength: 3 });
  const short = parseTrailer(file.subarray(file.length - 14), file.length);
  t.same(short, { ok: false, need: file.length - 3 }, 'asks for more when the tail read is short');
  const bad = Buffer.from(file);
  bad[bad.length - 1] = 0x42; // "SWLTMETB"
  t.equal(codeOf(() => parseTrailer(bad, bad.length)), 'CORRUPT');
  const wrongLen = Buffer.concat([Buffer.from('abcd'), encodeTrailer(meta)]);
  t.equal(codeOf(() => parseTrailer(wrongLen, wrongLen.length)), 'CORRUPT', 'Content-Length must match');
  t.equal(codeOf(() => parseTrailer(Buffer.from('SWLTMETA'), 8)), 'CORRUPT');
});

t.test('metadata bigger than one tail read', async (t) => {
  const dev = await device(t);
  const loc = objectLocation(dev, 1, HASH);
  const big = 'v'.repeat(10000);
  await putObject(loc, ts(1), Buffer.from('data'), { 'X-Object-Meta-Big': big });
  const o = await live(loc);
  t.equal(o.metadata['X-Object-Meta-Big'], big);
  t.equal((await bodyOf(o)).toString(), 'data');
  await o.close();
});

t.test('a corrupt .data is quarantined and reads as missing', async (t) => {
  const dev = await device(t);
  const loc = objectLocation(dev, 3, HASH);
  await putObject(loc, ts(1), Buffer.from('payload'));
  const path = join(loc.hashDir, `${ts(1).internal}.data`);
  const raw = await readFile(path);
  raw[raw.length - 2] ^= 0xff; // break the magic
  await writeFile(path, raw);
  t.equal((await loadObject(loc, { fsync: true })).kind, 'quarantined');
  t.same(await readdir(loc.hashDir), []);
  t.same(await readdir(join(dev, 'quarantined', 'objects', HASH)), [`${ts(1).internal}.data`]);
  t.match(await readFile(join(loc.partitionDir, 'hashes.invalid'), 'utf8'), /def\n$/);
  t.equal((await loadObject(loc, { fsync: true })).kind, 'missing');
});

t.test('verifyDataFile catches a flipped body byte', async (t) => {
  const dev = await device(t);
  const loc = objectLocation(dev, 3, HASH);
  await putObject(loc, ts(1), Buffer.from('payload'.repeat(50)));
  const path = join(loc.hashDir, `${ts(1).internal}.data`);
  const raw = await readFile(path);
  raw[10] ^= 0x01;
  await writeFile(path, raw);
  const v = await verifyDataFile(path, 64);
  t.equal(v.ok, false);
  t.match(v.ok ? '' : v.reason, /crc32c/);
  const info = await readObjectInfo(loc, false);
  t.equal(info.kind, 'live', 'the trailer still parses: only a body check finds it');
});

t.test('tmp dir is created on demand; abort leaves nothing', async (t) => {
  const dev = await device(t);
  const w = await DataFileWriter.create(dev, false);
  await w.write([Buffer.from('abc')]);
  t.equal((await readdir(join(dev, 'tmp'))).length, 1);
  await w.abort();
  await w.abort();
  t.same(await readdir(join(dev, 'tmp')), []);
  // the lazy writer buffers small bodies: no temp file until it has FLUSH_BYTES or commits
  const lazy = new DataFileWriter(dev, false);
  await lazy.write([Buffer.alloc(1000)]);
  t.same(await readdir(join(dev, 'tmp')), []);
  await lazy.write([Buffer.alloc(DataFileWriter.FLUSH_BYTES)]);
  t.equal((await readdir(join(dev, 'tmp'))).length, 1, 'flushed past the threshold');
  t.equal(lazy.bytesWritten, 1000 + DataFileWriter.FLUSH_BYTES);
  await lazy.abort();
  t.same(await readdir(join(dev, 'tmp')), []);
});

t.test('a body written across several flushes reads back intact', async (t) => {
  const dev = await device(t);
  const loc = objectLocation(dev, 9, HASH);
  const body = Buffer.from(Array.from({ length: 3 * DataFileWriter.FLUSH_BYTES + 123 }, (_, i) => i % 251));
  await putObject(loc, ts(5), body, {}, 70_000);
  const o = await live(loc);
  t.ok((await bodyOf(o, 65_536)).equals(body));
  await o.close();
  t.equal((await verifyDataFile(join(loc.hashDir, `${ts(5).internal}.data`))).ok, true);
});

t.test('disk full errors become DISK_FULL', async (t) => {
  const e = asDiskError(Object.assign(new Error('no space'), { code: 'ENOSPC' }), 'x');
  t.ok(isSwiftletError(e, 'DISK_FULL'));
  t.ok(isSwiftletError(asDiskError(Object.assign(new Error('quota'), { code: 'EDQUOT' }), 'x'), 'DISK_FULL'));
  const other = new Error('eio');
  t.equal(asDiskError(other, 'x'), other);
});

t.test('titleCase is Python str.title()', async (t) => {
  t.equal(titleCase('x-object-meta-color'), 'X-Object-Meta-Color');
  t.equal(titleCase('x-object-meta-foo2bar'), 'X-Object-Meta-Foo2Bar');
  t.equal(titleCase('x-delete-at'), 'X-Delete-At');
});

t.test('makeDirs reports the parents whose entries changed; fsyncDirsSync syncs them and fails loudly on a missing one', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'swiftlet-fsyncdirs-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const leaf = join(root, 'objects', '7', 'abc', 'hash');
  const parents = makeDirs(leaf, root);
  t.ok(existsSync(leaf), 'the whole chain was made');
  t.same(parents.sort(), [root, join(root, 'objects'), join(root, 'objects', '7'), join(root, 'objects', '7', 'abc')].sort(), 'every parent that gained an entry');
  t.doesNotThrow(() => fsyncDirsSync([...parents, ...parents]), 'existing folders (duplicates synced once)');
  t.throws(() => fsyncDirsSync([join(root, 'gone')]), { code: 'ENOENT' }, 'a folder that is not there is an error, not skipped');
});

t.test('a rename into a new hash dir survives someone removing the empty dir meanwhile (a concurrent REPLICATE cleanup)', async (t) => {
  const root = await device(t);
  const hashDir = join(root, 'objects', '7', 'def', HASH);
  for (const fsync of [true, false]) {
    const tmp = await openTempFile(root);
    closeSync(tmp.fd);
    const done = renameIntoDir(tmp.path, hashDir, `${fsync}.data`, root, fsync);
    let settled = false;
    void done.then(
      () => (settled = true),
      () => (settled = true),
    );
    // What hashing the suffix does to a hash dir it finds empty: remove it (and the suffix dir).
    let removed = 0;
    while (!settled) {
      try {
        rmdirSync(hashDir);
        removed++;
      } catch {
        /* not there, or not empty: the file is in */
      }
      await new Promise((r) => setImmediate(r));
    }
    await t.resolves(done, `fsync ${fsync}: stored`);
    t.same(await readdir(hashDir), [`${fsync}.data`]);
    t.equal(removed, 0, `fsync ${fsync}: the new dir was never left empty for the cleanup`);
    await rm(hashDir, { recursive: true });
  }
});
