import t from 'tap';
import { parseDomains, s3Address, virtualHostBucket } from '../../proxy/s3/addressing.js';

t.test('virtual-hosted style: the bucket from the Host, the key from the path', async (t) => {
  const d = parseDomains(' s3.localhost, .S3.Example.com. ');
  t.same(d, ['s3.localhost', 's3.example.com']);
  t.same(s3Address('/photos/cat%20one.jpg', 'pics.s3.localhost:8080', d), { bucket: 'pics', key: 'photos/cat one.jpg', resource: '/pics/photos/cat one.jpg' });
  t.same(s3Address('/', 'pics.s3.localhost', d), { bucket: 'pics', resource: '/pics' });
  t.same(s3Address('/k', 'my.dotted.bucket.S3.EXAMPLE.com', d), { bucket: 'my.dotted.bucket', key: 'k', resource: '/my.dotted.bucket/k' }, 'dots in the bucket, any case');
  t.same(s3Address('//double', 'b.s3.localhost', d), { bucket: 'b', key: '/double', resource: '/b//double' }, 'a key may start with a slash');
});

t.test('path style: the domain itself, any other host, no Host, IPv6 literals', async (t) => {
  const d = parseDomains('s3.localhost');
  for (const host of ['s3.localhost', 's3.localhost:9000', '127.0.0.1:8080', 'xs3.localhost', 'localhost', '[::1]:8080', undefined]) {
    t.same(s3Address('/b/k/x', host, d), { bucket: 'b', key: 'k/x', resource: '/b/k/x' }, String(host));
  }
  t.same(s3Address('/', 's3.localhost', d), { resource: '/' });
  t.same(s3Address('/b', 's3.localhost', d), { bucket: 'b', resource: '/b' });
  t.equal(virtualHostBucket('b.s3.localhost', []), undefined, 'no s3_domain: never virtual-hosted');
  t.equal(virtualHostBucket('.s3.localhost', d), undefined, 'an empty bucket label is no bucket');
});
