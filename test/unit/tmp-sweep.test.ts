import t from 'tap';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { signingDispatcher } from '../helpers/signing.js';
import { silentLogger } from '../../common/log.js';
import { loadReports } from '../../common/pass-report.js';
import { Timestamp } from '../../common/timestamp.js';
import { discardTempFile, isOpenTempFile, openTempFile, openTempFileCount, renameIntoDir, writeFileDurable } from '../../storage-node/object/fs-durable.js';
import { sweepTempDir } from '../../storage-node/object/tmp-sweep.js';
import { createTmpSweeper, tmpSweepIntervalMs } from '../../storage-node/tmp-sweeper.js';
import { DEV, startNode } from '../helpers/object-node.js';

/**
 * The sweep of dead temp files (storage-node/object/tmp-sweep.ts, storage-node/tmp-sweeper.ts):
 * old ones go, young ones and the ones this process is writing stay, whatever their age.
 */
const DAY_S = 86400;
const client = signingDispatcher();
t.teardown(() => client.close());

/** Sets a file's mtime (and atime) to `ageS` seconds ago. */
async function age(path: string, ageS: number): Promise<void> {
  const when = Date.now() / 1000 - ageS;
  await utimes(path, when, when);
}

async function ls(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [] as string[])).sort();
}

t.test('old files go, young ones, open ones and folders stay', async (t) => {
  const dev = t.testdir({ tmp: { dead1: 'x'.repeat(100), dead2: 'y'.repeat(50), young: 'z', writing: 'w', sub: {} } });
  const tmp = join(dev, 'tmp');
  for (const n of ['dead1', 'dead2', 'writing', 'sub']) await age(join(tmp, n), 30 * DAY_S);
  const r = await sweepTempDir(dev, { before: Date.now() - 3600_000, isOpen: (p) => p === join(tmp, 'writing') });
  t.same(r, { removed: 2, bytesRemoved: 150, open: 1, young: 1 });
  t.same(await ls(tmp), ['sub', 'writing', 'young']);
  t.same(await sweepTempDir(join(dev, 'nothing-here'), { before: Date.now() }), { removed: 0, bytesRemoved: 0, open: 0, young: 0 }, 'no tmp/ at all');
});

t.test('this process tracks its temp files from open to rename or removal', async (t) => {
  const dev = t.testdir({});
  const base = openTempFileCount();
  const a = await openTempFile(dev);
  const b = await openTempFile(dev);
  t.ok(isOpenTempFile(a.path) && isOpenTempFile(b.path));
  t.equal(openTempFileCount(), base + 2);
  await discardTempFile(a);
  t.notOk(isOpenTempFile(a.path), 'discarded');
  await renameIntoDir(b.path, join(dev, 'objects', '1'), 'f', dev, false);
  t.notOk(isOpenTempFile(b.path), 'renamed into place');
  const c = await openTempFile(dev);
  await rm(c.path);
  await t.rejects(renameIntoDir(c.path, join(dev, 'x'), 'f', dev, false), 'a failed rename');
  t.notOk(isOpenTempFile(c.path), 'failed rename: forgotten too');
  await writeFileDurable(dev, join(dev, 'y'), 'g', Buffer.from('small'), false);
  t.equal(openTempFileCount(), base);
  t.same(await ls(join(dev, 'tmp')), []);
});

t.test('a PUT in progress keeps its temp file through a sweep however old it looks; a finished one leaves nothing', async (t) => {
  const n = await startNode(t);
  const tmp = join(n.root, DEV, 'tmp');
  const base = openTempFileCount();
  for (const [label, headers] of [
    ['chunked', {}],
    ['8 MiB with its length (O_DIRECT where the filesystem allows)', { 'Content-Length': String(8 << 20) }],
  ] as const) {
    const body = randomBytes(8 << 20);
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const stream = Readable.from(
      (async function* () {
        yield body.subarray(0, 3 << 20);
        await held;
        yield body.subarray(3 << 20);
      })(),
    );
    const ts = new Timestamp(Math.round(Date.now() * 100));
    const put = request(n.url('AUTH_a', 'c', `o-${label}`), { method: 'PUT', headers: { 'X-Timestamp': ts.internal, 'Content-Type': 'application/octet-stream', ...headers }, body: stream, dispatcher: client });
    // The node opens the temp file once the first MiB is in.
    let names: string[] = [];
    for (let i = 0; i < 500 && names.length === 0; i++) {
      names = await ls(tmp);
      if (names.length === 0) await new Promise((r) => setTimeout(r, 10));
    }
    t.equal(names.length, 1, `${label}: one temp file while the body comes`);
    const path = join(tmp, names[0] as string);
    t.ok(isOpenTempFile(path), `${label}: known as open`);
    await age(path, 30 * DAY_S);
    const r = await sweepTempDir(join(n.root, DEV), { before: Date.now() });
    t.same(r, { removed: 0, bytesRemoved: 0, open: 1, young: 0 }, `${label}: not removed`);
    release();
    const res = await put;
    await res.body.dump();
    t.equal(res.statusCode, 201, `${label}: stored`);
    const get = await request(n.url('AUTH_a', 'c', `o-${label}`), { dispatcher: client });
    t.ok(Buffer.from(await get.body.arrayBuffer()).equals(body), `${label}: the same bytes back`);
    t.same(await ls(tmp), [], `${label}: nothing left in tmp/`);
  }
  t.equal(openTempFileCount(), base, 'every temp file forgotten once renamed');
});

t.test('the node sweeper: every device, a report beside the daemons', async (t) => {
  const root = t.testdir({ sda: { tmp: { dead: 'abc', young: 'de' } }, sdb: { tmp: { dead: 'fghij' } }, sdc: {}, '.swiftlet-status': {}, 'not-a-device': 'file' });
  await age(join(root, 'sda', 'tmp', 'dead'), 2 * 3600);
  await age(join(root, 'sdb', 'tmp', 'dead'), 2 * 3600);
  const sweeper = createTmpSweeper({ devicesRoot: root, ageS: 3600, clock: Date.now, log: silentLogger });
  const report = await sweeper.sweep();
  t.same(report.counts, { devices: 3, tmpFilesRemoved: 2, tmpBytesRemoved: 8, tmpFilesOpen: 0, tmpFilesYoung: 1, failures: 0 });
  t.same(await ls(join(root, 'sda', 'tmp')), ['young']);
  t.same(await ls(join(root, 'sdb', 'tmp')), []);
  const saved = (await loadReports(root)).find((r) => r.daemon === 'tmp-sweeper');
  t.same(saved?.counts, report.counts, 'served by GET /recon/status with the daemons');
  await mkdir(join(root, 'sdc', 'tmp'));
  await writeFile(join(root, 'sdc', 'tmp', 'x'), 'x');
  await age(join(root, 'sdc', 'tmp', 'x'), 1800);
  t.equal((await sweeper.sweep()).counts.tmpFilesRemoved, 0, 'half an hour old is young at a one-hour age');
  await age(join(root, 'sdc', 'tmp', 'x'), 30 * DAY_S);
  const off = createTmpSweeper({ devicesRoot: root, ageS: 0, clock: Date.now, log: silentLogger });
  t.equal((await off.sweep()).counts.tmpFilesRemoved, 0, 'tmp_reclaim_age_s 0: never');
  t.same(await ls(join(root, 'sdc', 'tmp')), ['x']);
});

t.test('sweeps every half age, at most hourly', async (t) => {
  t.equal(tmpSweepIntervalMs(3600), 1800_000);
  t.equal(tmpSweepIntervalMs(7 * DAY_S), 3600_000);
  t.equal(tmpSweepIntervalMs(0.5), 1000);
});
