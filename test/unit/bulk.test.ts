import t from 'tap';
import { execFileSync } from 'node:child_process';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { pack } from 'tar-stream';
import { SeededRandom } from '../../common/random.js';
import { archiveCompression, archiveMembers, ArchiveError, paxHeaders } from '../../proxy/middleware/bulk/archive.js';
import { BulkRefusal, DeleteList, extractBase, isContainerName, memberPath, quoteBytes, utf8Name } from '../../proxy/middleware/bulk/names.js';
import { bestFormat, reportBody } from '../../proxy/bulk-report.js';
import { pyJson } from '../../proxy/py-json.js';

t.test('Accept picks the report format as swob best_match does', async (t) => {
  t.equal(bestFormat(undefined), 'text/plain');
  t.equal(bestFormat('application/json'), 'application/json');
  t.equal(bestFormat('text/xml'), 'text/xml');
  t.equal(bestFormat('application/xml;q=0.5, application/json;q=0.9'), 'application/json');
  t.equal(bestFormat('*/*'), 'text/plain');
  t.equal(bestFormat('application/*'), 'application/json');
  t.equal(bestFormat('image/png'), undefined, 'nothing acceptable');
  t.equal(bestFormat('application/json;q=0'), undefined, 'q=0 is a refusal');
  t.equal(bestFormat('bogus'), undefined, 'a header that does not parse');
});

t.test('reports in Swift byte for byte', async (t) => {
  const fields = { 'Response Status': '400 Bad Request', 'Response Body': '', 'Number Files Created': 2 };
  const errors: [string, string][] = [['/c/%E2%98%83&<', '413 Request Entity Too Large']];
  t.equal(
    reportBody('application/json', { ...fields }, errors, 'extract'),
    '{"Response Status": "400 Bad Request", "Response Body": "", "Number Files Created": 2, "Errors": [["/c/%E2%98%83&<", "413 Request Entity Too Large"]]}',
  );
  t.equal(
    reportBody('text/xml', fields, errors, 'extract'),
    '<extract>\n<number_files_created>2</number_files_created>\n<response_body></response_body>\n<response_status>400 Bad Request</response_status>\n' +
      '<errors>\n<object><name>/c/%E2%98%83&amp;&lt;</name><status>413 Request Entity Too Large</status></object>\n</errors>\n</extract>\n',
  );
  t.equal(
    reportBody('text/plain', { 'Response Status': '200 OK', 'Response Body': '', 'Number Deleted': 1, 'Number Not Found': 0 }, [['c', '409 Conflict']], 'delete'),
    'Number Deleted: 1\nNumber Not Found: 0\nResponse Body: \nResponse Status: 200 OK\nErrors:\nc, 409 Conflict\n',
  );
  t.equal(pyJson({ a: 'é"', b: [1, 'x'] }), '{"a": "\\u00e9\\"", "b": [1, "x"]}', 'ensure_ascii and separators');
});

t.test('the delete list: split anywhere, decoded, limited', async (t) => {
  const body = Buffer.from('/c/o%20one\n\n  c/%E2%98%83  \r\nc\n/c2/', 'latin1');
  const want = ['/c/o one', 'c/☃', 'c', '/c2/'];
  for (let cut = 0; cut <= body.length; cut++) {
    const list = new DeleteList(10);
    list.push(body.subarray(0, cut));
    list.push(body.subarray(cut));
    t.same(list.end().map((b) => b.toString('utf8')), want, `cut at ${cut}`);
  }
  const many = new DeleteList(2);
  t.throws(() => many.push(Buffer.from('a\nb\nc\n')), new BulkRefusal(413, 'Maximum Bulk Deletes: 2 per request'));
  const long = new DeleteList(2);
  t.throws(() => long.push(Buffer.alloc(3000, 0x61)), new BulkRefusal(400, 'Invalid File Name'));
  t.equal(isContainerName(Buffer.from('/c2/')), true);
  t.equal(isContainerName(Buffer.from('c/o')), false);
  t.equal(utf8Name(Buffer.from([0x63, 0xff])), undefined, 'not UTF-8');
  t.equal(utf8Name(Buffer.from('c\u0000')), undefined, 'NUL');
  t.equal(quoteBytes(Buffer.from([0x2f, 0x63, 0xff, 0x20])), '/c%FF%20');
});

t.test('where members land (Swift: ./ and leading / dropped, base prefixed, top-level files skipped)', async (t) => {
  const b = (s: string) => Buffer.from(s);
  const at = (name: string, base: string) => memberPath(b(name), extractBase(b(base)))?.toString();
  t.equal(at('c/o', ''), 'c/o');
  t.equal(at('./c/o', ''), 'c/o');
  t.equal(at('/abs/x', ''), 'abs/x', 'an absolute name is rebased into the account');
  t.equal(at('top.txt', ''), undefined, 'maps to no container');
  t.equal(at('top.txt', 'c//'), 'c/top.txt');
  t.equal(at('../up/x', 'c/pre'), 'c/pre/../up/x', '".." is part of a name, never a way out of the account');
  t.same(archiveCompression('.TAR.GZ.'), 'gz');
  t.same(archiveCompression('tar'), '');
  t.same(archiveCompression('tar.bz2'), 'bz2');
  t.equal(archiveCompression('zip'), undefined);
  t.same(paxHeaders({ 'SCHILY.xattr.user.mime_type': 'text/x-py', 'LIBARCHIVE.xattr.user.meta.Lunch': 'burger', 'SCHILY.xattr.user.stuff': 'no', mtime: '1' }), {
    'content-type': 'text/x-py',
    'x-object-meta-lunch': 'burger',
  });
});

/** A tar of `files` made by tar-stream's packer (the proxy tests use GNU tar's). */
async function makeTar(files: [string, Buffer][]): Promise<Buffer> {
  const p = pack();
  for (const [name, data] of files) p.entry({ name, size: data.length }, data);
  p.finalize();
  const chunks: Buffer[] = [];
  for await (const c of p) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function readAll(source: Readable, compression: '' | 'gz' | 'bz2'): Promise<{ members: [string, string][]; error?: unknown }> {
  const members: [string, string][] = [];
  try {
    for await (const m of archiveMembers(source, compression)) {
      const chunks: Buffer[] = [];
      try {
        for await (const c of m.body) chunks.push(c as Buffer);
      } catch {
        /* the archive broke inside this member: its iterator says so next */
      }
      members.push([m.name.toString('utf8'), Buffer.concat(chunks).toString('utf8')]);
    }
    return { members };
  } catch (error) {
    return { members, error };
  }
}

t.test('archive members stream in order; a skipped member does not hold up the next', async (t) => {
  const tar = await makeTar([
    ['c/a', Buffer.from('alpha')],
    ['c/é', Buffer.from('')],
    ['c/b', Buffer.from('bravo')],
  ]);
  t.same((await readAll(Readable.from([tar]), '')).members, [
    ['c/a', 'alpha'],
    ['c/é', ''],
    ['c/b', 'bravo'],
  ]);
  t.same((await readAll(Readable.from([execFileSync('bzip2', ['-c'], { input: tar })]), 'bz2')).members.length, 3, 'bzip2 too, to its end');
  const names: string[] = [];
  for await (const m of archiveMembers(Readable.from([gzipSync(tar)]), 'gz')) names.push(m.name.toString()); // never reads a body
  t.same(names, ['c/a', 'c/é', 'c/b']);
});

t.test('seeded fuzz: corrupted and truncated archives end in an ArchiveError, never a crash or a hang', async (t) => {
  const seed = Number(process.env.BULK_FUZZ_SEED ?? 2323);
  t.comment(`seed ${seed}`);
  const rnd = new SeededRandom(seed);
  const files: [string, Buffer][] = [];
  for (let i = 0; i < 6; i++) files.push([`c/f${i}`, Buffer.alloc(rnd.int(3000), 0x41 + i)]);
  const tar = await makeTar(files);
  const encoded = { '': tar, gz: gzipSync(tar), bz2: execFileSync('bzip2', ['-c'], { input: tar }) } as const;
  let errors = 0;
  for (let round = 0; round < 150; round++) {
    const compression = (['', 'gz', 'bz2'] as const)[rnd.int(3)] as '' | 'gz' | 'bz2';
    const base = Buffer.from(encoded[compression]);
    const kind = rnd.int(3);
    let input: Buffer;
    if (kind === 0) input = base.subarray(0, rnd.int(base.length));
    else if (kind === 1) {
      input = base;
      for (let k = 0; k < 1 + rnd.int(8); k++) input[rnd.int(input.length)] = rnd.int(256);
    } else input = Buffer.concat([base.subarray(0, rnd.int(base.length)), Buffer.from(Array.from({ length: 512 }, () => rnd.int(256)))]);
    // Split into random chunks, as a socket delivers it.
    const chunks: Buffer[] = [];
    for (let i = 0; i < input.length; ) {
      const n = 1 + rnd.int(700);
      chunks.push(input.subarray(i, i + n));
      i += n;
    }
    const { error } = await readAll(Readable.from(chunks), compression);
    if (error !== undefined) {
      errors++;
      if (!(error instanceof ArchiveError)) t.fail(`round ${round} (${compression || 'tar'}): ${String(error)}`);
    }
  }
  t.ok(errors > 50, `most corruptions are caught (${errors} of 150)`);
});
