import t from 'tap';
import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { PYTHON } from '../helpers/client-tools.js';
import { startCluster } from '../helpers/cluster.js';

const run = promisify(execFile);

/**
 * Virtual-hosted-style addressing (s3_domain) with boto3's addressing_style = virtual: the bucket
 * travels in the Host (<bucket>.s3.localhost:<port>), signed as sent; path style keeps working on
 * the same proxy. *.localhost does not resolve here (glibc's files + dns, no nss-myhostname), so
 * the script resolves every *.localhost name to 127.0.0.1 itself and reports which names it
 * resolved, to prove the requests went to the bucket's host name.
 */
const SCRIPT = String.raw`
import json, socket, sys, urllib.request
real = socket.getaddrinfo
asked = set()
def resolve(host, *a, **k):
    if isinstance(host, str) and (host == 'localhost' or host.endswith('.localhost')):
        asked.add(host)
        host = '127.0.0.1'
    return real(host, *a, **k)
socket.getaddrinfo = resolve
import boto3
from botocore.config import Config
port = sys.argv[1]
def client(style, sig='s3v4'):
    return boto3.client('s3', endpoint_url='http://s3.localhost:%s' % port, aws_access_key_id='test:tester',
                        aws_secret_access_key='testing', region_name='us-east-1',
                        config=Config(s3={'addressing_style': style}, signature_version=sig, retries={'max_attempts': 1}))
v = client('virtual')
out = {}
v.create_bucket(Bucket='vhost')
v.put_object(Bucket='vhost', Key='dir/é x.txt', Body=b'virtual hello')
out['get'] = v.get_object(Bucket='vhost', Key='dir/é x.txt')['Body'].read().decode()
out['list'] = [o['Key'] for o in v.list_objects_v2(Bucket='vhost')['Contents']]
out['head_bucket'] = v.head_bucket(Bucket='vhost')['ResponseMetadata']['HTTPStatusCode']
url = v.generate_presigned_url('get_object', Params={'Bucket': 'vhost', 'Key': 'dir/é x.txt'}, ExpiresIn=300)
out['presigned_host'] = url.split('/')[2]
out['presigned'] = urllib.request.urlopen(url).read().decode()
try:
    v.get_object(Bucket='vhost', Key='missing')
except v.exceptions.NoSuchKey as e:
    out['missing'] = e.response['Error']['Code']
# Signature Version 2 (botocore's 's3', HmacV1): its resource is /<bucket>/<key> though the bucket is in the host
v2 = client('virtual', 's3')
out['v2_get'] = v2.get_object(Bucket='vhost', Key='dir/é x.txt')['Body'].read().decode()
v2url = v2.generate_presigned_url('get_object', Params={'Bucket': 'vhost', 'Key': 'dir/é x.txt'}, ExpiresIn=300)
out['v2_presigned_query'] = sorted(k.split('=')[0] for k in v2url.split('?')[1].split('&'))
out['v2_presigned'] = urllib.request.urlopen(v2url).read().decode()
p = client('path')
out['path_get'] = p.get_object(Bucket='vhost', Key='dir/é x.txt')['Body'].read().decode()
v.delete_object(Bucket='vhost', Key='dir/é x.txt')
v.delete_bucket(Bucket='vhost')
out['buckets_after'] = [b['Name'] for b in p.list_buckets()['Buckets']]
out['asked'] = sorted(asked)
print(json.dumps(out))
`;

t.test('boto3 with virtual-hosted-style addressing (s3_domain)', async (t) => {
  const cluster = await startCluster({ proxyConfig: { s3_domain: 's3.localhost' } });
  const work = await mkdtemp(join(tmpdir(), 's3-vhost-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  await writeFile(join(work, 'vhost.py'), SCRIPT);
  const port = new URL(cluster.proxyUrl).port;
  const env = { ...process.env, AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
  const out = JSON.parse((await run(PYTHON, [join(work, 'vhost.py'), port], { env })).stdout) as Record<string, unknown>;
  t.equal(out.get, 'virtual hello');
  t.same(out.list, ['dir/é x.txt']);
  t.equal(out.head_bucket, 200);
  t.equal(out.presigned_host, `vhost.s3.localhost:${port}`, 'the presigned URL names the bucket in its host');
  t.equal(out.presigned, 'virtual hello', 'and works');
  t.equal(out.missing, 'NoSuchKey');
  t.equal(out.path_get, 'virtual hello', 'path style on the same proxy still works');
  t.equal(out.v2_get, 'virtual hello', 'Signature Version 2, virtual-hosted');
  t.same(out.v2_presigned_query, ['AWSAccessKeyId', 'Expires', 'Signature']);
  t.equal(out.v2_presigned, 'virtual hello', 'a Signature Version 2 presigned URL, virtual-hosted');
  t.same(out.buckets_after, []);
  t.same(out.asked, ['s3.localhost', 'vhost.s3.localhost'], 'the requests went to the bucket host name (and to the domain for path style)');
  // Swift agrees: the container the virtual-hosted requests made is gone again.
  const { token } = await cluster.token('test:tester', 'testing');
  const list = await fetch(`${cluster.proxyUrl}/v1/AUTH_test?format=json`, { headers: { 'x-auth-token': token } });
  t.notMatch(await list.text(), 'vhost');
});
