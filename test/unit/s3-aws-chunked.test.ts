import t from 'tap';
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { SeededRandom } from '../../common/random.js';
import { AwsChunkedDecoder, AwsChunkedStream, type AwsChunkedOptions } from '../../proxy/s3/aws-chunked.js';
import { createChecksum } from '../../proxy/s3/checksums.js';
import { isS3Error } from '../../proxy/s3/errors.js';
import { chunkStringToSign, EMPTY_SHA256, signHex, signingKey } from '../../proxy/s3/sigv4.js';

// AWS's published streaming PUT (S3 API reference, "Signature Calculations for the Authorization
// Header: Transferring Payload in Multiple Chunks"): 66,560 bytes of "a" as 65,536 + 1,024 + 0.
const SECRET = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
const SCOPE = { date: '20130524', region: 'us-east-1', service: 's3' };
const AMZ_DATE = '20130524T000000Z';
const SEED = '4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9';
const SIGS = ['ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648', '0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497', 'b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9'];
// AWS's CRT signer's test of trailing headers first:1st, second:2nd, third:3rd after that body.
const TRAILER_SIG = 'df5735bd9f3295cd9386572292562fefc93ba94e80a0a1ddcbd652c4e0a75e6c';
const signing = { key: signingKey(SECRET, SCOPE), amzDate: AMZ_DATE, scope: SCOPE, seedSignature: SEED };
const DATA = Buffer.alloc(66560, 'a');

function awsExample(trailer = ''): Buffer {
  return Buffer.concat([
    Buffer.from(`10000;chunk-signature=${SIGS[0]}\r\n`),
    DATA.subarray(0, 65536),
    Buffer.from(`\r\n400;chunk-signature=${SIGS[1]}\r\n`),
    DATA.subarray(65536),
    Buffer.from(`\r\n0;chunk-signature=${SIGS[2]}\r\n${trailer}\r\n`),
  ]);
}

/** Decodes `body` fed in the given pieces: the data, or the S3 error code. */
function decode(pieces: Buffer[], o: AwsChunkedOptions): { data?: Buffer; trailers?: Map<string, string>; error?: string } {
  const d = new AwsChunkedDecoder(o);
  const out: Buffer[] = [];
  try {
    for (const p of pieces) out.push(...d.push(p).map((b) => Buffer.from(b)));
    return { data: Buffer.concat(out), trailers: d.end() };
  } catch (e) {
    if (isS3Error(e)) return { error: e.code };
    throw e;
  }
}

const exampleOpts: AwsChunkedOptions = { signing, trailers: [], decodedLength: 66560 };

t.test("AWS's signed example decodes to its data, split at any offset", async (t) => {
  const body = awsExample();
  t.same(decode([body], exampleOpts).data, DATA);
  const at = [0, 1, 5, 86, 87, 88, 89, 65536 + 88, 65536 + 89, 65536 + 90, 65536 + 91, 65536 + 92, body.length - 2, body.length - 1, body.length];
  for (let i = 0; i < body.length; i += 4099) at.push(i);
  for (const cut of at) {
    const r = decode([body.subarray(0, cut), body.subarray(cut)], exampleOpts);
    t.ok(r.data?.equals(DATA), `split at ${cut}`);
  }
  // byte by byte through the framing around the second chunk
  const pieces: Buffer[] = [body.subarray(0, 65536 + 80)];
  for (let i = 65536 + 80; i < 65536 + 200; i++) pieces.push(body.subarray(i, i + 1));
  pieces.push(body.subarray(65536 + 200));
  t.ok(decode(pieces, exampleOpts).data?.equals(DATA), 'byte by byte');
});

t.test('a changed byte, signature, size or framing fails the signed body', async (t) => {
  const body = awsExample();
  const flip = (i: number): Buffer => {
    const b = Buffer.from(body);
    b[i] = (b[i] as number) ^ 1;
    return b;
  };
  t.equal(decode([flip(100)], exampleOpts).error, 'SignatureDoesNotMatch', 'a data byte of chunk 1');
  t.equal(decode([flip(65536 + 200)], exampleOpts).error, 'SignatureDoesNotMatch', 'a data byte of chunk 2');
  t.equal(decode([flip(30)], exampleOpts).error, 'SignatureDoesNotMatch', "chunk 1's signature");
  t.equal(decode([body], { ...exampleOpts, signing: { ...signing, seedSignature: SIGS[0] as string } }).error, 'SignatureDoesNotMatch', 'another seed');
  t.equal(decode([body], { ...exampleOpts, decodedLength: 66559 }).error, 'IncompleteBody', 'more data than announced');
  t.equal(decode([body], { ...exampleOpts, decodedLength: 66561 }).error, 'IncompleteBody', 'less data than announced');
  t.equal(decode([body.subarray(0, body.length - 1)], exampleOpts).error, 'IncompleteBody', 'cut before the end');
  t.equal(decode([body, Buffer.from('x')], exampleOpts).error, 'IncompleteBody', 'a byte after the end');
  t.equal(decode([Buffer.from(body.toString('latin1').replace(';chunk-signature', ';chunk-signaturf'), 'latin1')], exampleOpts).error, 'IncompleteBody');
  t.equal(decode([Buffer.from(body.toString('latin1').replace('\r\n400;', '\n\n400;'), 'latin1')], exampleOpts).error, 'IncompleteBody', 'LF LF for CRLF');
  const unsigned: AwsChunkedOptions = { trailers: [], decodedLength: 66560 };
  t.equal(decode([body], unsigned).error, 'IncompleteBody', 'a chunk-signature where none is expected');
});

t.test('signed chunks under 8 KiB are refused but for the last (InvalidChunkSizeError)', async (t) => {
  const key = signing.key;
  const chain = (sizes: number[]): { body: Buffer; data: Buffer } => {
    let prev = SEED;
    const parts: Buffer[] = [];
    const datas: Buffer[] = [];
    for (const n of [...sizes, 0]) {
      const data = Buffer.alloc(n, 'b');
      const sig = signHex(key, chunkStringToSign(AMZ_DATE, SCOPE, prev, n ? createHash('sha256').update(data).digest('hex') : EMPTY_SHA256));
      // the last chunk ("0;…\r\n") has no data and is followed by the (empty) trailer's CRLF
      parts.push(Buffer.from(`${n.toString(16)};chunk-signature=${sig}\r\n`), data, Buffer.from('\r\n'));
      datas.push(data);
      prev = sig;
    }
    return { body: Buffer.concat(parts), data: Buffer.concat(datas) };
  };
  const ok = chain([8192, 100]);
  t.ok(decode([ok.body], { signing, trailers: [], decodedLength: ok.data.length }).data?.equals(ok.data));
  const bad = chain([100, 8192]);
  t.equal(decode([bad.body], { signing, trailers: [], decodedLength: bad.data.length }).error, 'InvalidChunkSizeError');
});

t.test("a signed trailer verifies with AWS's CRT vector; any change fails it", async (t) => {
  const trailer = `first:1st\r\nsecond:2nd\r\nthird:3rd\r\nx-amz-trailer-signature:${TRAILER_SIG}\r\n`;
  const o: AwsChunkedOptions = { signing, trailers: ['first', 'second', 'third'], decodedLength: 66560 };
  const r = decode([awsExample(trailer)], o);
  t.ok(r.data?.equals(DATA));
  t.same(Object.fromEntries(r.trailers ?? []), { first: '1st', second: '2nd', third: '3rd' });
  t.equal(decode([awsExample(trailer.replace('2nd', '2nc'))], o).error, 'SignatureDoesNotMatch');
  t.equal(decode([awsExample(trailer.replace(/x-amz-trailer-signature:.*\r\n/, ''))], o).error, 'SignatureDoesNotMatch', 'no trailer signature');
  t.equal(decode([awsExample(trailer.replace('third:3rd\r\n', ''))], o).error, 'InvalidRequest', 'an announced trailer missing');
  t.equal(decode([awsExample('fourth:4th\r\n' + trailer)], o).error, 'InvalidRequest', 'a trailer not announced');
});

t.test('unsigned aws-chunked bodies with a checksum trailer (what 2025+ SDKs send)', async (t) => {
  const rng = new SeededRandom(11);
  for (let i = 0; i < 40; i++) {
    const sizes = Array.from({ length: rng.int(5) }, () => rng.int(70_000));
    const data = Buffer.concat(sizes.map((n) => Buffer.from(Array.from({ length: n }, () => rng.int(256)))));
    const crc = createChecksum('CRC32');
    crc.update(data);
    const value = await crc.digest();
    let off = 0;
    const parts: string[] = [];
    for (const n of sizes) {
      parts.push(`${n.toString(16)}\r\n${data.subarray(off, off + n).toString('latin1')}\r\n`);
      off += n;
    }
    parts.push(`0\r\nx-amz-checksum-crc32:${value}\r\n\r\n`);
    const body = Buffer.from(parts.join(''), 'latin1');
    const cut = rng.int(body.length + 1);
    const r = decode([body.subarray(0, cut), body.subarray(cut)], { trailers: ['x-amz-checksum-crc32'], decodedLength: data.length });
    t.ok(r.data?.equals(data), `body ${i}: ${sizes.join('+')} bytes`);
    t.equal(r.trailers?.get('x-amz-checksum-crc32'), value);
  }
});

t.test('garbage and endless bodies fail early with bounded memory, never a crash (seeded fuzz)', async (t) => {
  t.equal(decode([Buffer.alloc(5000, '1')], exampleOpts).error, 'IncompleteBody', 'an endless size line');
  t.equal(decode([Buffer.from('zz;chunk-signature=a\r\n')], exampleOpts).error, 'IncompleteBody', 'a size that is not hex');
  t.equal(decode([Buffer.from('fffffffffffffffff\r\n')], exampleOpts).error, 'IncompleteBody', 'a size of 17 hex digits');
  t.equal(decode([Buffer.from(`0\r\n${'x-amz-checksum-crc32:AAAAAA==\r\n'.repeat(1000)}`)], { trailers: ['x-amz-checksum-crc32'], decodedLength: 0 }).error, 'IncompleteBody', 'an endless trailer');
  const rng = new SeededRandom(99);
  const body = awsExample(`first:1st\r\nsecond:2nd\r\nthird:3rd\r\nx-amz-trailer-signature:${TRAILER_SIG}\r\n`);
  const o: AwsChunkedOptions = { signing, trailers: ['first', 'second', 'third'], decodedLength: 66560 };
  const noise = Buffer.from('0123456789abcdef;=\r\n:x-amz-chunk-signature ');
  let ok = 0;
  for (let i = 0; i < 1500; i++) {
    const b = Buffer.from(body);
    const edits = 1 + rng.int(3);
    let mutated = b;
    for (let k = 0; k < edits; k++) {
      // edit near the framing, where a parser can go wrong
      const anchors = [0, 87, 65536 + 89, 65536 + 180, 66560 + 175, mutated.length - 120, mutated.length - 2];
      const at = Math.max(0, Math.min(mutated.length - 1, (anchors[rng.int(anchors.length)] as number) + rng.int(12) - 6));
      const op = rng.int(3);
      if (op === 0) mutated[at] = noise[rng.int(noise.length)] as number;
      else if (op === 1) mutated = Buffer.concat([mutated.subarray(0, at), mutated.subarray(at + 1)]);
      else mutated = Buffer.concat([mutated.subarray(0, at), noise.subarray(rng.int(noise.length), noise.length), mutated.subarray(at)]);
    }
    const cut = rng.int(mutated.length + 1);
    const r = decode([mutated.subarray(0, cut), mutated.subarray(cut)], o);
    if (r.data) {
      ok++;
      t.ok(r.data.equals(DATA), `fuzzed ${i} decoded: it must be the data`);
    } else t.ok(['IncompleteBody', 'SignatureDoesNotMatch', 'InvalidRequest', 'InvalidChunkSizeError'].includes(r.error as string), `fuzzed ${i}: ${r.error}`);
  }
  t.ok(ok < 1500, `${ok} of 1500 mutated bodies still decoded (edits that kept them valid)`);
});

t.test('as a stream: data flows through; a bad body errors instead of ending', async (t) => {
  const out: Buffer[] = [];
  const s = new AwsChunkedStream(exampleOpts);
  await pipeline(Readable.from([awsExample()]), s, async (src: AsyncIterable<Buffer>) => {
    for await (const c of src) out.push(c);
  });
  t.ok(Buffer.concat(out).equals(DATA));
  t.same([...(await s.trailers)], []);
  const bad = Buffer.from(awsExample());
  bad[66_000] = 0x62; // in the second chunk's data
  let ended = false;
  const s2 = new AwsChunkedStream(exampleOpts);
  await t.rejects(
    pipeline(Readable.from([bad.subarray(0, 30_000), bad.subarray(30_000)]), s2, async (src: AsyncIterable<Buffer>) => {
      for await (const _ of src) void _;
      ended = true;
    }),
    { code: 'SignatureDoesNotMatch' },
  );
  t.notOk(ended, 'the consumer never saw an end');
  await t.rejects(s2.trailers, { code: 'SignatureDoesNotMatch' });
});
