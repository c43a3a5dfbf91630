import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CreateBucketCommand, GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { seededBytes, PYTHON, swiftAs } from '../helpers/client-tools.js';
import { startCluster } from '../helpers/cluster.js';

const run = promisify(execFile);
const AWS = '/usr/bin/aws';
const MiB = 1024 * 1024;

/** The ETag S3 gives a multipart object cut into parts of `size`. */
function multipartEtag(data: Buffer, size: number): string {
  const md5s: Buffer[] = [];
  for (let at = 0; at < data.length; at += size) md5s.push(createHash('md5').update(data.subarray(at, at + size)).digest());
  return `"${createHash('md5').update(Buffer.concat(md5s)).digest('hex')}-${md5s.length}"`;
}

/**
 * Multipart uploads as S3 clients make them: awscli's `s3 cp` above its threshold and the s3api
 * upload calls, boto3's upload_file forced into parts, and the latest AWS JS SDK's lib-storage
 * Upload with its defaults (CRC32 per part, a COMPOSITE object checksum); each object then read
 * back by the client and by the swift CLI.
 */
t.test('multipart uploads from awscli, boto3 and the AWS JS SDK', async (t) => {
  const cluster = await startCluster();
  const work = await mkdtemp(join(tmpdir(), 's3-mpu-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  const endpoint = cluster.proxyUrl;
  // awscli's multipart settings come from its config file: parts of 5 MiB above 8 MiB
  await writeFile(join(work, 'aws-config'), '[default]\ns3 =\n  multipart_threshold = 8MB\n  multipart_chunksize = 5MB\n');
  const env = { ...process.env, AWS_ACCESS_KEY_ID: 'test:tester', AWS_SECRET_ACCESS_KEY: 'testing', AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: join(work, 'aws-config'), AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
  delete (env as Record<string, string | undefined>).AWS_CA_BUNDLE;
  const aws = async (...args: string[]): Promise<string> => (await run(AWS, ['--endpoint-url', endpoint, ...args], { env, cwd: work, maxBuffer: 16 << 20 })).stdout;
  const swift = swiftAs(cluster, work, 'test:tester', 'testing');

  await t.test('awscli: s3 cp in parts, s3api list-multipart-uploads / list-parts / abort', async (t) => {
    const body = seededBytes(12 * MiB + 12345, 1);
    await writeFile(join(work, 'f.bin'), body);
    await aws('s3', 'mb', 's3://clib');
    await aws('s3', 'cp', join(work, 'f.bin'), 's3://clib/f.bin');
    const head = JSON.parse(await aws('s3api', 'head-object', '--bucket', 'clib', '--key', 'f.bin')) as { ETag: string; ContentLength: number };
    t.equal(head.ETag, multipartEtag(body, 5 * MiB), 'uploaded in 5 MiB parts: the multipart ETag');
    t.equal(head.ContentLength, body.length);
    await aws('s3', 'cp', 's3://clib/f.bin', join(work, 'back.bin'));
    t.ok((await readFile(join(work, 'back.bin'))).equals(body), 'awscli reads it back');
    await swift('download', 'clib', 'f.bin', '-o', join(work, 'swift.bin'));
    t.ok((await readFile(join(work, 'swift.bin'))).equals(body), 'the swift CLI reads the same bytes');
    t.match(await swift('stat', 'clib', 'f.bin'), /X-Static-Large-Object: True/i, 'an SLO to Swift');
    t.notMatch(await aws('s3', 'ls'), /\+segments/, 'the segments container is no bucket');

    const created = JSON.parse(await aws('s3api', 'create-multipart-upload', '--bucket', 'clib', '--key', 'left/behind')) as { UploadId: string };
    await writeFile(join(work, 'part.bin'), seededBytes(1000, 2));
    await aws('s3api', 'upload-part', '--bucket', 'clib', '--key', 'left/behind', '--part-number', '1', '--upload-id', created.UploadId, '--body', join(work, 'part.bin'));
    const listed = JSON.parse(await aws('s3api', 'list-multipart-uploads', '--bucket', 'clib')) as { Uploads: Array<{ Key: string; UploadId: string }> };
    t.same(listed.Uploads.map((u) => [u.Key, u.UploadId]), [['left/behind', created.UploadId]]);
    const parts = JSON.parse(await aws('s3api', 'list-parts', '--bucket', 'clib', '--key', 'left/behind', '--upload-id', created.UploadId)) as { Parts: Array<{ PartNumber: number; Size: number }> };
    t.same(parts.Parts.map((p) => [p.PartNumber, p.Size]), [[1, 1000]]);
    await aws('s3api', 'abort-multipart-upload', '--bucket', 'clib', '--key', 'left/behind', '--upload-id', created.UploadId);
    const after = await aws('s3api', 'list-multipart-uploads', '--bucket', 'clib');
    t.notMatch(after, /left\/behind/, 'aborted: no longer listed');
    t.notMatch(await swift('list', 'clib+segments'), /left\/behind/, 'and its part is gone');
    await aws('s3', 'rm', 's3://clib/f.bin');
    t.equal((await swift('list', 'clib+segments')).trim(), '', 'deleting the object deleted its parts');
  });

  await t.test('boto3: upload_file in parts, list_parts paging, download', async (t) => {
    const script = `
import boto3, json, sys, os
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
s3 = boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id='test:tester', aws_secret_access_key='testing', region_name='us-east-1', config=Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 1}))
work = sys.argv[2]
out = {}
s3.create_bucket(Bucket='botomp')
cfg = TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024 * 1024, max_concurrency=2)
s3.upload_file(os.path.join(work, 'b.bin'), 'botomp', 'b.bin', Config=cfg)
h = s3.head_object(Bucket='botomp', Key='b.bin')
out['etag'] = h['ETag']
out['size'] = h['ContentLength']
out['parts_count'] = s3.head_object(Bucket='botomp', Key='b.bin', PartNumber=1).get('PartsCount')
up = s3.create_multipart_upload(Bucket='botomp', Key='paged')
for n in range(1, 4):
    s3.upload_part(Bucket='botomp', Key='paged', PartNumber=n, UploadId=up['UploadId'], Body=b'x' * n)
pages = []
for page in s3.get_paginator('list_parts').paginate(Bucket='botomp', Key='paged', UploadId=up['UploadId'], PaginationConfig={'PageSize': 2}):
    pages.append([p['PartNumber'] for p in page.get('Parts', [])])
out['pages'] = pages
s3.abort_multipart_upload(Bucket='botomp', Key='paged', UploadId=up['UploadId'])
s3.download_file('botomp', 'b.bin', os.path.join(work, 'b.back'))
print(json.dumps(out))
`;
    const body = seededBytes(11 * MiB + 7, 3);
    await writeFile(join(work, 'b.bin'), body);
    await writeFile(join(work, 'boto.py'), script);
    const out = JSON.parse((await run(PYTHON, [join(work, 'boto.py'), endpoint, work], { env, maxBuffer: 1 << 20 })).stdout) as Record<string, unknown>;
    t.equal(out['etag'], multipartEtag(body, 5 * MiB));
    t.equal(out['size'], body.length);
    t.equal(out['parts_count'], 3, 'HeadObject PartNumber=1: x-amz-mp-parts-count');
    t.same(out['pages'], [[1, 2], [3]], 'ListParts in pages of 2');
    t.ok((await readFile(join(work, 'b.back'))).equals(body), 'boto3 downloads it');
  });

  await t.test('the latest AWS JS SDK: lib-storage Upload with defaults (CRC32), GetObject with checksum validation', async (t) => {
    const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'test:tester', secretAccessKey: 'testing' } });
    t.teardown(() => s3.destroy());
    await s3.send(new CreateBucketCommand({ Bucket: 'sdkmp' }));
    const body = seededBytes(13 * MiB + 3, 4);
    const done = await new Upload({ client: s3, params: { Bucket: 'sdkmp', Key: 'lib/storage.bin', Body: body } }).done();
    t.equal(done.ETag, multipartEtag(body, 5 * MiB), "lib-storage's default 5 MiB parts");
    t.match(done.ChecksumCRC32 ?? '', /^[A-Za-z0-9+/]{6}==-3$/, 'a COMPOSITE CRC32 of three parts');
    t.equal(done.ChecksumType, 'COMPOSITE');
    const got = await s3.send(new GetObjectCommand({ Bucket: 'sdkmp', Key: 'lib/storage.bin', ChecksumMode: 'ENABLED' }));
    t.equal(got.ChecksumCRC32, done.ChecksumCRC32);
    t.ok(Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()).equals(body), 'the bytes come back');
    const part = await s3.send(new HeadObjectCommand({ Bucket: 'sdkmp', Key: 'lib/storage.bin', PartNumber: 3 }));
    t.equal(part.PartsCount, 3);
    t.equal(part.ContentLength, body.length - 10 * MiB);
    // a FULL_OBJECT CRC32 upload, which the SDK validates whole on GET
    const whole = await new Upload({ client: s3, params: { Bucket: 'sdkmp', Key: 'full.bin', Body: body, ChecksumAlgorithm: 'CRC32', ChecksumType: 'FULL_OBJECT' } as never }).done();
    t.equal(whole.ChecksumType, 'FULL_OBJECT');
    const full = await s3.send(new GetObjectCommand({ Bucket: 'sdkmp', Key: 'full.bin', ChecksumMode: 'ENABLED' }));
    t.ok(Buffer.from(await (full.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()).equals(body), 'validated against the whole-object CRC32');
    await swift('download', 'sdkmp', 'lib/storage.bin', '-o', join(work, 'sdk.bin'));
    t.ok((await readFile(join(work, 'sdk.bin'))).equals(body), 'the swift CLI reads the same bytes');
  });
});
