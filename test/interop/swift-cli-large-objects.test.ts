import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { request } from 'undici';
import { startCluster } from '../helpers/cluster.js';
import { seededBytes } from '../helpers/client-tools.js';

const run = promisify(execFile);
// Debian's swift CLI must run under the system Python (its modules live there).
const PYTHON = '/usr/bin/python3';
const SWIFT = '/usr/bin/swift';
const md5 = (b: Buffer | string): string => createHash('md5').update(b).digest('hex');

t.test('large objects with the swift CLI and raw requests', { skip: !existsSync(SWIFT) ? 'python3-swiftclient not installed (.ci/run installs it)' : false }, async (t) => {
  const cluster = await startCluster();
  const work = await mkdtemp(join(tmpdir(), 'swiftcli-lo-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  const swift = async (...args: string[]): Promise<string> =>
    (await run(PYTHON, [SWIFT, '-A', cluster.authUrl, '-U', 'test:tester', '-K', 'testing', ...args], { cwd: work, maxBuffer: 64 * 1024 * 1024 })).stdout;
  const { token, storageUrl } = await cluster.token();
  const call = async (method: string, path: string, headers: Record<string, string> = {}, body?: string | Buffer) => {
    const res = await request(`${storageUrl}${path}`, { method: method as 'GET', headers: { 'x-auth-token': token, ...headers }, ...(body !== undefined ? { body } : {}) });
    const data = Buffer.from(await res.body.arrayBuffer());
    return { status: res.statusCode, headers: res.headers as Record<string, string>, body: data, text: data.toString() };
  };

  const big = seededBytes(12_000_000, 23);
  await writeFile(join(work, 'big.bin'), big);

  t.test('capabilities: slo with Swift\'s limits', async (t) => {
    const caps = JSON.parse((await request(`${cluster.proxyUrl}/info`).then((r) => r.body.text())) as string) as Record<string, Record<string, unknown>>;
    t.same(caps['slo'], { max_manifest_segments: 1000, max_manifest_size: 8 * 1024 * 1024, yield_frequency: 10, min_segment_size: 1, allow_async_delete: false });
  });

  t.test('swift upload -S (DLO: swiftclient 4.1\'s default) round-trips; delete removes the segments', async (t) => {
    await swift('upload', '-S', '5000000', 'dlo', 'big.bin');
    const stat = await swift('stat', 'dlo', 'big.bin');
    t.match(stat, /Content Length: 12000000/);
    t.match(stat, /Manifest: dlo_segments\/big\.bin\//);
    await swift('download', 'dlo', 'big.bin', '-o', join(work, 'dlo.out'));
    t.ok((await readFile(join(work, 'dlo.out'))).equals(big), 'download returns the bytes');
    // As in Swift, a DLO manifest lists as what it is: an empty object.
    t.match(await swift('list', '--long', 'dlo'), /^\s+0 .* big\.bin$/m);
    // The DLO's ETag: the quoted md5 of its segments' ETags.
    const segs = JSON.parse((await call('GET', '/dlo_segments?format=json')).text) as Array<{ hash: string }>;
    t.equal(segs.length, 3);
    t.match(stat, new RegExp(`ETag: "${md5(segs.map((s) => s.hash).join(''))}"`));
    const manifest = await call('GET', '/dlo/big.bin?multipart-manifest=get');
    t.equal(manifest.body.length, 0, '?multipart-manifest=get: the manifest object itself');
    const range = await call('GET', '/dlo/big.bin', { range: 'bytes=4999990-5000009' });
    t.equal(range.status, 206);
    t.ok(range.body.equals(big.subarray(4999990, 5000010)), 'a range across a segment boundary');
    t.equal((await call('GET', '/dlo/big.bin', { 'if-none-match': stat.match(/ETag: (".*")/)?.[1] ?? '' })).status, 304);
    await swift('delete', 'dlo', 'big.bin');
    t.equal(await swift('list', 'dlo_segments'), '');
  });

  t.test('swift upload -S --use-slo --segment-container round-trips, lists, copies and deletes', async (t) => {
    await swift('upload', '-S', '5000000', '--use-slo', '--segment-container', 'segs', 'slo', 'big.bin');
    const stat = await swift('stat', 'slo', 'big.bin');
    t.match(stat, /Content Length: 12000000/);
    t.match(stat, /X-Static-Large-Object: True/);
    const segs = JSON.parse((await call('GET', '/segs?format=json')).text) as Array<{ hash: string; name: string }>;
    t.equal(segs.length, 3);
    const sloEtag = md5(segs.map((s) => s.hash).join(''));
    t.match(stat, new RegExp(`ETag: "${sloEtag}"`));
    await swift('download', 'slo', 'big.bin', '-o', join(work, 'slo.out'));
    t.ok((await readFile(join(work, 'slo.out'))).equals(big), 'download returns the bytes');
    t.match(await swift('list', '--long', 'slo'), /^\s+12000000 .* big\.bin$/m, 'the listing shows the large object\'s size');
    const listing = JSON.parse((await call('GET', '/slo?format=json')).text) as Array<Record<string, unknown>>;
    t.equal(listing[0]?.['slo_etag'], `"${sloEtag}"`);
    t.equal(listing[0]?.['bytes'], 12_000_000);

    const ranged = await call('GET', '/slo/big.bin', { range: 'bytes=4999990-5000009' });
    t.equal(ranged.status, 206);
    t.equal(ranged.headers['content-range'], 'bytes 4999990-5000009/12000000');
    t.ok(ranged.body.equals(big.subarray(4999990, 5000010)));
    t.equal((await call('GET', '/slo/big.bin', { 'if-match': '"nope"' })).status, 412);
    t.equal((await call('HEAD', '/slo/big.bin', { 'if-none-match': `"${sloEtag}"` })).status, 304);
    const manifest = await call('GET', '/slo/big.bin?multipart-manifest=get');
    t.equal(manifest.headers['content-type'], 'application/json; charset=utf-8');
    t.same(
      (JSON.parse(manifest.text) as Array<{ name: string }>).map((s) => s.name),
      segs.map((s) => `/segs/${s.name}`),
    );
    const raw = JSON.parse((await call('GET', '/slo/big.bin?multipart-manifest=get&format=raw')).text) as Array<Record<string, unknown>>;
    t.same(Object.keys(raw[0] ?? {}), ['etag', 'path', 'size_bytes']);

    await swift('copy', 'slo', 'big.bin', '--destination', '/slo/copy.bin');
    await swift('download', 'slo', 'copy.bin', '-o', join(work, 'copy.out'));
    t.ok((await readFile(join(work, 'copy.out'))).equals(big), 'a copy of an SLO holds its bytes');
    t.notMatch(await swift('stat', 'slo', 'copy.bin'), /Static-Large-Object/);
    const mcopy = await call('COPY', '/slo/big.bin?multipart-manifest=get', { destination: 'slo/manifest-copy' });
    t.equal(mcopy.status, 201);
    t.match(await swift('stat', 'slo', 'manifest-copy'), /X-Static-Large-Object: True/, 'with multipart-manifest=get the copy is a manifest');

    await swift('delete', 'slo', 'copy.bin');
    await swift('delete', 'slo', 'manifest-copy', '--leave-segments');
    await swift('delete', 'slo', 'big.bin');
    t.equal(await swift('list', 'segs'), '', 'deleting the manifest deleted its segments');
    t.equal(await swift('list', 'slo'), '');
  });

  t.test('manifests built by hand: ranges, data segments, nesting, heartbeat, delete report', async (t) => {
    const a = big.subarray(0, 1000);
    const b = big.subarray(1000, 3000);
    await call('PUT', '/hand');
    t.equal((await call('PUT', '/hand/a', {}, a)).status, 201);
    t.equal((await call('PUT', '/hand/b', {}, b)).status, 201);
    const body = JSON.stringify([
      { path: '/hand/a', etag: md5(a), size_bytes: 1000, range: '10-19' },
      { data: Buffer.from('inline!').toString('base64') },
      { path: 'hand/b' },
    ]);
    const put = await call('PUT', '/hand/m?multipart-manifest=put', {}, body);
    t.equal(put.status, 201, put.text);
    const expected = Buffer.concat([a.subarray(10, 20), Buffer.from('inline!'), b]);
    const got = await call('GET', '/hand/m');
    t.ok(got.body.equals(expected));
    t.equal(got.headers['etag'], `"${md5(`${md5(a)}:10-19;${md5('inline!')}${md5(b)}`)}"`, 'the ETag as Swift computes it');
    t.equal(put.headers['etag'], got.headers['etag']);
    const nested = await call('PUT', '/hand/n?multipart-manifest=put', {}, JSON.stringify([{ path: '/hand/m' }, { path: '/hand/a', range: '-5' }]));
    t.equal(nested.status, 201, nested.text);
    const n = await call('GET', '/hand/n', { range: 'bytes=15-2024' });
    t.ok(n.body.equals(Buffer.concat([expected, a.subarray(995)]).subarray(15, 2025)), 'a range of a nested SLO');

    const hb = await call('PUT', '/hand/hb?multipart-manifest=put&heartbeat=on', { accept: 'application/json' }, JSON.stringify([{ path: '/hand/a' }]));
    t.equal(hb.status, 202);
    const report = JSON.parse(hb.text.trim()) as Record<string, unknown>;
    t.equal(report['Response Status'], '201 Created');
    t.equal(report['Etag'], `"${md5(md5(a))}"`);

    const del = await call('DELETE', '/hand/n?multipart-manifest=delete', { accept: 'application/json' });
    t.equal(del.status, 200);
    const d = JSON.parse(del.text) as Record<string, unknown>;
    t.equal(d['Response Status'], '200 OK');
    // n, m, and their segments a (twice: once Not Found), b.
    t.equal((d['Number Deleted'] as number) + (d['Number Not Found'] as number), 5);
    t.equal((await call('GET', '/hand/b')).status, 404);
  });

  t.test('bad input gets Swift\'s 4xx and the server stays up', async (t) => {
    await call('PUT', '/bad');
    const s1 = seededBytes(3000, 1);
    const s2 = seededBytes(3000, 2);
    const s3 = seededBytes(3000, 3);
    for (const [name, data] of [['s1', s1], ['s2', s2], ['s3', s3]] as const) await call('PUT', `/bad/${name}`, {}, data);

    const malformed = await call('PUT', '/bad/m?multipart-manifest=put', {}, '[{"path": "/bad/s1"');
    t.equal(malformed.status, 400);
    t.equal(malformed.text, 'Manifest must be valid JSON.\n');
    const missing = await call('PUT', '/bad/m?multipart-manifest=put', {}, JSON.stringify([{ path: '/bad/s1' }, { path: '/bad/nope' }]));
    t.equal(missing.status, 400);
    t.equal(missing.text, 'Errors:\n/bad/nope, 404 Not Found\n');
    const wrong = await call('PUT', '/bad/m?multipart-manifest=put', { accept: 'application/json' }, JSON.stringify([{ path: '/bad/s1', etag: md5('x'), size_bytes: 1 }]));
    t.equal(wrong.status, 400);
    t.same(JSON.parse(wrong.text), { Errors: [['/bad/s1', 'Size Mismatch'], ['/bad/s1', 'Etag Mismatch']] });
    const many = await call('PUT', '/bad/m?multipart-manifest=put', {}, JSON.stringify(Array.from({ length: 1001 }, () => ({ path: '/bad/s1' }))));
    t.equal(many.status, 413);
    t.equal(many.text, 'Number of object-backed segments must be <= 1000');
    const huge = Buffer.alloc(8 * 1024 * 1024 + 1, 0x20);
    const tooBig = await call('PUT', '/bad/m?multipart-manifest=put', {}, huge);
    t.equal(tooBig.status, 413);
    t.equal(tooBig.text, 'Manifest File > 8388608 bytes');
    const chunked = await request(`${storageUrl}/bad/m?multipart-manifest=put`, { method: 'PUT', headers: { 'x-auth-token': token }, body: Readable.from([huge]) });
    t.equal(chunked.statusCode, 400, 'a chunked manifest is read up to the limit only');
    t.equal(await chunked.body.text(), 'Manifest must be valid JSON.\n');
    t.equal((await call('PUT', '/bad/m', { 'x-static-large-object': 'true' }, '[]')).status, 400, 'the reserved header');
    t.equal((await call('GET', '/bad/m')).status, 404, 'nothing half-written is visible');

    // A segment gone at GET time: the first one → 409 before any byte; a later one → the connection is cut.
    const body = JSON.stringify([{ path: '/bad/s1' }, { path: '/bad/s2' }, { path: '/bad/s3' }]);
    t.equal((await call('PUT', '/bad/m?multipart-manifest=put', {}, body)).status, 201);
    t.equal((await call('DELETE', '/bad/s3')).status, 204);
    const res = await request(`${storageUrl}/bad/m`, { headers: { 'x-auth-token': token } });
    t.equal(res.statusCode, 200);
    t.equal(res.headers['content-length'], '9000');
    let received = 0;
    const cut = await (async () => {
      try {
        for await (const c of res.body) received += (c as Buffer).length;
        return false;
      } catch {
        return true;
      }
    })();
    t.ok(cut, 'the body fails: never silently short');
    t.ok(received <= 6000, `at most the good segments' bytes (${received})`);
    t.equal((await call('DELETE', '/bad/s1')).status, 204);
    t.equal((await call('GET', '/bad/m')).status, 409, 'the first segment missing: 409');

    // A loop (A → B → A, made by overwriting A) and a chain deeper than 10: 409.
    await call('PUT', '/bad/s1', {}, s1);
    t.equal((await call('PUT', '/bad/A?multipart-manifest=put', {}, JSON.stringify([{ path: '/bad/s1' }]))).status, 201);
    t.equal((await call('PUT', '/bad/B?multipart-manifest=put', {}, JSON.stringify([{ path: '/bad/A' }]))).status, 201);
    t.equal((await call('PUT', '/bad/A?multipart-manifest=put', {}, JSON.stringify([{ path: '/bad/B' }]))).status, 201);
    t.equal((await call('GET', '/bad/A')).status, 409, 'a manifest loop');
    let prev = '/bad/s2';
    for (let i = 0; i < 11; i++) {
      t.equal((await call('PUT', `/bad/d${i}?multipart-manifest=put`, {}, JSON.stringify([{ path: prev }]))).status, 201);
      prev = `/bad/d${i}`;
    }
    t.ok((await call('GET', '/bad/d8')).body.equals(s2), 'nine deep reads');
    t.equal((await call('GET', '/bad/d10')).status, 409, 'eleven deep is refused');
    t.equal((await request(`${cluster.proxyUrl}/healthcheck`)).statusCode, 200, 'the proxy is still up');
  });
});
