import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, truncate } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Timestamp } from '../../common/timestamp.js';
import { bodyChunks } from '../../storage-node/object/body-sender.js';
import { DIRECT_IO_ABOVE_BYTES, directIoStats, MAX_SLOTS, WRITE_SLOTS } from '../../storage-node/object/direct-io.js';
import { DataFileWriter, finishWrite, loadObject, verifyDataFile } from '../../storage-node/object/diskfile.js';
import { objectLocation, type ObjectLocation } from '../../storage-node/object/layout.js';
import { commitWritten } from '../helpers/data-file.js';

const HASH = '00112233445566778899aabbccddeeff';

async function device(t: { teardown: (f: () => unknown) => void }, root = tmpdir()): Promise<string> {
  const dir = await mkdtemp(join(root, 'swiftlet-direct-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `body` in uneven chunks (a socket's), commits it; resolves with the object's location. */
async function putBody(dev: string, body: Buffer, opts: { sizeHint?: number; directIoAboveBytes?: number } = {}): Promise<ObjectLocation> {
  const loc = objectLocation(dev, 7, HASH);
  const w = new DataFileWriter(dev, true, opts);
  const sizes = [65536, 1, 4095, 16384, 12345, 65536 * 3];
  for (let at = 0, i = 0; at < body.length; i++) {
    const n = sizes[i % sizes.length] as number;
    await w.write([body.subarray(at, at + n)]);
    at += n;
  }
  const at = Timestamp.fromSeconds(1_700_000_000);
  await commitWritten(w, loc, at, { name: '/a/c/big', length: body.length, contentType: 'application/octet-stream' });
  await finishWrite(loc);
  return loc;
}

async function readRange(loc: ObjectLocation, start: number, end: number, directIoAboveBytes?: number): Promise<Buffer> {
  const found = await loadObject(loc, { fsync: true });
  if (found.kind !== 'live') throw new Error(`object is ${found.kind}`);
  const o = found.object;
  try {
    const parts: Buffer[] = [];
    // copy each chunk: a direct chunk is only valid until the next one is asked for
    for await (const b of bodyChunks({ fd: o.fd, dataPath: o.dataPath, devicePath: o.loc.devicePath, directIoAboveBytes }, start, end)) parts.push(Buffer.from(b));
    return Buffer.concat(parts);
  } finally {
    await o.close();
  }
}

const md5 = (b: Buffer): string => createHash('md5').update(b).digest('hex');

t.test('a large body goes O_DIRECT both ways and reads back byte for byte, whole and in unaligned ranges', async (t) => {
  const dev = await device(t);
  // not a multiple of any block size, and long enough to go round the staging slots twice
  const body = randomBytes(DIRECT_IO_ABOVE_BYTES + (2 * WRITE_SLOTS + 3) * 1024 * 1024 + 777);
  const before = { ...directIoStats };
  const loc = await putBody(dev, body);
  t.equal(directIoStats.filesWritten, before.filesWritten + 1, 'written O_DIRECT');
  t.ok(directIoStats.bytesWritten - before.bytesWritten >= body.length - 4096, 'all but the last partial block went direct');
  const verified = await verifyDataFile(join(loc.hashDir, '1700000000.00000.data'));
  t.ok(verified.ok, 'the trailer and checksums verify');

  t.equal(md5(await readRange(loc, 0, body.length)), md5(body), 'whole body');
  t.ok(directIoStats.filesRead > before.filesRead && directIoStats.bytesRead - before.bytesRead >= body.length, 'read O_DIRECT');
  for (const [s, e] of [
    [4097, body.length - 3],
    [1, DIRECT_IO_ABOVE_BYTES + 2],
    [1024 * 1024 - 1, body.length],
  ] as Array<[number, number]>) {
    t.equal(md5(await readRange(loc, s, e)), md5(body.subarray(s, e)), `range [${s}, ${e})`);
  }
});

t.test('a file cut short while a slow reader holds a chunk: the next chunk fails, nothing is left unhandled', async (t) => {
  const dev = await device(t);
  const body = randomBytes(DIRECT_IO_ABOVE_BYTES + 8 * 1024 * 1024);
  const loc = await putBody(dev, body);
  const found = await loadObject(loc, { fsync: true });
  if (found.kind !== 'live') throw new Error(`object is ${found.kind}`);
  const o = found.object;
  const unhandled: unknown[] = [];
  const onUnhandled = (e: unknown): void => void unhandled.push(e);
  process.on('unhandledRejection', onUnhandled);
  t.teardown(() => void process.off('unhandledRejection', onUnhandled));
  const chunks = bodyChunks({ fd: o.fd, dataPath: o.dataPath, devicePath: o.loc.devicePath, directIoAboveBytes: undefined }, 0, body.length)[Symbol.asyncIterator]();
  t.notOk((await chunks.next()).done, 'a first chunk');
  await truncate(join(loc.hashDir, '1700000000.00000.data'), 1024);
  // the second chunk was read ahead before the cut; asking for it starts the third read, which
  // fails while the consumer holds the second (a socket under backpressure)
  await t.rejects(async () => {
    await chunks.next();
    await new Promise((r) => setTimeout(r, 200));
    for (let r = await chunks.next(); !r.done; r = await chunks.next());
  }, /unexpected end of file/);
  await new Promise((r) => setTimeout(r, 50));
  t.same(unhandled, [], 'no unhandled rejection (one would kill the storage node)');
  await o.close();
});

t.test('a body announced small stays in the page cache; a small range of a big one too', async (t) => {
  const dev = await device(t);
  const body = randomBytes(2 * 1024 * 1024 + 5);
  const before = { ...directIoStats };
  const loc = await putBody(dev, body, { sizeHint: body.length });
  t.equal(directIoStats.filesWritten, before.filesWritten, 'not written direct');
  t.equal(md5(await readRange(loc, 0, body.length)), md5(body), 'reads back');
  t.equal(directIoStats.filesRead, before.filesRead, 'not read direct');
});

t.test('direct_io_above_bytes 0: ordinary writes and reads, same bytes', async (t) => {
  const dev = await device(t);
  const body = randomBytes(DIRECT_IO_ABOVE_BYTES + 12345);
  const before = { ...directIoStats };
  const loc = await putBody(dev, body, { directIoAboveBytes: 0 });
  t.equal(md5(await readRange(loc, 0, body.length, 0)), md5(body), 'reads back');
  t.same(directIoStats, before, 'nothing went direct');
  t.ok((await verifyDataFile(join(loc.hashDir, '1700000000.00000.data'))).ok);
  t.equal(md5(await readRange(loc, 0, body.length)), md5(body), 'and reads back direct too (written buffered)');
});

t.test('more large writes at once than staging slots: the rest go through the page cache', async (t) => {
  const dev = await device(t);
  const bodies = Array.from({ length: 70 }, (_, i) => Buffer.alloc(DIRECT_IO_ABOVE_BYTES + 4096 + i, i));
  const writers = bodies.map(() => new DataFileWriter(dev, false));
  const before = { ...directIoStats };
  // every writer past its first flush at once: 70 writers want 70 × WRITE_SLOTS slots, MAX_SLOTS exist
  for (const [i, w] of writers.entries()) await w.write([(bodies[i] as Buffer).subarray(0, DataFileWriter.FLUSH_BYTES)]);
  t.equal(directIoStats.filesWritten - before.filesWritten, Math.floor(MAX_SLOTS / WRITE_SLOTS), 'as many writers as slots allow went direct');
  for (const [i, w] of writers.entries()) await w.write([(bodies[i] as Buffer).subarray(DataFileWriter.FLUSH_BYTES)]);
  let same = 0;
  for (const [i, w] of writers.entries()) {
    const loc = objectLocation(dev, i, HASH);
    const at = Timestamp.fromSeconds(1_700_000_000);
    const b = bodies[i] as Buffer;
    await commitWritten(w, loc, at, { name: `/a/c/${i}`, length: b.length, contentType: 'x/y' });
    if ((await readRange(loc, 0, b.length)).equals(b)) same++;
  }
  t.equal(same, 70, 'every body reads back');
  const again = { ...directIoStats };
  await putBody(dev, randomBytes(DIRECT_IO_ABOVE_BYTES + 1));
  t.equal(directIoStats.filesWritten, again.filesWritten + 1, 'the slots came back');
});
