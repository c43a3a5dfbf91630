import t from 'tap';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { countDataFiles } from '../../bench/suites/replication.js';

/** The replication suite counts objects on a device by its .data files, the same way for both systems' layout. */
t.test('countDataFiles counts hash directories holding a .data', async (t) => {
  const dev = await mkdtemp(join(tmpdir(), 'bench-repl-'));
  t.teardown(() => rm(dev, { recursive: true, force: true }));
  t.equal(await countDataFiles(dev), 0, 'a wiped device: no objects folder at all');
  const put = async (part: string, suffix: string, hash: string, file: string) => {
    await mkdir(join(dev, 'objects', part, suffix, hash), { recursive: true });
    await writeFile(join(dev, 'objects', part, suffix, hash, file), '');
  };
  await put('12', 'abc', '0'.repeat(29) + 'abc', '1700000000.00000.data');
  await put('12', 'abc', '1'.repeat(29) + 'abc', '1700000000.00000.data');
  await put('7', 'f00', '2'.repeat(29) + 'f00', '1700000000.00000.ts');
  await put('7', 'f00', '3'.repeat(29) + 'f00', '1700000000.00000.meta');
  await writeFile(join(dev, 'objects', '12', 'hashes.json'), '{}');
  t.equal(await countDataFiles(dev), 2, 'tombstones, lone .meta files and hashes.json are not objects');
});
