import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { CreateBucketCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { SeededRandom } from '../../common/random.js';
import { curl, PYTHON, swiftAs } from '../helpers/client-tools.js';
import { startCluster } from '../helpers/cluster.js';

const run = promisify(execFile);
const AWS = '/usr/bin/aws';

/**
 * The S3 API as its clients use it: Debian's awscli and boto3, and the latest AWS JS SDK with its
 * default settings (CRC32 checksums: a header for small bodies, an aws-chunked trailer for
 * streams). Data written through S3 is read through Swift and the other way round.
 */
t.test('S3 clients against the all-in-one: awscli, boto3, the AWS JS SDK', async (t) => {
  const cluster = await startCluster();
  const work = await mkdtemp(join(tmpdir(), 's3-clients-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  const endpoint = cluster.proxyUrl;
  const env = { ...process.env, AWS_ACCESS_KEY_ID: 'test:tester', AWS_SECRET_ACCESS_KEY: 'testing', AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
  delete (env as Record<string, string | undefined>).AWS_CA_BUNDLE;
  const aws = async (...args: string[]): Promise<string> => (await run(AWS, ['--endpoint-url', endpoint, ...args], { env, cwd: work, maxBuffer: 16 << 20 })).stdout;
  const awsFails = (...args: string[]): Promise<string> =>
    aws(...args).then(
      (out) => `ok: ${out}`,
      (e: { stderr?: string }) => e.stderr ?? String(e),
    );
  const swift = swiftAs(cluster, work, 'test:tester', 'testing');

  await t.test('awscli: buckets, objects, listings, presigned URLs', async (t) => {
    const rng = new SeededRandom(24);
    const body = Buffer.from(Array.from({ length: 3_000_000 }, () => rng.int(256)));
    await writeFile(join(work, 'f.bin'), body);
    await aws('s3', 'mb', 's3://awsb');
    t.match(await aws('s3', 'ls'), /awsb/);
    t.match(await awsFails('s3', 'mb', 's3://awsb'), /BucketAlreadyOwnedByYou/);
    t.match(await awsFails('s3', 'mb', 's3://Bad_Name'), /InvalidBucketName|Invalid bucket name/);
    await aws('s3', 'cp', join(work, 'f.bin'), 's3://awsb/dir/f.bin', '--metadata', 'color=blue');
    await aws('s3', 'cp', join(work, 'f.bin'), 's3://awsb/sp ace/é ü.bin');
    const listed = await aws('s3', 'ls', '--recursive', 's3://awsb');
    t.match(listed, /3000000 dir\/f\.bin/);
    t.match(listed, /3000000 sp ace\/é ü\.bin/);
    await aws('s3', 'cp', 's3://awsb/sp ace/é ü.bin', join(work, 'back.bin'));
    t.ok((await readFile(join(work, 'back.bin'))).equals(body), 'the bytes come back');
    const head = JSON.parse(await aws('s3api', 'head-object', '--bucket', 'awsb', '--key', 'dir/f.bin')) as { ETag: string; ContentLength: number; Metadata: Record<string, string> };
    t.equal(head.ETag, `"${createHash('md5').update(body).digest('hex')}"`, 'the ETag is the quoted MD5, as S3 sends it');
    t.equal(head.ContentLength, 3_000_000);
    t.same(head.Metadata, { color: 'blue' });
    const v2 = JSON.parse(await aws('s3api', 'list-objects-v2', '--bucket', 'awsb', '--delimiter', '/')) as { CommonPrefixes: Array<{ Prefix: string }> };
    t.same(v2.CommonPrefixes.map((p) => p.Prefix), ['dir/', 'sp ace/']);
    // A presigned URL works with curl, and a changed one does not.
    const url = (await aws('s3', 'presign', 's3://awsb/dir/f.bin', '--expires-in', '300')).trim();
    const got = await curl(url, '-o', join(work, 'presigned.bin'));
    t.equal(got.status, 200);
    t.ok((await readFile(join(work, 'presigned.bin'))).equals(body), 'the presigned GET gives the object');
    const forged = await curl(url.replace('dir/f.bin', 'sp%20ace/%C3%A9%20%C3%BC.bin'));
    t.equal(forged.status, 403);
    t.match(forged.body, /<Code>SignatureDoesNotMatch<\/Code>/);
    // server-side copy and move (CopyObject, then DeleteObject)
    await aws('s3', 'cp', 's3://awsb/dir/f.bin', 's3://awsb/copied.bin');
    await aws('s3', 'mv', 's3://awsb/copied.bin', 's3://awsb/moved.bin');
    const after = await aws('s3', 'ls', '--recursive', 's3://awsb');
    t.match(after, /3000000 moved\.bin/);
    t.notMatch(after, /copied\.bin/);
    t.match(await awsFails('s3', 'rb', 's3://awsb'), /BucketNotEmpty/);
    await aws('s3', 'rm', '--recursive', 's3://awsb');
    await aws('s3', 'rb', 's3://awsb');
    t.notMatch(await aws('s3', 'ls'), /awsb/);
  });

  await t.test('boto3: pagination, ranges, Content-MD5, errors, another account', async (t) => {
    const script = `
import boto3, botocore, base64, hashlib, json, sys
from botocore.config import Config
def client(key, secret):
    return boto3.client('s3', endpoint_url=sys.argv[1], aws_access_key_id=key, aws_secret_access_key=secret, region_name='us-east-1', config=Config(s3={'addressing_style': 'path'}, retries={'max_attempts': 1}))
s3 = client('test:tester', 'testing')
out = {}
s3.create_bucket(Bucket='botob')
for i in range(5):
    s3.put_object(Bucket='botob', Key='k/%d' % i, Body=b'x' * i, Metadata={'n': str(i)})
s3.put_object(Bucket='botob', Key='top', Body=b'0123456789')
keys, token = [], None
while True:
    kw = {'Bucket': 'botob', 'MaxKeys': 2}
    if token: kw['ContinuationToken'] = token
    r = s3.list_objects_v2(**kw)
    keys += [c['Key'] for c in r.get('Contents', [])]
    if not r['IsTruncated']: break
    token = r['NextContinuationToken']
out['v2'] = keys
pages = s3.get_paginator('list_objects').paginate(Bucket='botob', Delimiter='/', PaginationConfig={'PageSize': 1})
out['v1'] = [[c['Key'] for c in p.get('Contents', [])] + [c['Prefix'] for c in p.get('CommonPrefixes', [])] for p in pages]
out['range'] = s3.get_object(Bucket='botob', Key='top', Range='bytes=2-5')['Body'].read().decode()
out['meta'] = s3.head_object(Bucket='botob', Key='k/3')['Metadata']
def code(f):
    try:
        f(); return 'ok'
    except botocore.exceptions.ClientError as e:
        return e.response['Error']['Code']
good = base64.b64encode(hashlib.md5(b'abc').digest()).decode()
out['md5_good'] = code(lambda: s3.put_object(Bucket='botob', Key='md5', Body=b'abc', ContentMD5=good))
out['md5_bad'] = code(lambda: s3.put_object(Bucket='botob', Key='md5bad', Body=b'abd', ContentMD5=good))
out['md5bad_stored'] = code(lambda: s3.head_object(Bucket='botob', Key='md5bad'))
out['nokey'] = code(lambda: s3.get_object(Bucket='botob', Key='nope'))
out['nobucket'] = code(lambda: s3.get_object(Bucket='nobucket', Key='nope'))
out['wrong_secret'] = code(lambda: client('test:tester', 'nope').list_buckets())
out['unknown_key'] = code(lambda: client('nobody:nobody', 'x').list_buckets())
other = client('test2:tester2', 'testing2')
out['other_get'] = code(lambda: other.get_object(Bucket='botob', Key='top'))
out['other_put'] = code(lambda: other.put_object(Bucket='botob', Key='evil', Body=b'x'))
out['other_list'] = code(lambda: other.list_objects_v2(Bucket='botob'))
out['other_delete'] = code(lambda: other.delete_object(Bucket='botob', Key='top'))
out['other_buckets'] = [b['Name'] for b in other.list_buckets()['Buckets']]
out['top_after'] = s3.get_object(Bucket='botob', Key='top')['Body'].read().decode()
r = s3.copy_object(Bucket='botob', Key='copy', CopySource={'Bucket': 'botob', 'Key': 'k/3'})
out['copy_etag'] = r['CopyObjectResult']['ETag']
out['copy_meta'] = s3.head_object(Bucket='botob', Key='copy')['Metadata']
s3.copy_object(Bucket='botob', Key='copy', CopySource='botob/copy', MetadataDirective='REPLACE', Metadata={'fresh': 'yes'}, ContentType='text/x-new')
h = s3.head_object(Bucket='botob', Key='copy')
out['replaced'] = [h['Metadata'], h['ContentType'], s3.get_object(Bucket='botob', Key='copy')['Body'].read().decode()]
out['copy_self'] = code(lambda: s3.copy_object(Bucket='botob', Key='copy', CopySource='botob/copy'))
out['copy_missing'] = code(lambda: s3.copy_object(Bucket='botob', Key='c2', CopySource='botob/nope'))
out['copy_if'] = code(lambda: s3.copy_object(Bucket='botob', Key='c3', CopySource='botob/top', CopySourceIfMatch='"0000"'))
d = s3.delete_objects(Bucket='botob', Delete={'Objects': [{'Key': 'k/0'}, {'Key': 'k/1'}, {'Key': 'never'}]})
out['deleted'] = sorted(x['Key'] for x in d.get('Deleted', []))
q = s3.delete_objects(Bucket='botob', Delete={'Objects': [{'Key': 'k/2'}], 'Quiet': True})
out['quiet'] = [q.get('Deleted', []), q.get('Errors', [])]
out['after_delete'] = sorted(c['Key'] for c in s3.list_objects_v2(Bucket='botob', Prefix='k/')['Contents'])
out['too_many'] = code(lambda: s3.delete_objects(Bucket='botob', Delete={'Objects': [{'Key': 'x%d' % i} for i in range(1001)]}))
print(json.dumps(out))
`;
    await writeFile(join(work, 'boto.py'), script);
    const out = JSON.parse((await run(PYTHON, [join(work, 'boto.py'), endpoint], { env, maxBuffer: 1 << 20 })).stdout) as Record<string, unknown>;
    t.same(out['v2'], ['k/0', 'k/1', 'k/2', 'k/3', 'k/4', 'top'], 'ListObjectsV2 pages of 2 with continuation tokens');
    t.same(out['v1'], [['k/'], ['top']], 'ListObjects pages of 1 with a delimiter');
    t.equal(out['range'], '2345');
    t.same(out['meta'], { n: '3' });
    t.equal(out['md5_good'], 'ok');
    t.equal(out['md5_bad'], 'BadDigest');
    t.equal(out['md5bad_stored'], '404', 'nothing was stored for the bad digest');
    t.equal(out['nokey'], 'NoSuchKey');
    t.equal(out['nobucket'], 'NoSuchBucket');
    t.equal(out['wrong_secret'], 'SignatureDoesNotMatch');
    t.equal(out['unknown_key'], 'InvalidAccessKeyId');
    // Buckets are containers of the signer's account (as with Swift's s3api): another account's
    // requests name a bucket of its own, which does not exist.
    for (const k of ['other_get', 'other_put', 'other_list', 'other_delete']) t.equal(out[k], 'NoSuchBucket', `another account: ${k}`);
    t.same(out['other_buckets'], [], "another account does not see this account's buckets");
    t.equal(out['top_after'], '0123456789', 'nothing another account did changed the object');
    t.equal(out['copy_etag'], `"${createHash('md5').update('xxx').digest('hex')}"`, 'CopyObject');
    t.same(out['copy_meta'], { n: '3' }, 'COPY keeps the metadata');
    t.same(out['replaced'], [{ fresh: 'yes' }, 'text/x-new', 'xxx'], 'REPLACE onto itself changes only the metadata');
    t.equal(out['copy_self'], 'InvalidRequest', 'a copy onto itself that changes nothing');
    t.equal(out['copy_missing'], 'NoSuchKey');
    t.equal(out['copy_if'], 'PreconditionFailed');
    t.same(out['deleted'], ['k/0', 'k/1', 'never'], 'DeleteObjects: a missing key is deleted too');
    t.same(out['quiet'], [[], []], 'quiet mode lists no successes');
    t.same(out['after_delete'], ['k/3', 'k/4']);
    t.equal(out['too_many'], 'MalformedXML', '1,001 keys');
    // The same data through Swift: one store, two APIs.
    t.equal(await swift('download', 'botob', 'top', '-o', '-'), '0123456789');
    t.match(await swift('stat', 'botob', 'k/3'), /Meta N: 3/);
  });

  await t.test('the latest AWS JS SDK, default settings: CRC32 headers and aws-chunked trailers', async (t) => {
    const s3 = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'test:tester', secretAccessKey: 'testing' } });
    t.teardown(() => s3.destroy());
    await s3.send(new CreateBucketCommand({ Bucket: 'sdkb' }));
    const small = await s3.send(new PutObjectCommand({ Bucket: 'sdkb', Key: 'a/one.txt', Body: 'hello sdk' }));
    t.equal(small.ETag, `"${createHash('md5').update('hello sdk').digest('hex')}"`);
    t.ok(small.ChecksumCRC32, 'the CRC32 the SDK sent as a header comes back');
    const rng = new SeededRandom(5);
    const big = Buffer.from(Array.from({ length: 2_500_000 }, () => rng.int(256)));
    // A stream body of known length: the SDK sends it aws-chunked with a CRC32 trailer.
    const streamed = await s3.send(new PutObjectCommand({ Bucket: 'sdkb', Key: 'big', Body: Readable.from([big.subarray(0, 1_000_000), big.subarray(1_000_000)]), ContentLength: big.length }));
    t.equal(streamed.ETag, `"${createHash('md5').update(big).digest('hex')}"`, 'the framing was not stored: the ETag is the data MD5');
    const got = await s3.send(new GetObjectCommand({ Bucket: 'sdkb', Key: 'big' }));
    t.ok(Buffer.from(await (got.Body as { transformToByteArray(): Promise<Uint8Array> }).transformToByteArray()).equals(big), 'the data comes back');
    const one = await s3.send(new GetObjectCommand({ Bucket: 'sdkb', Key: 'a/one.txt' }));
    t.equal(await (one.Body as { transformToString(): Promise<string> }).transformToString(), 'hello sdk');
    t.equal(one.ChecksumCRC32, small.ChecksumCRC32, 'the stored checksum, which the SDK validated');
    const list = await s3.send(new ListObjectsV2Command({ Bucket: 'sdkb' }));
    t.same(list.Contents?.map((c) => [c.Key, c.Size]), [['a/one.txt', 9], ['big', 2_500_000]]);
    await s3.send(new DeleteObjectCommand({ Bucket: 'sdkb', Key: 'a/one.txt' }));
    await t.rejects(s3.send(new HeadObjectCommand({ Bucket: 'sdkb', Key: 'a/one.txt' })), { name: 'NotFound' });
  });
});
