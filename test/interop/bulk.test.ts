import t from 'tap';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { connect } from 'node:net';
import { mkdir, mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { request } from 'undici';
import { SeededRandom } from '../../common/random.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';
import { api, type Api } from '../helpers/swift-api.js';

/**
 * The bulk middleware through a real proxy and cluster, with archives made by GNU tar (plain,
 * gzip -z, bzip2 -j) and deletes by the swift CLI (which uses bulk-delete when /info has it).
 */

const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const SWIFT = '/usr/bin/swift';

interface Report {
  'Response Status': string;
  'Response Body': string;
  'Number Files Created'?: number;
  'Number Deleted'?: number;
  'Number Not Found'?: number;
  Errors: [string, string][];
}

/** A bulk request whose body is `body` (a Buffer or a file), answered as JSON. */
async function bulkJson(a: Api, method: string, path: string, body: Buffer | string, headers: Record<string, string> = {}): Promise<{ status: number; raw: string; report: Report }> {
  const isFile = typeof body === 'string';
  const res = await request(`${a.storageUrl}${path}`, {
    method: method as 'PUT',
    headers: {
      'x-auth-token': a.token,
      accept: 'application/json',
      'content-length': String(isFile ? (await stat(body)).size : body.length),
      ...headers,
    },
    body: isFile ? createReadStream(body) : body,
  });
  const raw = await res.body.text();
  return { status: res.statusCode, raw, report: JSON.parse(raw) as Report };
}

async function tree(root: string, files: Record<string, Buffer | string>): Promise<void> {
  for (const [name, data] of Object.entries(files)) {
    await mkdir(join(root, name, '..'), { recursive: true });
    await writeFile(join(root, name), data);
  }
}

async function text(a: Api, path: string): Promise<{ status: number; body: string }> {
  const r = await a.req('GET', path);
  return { status: r.status, body: r.body.toString('utf8') };
}

t.test('extract-archive and bulk-delete with real archives', async (t) => {
  const cluster = await startCluster();
  const work = await mkdtemp(join(tmpdir(), 'bulk-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  const a = await api(cluster);
  const rnd = new SeededRandom(23);
  const blob = Buffer.from(Array.from({ length: 10_000 }, () => rnd.int(256)));
  const src = join(work, 'src');
  await tree(src, {
    'docs/readme.txt': 'read me\n',
    'docs/nested/deep/er/blob.bin': blob,
    'docs/empty': '',
    'photos/été/ünï.txt': 'accents\n',
    'top.txt': 'at the top\n',
  });
  await mkdir(join(src, 'docs', 'emptydir'));
  await symlink('readme.txt', join(src, 'docs', 'link'));
  await run('tar', ['-C', src, '-cf', join(work, 'a.tar'), 'docs', 'photos', 'top.txt']);
  await run('tar', ['-C', src, '-czf', join(work, 'a.tar.gz'), '.']);
  await run('tar', ['-C', src, '--format=posix', '-cjf', join(work, 'a.tar.bz2'), 'docs', 'photos']);

  await t.test('a tar at account level: containers from the first component, top files, links and dirs skipped', async (t) => {
    const { status, report } = await bulkJson(a, 'PUT', '?extract-archive=tar', join(work, 'a.tar'));
    t.equal(status, 200);
    t.same(report, { 'Response Status': '201 Created', 'Response Body': '', 'Number Files Created': 4, Errors: [] });
    t.equal((await text(a, '/docs')).body, 'empty\nnested/deep/er/blob.bin\nreadme.txt\n');
    t.equal((await text(a, '/photos')).body, 'été/ünï.txt\n');
    t.ok((await a.req('GET', '/docs/nested/deep/er/blob.bin')).body.equals(blob));
    t.equal((await a.req('GET', '/docs/empty')).headers['content-length'], '0');
    t.equal((await text(a, `/photos/${encodeURIComponent('été/ünï.txt')}`)).body, 'accents\n');
    t.equal((await a.req('GET', '/docs/readme.txt')).headers['content-type'], 'text/plain', 'the type is guessed from the name');
  });

  await t.test('tar.gz into a container and prefix, "./" names; tar.bz2 in pax format', async (t) => {
    t.equal((await a.req('PUT', '/dest')).status, 201);
    const gz = await bulkJson(a, 'PUT', '/dest/pre/?extract-archive=tar.gz', join(work, 'a.tar.gz'), { 'X-Object-Meta-Batch': 'one' });
    t.same(gz.report, { 'Response Status': '201 Created', 'Response Body': '', 'Number Files Created': 5, Errors: [] });
    t.equal((await text(a, '/dest')).body, 'pre/docs/empty\npre/docs/nested/deep/er/blob.bin\npre/docs/readme.txt\npre/photos/été/ünï.txt\npre/top.txt\n');
    t.equal((await a.req('HEAD', '/dest/pre/top.txt')).headers['x-object-meta-batch'], 'one', 'the request\'s object metadata goes to every member');
    const bz = await bulkJson(a, 'PUT', '/bz?extract-archive=tar.bz2', join(work, 'a.tar.bz2'));
    t.same(bz.report, { 'Response Status': '201 Created', 'Response Body': '', 'Number Files Created': 4, Errors: [] });
    t.equal((await text(a, '/bz')).body, 'docs/empty\ndocs/nested/deep/er/blob.bin\ndocs/readme.txt\nphotos/été/ünï.txt\n');
    t.ok((await a.req('GET', '/bz/docs/nested/deep/er/blob.bin')).body.equals(blob));
  });

  await t.test('a member of tens of MiB streams through', async (t) => {
    const big = join(work, 'big');
    await mkdir(big);
    const md5 = createHash('md5');
    const chunk = Buffer.alloc(1024 * 1024);
    const parts: Buffer[] = [];
    for (let i = 0; i < 40; i++) {
      for (let j = 0; j < chunk.length; j += 4) chunk.writeUInt32LE((rnd.next() * 2 ** 32) >>> 0, j);
      md5.update(chunk);
      parts.push(Buffer.from(chunk));
    }
    await writeFile(join(big, 'blob.bin'), Buffer.concat(parts));
    parts.length = 0;
    await run('tar', ['-C', work, '-czf', join(work, 'big.tar.gz'), 'big']);
    const { report } = await bulkJson(a, 'PUT', '?extract-archive=tar.gz', join(work, 'big.tar.gz'));
    t.same(report, { 'Response Status': '201 Created', 'Response Body': '', 'Number Files Created': 1, Errors: [] });
    const head = await a.req('HEAD', '/big/blob.bin');
    t.equal(head.headers['content-length'], String(40 * 1024 * 1024));
    t.equal(head.headers['etag'], md5.digest('hex'));
  });

  await t.test('per-file errors in Swift\'s format; text/xml and text/plain', async (t) => {
    const bad = join(work, 'bad');
    await tree(bad, { 'c/ok.txt': 'fine' });
    // A name longer than max_object_name_length (GNU tar stores it as a long name), and one that is not UTF-8.
    const longName = `${'d'.repeat(200)}/${'e'.repeat(200)}/${'f'.repeat(200)}/${'g'.repeat(200)}/${'h'.repeat(200)}/${'i'.repeat(200)}`;
    await mkdir(join(bad, 'c', longName, '..'), { recursive: true });
    await writeFile(join(bad, 'c', longName), 'long');
    await writeFile(Buffer.from(`${join(bad, 'c')}/\xff-latin1`, 'latin1'), 'not utf-8');
    await run('tar', ['-C', bad, '-cf', join(work, 'bad.tar'), 'c']);
    const { report } = await bulkJson(a, 'PUT', '?extract-archive=tar', join(work, 'bad.tar'));
    t.equal(report['Response Status'], '400 Bad Request');
    t.equal(report['Number Files Created'], 1);
    t.same(
      report.Errors.sort(),
      [
        [`c/${longName}`, '400 Bad Request'],
        ['c/%FF-latin1', '412 Precondition Failed'],
      ].sort(),
    );
    const xml = await request(`${a.storageUrl}/c?extract-archive=tar`, { method: 'PUT', headers: { 'x-auth-token': a.token, accept: 'text/xml' }, body: await readFile(join(work, 'bad.tar')) });
    t.equal(xml.headers['content-type'], 'text/xml');
    const xmlBody = await xml.body.text();
    t.match(xmlBody, /^<extract>\n<number_files_created>1<\/number_files_created>\n<response_body><\/response_body>\n<response_status>400 Bad Request<\/response_status>\n<errors>\n/);
    t.match(xmlBody, /<object><name>c\/c\/%FF-latin1<\/name><status>412 Precondition Failed<\/status><\/object>/);
    const plain = await request(`${a.storageUrl}?extract-archive=zip`, { method: 'PUT', headers: { 'x-auth-token': a.token }, body: 'x' });
    t.equal(plain.statusCode, 400);
    t.equal(await plain.body.text(), 'Unsupported archive format');
  });

  await t.test('a truncated archive: 400, and the member it broke in is not visible', async (t) => {
    const tr = join(work, 'tr');
    await tree(tr, { 'tc/one.txt': 'one', 'tc/two.bin': Buffer.alloc(300_000, 9), 'tc/three.txt': 'three' });
    await run('tar', ['-C', tr, '-cf', join(work, 'tr.tar'), 'tc/one.txt', 'tc/two.bin', 'tc/three.txt']);
    const whole = await readFile(join(work, 'tr.tar'));
    const { report } = await bulkJson(a, 'PUT', '?extract-archive=tar', whole.subarray(0, 150_000));
    t.equal(report['Response Status'], '400 Bad Request');
    t.match(report['Response Body'], /^Invalid Tar File: /);
    t.equal(report['Number Files Created'], 1);
    t.equal((await a.req('GET', '/tc/one.txt')).status, 200);
    t.equal((await a.req('GET', '/tc/two.bin')).status, 404, 'nothing half-written');
    t.equal((await text(a, '/tc')).body, 'one.txt\n');
  });

  await t.test('a client gone mid-archive: the member it was in is not stored, the proxy carries on', async (t) => {
    const whole = await readFile(join(work, 'tr.tar'));
    const url = new URL(`${a.storageUrl}/gone?extract-archive=tar`);
    const sock = connect(Number(url.port), url.hostname);
    await new Promise((resolve) => sock.once('connect', resolve));
    sock.write(`PUT ${url.pathname}${url.search} HTTP/1.1\r\nHost: ${url.host}\r\nX-Auth-Token: ${a.token}\r\nContent-Length: ${whole.length}\r\n\r\n`);
    sock.write(whole.subarray(0, 150_000));
    // The first member is stored once the proxy got that far; then the client goes.
    for (let i = 0; i < 200 && (await a.req('HEAD', '/gone/tc/one.txt')).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
    t.equal((await a.req('HEAD', '/gone/tc/one.txt')).status, 200);
    sock.destroy();
    t.equal((await request(`${cluster.proxyUrl}/info`)).statusCode, 200, 'still serving');
    t.equal((await a.req('HEAD', '/gone/tc/two.bin')).status, 404, 'nothing half-written');
  });

  await t.test('seeded fuzz: corrupted archives get Swift\'s 400 and the proxy stays up', async (t) => {
    const seed = 4242;
    t.comment(`seed ${seed}`);
    const fr = new SeededRandom(seed);
    const kinds = [
      ['tar', await readFile(join(work, 'a.tar'))],
      ['tar.gz', await readFile(join(work, 'a.tar.gz'))],
      ['tar.bz2', await readFile(join(work, 'a.tar.bz2'))],
    ] as const;
    for (let round = 0; round < 24; round++) {
      const [type, data] = kinds[fr.int(3)] as (typeof kinds)[number];
      let body: Buffer;
      const truncated = fr.int(2) === 0;
      if (truncated) body = data.subarray(0, 1 + fr.int(Math.min(data.length - 1, 4000)));
      else {
        body = Buffer.from(data);
        // Garbage over a header (the first 512 bytes of a tar, or of the compressed stream).
        for (let k = 0; k < 16; k++) body[fr.int(Math.min(512, body.length))] = fr.int(256);
      }
      const { status, report } = await bulkJson(a, 'PUT', `/fuzz${round}?extract-archive=${type}`, body);
      t.equal(status, 200, `round ${round} answered`);
      if (truncated || report['Response Status'] !== '201 Created') t.equal(report['Response Status'], '400 Bad Request', `round ${round} (${type}, ${truncated ? 'truncated' : 'garbled'}): ${report['Response Body']}`);
    }
    t.equal((await request(`${cluster.proxyUrl}/info`)).statusCode, 200, 'still serving');
  });

  await t.test('bulk-delete: objects, then containers; 409 for a container not empty; Swift\'s counts', async (t) => {
    const list = ['/docs/readme.txt', 'docs/empty', '/docs/nested/deep/er/blob.bin', '/docs', 'photos', '/nope/x', `/photos/${encodeURIComponent('été/ünï.txt')}`].join('\n');
    const { status, report } = await bulkJson(a, 'POST', '?bulk-delete', Buffer.from(list), { 'content-type': 'text/plain' });
    t.equal(status, 200);
    t.same(report, { 'Response Status': '200 OK', 'Response Body': '', 'Number Deleted': 6, 'Number Not Found': 1, Errors: [] });
    t.equal((await a.req('HEAD', '/docs')).status, 404, 'emptied, then deleted');
    const conflict = await bulkJson(a, 'DELETE', '?bulk-delete', Buffer.from('dest\n/dest/pre/top.txt\n'), { 'content-type': 'text/plain' });
    t.same(conflict.report, { 'Response Status': '400 Bad Request', 'Response Body': '', 'Number Deleted': 1, 'Number Not Found': 0, Errors: [['dest', '409 Conflict']] });
    const form = await bulkJson(a, 'POST', '?bulk-delete', Buffer.from('dest'), { 'content-type': 'application/x-www-form-urlencoded' });
    t.equal(form.report['Response Status'], '406 Not Acceptable');
    const notUtf8 = await bulkJson(a, 'POST', '?bulk-delete', Buffer.from('/dest/%FF\n'), { 'content-type': 'text/plain' });
    t.same(notUtf8.report.Errors, [['/dest/%FF', '412 Precondition Failed']]);
    const empty = await bulkJson(a, 'POST', '?bulk-delete', Buffer.from('\n\n'), { 'content-type': 'text/plain' });
    t.same(empty.report, { 'Response Status': '400 Bad Request', 'Response Body': 'Invalid bulk delete.', 'Number Deleted': 0, 'Number Not Found': 0, Errors: [] });
  });

  await t.test('as another user: each object authorized on its own', async (t) => {
    const b = await api(cluster, 'test:tester3', 'testing3');
    const { report } = await bulkJson(b, 'PUT', '/dest?extract-archive=tar', join(work, 'a.tar'));
    t.equal(report['Response Status'], '400 Bad Request');
    t.equal(report['Number Files Created'], 0);
    t.ok(report.Errors.length > 0 && report.Errors.every(([, s]) => s === '403 Forbidden'), 'every member refused');
    const bad = await request(`${a.storageUrl}?bulk-delete`, { method: 'POST', headers: { 'x-auth-token': 'AUTH_tkbogus', accept: 'application/json', 'content-type': 'text/plain' }, body: 'dest/pre/docs/readme.txt' });
    t.same(JSON.parse(await bad.body.text()).Errors, [['dest/pre/docs/readme.txt', '401 Unauthorized']]);
    t.equal((await a.req('HEAD', '/dest/pre/docs/readme.txt')).status, 200, 'still there');
  });

  await t.test('/info advertises bulk as Swift does; `swift delete` of many objects goes through bulk-delete', { skip: !(await stat(SWIFT).catch(() => false)) ? 'python3-swiftclient not installed (.ci/run installs it)' : false }, async (t) => {
    const info = (await (await request(`${cluster.proxyUrl}/info`)).body.json()) as Record<string, unknown>;
    t.same(info['bulk_upload'], { max_containers_per_extraction: 10000, max_failed_extractions: 1000 });
    t.same(info['bulk_delete'], { max_deletes_per_request: 10000, max_failed_deletes: 1000 });
    const many = join(work, 'many');
    const files: Record<string, string> = {};
    for (let i = 0; i < 150; i++) files[`many/o${String(i).padStart(3, '0')}`] = `object ${i}`;
    await tree(work, files);
    await run('tar', ['-C', work, '-cf', join(work, 'many.tar'), 'many']);
    t.equal((await bulkJson(a, 'PUT', '?extract-archive=tar', join(work, 'many.tar'))).report['Number Files Created'], 150);
    const { stdout, stderr } = await run(PYTHON, [SWIFT, '--debug', '-A', cluster.authUrl, '-U', 'test:tester', '-K', 'testing', 'delete', 'many'], { cwd: many, maxBuffer: 64 * 1024 * 1024 });
    t.match(stderr, /bulk-delete/, 'swiftclient used bulk-delete');
    t.equal(stdout.split('\n').filter((l) => /^o\d{3}$/.test(l)).length, 150, 'every object reported deleted');
    t.equal((await a.req('HEAD', '/many')).status, 404, 'and the container');
  });
});

t.test('limits and keep-alive whitespace (yield frequency 0)', async (t) => {
  const cluster: Cluster = await startCluster({
    proxyConfig: { max_containers_per_extraction: 2, max_failed_extractions: 2, max_deletes_per_request: 3, max_failed_deletes: 1, bulk_yield_frequency_s: 0, max_file_size: 1000 },
  });
  const work = await mkdtemp(join(tmpdir(), 'bulk-limits-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  const a = await api(cluster);
  await tree(work, { 'c1/a': 'a', 'c2/b': 'b', 'c3/c': 'c', 'c4/d': 'd' });
  await run('tar', ['-C', work, '-cf', join(work, 'four.tar'), 'c1', 'c2', 'c3', 'c4']);
  const { raw, report } = await bulkJson(a, 'PUT', '?extract-archive=tar', join(work, 'four.tar'));
  t.match(raw, /^ +\r\n\r\n\{/, 'whitespace while working, then a blank line and the report');
  t.same(report, { 'Response Status': '400 Bad Request', 'Response Body': 'More than 2 containers to create from tar.', 'Number Files Created': 2, Errors: [] });
  t.equal((await a.req('HEAD', '/c3')).status, 204, 'the container over the limit was made (Swift counts after creating)');
  t.equal((await a.req('GET', '/c3/c')).status, 404, 'but nothing was written into it');

  const xml = await request(`${a.storageUrl}/c1?extract-archive=tar`, { method: 'PUT', headers: { 'x-auth-token': a.token, accept: 'application/xml' }, body: await readFile(join(work, 'four.tar')) });
  t.match(await xml.body.text(), /^<\?xml version="1\.0" encoding="UTF-8"\?>\n *\r\n\r\n<extract>\n/, 'XML: the declaration is the first keep-alive');

  // A bomb of members over max_file_size: each refused unsent, and the extraction stops after max_failed_extractions.
  const bomb: Record<string, Buffer> = {};
  for (let i = 0; i < 5; i++) bomb[`bomb/m${i}`] = Buffer.alloc(2000 + i, 1);
  bomb['bomb/small'] = Buffer.from('ok');
  await tree(work, bomb);
  await run('tar', ['-C', work, '-cf', join(work, 'bomb.tar'), 'bomb/m0', 'bomb/m1', 'bomb/m2', 'bomb/small', 'bomb/m3', 'bomb/m4']);
  const bombed = await bulkJson(a, 'PUT', '/c1?extract-archive=tar', join(work, 'bomb.tar'));
  t.same(bombed.report, {
    'Response Status': '400 Bad Request',
    'Response Body': '',
    'Number Files Created': 0,
    Errors: [
      ['c1/bomb/m0', '413 Request Entity Too Large'],
      ['c1/bomb/m1', '413 Request Entity Too Large'],
    ],
  });
  t.equal((await a.req('GET', '/c1/bomb/m0')).status, 404, 'nothing of it written');

  const many = await bulkJson(a, 'POST', '?bulk-delete', Buffer.from('c/1\nc/2\nc/3\nc/4\n'), { 'content-type': 'text/plain' });
  t.same(many.report, { 'Response Status': '413 Request Entity Too Large', 'Response Body': 'Maximum Bulk Deletes: 3 per request', 'Number Deleted': 0, 'Number Not Found': 0, Errors: [] });
  const fails = await bulkJson(a, 'POST', '?bulk-delete', Buffer.from('c1\nc2\n'), { 'content-type': 'text/plain' });
  t.same(fails.report['Response Status'], '400 Bad Request');
  t.same(fails.report['Response Body'], 'Max delete failures exceeded');
});
