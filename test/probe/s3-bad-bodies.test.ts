import t from 'tap';
import { createHash } from 'node:crypto';
import { crc32 } from '@node-rs/crc32';
import { request } from 'undici';
import { startCluster } from '../helpers/cluster.js';
import { awsSigner } from '../helpers/aws-signer.js';


/**
 * Bodies that do not match what was signed or announced, through a real cluster: each gets S3's
 * error, and nothing is stored (the PUT the body feeds is aborted on every node), and the proxy
 * stays up.
 */
t.test('S3 PUTs whose body is not what was signed store nothing', async (t) => {
  const cluster = await startCluster();
  t.teardown(() => cluster.stop());
  const url = new URL(cluster.proxyUrl);
  const signer = awsSigner('test:tester', 'testing');
  const send = async (method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<{ status: number; text: string }> => {
    const signed = (await signer.sign({ method, protocol: 'http:', hostname: url.hostname, port: Number(url.port), path, query: {}, headers: { host: url.host, ...headers } } as never)) as unknown as { headers: Record<string, string> };
    const res = await request(`${cluster.proxyUrl}${path}`, { method: method as 'PUT', headers: signed.headers, ...(body ? { body } : {}) });
    return { status: res.statusCode, text: await res.body.text() };
  };
  const sha = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');
  const code = (text: string): string => /<Code>([^<]*)<\/Code>/.exec(text)?.[1] ?? `(no code: ${text.slice(0, 100)})`;
  const stored = async (key: string): Promise<number> => (await send('HEAD', `/badb/${key}`, { 'x-amz-content-sha256': sha('') })).status;

  t.equal((await send('PUT', '/badb', { 'x-amz-content-sha256': sha('') })).status, 200);

  // x-amz-content-sha256 of another body
  const good = Buffer.from('the body that was signed');
  const r1 = await send('PUT', '/badb/sha', { 'x-amz-content-sha256': sha(good), 'content-length': String(good.length) }, Buffer.from('the body that was NOT signed').subarray(0, good.length));
  t.equal(r1.status, 400);
  t.equal(code(r1.text), 'XAmzContentSHA256Mismatch');
  t.equal(await stored('sha'), 404, 'nothing stored');

  // an unsigned-trailer aws-chunked body whose CRC32 trailer is wrong
  const data = Buffer.alloc(20_000, 'q');
  const chunked = (trailer: string): Buffer => Buffer.concat([Buffer.from(`4e20\r\n`), data, Buffer.from(`\r\n0\r\n${trailer}\r\n\r\n`)]);
  const trailerHeaders = (body: Buffer): Record<string, string> => ({
    'x-amz-content-sha256': 'STREAMING-UNSIGNED-PAYLOAD-TRAILER',
    'content-encoding': 'aws-chunked',
    'x-amz-decoded-content-length': String(data.length),
    'x-amz-trailer': 'x-amz-checksum-crc32',
    'content-length': String(body.length),
  });
  const bad = chunked('x-amz-checksum-crc32:AAAAAA==');
  const r2 = await send('PUT', '/badb/crc', trailerHeaders(bad), bad);
  t.equal(r2.status, 400);
  t.equal(code(r2.text), 'BadDigest');
  t.equal(await stored('crc'), 404, 'nothing stored');

  // framing cut short: fewer data bytes than x-amz-decoded-content-length, then the last chunk
  const short = Buffer.concat([Buffer.from(`10\r\n`), data.subarray(0, 16), Buffer.from(`\r\n0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n`)]);
  const r3 = await send('PUT', '/badb/short', trailerHeaders(short), short);
  t.equal(r3.status, 400);
  t.equal(code(r3.text), 'IncompleteBody');
  t.equal(await stored('short'), 404, 'nothing stored');

  // a size line that never ends
  const endless = Buffer.alloc(10_000, '1');
  const r4 = await send('PUT', '/badb/endless', trailerHeaders(endless), endless);
  t.equal(r4.status, 400);
  t.equal(code(r4.text), 'IncompleteBody');
  t.equal(await stored('endless'), 404, 'nothing stored');

  // and the good one, to show the same path stores what is right
  const value = Buffer.alloc(4);
  value.writeUInt32BE(crc32(data) >>> 0);
  const ok = chunked(`x-amz-checksum-crc32:${value.toString('base64')}`);
  const r5 = await send('PUT', '/badb/ok', trailerHeaders(ok), ok);
  t.equal(r5.status, 200, r5.text);
  t.equal(await stored('ok'), 200);
  t.equal((await send('GET', '/', { 'x-amz-content-sha256': sha('') })).status, 200, 'the proxy is still up');
});
