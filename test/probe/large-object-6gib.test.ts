import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream, existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { SeededRandom } from '../../common/random.js';
import { startCluster } from '../helpers/cluster.js';

/**
 * An object over the 5 GiB single-PUT limit round-trips through `swift upload -S` as an SLO and as
 * a DLO: 6 GiB of generated data (written to a file chunk by chunk, never held), uploaded in 1 GiB
 * segments, downloaded to a pipe and hashed on the way. Every Swiftlet process keeps a bounded
 * resident size (its peak, VmHWM, well under the size of one segment). Disk: the file plus three
 * replicas of the segments (~24 GiB), removed as the test goes. LO_TEST_BYTES makes it smaller.
 */
const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const SWIFT = '/usr/bin/swift';
const MiB = 1024 * 1024;
const SIZE = Number(process.env.LO_TEST_BYTES ?? 6 * 1024 * MiB);
const SEGMENT = Number(process.env.LO_TEST_SEGMENT ?? 1024 * MiB);
/** The peak resident size any of our processes may reach. */
const MAX_HWM_MIB = 400;

function hwmMiB(pid: number): number {
  const m = /^VmHWM:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** SIZE seeded bytes, 1 MiB at a time: one random block, each copy stamped with its index. */
async function* generated(): AsyncGenerator<Buffer> {
  const rnd = new SeededRandom(6);
  const block = Buffer.alloc(MiB);
  for (let i = 0; i < MiB; i += 4) block.writeUInt32LE(Math.floor(rnd.next() * 2 ** 32), i);
  for (let off = 0; off < SIZE; off += MiB) {
    const b = Buffer.from(block.subarray(0, Math.min(MiB, SIZE - off)));
    b.writeDoubleLE(off, 0);
    yield b;
  }
}

// 24 GiB of disk writes and 12 GiB of reads: longer than the runner's 10 minutes on a loaded machine.
t.setTimeout(45 * 60_000);

t.test(`a ${SIZE / MiB} MiB object through swift upload -S, as an SLO and as a DLO, with bounded memory`, { skip: !existsSync(SWIFT) ? 'python3-swiftclient not installed' : false }, async (t) => {
  const cluster = await startCluster();
  const work = await mkdtemp(join(tmpdir(), 'lo-big-'));
  t.teardown(async () => {
    await cluster.stop();
    await rm(work, { recursive: true, force: true });
  });
  const swift = async (...args: string[]): Promise<string> =>
    (await run(PYTHON, [SWIFT, '-A', cluster.authUrl, '-U', 'test:tester', '-K', 'testing', ...args], { cwd: work, maxBuffer: 16 * MiB })).stdout;
  /** `swift download ... -o -` hashed as it streams: never on disk, never whole. */
  const downloadMd5 = (container: string): Promise<{ md5: string; bytes: number }> =>
    new Promise((resolve, reject) => {
      const p = spawn(PYTHON, [SWIFT, '-A', cluster.authUrl, '-U', 'test:tester', '-K', 'testing', 'download', container, 'big.bin', '-o', '-'], { cwd: work, stdio: ['ignore', 'pipe', 'pipe'] });
      const h = createHash('md5');
      let bytes = 0;
      let err = '';
      p.stdout.on('data', (c: Buffer) => {
        h.update(c);
        bytes += c.length;
      });
      p.stderr.on('data', (c: Buffer) => (err += c.toString()));
      p.on('error', reject);
      p.on('close', (code) => (code === 0 ? resolve({ md5: h.digest('hex'), bytes }) : reject(new Error(`swift download exited ${code}: ${err}`))));
    });

  const file = join(work, 'big.bin');
  const want = createHash('md5');
  await pipeline(
    Readable.from(generated()),
    async function* (src: AsyncIterable<Buffer>) {
      for await (const c of src) {
        want.update(c);
        yield c;
      }
    },
    createWriteStream(file),
  );
  const wantMd5 = want.digest('hex');
  const segments = Math.ceil(SIZE / SEGMENT);

  for (const kind of ['slo', 'dlo'] as const) {
    const started = Date.now();
    await swift('upload', '-S', String(SEGMENT), ...(kind === 'slo' ? ['--use-slo'] : []), kind, 'big.bin');
    const uploaded = Date.now();
    const stat = await swift('stat', kind, 'big.bin');
    t.match(stat, new RegExp(`Content Length: ${SIZE}\\b`), `${kind}: the whole size`);
    if (kind === 'slo') t.match(stat, /X-Static-Large-Object: True/);
    else t.match(stat, /Manifest: dlo_segments\//);
    t.equal((await swift('list', `${kind}_segments`)).trim().split('\n').length, segments, `${kind}: ${segments} segments`);
    const got = await downloadMd5(kind);
    t.equal(got.bytes, SIZE, `${kind}: every byte back`);
    t.equal(got.md5, wantMd5, `${kind}: the same bytes`);
    t.comment(`${kind}: upload ${((Date.now() - started) / 1000).toFixed(0)} s total, of which upload ${((uploaded - started) / 1000).toFixed(0)} s`);
    await swift('delete', kind, 'big.bin');
    t.equal(await swift('list', `${kind}_segments`), '', `${kind}: deleting the manifest removed the segments`);
  }
  await rm(file, { force: true });

  const procs = [{ name: 'proxy', pid: cluster.proxyPid }, ...cluster.nodes.map((n) => ({ name: n.name, pid: n.proc?.pid as number }))];
  for (const p of procs) {
    const hwm = hwmMiB(p.pid);
    t.comment(`${p.name}: peak RSS ${hwm.toFixed(0)} MiB`);
    t.ok(hwm < MAX_HWM_MIB, `${p.name}: peak resident ${hwm.toFixed(0)} MiB < ${MAX_HWM_MIB} MiB while ${SIZE / MiB} MiB went through it`);
  }
});
