import t from 'tap';
import { SeededRandom } from '../../common/random.js';
import { isS3Error } from '../../proxy/s3/errors.js';
import { canonicalQuery, canonicalUri, checkRequestTime, isSigV4, parseAmzDate, parseSigV4, uriEncode, verifySigV4, type SigV4Request } from '../../proxy/s3/sigv4.js';
import { awsSigner } from '../helpers/aws-signer.js';

const AKID = 'AKIAIOSFODNN7EXAMPLE';
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const EMPTY = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';

function req(method: string, url: string, headers: Array<[string, string]>): SigV4Request {
  const q = url.indexOf('?');
  return { method, rawPath: q < 0 ? url : url.slice(0, q), rawQuery: q < 0 ? '' : url.slice(q + 1), headers };
}

function verify(r: SigV4Request, secret = SECRET, region = 'us-east-1'): string {
  try {
    const p = parseSigV4(r);
    verifySigV4(p, r, secret, region);
    return 'ok';
  } catch (e) {
    if (isS3Error(e)) return e.code;
    throw e;
  }
}

t.test("AWS's documented examples verify (S3 API reference, SigV4 header and query examples)", async (t) => {
  // "Example: GET Object" of Authenticating Requests: Using the Authorization Header
  const get = req('GET', '/test.txt', [
    ['Host', 'examplebucket.s3.amazonaws.com'],
    ['Range', 'bytes=0-9'],
    ['x-amz-content-sha256', EMPTY],
    ['x-amz-date', '20130524T000000Z'],
    ['Authorization', `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41`],
  ]);
  t.equal(verify(get), 'ok');
  t.equal(verify(get, SECRET.replace('K', 'k')), 'SignatureDoesNotMatch');
  t.equal(verify(get, SECRET, 'eu-west-1'), 'AuthorizationHeaderMalformed', 'another region is named, as AWS does');
  // "Example: GET Object" of Authenticating Requests: Using Query Parameters
  const presigned = req(
    'GET',
    `/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=${AKID}%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404`,
    [['Host', 'examplebucket.s3.amazonaws.com']],
  );
  t.ok(isSigV4(presigned));
  t.equal(verify(presigned), 'ok');
  t.equal(verify({ ...presigned, rawPath: '/test.txt2' }), 'SignatureDoesNotMatch');
  const p = parseSigV4(presigned);
  const at = parseAmzDate('20130524T000000Z');
  t.doesNotThrow(() => checkRequestTime(p, at + 86_400_000));
  t.throws(() => checkRequestTime(p, at + 86_401_000), { code: 'AccessDenied', message: 'Request has expired' });
  t.throws(() => checkRequestTime(p, at - 16 * 60_000), { code: 'AccessDenied' }, 'a URL not valid yet');
  const h = parseSigV4(get);
  t.doesNotThrow(() => checkRequestTime(h, at + 15 * 60_000));
  t.throws(() => checkRequestTime(h, at + 15 * 60_000 + 1), { code: 'RequestTimeTooSkewed' });
  t.throws(() => checkRequestTime(h, at - 15 * 60_000 - 1), { code: 'RequestTimeTooSkewed' });
});

t.test('the canonical pieces follow UriEncode: once, slashes kept in paths, sorted query', async (t) => {
  t.equal(uriEncode("a b+c/é~*'()!", true), "a%20b%2Bc/%C3%A9~%2A%27%28%29%21");
  t.equal(uriEncode('a/b', false), 'a%2Fb');
  t.equal(canonicalUri('/bucket/a%20b/%C3%A9'), '/bucket/a%20b/%C3%A9');
  t.equal(canonicalUri('/bucket/a b//c'), '/bucket/a%20b//c', 'never normalized');
  t.equal(canonicalUri('/bucket/%zz'), '/bucket/%25zz', 'bad percent-encoding is taken as it came');
  t.equal(canonicalQuery('b=2&a=1&a=0&versioning&X-Amz-Signature=x&c=a+b'), 'a=0&a=1&b=2&c=a%2Bb&versioning=');
});

// A request's headers and path as the AWS SDK's signer sees them, and as the wire carries them.

const KEY_CHARS = ['a', 'Z', '9', ' ', '/', '+', '%', '~', '-', '_', '.', '*', "'", '(', '!', 'é', '日', '😀', '=', '&', '?', '#'];
function randomKey(rng: SeededRandom): string {
  let s = '';
  const n = 1 + rng.int(12);
  for (let i = 0; i < n; i++) s += KEY_CHARS[rng.int(KEY_CHARS.length)];
  return s;
}
// What S3 clients put on the wire for a key: each character but unreserved ones and '/' as %XX.
const wirePath = (bucket: string, key: string): string => `/${bucket}/${uriEncode(key, true)}`;
const wireQuery = (q: Record<string, string>): string =>
  Object.entries(q)
    .map(([k, v]) => `${uriEncode(k, false)}=${uriEncode(v, false)}`)
    .join('&');

t.test("requests signed by the AWS SDK's signer verify, and any change to them does not (seeded)", async (t) => {
  const rng = new SeededRandom(2026);
  const signer = awsSigner('test:tester', 'testing');
  for (let i = 0; i < 200; i++) {
    const method = ['GET', 'PUT', 'HEAD', 'DELETE', 'POST'][rng.int(5)] as string;
    const key = randomKey(rng);
    const query: Record<string, string> = {};
    for (let j = rng.int(4); j > 0; j--) query[randomKey(rng)] = rng.int(3) === 0 ? '' : randomKey(rng);
    const headers: Record<string, string> = { host: '127.0.0.1:8080', 'x-amz-content-sha256': rng.int(2) ? 'UNSIGNED-PAYLOAD' : EMPTY };
    if (rng.int(2)) headers['x-amz-meta-note'] = `  two  spaces ${randomKey(rng)}  `;
    if (rng.int(2)) headers['content-type'] = 'text/plain';
    const path = wirePath('bucket', key);
    const date = new Date(Date.UTC(2026, 11, 7, 12, rng.int(60), rng.int(60)));
    const presign = rng.int(3) === 0;
    const signed = presign
      ? await signer.presign({ method, protocol: 'http:', hostname: '127.0.0.1', port: 8080, path, query, headers: { host: headers.host as string, 'x-amz-content-sha256': 'UNSIGNED-PAYLOAD' } } as never, { signingDate: date, expiresIn: 3600 })
      : await signer.sign({ method, protocol: 'http:', hostname: '127.0.0.1', port: 8080, path, query, headers } as never, { signingDate: date });
    const s = signed as unknown as { headers: Record<string, string>; query: Record<string, string> };
    const wire: SigV4Request = { method, rawPath: path, rawQuery: wireQuery(s.query), headers: Object.entries(s.headers) };
    t.equal(verify(wire, 'testing'), 'ok', `request ${i} (${presign ? 'presigned' : 'header'}): ${method} ${path}?${wire.rawQuery}`);
    // any change the signature covers must fail it
    const changes: SigV4Request[] = [
      { ...wire, method: method === 'GET' ? 'PUT' : 'GET' },
      { ...wire, rawPath: wirePath('bucket', key + 'x') },
      { ...wire, rawQuery: wire.rawQuery + '&extra=1' },
    ];
    if (!presign) changes.push({ ...wire, headers: wire.headers.map(([k, v]) => [k, k === 'host' ? '127.0.0.1:8081' : v] as [string, string]) });
    for (const [n, c] of changes.entries()) t.equal(verify(c, 'testing'), 'SignatureDoesNotMatch', `request ${i}, change ${n}`);
    t.equal(verify(wire, 'testinG'), 'SignatureDoesNotMatch', `request ${i}, another secret`);
  }
});

t.test('malformed Authorization headers and presigned queries get S3 errors, never a crash (seeded)', async (t) => {
  const base = `AWS4-HMAC-SHA256 Credential=${AKID}/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;x-amz-date,Signature=${'a'.repeat(64)}`;
  const h = (auth: string, extra: Array<[string, string]> = [['x-amz-content-sha256', EMPTY]]): SigV4Request =>
    req('GET', '/b/k', [['host', 'h'], ['x-amz-date', '20130524T000000Z'], ['authorization', auth], ...extra]);
  const cases: Array<[SigV4Request, string]> = [
    [h(base), 'SignatureDoesNotMatch'],
    [h(base.replace('Credential=', 'Credentia=')), 'AuthorizationHeaderMalformed'],
    [h(base.replace('/aws4_request', '/aws5_request')), 'AuthorizationHeaderMalformed'],
    [h(base.replace('20130524/', '2013052/')), 'AuthorizationHeaderMalformed'],
    [h(base.replace('20130524/', '20130525/')), 'AuthorizationHeaderMalformed'],
    [h(base.replace('host;x-amz-date', 'x-amz-date')), 'AuthorizationHeaderMalformed'],
    [h(base.replace('host;', 'Host;')), 'AuthorizationHeaderMalformed'],
    [h(base.replace(/Signature=a+/, 'Signature=zz')), 'SignatureDoesNotMatch'],
    [h(base, []), 'InvalidRequest'],
    [h(base, [['x-amz-content-sha256', 'abc']]), 'InvalidArgument'],
    [req('GET', '/b/k', [['host', 'h'], ['authorization', base], ['x-amz-content-sha256', EMPTY]]), 'AccessDenied'],
    [req('GET', '/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256', [['host', 'h']]), 'AuthorizationQueryParametersError'],
    [req('GET', `/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host&X-Amz-Signature=${'a'.repeat(64)}`, [['host', 'h']]), 'AuthorizationQueryParametersError'],
    [req('GET', `/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130532T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=${'a'.repeat(64)}`, [['host', 'h']]), 'AuthorizationQueryParametersError'],
  ];
  for (const [r, code] of cases) t.equal(verify(r), code, headerOf(r));
  const rng = new SeededRandom(7);
  const alphabet = 'AWS4-HMAC-SHA256 Credential=/,;=Signature SignedHeaders host a0 \t';
  for (let i = 0; i < 2000; i++) {
    let auth = base;
    for (let k = rng.int(6); k >= 0; k--) {
      const at = rng.int(auth.length + 1);
      auth = rng.int(2) ? auth.slice(0, at) + (alphabet[rng.int(alphabet.length)] as string) + auth.slice(at) : auth.slice(0, at) + auth.slice(at + 1);
    }
    const got = verify(h(auth));
    t.ok(['SignatureDoesNotMatch', 'AuthorizationHeaderMalformed', 'AccessDenied'].includes(got), `fuzzed ${i}: ${got}`);
  }
});

function headerOf(r: SigV4Request): string {
  return r.headers.find(([k]) => k === 'authorization')?.[1] ?? r.rawQuery;
}
