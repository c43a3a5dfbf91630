import t from 'tap';
import { createHash } from 'node:crypto';
import { SeededRandom } from '../../common/random.js';
import { createChecksum, type ChecksumAlgorithm } from '../../proxy/s3/checksums.js';
import { isS3Error } from '../../proxy/s3/errors.js';
import {
  compositeChecksum,
  fullObjectChecksum,
  isUploadId,
  MIN_PART_SIZE,
  multipartEtag,
  pageParts,
  pageUploads,
  parseCompleteDocument,
  parsePartNumber,
  partNumberOf,
  partRange,
  planCompletion,
  uploadChecksum,
  uploadIdOf,
  uploadsOf,
  type StoredPart,
  type UploadRow,
} from '../../proxy/s3/multipart-core.js';

async function sum(alg: ChecksumAlgorithm, data: Buffer): Promise<string> {
  const c = createChecksum(alg);
  c.update(data);
  return c.digest();
}

function bytes(rng: SeededRandom, n: number): Buffer {
  return Buffer.from(Array.from({ length: n }, () => rng.int(256)));
}

const code = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (e) {
    return isS3Error(e) ? e.code : String(e);
  }
};

t.test("the ETag: md5 of the parts' binary md5s, -N (as AWS computes it)", async (t) => {
  const rng = new SeededRandom(1);
  const parts = [bytes(rng, 1000), bytes(rng, 10), bytes(rng, 1)];
  const md5s = parts.map((p) => createHash('md5').update(p).digest());
  const want = `${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-3`;
  t.equal(multipartEtag(md5s.map((m) => m.toString('hex'))), want);
  t.not(multipartEtag(md5s.map((m) => m.toString('hex'))).replace(/-3$/, ''), createHash('md5').update(Buffer.concat(parts)).digest('hex'), 'not the md5 of the data');
});

t.test('a FULL_OBJECT checksum combined from the parts is the CRC of the whole object (seeded)', async (t) => {
  const rng = new SeededRandom(24);
  for (const alg of ['CRC32', 'CRC32C', 'CRC64NVME'] as const) {
    for (let round = 0; round < 4; round++) {
      const n = 1 + rng.int(5);
      const parts = Array.from({ length: n }, () => bytes(rng, rng.int(5) === 0 ? 0 : rng.int(3000)));
      const values = await Promise.all(parts.map(async (p) => ({ value: await sum(alg, p), size: p.length })));
      t.equal(fullObjectChecksum(alg, values), await sum(alg, Buffer.concat(parts)), `${alg}, ${parts.map((p) => p.length).join('+')} bytes`);
    }
  }
  t.equal(code(() => fullObjectChecksum('SHA256', [])), 'InvalidRequest', 'only the CRCs combine');
});

t.test("a COMPOSITE checksum: the algorithm over the parts' binary checksums, -N", async (t) => {
  const rng = new SeededRandom(7);
  for (const alg of ['CRC32', 'CRC32C', 'SHA1', 'SHA256'] as const) {
    const parts = [bytes(rng, 500), bytes(rng, 300)];
    const values = await Promise.all(parts.map((p) => sum(alg, p)));
    const want = `${await sum(alg, Buffer.concat(values.map((v) => Buffer.from(v, 'base64'))))}-2`;
    t.equal(await compositeChecksum(alg, values), want, alg);
  }
});

t.test('upload checksum settings follow AWS: CRC64NVME full-object only, SHA composite only', async (t) => {
  t.same(uploadChecksum('CRC32', undefined), { algorithm: 'CRC32', type: 'COMPOSITE' });
  t.same(uploadChecksum('crc64nvme', undefined), { algorithm: 'CRC64NVME', type: 'FULL_OBJECT' });
  t.same(uploadChecksum('CRC32C', 'FULL_OBJECT'), { algorithm: 'CRC32C', type: 'FULL_OBJECT' });
  t.equal(uploadChecksum(undefined, undefined), undefined);
  t.equal(code(() => uploadChecksum('SHA256', 'FULL_OBJECT')), 'InvalidRequest');
  t.equal(code(() => uploadChecksum('CRC64NVME', 'COMPOSITE')), 'InvalidRequest');
  t.equal(code(() => uploadChecksum('MD5', undefined)), 'InvalidRequest');
  t.equal(code(() => uploadChecksum(undefined, 'COMPOSITE')), 'InvalidRequest');
});

t.test('names and numbers', async (t) => {
  t.equal(parsePartNumber('1'), 1);
  t.equal(parsePartNumber('10000'), 10000);
  for (const bad of ['0', '10001', '-1', '1.5', 'x', '', null]) t.equal(code(() => parsePartNumber(bad)), 'InvalidArgument', `part number ${String(bad)}`);
  const rng = new SeededRandom(9);
  for (let i = 0; i < 50; i++) {
    const id = uploadIdOf(Buffer.from(Array.from({ length: 18 }, () => rng.int(256))));
    t.ok(isUploadId(id), `${id} is an upload id`);
  }
  t.ok(isUploadId(uploadIdOf(Buffer.from([0xd7, 0x6d, 0xf8, 0xd7, 0x6d, 0xf8]))), 'even from bytes whose base64 is all digits');
  for (const bad of ['', '12345678', '../../x', 'a/b', 'a'.repeat(65)]) t.notOk(isUploadId(bad), `not an upload id: ${bad}`);
  t.equal(partNumberOf('k/up/12', 'k/up/'), 12);
  t.equal(partNumberOf('k/up/012', 'k/up/'), undefined);
  t.equal(partNumberOf('k/up/10001', 'k/up/'), undefined);
  t.equal(partNumberOf('k/other/1', 'k/up/'), undefined);
  t.same(partRange([5, 5, 2], 2), [5, 9]);
  t.same(partRange([5, 5, 2], 3), [10, 11]);
  t.equal(partRange([5, 5, 2], 4), undefined);
});

t.test('the CompleteMultipartUpload document', async (t) => {
  const doc = (parts: string): string => `<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${parts}</CompleteMultipartUpload>`;
  const part = (n: number | string, etag = 'abc', extra = ''): string => `<Part><PartNumber>${n}</PartNumber><ETag>"${etag}"</ETag>${extra}</Part>`;
  t.same(parseCompleteDocument(doc(part(1) + part(3, 'def', '<ChecksumCRC32>AAAAAA==</ChecksumCRC32>'))), [
    { partNumber: 1, etag: 'abc', checksums: {} },
    { partNumber: 3, etag: 'def', checksums: { CRC32: 'AAAAAA==' } },
  ]);
  t.equal(code(() => parseCompleteDocument(doc(part(2) + part(1)))), 'InvalidPartOrder');
  t.equal(code(() => parseCompleteDocument(doc(part(2) + part(2)))), 'InvalidPartOrder', 'a part twice');
  t.equal(code(() => parseCompleteDocument(doc(''))), 'MalformedXML', 'no part');
  t.equal(code(() => parseCompleteDocument(doc(part('x')))), 'MalformedXML');
  t.equal(code(() => parseCompleteDocument(doc(part(10001)))), 'InvalidArgument');
  t.equal(code(() => parseCompleteDocument('<Other/>')), 'MalformedXML');
  t.equal(code(() => parseCompleteDocument('<!DOCTYPE x [<!ENTITY a "b">]><CompleteMultipartUpload/>')), 'MalformedXML');
});

t.test('completion checks: InvalidPart, EntityTooSmall, checksums', async (t) => {
  const big = MIN_PART_SIZE;
  const stored = new Map<number, StoredPart>([
    [1, { partNumber: 1, etag: 'e1', size: big, lastModified: '', checksum: 'AAAAAQ==' }],
    [2, { partNumber: 2, etag: 'e2', size: big - 1, lastModified: '', checksum: 'AAAAAg==' }],
    [3, { partNumber: 3, etag: 'e3', size: 10, lastModified: '', checksum: 'AAAAAw==' }],
  ]);
  const ask = (...ps: Array<[number, string, string?]>) => ps.map(([partNumber, etag, crc]) => ({ partNumber, etag, checksums: crc ? { CRC32: crc } : {} }));
  const plan = planCompletion(ask([1, 'e1'], [3, 'e3']), stored, { uploadId: 'u' });
  t.same(plan.parts.map((p) => p.partNumber), [1, 3], 'parts may be skipped; the last may be small');
  t.equal(plan.size, big + 10);
  t.equal(plan.etag, multipartEtag(['e1', 'e3']));
  t.equal(code(() => planCompletion(ask([1, 'e1'], [4, 'e4']), stored, { uploadId: 'u' })), 'InvalidPart', 'a part never uploaded');
  t.equal(code(() => planCompletion(ask([1, 'zz']), stored, { uploadId: 'u' })), 'InvalidPart', 'another ETag');
  t.equal(code(() => planCompletion(ask([2, 'e2'], [3, 'e3']), stored, { uploadId: 'u' })), 'EntityTooSmall', 'a small part before the last');
  const composite = { uploadId: 'u', checksum: { algorithm: 'CRC32' as const, type: 'COMPOSITE' as const } };
  t.equal(code(() => planCompletion(ask([1, 'e1', 'AAAAAQ==']), stored, composite)), 'ok');
  t.equal(code(() => planCompletion(ask([1, 'e1']), stored, composite)), 'InvalidRequest', 'COMPOSITE: each part must carry its checksum');
  t.equal(code(() => planCompletion(ask([1, 'e1', 'AAAAAg==']), stored, composite)), 'InvalidPart', "a part's checksum that is not the stored one");
  const full = { uploadId: 'u', checksum: { algorithm: 'CRC32' as const, type: 'FULL_OBJECT' as const } };
  t.equal(code(() => planCompletion(ask([1, 'e1']), stored, full)), 'ok', 'FULL_OBJECT: part checksums are optional');
});

t.test('ListMultipartUploads pages: every upload once, in key order, however the pages fall (seeded)', async (t) => {
  const rng = new SeededRandom(11);
  const keys = ['a', 'a/b', 'a/c/d', 'b', 'b/x', 'c', 'é'];
  const rows: Array<{ name: string; last_modified: string }> = [];
  const all: UploadRow[] = [];
  for (const key of keys) {
    for (let i = 0; i < 1 + rng.int(3); i++) {
      const id = uploadIdOf(Buffer.from(Array.from({ length: 18 }, () => rng.int(256))));
      rows.push({ name: `${key}/${id}`, last_modified: '2026-01-01T00:00:00.000000' });
      for (let p = 1; p <= rng.int(3); p++) rows.push({ name: `${key}/${id}/${p}`, last_modified: '' });
      all.push({ key, uploadId: id, initiated: '2026-01-01T00:00:00.000000' });
    }
  }
  rng.shuffle(rows);
  const parsed = uploadsOf(rows);
  t.equal(parsed.length, all.length, 'parts are not uploads');
  const order = (u: UploadRow): string => `${u.key}\u0000${u.uploadId}`;
  const want = all.map(order).sort();
  for (const max of [1, 2, 3, 1000]) {
    const seen: string[] = [];
    let keyMarker = '';
    let uploadIdMarker = '';
    for (let guard = 0; guard < 100; guard++) {
      const page = pageUploads(parsed, { prefix: '', delimiter: '', keyMarker, uploadIdMarker, maxUploads: max });
      t.ok(page.uploads.length <= max);
      seen.push(...page.uploads.map(order));
      if (!page.truncated) break;
      keyMarker = page.nextKeyMarker as string;
      uploadIdMarker = page.nextUploadIdMarker as string;
    }
    t.same(seen, want, `pages of ${max}`);
  }
  const folded = pageUploads(parsed, { prefix: 'a', delimiter: '/', keyMarker: '', uploadIdMarker: '', maxUploads: 1000 });
  t.same([...new Set(folded.uploads.map((u) => u.key))], ['a'], 'a prefix and a delimiter');
  t.same(folded.prefixes, ['a/']);
  const under = pageUploads(parsed, { prefix: 'a/', delimiter: '/', keyMarker: '', uploadIdMarker: '', maxUploads: 1000 });
  t.same([...new Set(under.uploads.map((u) => u.key))], ['a/b']);
  t.same(under.prefixes, ['a/c/']);
});

t.test('ListParts pages', async (t) => {
  const parts: StoredPart[] = [10, 2, 1, 3].map((n) => ({ partNumber: n, etag: `e${n}`, size: n, lastModified: '' }));
  const p1 = pageParts(parts, 0, 2);
  t.same(p1.parts.map((p) => p.partNumber), [1, 2], 'by number, not by name');
  t.ok(p1.truncated);
  t.equal(p1.next, 2);
  const p2 = pageParts(parts, p1.next, 2);
  t.same(p2.parts.map((p) => p.partNumber), [3, 10]);
  t.notOk(p2.truncated);
  t.same(pageParts(parts, 10, 2), { parts: [], truncated: false, next: 10 });
});
