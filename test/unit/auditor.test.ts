import { createHash } from 'node:crypto';
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { crc32c } from '@node-rs/crc32';
import t from 'tap';
import { hashPath } from '../../common/hash-path.js';
import { Timestamp } from '../../common/timestamp.js';
import { checkDataMetadata, createAuditor } from '../../replicator/auditor.js';
import type { DaemonRings } from '../../replicator/context.js';
import { objectLocation, type ObjectLocation } from '../../storage-node/object/layout.js';
import { crcHex } from '../../common/checksum.js';
import { encodeTrailer } from '../../storage-node/object/metadata.js';
import { call, closeClientAfter, daemonContext, makeRings, SECRET, stamper, startNode, type FakeTime, type TestNode } from '../helpers/daemon-nodes.js';
import { parseStoragePolicies } from '../../common/storage-policy.js';

/** The auditor over a real object server's files: corruption, bad metadata, rate limit. */

closeClientAfter(t);

async function ls(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

interface Setup {
  node: TestNode;
  rings: DaemonRings;
  time: FakeTime;
  stamp: () => Timestamp;
  loc(obj: string): ObjectLocation;
  put(obj: string, body: string | Buffer): Promise<string>;
}

async function setup(t: Parameters<typeof startNode>[0]): Promise<Setup> {
  const time: FakeTime = { ms: 1_700_000_000_000 };
  const stamp = stamper(time);
  const node = await startNode(t, { device: 'sda1', time });
  const rings = await makeRings(t, [node], 1);
  const loc = (obj: string) => objectLocation(node.devicePath, rings.object().partitionFor('AUTH_a', 'c', obj), hashPath(SECRET, 'AUTH_a', 'c', obj));
  return {
    node,
    rings,
    time,
    stamp,
    loc,
    /** PUTs an object straight to the node; answers its .data path. */
    async put(obj, body) {
      const part = rings.object().partitionFor('AUTH_a', 'c', obj);
      const r = await call('PUT', node.url(part, 'AUTH_a', 'c', obj), { 'X-Timestamp': stamp().internal, 'Content-Type': 'text/plain' }, body);
      if (r.status !== 201) throw new Error(`PUT ${obj}: ${r.status}`);
      const l = loc(obj);
      return join(l.hashDir, (await ls(l.hashDir)).find((n) => n.endsWith('.data')) as string);
    },
  };
}

/** What the replicator leaves after rehashing: no suffix marked dirty. */
async function clearInvalidations(devicePath: string): Promise<void> {
  for (const part of await ls(join(devicePath, 'objects'))) await rm(join(devicePath, 'objects', part, 'hashes.invalid'), { force: true });
}

async function flipByte(path: string, at: number): Promise<void> {
  const fh = await open(path, 'r+');
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, at);
    b[0] = (b[0] as number) ^ 0xff;
    await fh.write(b, 0, 1, at);
  } finally {
    await fh.close();
  }
}

/** A .data as the object server writes it, with whatever metadata the test wants. */
function dataFile(body: Buffer, meta: Record<string, string>): Buffer {
  const m = { 'Content-Length': String(body.length), 'Content-Type': 'text/plain', ETag: createHash('md5').update(body).digest('hex'), 'X-Crc32c': crcHex(crc32c(body)), ...meta };
  return Buffer.concat([body, encodeTrailer(m)]);
}

t.test('a flipped byte is quarantined and its suffix invalidated; good objects are untouched', async (t) => {
  const s = await setup(t);
  const good1 = await s.put('good1', 'first good body');
  const good2 = await s.put('good2', Buffer.alloc(70_000, 7)); // more than one small read
  const bad = await s.put('bad', 'this body will rot');
  const sizes = await Promise.all([good1, good2, bad].map(async (p) => (await stat(p)).size));
  await clearInvalidations(s.node.devicePath);
  await flipByte(bad, 3);

  const auditor = createAuditor(daemonContext(t, s.node, s.rings, s.time, { auditor_bytes_per_s: 0 }));
  const r = await auditor.runOnce();
  t.equal(r.daemon, 'auditor');
  t.equal(r.counts.objectsChecked, 3);
  t.equal(r.counts.bytesChecked, sizes.reduce((a, b) => a + b, 0));
  t.equal(r.counts.quarantined, 1);
  t.equal(r.counts.failures, undefined);

  const badLoc = s.loc('bad');
  const name = bad.slice(badLoc.hashDir.length + 1);
  t.same(await ls(join(s.node.devicePath, 'quarantined', 'objects', badLoc.hash)), [name], 'moved to quarantined/objects/<hash>/');
  t.same(await ls(badLoc.hashDir), [], 'gone from the hash dir');
  const invalid = (await readFile(join(badLoc.partitionDir, 'hashes.invalid'), 'utf8')).split('\n');
  t.ok(invalid.includes(badLoc.suffix), 'suffix marked for the replicator');

  for (const [obj, path] of [['good1', good1], ['good2', good2]] as const) {
    t.ok((await stat(path)).isFile(), `${obj} still in place`);
    const part = s.rings.object().partitionFor('AUTH_a', 'c', obj);
    t.equal((await call('GET', s.node.url(part, 'AUTH_a', 'c', obj))).status, 200, `${obj} still readable`);
  }
  const goodParts = new Set([s.loc('good1'), s.loc('good2')].filter((l) => l.partition !== badLoc.partition).map((l) => l.partitionDir));
  for (const dir of goodParts) t.same(await ls(dir).then((n) => n.filter((x) => x === 'hashes.invalid')), [], 'other partitions not invalidated');

  const again = await auditor.runOnce();
  t.equal(again.counts.objectsChecked, 2);
  t.equal(again.counts.quarantined, undefined, 'nothing more to quarantine');
});

t.test('files with sound checksums but wrong metadata are quarantined', async (t) => {
  const s = await setup(t);
  const body = Buffer.from('consistent bytes');

  // A file for another object sitting in this one's directory.
  const here = s.loc('here');
  const ts1 = s.stamp();
  await mkdir(here.hashDir, { recursive: true });
  await writeFile(join(here.hashDir, `${ts1.internal}.data`), dataFile(body, { name: '/AUTH_a/c/elsewhere', 'X-Timestamp': ts1.internal }));

  // A file whose X-Timestamp is not its name's.
  const warp = s.loc('warp');
  const ts2 = s.stamp();
  await mkdir(warp.hashDir, { recursive: true });
  await writeFile(join(warp.hashDir, `${ts2.internal}.data`), dataFile(body, { name: '/AUTH_a/c/warp', 'X-Timestamp': s.stamp().internal }));

  // A good .data with an unreadable newer .meta.
  const meta = s.loc('meta');
  await s.put('meta', 'fine');
  const metaName = `${s.stamp().internal}.meta`;
  await writeFile(join(meta.hashDir, metaName), '{"X-Timestamp": ');

  const r = await createAuditor(daemonContext(t, s.node, s.rings, s.time, { auditor_bytes_per_s: 0 })).runOnce();
  t.equal(r.counts.objectsChecked, 3);
  t.equal(r.counts.quarantined, 3);
  t.same(await ls(join(s.node.devicePath, 'quarantined', 'objects', here.hash)), [`${ts1.internal}.data`]);
  t.same(await ls(join(s.node.devicePath, 'quarantined', 'objects', warp.hash)), [`${ts2.internal}.data`]);
  t.same(await ls(join(s.node.devicePath, 'quarantined', 'objects', meta.hash)), [metaName]);
  t.equal((await ls(meta.hashDir)).filter((n) => n.endsWith('.data')).length, 1, 'the .data under a bad .meta stays');
});

t.test('checkDataMetadata', async (t) => {
  const ts = Timestamp.parse('1700000000.00000');
  const hash = hashPath(SECRET, 'a', 'c', 'o/with/slashes');
  const ok = { name: '/a/c/o/with/slashes', 'X-Timestamp': ts.internal, 'Content-Length': '3', ETag: 'e', 'X-Crc32c': '00000000' };
  t.equal(checkDataMetadata(SECRET, hash, ts, ok, 3), undefined);
  t.match(checkDataMetadata(SECRET, hash, ts, { ...ok, name: 'a/c/o' }, 3), /bad name/);
  t.match(checkDataMetadata(SECRET, hash, ts, { ...ok, name: '/a/c/other' }, 3), /does not hash/);
  t.match(checkDataMetadata(SECRET, hash, ts, { ...ok, 'X-Timestamp': '1700000000.00001' }, 3), /X-Timestamp/);
  t.match(checkDataMetadata(SECRET, hash, ts, ok, 4), /Content-Length/);
  const { 'X-Crc32c': _drop, ...noCrc } = ok;
  t.match(checkDataMetadata(SECRET, hash, ts, noCrc, 3), /X-Crc32c/);
});

/** One auditor pass whose waits advance the fake clock: its report, its waits, the seconds it took. */
async function timedPass(t: Parameters<typeof startNode>[0], s: Setup, config: Record<string, unknown>) {
  const sleeps: number[] = [];
  const sleep = async (ms: number) => {
    sleeps.push(ms);
    s.time.ms += ms;
  };
  const started = s.time.ms;
  const r = await createAuditor(daemonContext(t, s.node, s.rings, s.time, config), { sleep }).runOnce();
  return { r, sleeps, elapsedS: (s.time.ms - started) / 1000 };
}

t.test('reads stay under auditor_bytes_per_s (injected clock and sleep)', async (t) => {
  const s = await setup(t);
  const paths: string[] = [];
  for (let i = 0; i < 4; i++) paths.push(await s.put(`o${i}`, Buffer.alloc(900, i)));
  const sizes = await Promise.all(paths.map(async (p) => (await stat(p)).size));
  const total = sizes.reduce((a, b) => a + b, 0);
  const rate = 1000;
  const { r, sleeps, elapsedS } = await timedPass(t, s, { auditor_bytes_per_s: rate });
  t.equal(r.counts.bytesChecked, total);
  t.ok(sleeps.length > 0, 'the auditor waited');
  // The limiter allows one second of burst, and the last file is read right after its wait.
  t.ok(total <= rate * (elapsedS + 1) + Math.max(...sizes), `${total} bytes in ${elapsedS} s at ${rate} B/s`);
  t.ok(total > rate * elapsedS, 'and no slower than needed');
});

t.test('objects audited stay under auditor_files_per_s, however small they are (injected clock and sleep)', async (t) => {
  const s = await setup(t);
  for (let i = 0; i < 12; i++) await s.put(`f${i}`, 'x');
  const rate = 2;
  const { r, sleeps, elapsedS } = await timedPass(t, s, { auditor_bytes_per_s: 0, auditor_files_per_s: rate });
  t.equal(r.counts.objectsChecked, 12);
  t.ok(sleeps.length > 0, 'the auditor waited although bytes are unlimited');
  // The limiter allows one second of burst, and the last object is audited right after its wait.
  t.ok(12 <= rate * (elapsedS + 1) + 1, `12 objects in ${elapsedS} s at ${rate}/s`);
  t.ok(12 > rate * elapsedS, 'and no slower than needed');
});

t.test("every storage policy's folder is audited; its bad files go to its own quarantine", async (t) => {
  const time: FakeTime = { ms: 1_700_000_000_000 };
  const stamp = stamper(time);
  const policies = parseStoragePolicies([
    { index: 0, name: 'gold', default: true },
    { index: 1, name: 'scratch' },
  ]);
  const node = await startNode(t, { device: 'sda1', time, policies });
  const rings = await makeRings(t, [node], 1);
  const part = rings.object().partitionFor('AUTH_a', 'c', 'o');
  const r = await call('PUT', node.url(part, 'AUTH_a', 'c', 'o'), { 'X-Timestamp': stamp().internal, 'Content-Type': 'text/plain', 'X-Backend-Storage-Policy-Index': '1' }, 'scratch data');
  t.equal(r.status, 201);
  const loc = objectLocation(node.devicePath, part, hashPath(SECRET, 'AUTH_a', 'c', 'o'), 1);
  const [data] = await ls(loc.hashDir);
  await flipByte(join(loc.hashDir, data as string), 0);
  const report = await createAuditor(daemonContext(t, node, rings, time)).runOnce();
  t.equal(report.counts.objectsChecked, 1, 'the policy 1 object was read');
  t.equal(report.counts.quarantined, 1);
  t.same(await ls(join(node.devicePath, 'quarantined', 'objects-1', loc.hash)), [data], 'into quarantined/objects-1');
});
