import t from 'tap';
import { SeededRandom } from '../../common/random.js';
import { s3Address, v2ResourcePath, parseDomains } from '../../proxy/s3/addressing.js';
import { isS3Error } from '../../proxy/s3/errors.js';
import { canonicalResourceV2, checkRequestTimeV2, isSigV2, parseSigV2, signV2, stringToSignV2, verifySigV2 } from '../../proxy/s3/sigv2.js';
import type { SigV4Request } from '../../proxy/s3/sigv4.js';

const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const AKID = 'AKIAIOSFODNN7EXAMPLE';

function req(method: string, target: string, headers: Array<[string, string]>, signature?: string): SigV4Request {
  const q = target.indexOf('?');
  return {
    method,
    rawPath: q < 0 ? target : target.slice(0, q),
    rawQuery: q < 0 ? '' : target.slice(q + 1),
    headers: signature ? [...headers, ['Authorization', `AWS ${AKID}:${signature}`]] : headers,
  };
}

/** The examples of AWS's "Signing and authenticating REST requests (AWS signature version 2)", with their signatures. */
const DOMAINS = parseDomains('s3.us-west-1.amazonaws.com');
const VECTORS: Array<{ what: string; r: SigV4Request; toSign: string }> = [
  {
    what: 'Object GET (virtual-hosted)',
    r: req('GET', '/photos/puppy.jpg', [['Host', 'awsexamplebucket1.s3.us-west-1.amazonaws.com'], ['Date', 'Tue, 27 Mar 2007 19:36:42 +0000']], 'qgk2+6Sv9/oM7G3qLEjTH1a1l1g='),
    toSign: 'GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n/awsexamplebucket1/photos/puppy.jpg',
  },
  {
    what: 'Object PUT',
    r: req('PUT', '/photos/puppy.jpg', [['Content-Type', 'image/jpeg'], ['Content-Length', '94328'], ['Host', 'awsexamplebucket1.s3.us-west-1.amazonaws.com'], ['Date', 'Tue, 27 Mar 2007 21:15:45 +0000']], 'iqRzw+ileNPu1fhspnRs8nOjjIA='),
    toSign: 'PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n/awsexamplebucket1/photos/puppy.jpg',
  },
  {
    what: 'List (query parameters that are no sub-resource are not signed)',
    r: req('GET', '/?prefix=photos&max-keys=50&marker=puppy', [['User-Agent', 'Mozilla/5.0'], ['Host', 'awsexamplebucket1.s3.us-west-1.amazonaws.com'], ['Date', 'Tue, 27 Mar 2007 19:42:41 +0000']], 'm0WP8eCtspQl5Ahe6L1SozdX9YA='),
    toSign: 'GET\n\n\nTue, 27 Mar 2007 19:42:41 +0000\n/awsexamplebucket1/',
  },
  {
    what: 'Fetch (a sub-resource is signed)',
    r: req('GET', '/?acl', [['Host', 'awsexamplebucket1.s3.us-west-1.amazonaws.com'], ['Date', 'Tue, 27 Mar 2007 19:44:46 +0000']], '82ZHiFIjc+WbcwFKGUVEQspPn+0='),
    toSign: 'GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n/awsexamplebucket1/?acl',
  },
  {
    what: 'Delete (path style, x-amz-date signed in the Date position as the example does)',
    r: req('DELETE', '/awsexamplebucket1/photos/puppy.jpg', [['User-Agent', 'dotnet'], ['Host', 's3.us-west-1.amazonaws.com'], ['Date', 'Tue, 27 Mar 2007 21:20:27 +0000'], ['x-amz-date', 'Tue, 27 Mar 2007 21:20:26 +0000']], 'XbyTlbQdu9Xw5o8P4iMwPktxQd8='),
    toSign: 'DELETE\n\n\n\nx-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n/awsexamplebucket1/photos/puppy.jpg',
  },
  {
    what: 'List all my buckets',
    r: req('GET', '/', [['Host', 's3.us-west-1.amazonaws.com'], ['Date', 'Wed, 28 Mar 2007 01:29:59 +0000']], 'qGdzdERIC03wnaRNKh6OqZehG9s='),
    toSign: 'GET\n\n\nWed, 28 Mar 2007 01:29:59 +0000\n/',
  },
  {
    what: 'Unicode keys (the path as sent)',
    r: req('GET', '/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re', [['Host', 's3.us-west-1.amazonaws.com'], ['Date', 'Wed, 28 Mar 2007 01:49:49 +0000']], 'DNEZGsoieTZ92F3bUfSPQcbGmlM='),
    toSign: 'GET\n\n\nWed, 28 Mar 2007 01:49:49 +0000\n/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re',
  },
];

t.test("AWS's signature version 2 examples", async (t) => {
  for (const v of VECTORS) {
    t.ok(isSigV2(v.r), v.what);
    const p = parseSigV2(v.r);
    t.equal(p.accessKeyId, AKID);
    const resource = v2ResourcePath(v.r.rawPath, v.r.headers.find(([k]) => k === 'Host')?.[1], DOMAINS);
    t.equal(stringToSignV2(v.r, p, resource), v.toSign, `${v.what}: StringToSign`);
    t.doesNotThrow(() => verifySigV2(p, v.r, SECRET, resource), `${v.what}: the signature checks`);
    t.ok(isS3Error(catchIt(() => verifySigV2(p, v.r, `${SECRET}x`, resource)), 'SignatureDoesNotMatch'), `${v.what}: not with another secret`);
  }
  // Upload: a CNAME'd bucket (static.johnsmith.net), repeated x-amz-meta headers joined by ','.
  const up = req(
    'PUT',
    '/db-backup.dat.gz',
    [
      ['User-Agent', 'curl/7.15.5'],
      ['Host', 'static.johnsmith.net:8080'],
      ['Date', 'Tue, 27 Mar 2007 21:06:08 +0000'],
      ['x-amz-acl', 'public-read'],
      ['content-type', 'application/x-download'],
      ['Content-MD5', '4gJE4saaMU4BqNR0kLY+lw=='],
      ['X-Amz-Meta-ReviewedBy', 'joe@johnsmith.net'],
      ['X-Amz-Meta-ReviewedBy', 'jane@johnsmith.net'],
      ['X-Amz-Meta-FileChecksum', '0x02661779'],
      ['X-Amz-Meta-ChecksumAlgorithm', 'crc32'],
      ['Content-Disposition', 'attachment; filename=database.dat'],
      ['Content-Encoding', 'gzip'],
      ['Content-Length', '5913339'],
    ],
    'ilyl83RwaSoYIEdixDQcA4OnAnc=',
  );
  const p = parseSigV2(up);
  t.equal(
    stringToSignV2(up, p, '/static.johnsmith.net/db-backup.dat.gz'),
    'PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\nx-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\nx-amz-meta-filechecksum:0x02661779\nx-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n/static.johnsmith.net/db-backup.dat.gz',
  );
  t.doesNotThrow(() => verifySigV2(p, up, SECRET, '/static.johnsmith.net/db-backup.dat.gz'), 'Upload: the signature checks');
  // Query string authentication.
  const q = req('GET', '/photos/puppy.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1175139620&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D', [['Host', 'johnsmith.s3.amazonaws.com']]);
  t.ok(isSigV2(q));
  const qp = parseSigV2(q);
  t.same(qp, { form: 'query', accessKeyId: AKID, signature: 'NpgCjnDzrM+WFzoENXmpNDUsSn8=', expires: 1175139620 });
  const qres = v2ResourcePath(q.rawPath, 'johnsmith.s3.amazonaws.com', parseDomains('s3.amazonaws.com'));
  t.equal(stringToSignV2(q, qp, qres), 'GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg');
  t.doesNotThrow(() => verifySigV2(qp, q, SECRET, qres), 'Query string auth: the signature checks');
  t.doesNotThrow(() => checkRequestTimeV2(qp, q, 1175139620_000));
  t.ok(isS3Error(catchIt(() => checkRequestTimeV2(qp, q, 1175139621_000)), 'AccessDenied'), 'expired a second later');
});

function catchIt(f: () => unknown): unknown {
  try {
    f();
    return undefined;
  } catch (e) {
    return e;
  }
}

t.test('sub-resources: sorted, values decoded, others left out', async (t) => {
  t.equal(canonicalResourceV2('/b/k', 'uploadId=a%2Fb&partNumber=3&x-id=PutObject'), '/b/k?partNumber=3&uploadId=a/b');
  t.equal(canonicalResourceV2('/b/', 'versioning&prefix=p'), '/b/?versioning');
  t.equal(canonicalResourceV2('/b/k', 'response-content-type=text%2Fplain&AWSAccessKeyId=x&Signature=y&Expires=1'), '/b/k?response-content-type=text/plain');
  t.same(s3Address('/k', 'b.s3.localhost', parseDomains('s3.localhost')).bucket, 'b');
  t.equal(v2ResourcePath('/k', 'b.s3.localhost:80', parseDomains('s3.localhost')), '/b/k');
  t.equal(v2ResourcePath('/', 'b.s3.localhost', parseDomains('s3.localhost')), '/b/');
  t.equal(v2ResourcePath('/b/k', '127.0.0.1', parseDomains('s3.localhost')), '/b/k');
});

t.test('the header form: the access key may hold a colon; time within 15 minutes', async (t) => {
  const r = req('GET', '/b', [['Date', 'Mon, 07 Dec 2026 10:00:00 GMT'], ['Authorization', 'AWS test:tester:abc=']]);
  t.same(parseSigV2(r), { form: 'header', accessKeyId: 'test:tester', signature: 'abc=' });
  const at = Date.parse('Mon, 07 Dec 2026 10:00:00 GMT');
  t.doesNotThrow(() => checkRequestTimeV2(parseSigV2(r), r, at + 15 * 60_000));
  t.ok(isS3Error(catchIt(() => checkRequestTimeV2(parseSigV2(r), r, at + 15 * 60_000 + 1)), 'RequestTimeTooSkewed'));
  const amz = req('GET', '/b', [['Date', 'Mon, 07 Dec 2020 10:00:00 GMT'], ['x-amz-date', 'Mon, 07 Dec 2026 10:00:00 GMT'], ['Authorization', 'AWS k:s']]);
  t.doesNotThrow(() => checkRequestTimeV2(parseSigV2(amz), amz, at), 'x-amz-date wins over Date');
  const none = req('GET', '/b', [['Authorization', 'AWS k:s']]);
  t.ok(isS3Error(catchIt(() => checkRequestTimeV2(parseSigV2(none), none, at)), 'AccessDenied'), 'no date at all');
});

t.test('seeded fuzz: every signed element matters, unsigned ones do not; garbage never crashes', async (t) => {
  const rng = new SeededRandom(0x5192);
  const pick = <T>(a: readonly T[]): T => a[rng.int(a.length)] as T;
  const word = (): string => Array.from({ length: 1 + rng.int(8) }, () => pick([...'abcXYZ019-_.~é/ '])).join('');
  const enc = (s: string): string => encodeURIComponent(s).replace(/%2F/g, '/');
  let checked = 0;
  for (let i = 0; i < 300; i++) {
    const method = pick(['GET', 'PUT', 'HEAD', 'DELETE', 'POST']);
    const path = `/${enc(word())}/${enc(word())}`;
    const query = [...new Set([pick(['', 'acl', 'uploads', 'tagging', 'versionId=3', 'prefix=a']), pick(['', 'max-keys=5', 'uploadId=xy', 'partNumber=2'])])].filter((x) => x !== '').join('&');
    const headers: Array<[string, string]> = [['Date', 'Mon, 07 Dec 2026 10:00:00 GMT']];
    if (rng.int(2)) headers.push(['Content-Type', pick(['text/plain', 'application/octet-stream'])]);
    if (rng.int(2)) headers.push(['Content-MD5', '1B2M2Y8AsgTpgAmY7PhCfg==']);
    for (let h = rng.int(3); h > 0; h--) headers.push([pick(['x-amz-meta-a', 'X-Amz-Meta-B', 'x-amz-acl']), ` ${word()} `]);
    const base = req(method, query ? `${path}?${query}` : path, headers);
    const p = { form: 'header' as const, accessKeyId: 'k', signature: '' };
    const good = { ...base, headers: [...base.headers, ['Authorization', `AWS k:${signV2('s', stringToSignV2(base, p, path))}`] as [string, string]] };
    t.doesNotThrow(() => verifySigV2(parseSigV2(good), good, 's', path));
    // unsigned: another header, a query parameter that is no sub-resource, header names' case
    const unsigned = { ...good, rawQuery: good.rawQuery ? `${good.rawQuery}&marker=zz` : 'marker=zz', headers: [...good.headers.map(([k, v]) => [k.toUpperCase(), v] as [string, string]), ['User-Agent', 'x']] as Array<[string, string]> };
    if (verifyFails(unsigned, path)) t.fail(`an unsigned change broke the signature: ${JSON.stringify(unsigned)}`);
    const mutations: SigV4Request[] = [
      { ...good, method: method === 'GET' ? 'PUT' : 'GET' },
      { ...good, rawPath: `${good.rawPath}x` },
      { ...good, rawQuery: good.rawQuery ? `${good.rawQuery}&acl=1` : 'acl' },
      { ...good, headers: good.headers.map(([k, v]) => (k === 'Date' ? [k, 'Mon, 07 Dec 2026 10:00:01 GMT'] : [k, v])) },
      { ...good, headers: [...good.headers, ['x-amz-meta-new', 'v']] },
      { ...good, headers: [...good.headers, ['Content-Type', 'image/png']] },
    ];
    for (const m of mutations) {
      if (!verifyFails(m, m.rawPath === good.rawPath ? path : m.rawPath)) t.fail(`a signed change went unnoticed: ${JSON.stringify(m)}`);
      checked++;
    }
  }
  t.equal(checked, 1800);
  for (let i = 0; i < 2000; i++) {
    const auth = `AWS ${Array.from({ length: rng.int(20) }, () => pick([...'a:=+/ \u0000é'])).join('')}`;
    const r = req('GET', `/b?${pick(['', 'AWSAccessKeyId=x', 'AWSAccessKeyId=x&Signature=y&Expires=-1', 'AWSAccessKeyId=&Expires=1e9'])}`, rng.int(2) ? [['Authorization', auth]] : []);
    try {
      if (!isSigV2(r)) continue;
      const p = parseSigV2(r);
      checkRequestTimeV2(p, r, 0);
      verifySigV2(p, r, 's', '/b');
    } catch (e) {
      if (!isS3Error(e)) t.fail(`not an S3 error: ${String(e)} for ${JSON.stringify(r)}`);
    }
  }
});

function verifyFails(r: SigV4Request, resource: string): boolean {
  try {
    verifySigV2(parseSigV2(r), r, 's', resource);
    return false;
  } catch (e) {
    return isS3Error(e, 'SignatureDoesNotMatch');
  }
}
