import t from 'tap';
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { SeededRandom } from '../../common/random.js';
import { createChecksum, type ChecksumAlgorithm } from '../../proxy/s3/checksums.js';
import { startCluster } from '../helpers/cluster.js';
import { awsSigner } from '../helpers/aws-signer.js';

const MiB = 1024 * 1024;

async function sum(alg: ChecksumAlgorithm, data: Buffer): Promise<string> {
  const c = createChecksum(alg);
  c.update(data);
  return c.digest();
}

/**
 * S3 multipart uploads against a real cluster (proxy + storage nodes as processes): parts in each
 * body mode, the paging of ListParts and ListMultipartUploads, every error AWS names for Complete,
 * the ETag and checksums of the object, GET by part number, UploadPartCopy, abort and delete
 * reclaiming the parts, and the object read through Swift as the SLO it is.
 */
t.test('S3 multipart uploads through a real cluster', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const url = new URL(cluster.proxyUrl);
  const signer = awsSigner('test:tester', 'testing');
  type Answer = { status: number; text: string; body: Buffer; headers: Record<string, string> };
  const send = async (method: string, path: string, query: Record<string, string>, headers: Record<string, string> = {}, body?: Buffer | string): Promise<Answer> => {
    const payload = body === undefined ? '' : body;
    const all = { host: url.host, 'x-amz-content-sha256': headers['x-amz-content-sha256'] ?? createHash('sha256').update(payload).digest('hex'), ...headers };
    const signed = (await signer.sign({ method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path, query, headers: all } as never)) as unknown as { headers: Record<string, string> };
    const qs = new URLSearchParams(query).toString();
    const res = await request(`${cluster.proxyUrl}${path}${qs ? `?${qs}` : ''}`, { method: method as 'PUT', headers: signed.headers, ...(body !== undefined ? { body } : {}) });
    const buf = Buffer.from(await res.body.arrayBuffer());
    return { status: res.statusCode, text: buf.toString('utf8'), body: buf, headers: res.headers as Record<string, string> };
  };
  const code = (a: Answer): string => /<Code>([^<]*)<\/Code>/.exec(a.text)?.[1] ?? `(${a.status}: ${a.text.slice(0, 200)})`;
  const tag = (xml: string, name: string): string[] => [...xml.matchAll(new RegExp(`<${name}>([^<]*)</${name}>`, 'g'))].map((m) => (m[1] as string).replace(/&quot;/g, '"'));
  const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');
  const s3Etag = (parts: Buffer[]): string => `"${createHash('md5').update(Buffer.concat(parts.map((p) => createHash('md5').update(p).digest()))).digest('hex')}-${parts.length}"`;
  const completeDoc = (parts: Array<{ n: number; etag: string; crc?: string; alg?: string }>): string =>
    `<CompleteMultipartUpload>${parts.map((p) => `<Part><PartNumber>${p.n}</PartNumber><ETag>${p.etag}</ETag>${p.crc ? `<Checksum${p.alg ?? 'CRC32'}>${p.crc}</Checksum${p.alg ?? 'CRC32'}>` : ''}</Part>`).join('')}</CompleteMultipartUpload>`;
  const create = async (key: string, headers: Record<string, string> = {}): Promise<string> => {
    const r = await send('POST', `/mpb/${key}`, { uploads: '' }, headers);
    t.equal(r.status, 200, r.text);
    return tag(r.text, 'UploadId')[0] as string;
  };
  // Swift's view, as the same user
  const auth = await request(cluster.authUrl, { headers: { 'x-auth-user': 'test:tester', 'x-auth-key': 'testing' } });
  await auth.body.dump();
  const token = auth.headers['x-auth-token'] as string;
  const storage = auth.headers['x-storage-url'] as string;
  const swiftGet = async (path: string, query = ''): Promise<{ status: number; body: Buffer; headers: Record<string, string> }> => {
    const r = await request(`${storage}${path}${query}`, { headers: { 'x-auth-token': token } });
    return { status: r.statusCode, body: Buffer.from(await r.body.arrayBuffer()), headers: r.headers as Record<string, string> };
  };
  const segmentNames = async (): Promise<string[]> => {
    const r = await swiftGet('/mpb+segments', '?format=json');
    return r.status === 200 ? (JSON.parse(r.body.toString()) as Array<{ name: string }>).map((o) => o.name) : [];
  };

  t.equal((await send('PUT', '/mpb', {})).status, 200);
  const rng = new SeededRandom(2024);
  const data = (n: number): Buffer => Buffer.from(Array.from({ length: n }, () => rng.int(256)));
  const p1 = data(5 * MiB);
  const p2 = data(5 * MiB);
  const p3 = data(123_457);

  await t.test('create, upload parts in three body modes with CRC32, list, complete', async (t) => {
    const id = await create('dir/big.bin', { 'x-amz-checksum-algorithm': 'CRC32', 'content-type': 'text/x-mp', 'x-amz-meta-color': 'green' });
    // part 1: signed payload hash, CRC32 header, Content-MD5
    const r1 = await send('PUT', '/mpb/dir/big.bin', { partNumber: '1', uploadId: id }, { 'x-amz-checksum-crc32': await sum('CRC32', p1), 'content-md5': createHash('md5').update(p1).digest('base64') }, p1);
    t.equal(r1.status, 200, r1.text);
    t.equal(r1.headers['etag'], `"${md5(p1)}"`);
    t.equal(r1.headers['x-amz-checksum-crc32'], await sum('CRC32', p1));
    // part 2: aws-chunked, unsigned, the CRC32 in a trailer (stored after the part)
    const crc2 = await sum('CRC32', p2);
    const chunked = Buffer.concat([Buffer.from(`${p2.length.toString(16)}\r\n`), p2, Buffer.from(`\r\n0\r\nx-amz-checksum-crc32:${crc2}\r\n\r\n`)]);
    const r2 = await send(
      'PUT',
      '/mpb/dir/big.bin',
      { partNumber: '2', uploadId: id },
      { 'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER', 'content-encoding': 'aws-chunked', 'x-amz-decoded-content-length': String(p2.length), 'x-amz-trailer': 'x-amz-checksum-crc32', 'content-length': String(chunked.length) },
      chunked,
    );
    t.equal(r2.status, 200, r2.text);
    t.equal(r2.headers['x-amz-checksum-crc32'], crc2, 'the trailer checksum comes back');
    // part 3: UNSIGNED-PAYLOAD, no checksum sent: computed here in the upload's algorithm
    const r3 = await send('PUT', '/mpb/dir/big.bin', { partNumber: '3', uploadId: id }, { 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' }, p3);
    t.equal(r3.status, 200, r3.text);
    t.equal(r3.headers['x-amz-checksum-crc32'], await sum('CRC32', p3), 'computed for a part that sent none');
    // a part whose checksum is another algorithm, and a bad CRC: refused, nothing stored
    t.equal(code(await send('PUT', '/mpb/dir/big.bin', { partNumber: '4', uploadId: id }, { 'x-amz-checksum-crc32c': await sum('CRC32C', p3) }, p3)), 'InvalidRequest');
    t.equal(code(await send('PUT', '/mpb/dir/big.bin', { partNumber: '4', uploadId: id }, { 'x-amz-checksum-crc32': await sum('CRC32', p1) }, p3)), 'BadDigest');
    for (const n of ['0', '10001']) t.equal(code(await send('PUT', '/mpb/dir/big.bin', { partNumber: n, uploadId: id }, {}, 'x')), 'InvalidArgument', `part ${n}`);
    t.equal(code(await send('PUT', '/mpb/dir/big.bin', { partNumber: '1', uploadId: 'nosuchuploadatall' }, {}, 'x')), 'NoSuchUpload');

    // ListParts, two pages
    const l1 = await send('GET', '/mpb/dir/big.bin', { uploadId: id, 'max-parts': '2' });
    t.same(tag(l1.text, 'PartNumber'), ['1', '2']);
    t.same(tag(l1.text, 'IsTruncated'), ['true']);
    t.same(tag(l1.text, 'NextPartNumberMarker'), ['2']);
    t.same(tag(l1.text, 'ChecksumAlgorithm'), ['CRC32']);
    const l2 = await send('GET', '/mpb/dir/big.bin', { uploadId: id, 'part-number-marker': '2' });
    t.same(tag(l2.text, 'PartNumber'), ['3']);
    t.same(tag(l2.text, 'Size'), [String(p3.length)]);
    // ListMultipartUploads; the segments container is no bucket
    const lu = await send('GET', '/mpb', { uploads: '' });
    t.same(tag(lu.text, 'UploadId'), [id]);
    t.same(tag(lu.text, 'Key'), ['dir/big.bin']);
    t.same(tag((await send('GET', '/', {})).text, 'Name'), ['mpb'], 'ListBuckets hides mpb+segments');

    // Complete's errors
    const crcs = [await sum('CRC32', p1), crc2, await sum('CRC32', p3)];
    const good = [
      { n: 1, etag: `"${md5(p1)}"`, crc: crcs[0] },
      { n: 2, etag: `"${md5(p2)}"`, crc: crcs[1] },
      { n: 3, etag: `"${md5(p3)}"`, crc: crcs[2] },
    ];
    const complete = (doc: string, headers: Record<string, string> = {}): Promise<Answer> => send('POST', '/mpb/dir/big.bin', { uploadId: id }, headers, doc);
    t.equal(code(await complete(completeDoc([good[1], good[0]] as never))), 'InvalidPartOrder');
    t.equal(code(await complete(completeDoc([{ n: 1, etag: '"0000"', crc: crcs[0] }]))), 'InvalidPart');
    t.equal(code(await complete(completeDoc([good[2], { n: 4, etag: `"${md5(p3)}"`, crc: crcs[2] }] as never))), 'InvalidPart', 'a part never stored');
    t.equal(code(await complete(completeDoc([good[0], { ...good[1], crc: crcs[0] }] as never))), 'InvalidPart', "another part's checksum");
    t.equal(code(await complete(completeDoc([good[0], { n: 2, etag: good[1]?.etag as string }] as never))), 'InvalidRequest', 'COMPOSITE: a part without its checksum');
    t.equal(code(await complete('<CompleteMultipartUpload></CompleteMultipartUpload>')), 'MalformedXML');

    const done = await complete(completeDoc(good as never));
    t.equal(done.status, 200, done.text);
    t.match(done.text, /^<\?xml version="1.0" encoding="UTF-8"\?>\n\s*<CompleteMultipartUploadResult/, 'the declaration first, then the result');
    t.same(tag(done.text, 'ETag'), [s3Etag([p1, p2, p3])], 'ETag: md5 of the part md5s, -3');
    const composite = `${await sum('CRC32', Buffer.concat(crcs.map((c) => Buffer.from(c as string, 'base64'))))}-3`;
    t.same(tag(done.text, 'ChecksumCRC32'), [composite]);
    t.same(tag(done.text, 'ChecksumType'), ['COMPOSITE']);
    const again = await complete(completeDoc(good as never));
    t.same(tag(again.text, 'ETag'), [s3Etag([p1, p2, p3])], 'a retried Complete answers the same');
    t.same(tag((await send('GET', '/mpb', { uploads: '' })).text, 'UploadId'), [], 'the upload is no longer listed');

    // the object
    const whole = Buffer.concat([p1, p2, p3]);
    const got = await send('GET', '/mpb/dir/big.bin', {}, { 'x-amz-checksum-mode': 'ENABLED' });
    t.equal(got.status, 200);
    t.ok(got.body.equals(whole), 'the bytes');
    t.equal(got.headers['etag'], s3Etag([p1, p2, p3]));
    t.equal(got.headers['content-type'], 'text/x-mp');
    t.equal(got.headers['x-amz-meta-color'], 'green');
    t.equal(got.headers['x-amz-checksum-crc32'], composite);
    t.equal(got.headers['x-amz-checksum-type'], 'COMPOSITE');
    const part2 = await send('GET', '/mpb/dir/big.bin', { partNumber: '2' });
    t.equal(part2.status, 206);
    t.ok(part2.body.equals(p2), 'GET partNumber=2 is the second part');
    t.equal(part2.headers['x-amz-mp-parts-count'], '3');
    t.equal(part2.headers['content-range'], `bytes ${p1.length}-${p1.length + p2.length - 1}/${whole.length}`);
    const head3 = await send('HEAD', '/mpb/dir/big.bin', { partNumber: '3' });
    t.equal(head3.status, 206);
    t.equal(head3.headers['content-length'], String(p3.length));
    t.equal(head3.headers['x-amz-mp-parts-count'], '3');
    t.equal((await send('GET', '/mpb/dir/big.bin', { partNumber: '4' })).status, 416, 'InvalidPartNumber');
    const list = await send('GET', '/mpb', { 'list-type': '2', prefix: 'dir/' });
    t.same(tag(list.text, 'ETag'), [s3Etag([p1, p2, p3])], 'the listing gives the S3 ETag');
    t.same(tag(list.text, 'Size'), [String(whole.length)]);
    // through Swift: an SLO whose segments are the parts
    const sw = await swiftGet('/mpb/dir/big.bin');
    t.equal(sw.status, 200);
    t.ok(sw.body.equals(whole), 'Swift reads the same bytes');
    t.equal(sw.headers['x-static-large-object'], 'True');
    t.same((await segmentNames()).filter((n) => n.startsWith('dir/big.bin/')).length, 3, 'three parts, the marker gone');

    // If-None-Match: * onto an existing key: the error comes after the 200, in the body
    const id2 = await create('dir/big.bin');
    const q1 = await send('PUT', '/mpb/dir/big.bin', { partNumber: '1', uploadId: id2 }, {}, p3);
    const late = await send('POST', '/mpb/dir/big.bin', { uploadId: id2 }, { 'if-none-match': '*' }, completeDoc([{ n: 1, etag: q1.headers['etag'] as string }]));
    t.equal(late.status, 200);
    t.equal(code(late), 'PreconditionFailed', 'an error after the 200 is in the body');
    t.equal((await send('DELETE', '/mpb/dir/big.bin', { uploadId: id2 })).status, 204);

    // DeleteObject takes the parts with it
    t.equal((await send('DELETE', '/mpb/dir/big.bin', {})).status, 204);
    t.same((await segmentNames()).filter((n) => n.startsWith('dir/big.bin/')), [], 'the segments are gone');
    t.equal((await send('HEAD', '/mpb/dir/big.bin', {})).status, 404);
  });

  await t.test('EntityTooSmall, abort, FULL_OBJECT CRC32C, UploadPartCopy with a range', async (t) => {
    const small = await create('small');
    const s1 = await send('PUT', '/mpb/small', { partNumber: '1', uploadId: small }, {}, p3);
    const s2 = await send('PUT', '/mpb/small', { partNumber: '2', uploadId: small }, {}, p3);
    t.equal(code(await send('POST', '/mpb/small', { uploadId: small }, {}, completeDoc([{ n: 1, etag: s1.headers['etag'] as string }, { n: 2, etag: s2.headers['etag'] as string }]))), 'EntityTooSmall');
    t.equal((await send('DELETE', '/mpb/small', { uploadId: small })).status, 204, 'AbortMultipartUpload');
    t.same((await segmentNames()).filter((n) => n.startsWith('small/')), [], 'its parts and marker are gone');
    t.equal(code(await send('GET', '/mpb/small', { uploadId: small })), 'NoSuchUpload');
    t.equal(code(await send('DELETE', '/mpb/small', { uploadId: small })), 'NoSuchUpload');

    const full = await create('full', { 'x-amz-checksum-algorithm': 'CRC32C', 'x-amz-checksum-type': 'FULL_OBJECT' });
    const f1 = await send('PUT', '/mpb/full', { partNumber: '1', uploadId: full }, { 'x-amz-checksum-crc32c': await sum('CRC32C', p1) }, p1);
    const f2 = await send('PUT', '/mpb/full', { partNumber: '2', uploadId: full }, { 'x-amz-checksum-crc32c': await sum('CRC32C', p3) }, p3);
    const whole = Buffer.concat([p1, p3]);
    const wrong = await send('POST', '/mpb/full', { uploadId: full }, { 'x-amz-checksum-crc32c': await sum('CRC32C', p1) }, completeDoc([{ n: 1, etag: f1.headers['etag'] as string }, { n: 2, etag: f2.headers['etag'] as string }]));
    t.equal(code(wrong), 'BadDigest', "a full-object checksum that is not the object's");
    const done = await send('POST', '/mpb/full', { uploadId: full }, { 'x-amz-checksum-crc32c': await sum('CRC32C', whole) }, completeDoc([{ n: 1, etag: f1.headers['etag'] as string }, { n: 2, etag: f2.headers['etag'] as string }]));
    t.same(tag(done.text, 'ChecksumCRC32C'), [await sum('CRC32C', whole)], done.text);
    t.same(tag(done.text, 'ChecksumCRC32C'), [await sum('CRC32C', whole)], "FULL_OBJECT: the whole object's CRC32C, from the parts'");
    t.same(tag(done.text, 'ChecksumType'), ['FULL_OBJECT']);

    // UploadPartCopy: the first 5 MiB of `full`, then a ranged copy of its tail
    const copy = await create('copied');
    const c1 = await send('PUT', '/mpb/copied', { partNumber: '1', uploadId: copy }, { 'x-amz-copy-source': '/mpb/full', 'x-amz-copy-source-range': `bytes=0-${5 * MiB - 1}` });
    t.equal(c1.status, 200, c1.text);
    t.same(tag(c1.text, 'ETag'), [`"${md5(p1)}"`]);
    const c2 = await send('PUT', '/mpb/copied', { partNumber: '2', uploadId: copy }, { 'x-amz-copy-source': '/mpb/full', 'x-amz-copy-source-range': `bytes=${5 * MiB}-${whole.length - 1}` });
    t.equal(c2.status, 200, c2.text);
    t.equal(code(await send('PUT', '/mpb/copied', { partNumber: '3', uploadId: copy }, { 'x-amz-copy-source': '/mpb/full', 'x-amz-copy-source-range': `bytes=0-${whole.length}` })), 'InvalidArgument', 'a range past the end');
    t.equal(code(await send('PUT', '/mpb/copied', { partNumber: '3', uploadId: copy }, { 'x-amz-copy-source': '/mpb/nope' })), 'NoSuchKey');
    const cd = await send('POST', '/mpb/copied', { uploadId: copy }, {}, completeDoc([{ n: 1, etag: `"${md5(p1)}"` }, { n: 2, etag: `"${md5(p3)}"` }]));
    t.equal(cd.status, 200, cd.text);
    t.ok((await send('GET', '/mpb/copied', {})).body.equals(whole), 'the copied parts make the same bytes');

    // DeleteObjects takes each multipart object's parts with it, as DeleteObject does
    const batch = '<Delete><Object><Key>full</Key></Object><Object><Key>copied</Key></Object><Object><Key>never-there</Key></Object></Delete>';
    const deleted = await send('POST', '/mpb', { delete: '' }, { 'content-md5': createHash('md5').update(batch).digest('base64') }, batch);
    t.equal(deleted.status, 200, deleted.text);
    t.same(tag(deleted.text, 'Key'), ['full', 'copied', 'never-there'], 'every key deleted');
    t.same((await segmentNames()).filter((n) => n.startsWith('full/') || n.startsWith('copied/')), [], 'their segments are gone');
    t.equal((await send('HEAD', '/mpb/full', {})).status, 404);
  });
});
