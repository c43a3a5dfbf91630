import t from 'tap';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { crc32c as portableCrc32c } from '@node-rs/crc32';
import { crc32c, hashLanes, LaneMd5, laneMd5Available, laneStats, nativeSums } from '../../common/native-sums.js';
import { HASH_OFF_LOOP_ABOVE_BYTES, HashPool, type BodySums } from '../../proxy/body-sums.js';

/**
 * The native sums (native/swiftlet.c through common/native.ts and native-sums.ts): built wherever gcc is, the same
 * CRC32C as @node-rs/crc32 and the same MD5 as node:crypto for any bytes, chunking and
 * interleaving of messages; the proxy's hashing thread gives the same sums with and without it.
 */
function seeded(seed: number): (n: number) => number {
  let x = seed >>> 0;
  return (n) => ((x = (x * 1103515245 + 12345) >>> 0), x % n);
}

function bytes(n: number, rnd: (n: number) => number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = rnd(256);
  return b;
}

function hasGcc(): boolean {
  try {
    execFileSync('gcc', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const buildable = process.arch === 'x64' && hasGcc();
t.test('built and loaded wherever gcc is (x86-64)', { skip: !buildable && 'no gcc or not x86-64: the portable fallbacks are used' }, async (t) => {
  t.ok(nativeSums.md5Lanes, 'md5Lanes loaded');
  t.equal(nativeSums.crc32c, /\bsse4_2\b/.test(execFileSync('cat', ['/proc/cpuinfo']).toString()), 'crc32c loaded where the CPU has SSE4.2');
  t.equal(laneMd5Available, true);
});

t.test('CRC32C: the check value, and the same as @node-rs/crc32 for any length, alignment and start', async (t) => {
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283, 'the CRC-32C check value');
  t.equal(crc32c(Buffer.alloc(0), 0x1234), 0x1234, 'no bytes: the previous value');
  const rnd = seeded(7);
  const pool = bytes(200_000, rnd);
  let mismatches = 0;
  // lengths around the 3-way block sizes (3 x 256, 3 x 8192) and random ones, at odd offsets
  const lengths = [0, 1, 7, 8, 9, 767, 768, 769, 24575, 24576, 24577, 49152 + 768 + 13];
  for (let i = 0; i < 300; i++) lengths.push(rnd(i < 150 ? 2000 : 120_000));
  for (const len of lengths) {
    const at = rnd(64);
    const b = pool.subarray(at, at + len);
    const previous = rnd(3) === 0 ? rnd(2 ** 31) * 2 + rnd(2) : 0;
    if (crc32c(b, previous) !== portableCrc32c(b, previous)) mismatches++;
  }
  t.equal(mismatches, 0, `${lengths.length} buffers, no mismatch`);
  // continuing: the CRC of a body fed in pieces is the CRC of the whole
  let running = 0;
  for (let at = 0; at < pool.length; ) {
    const n = 1 + rnd(30_000);
    running = crc32c(pool.subarray(at, at + n), running);
    at += n;
  }
  t.equal(running, portableCrc32c(pool), 'fed in pieces');
});

t.test('MD5 in lanes: the same digest as node:crypto for any chunking and interleaving', { skip: !laneMd5Available && 'no native module' }, async (t) => {
  const empty = new LaneMd5();
  t.equal(empty.digestHex(), 'd41d8cd98f00b204e9800998ecf8427e', 'empty message');
  const abc = new LaneMd5();
  abc.push(Buffer.from('abc'));
  t.equal(abc.digestHex(), '900150983cd24fb0d6963f7d28e17f72', '"abc"');
  const rnd = seeded(11);
  let wrong = 0;
  let messages = 0;
  for (let trial = 0; trial < 150; trial++) {
    const k = 1 + (trial % 7);
    const refs = Array.from({ length: k }, () => createHash('md5'));
    const md5s = Array.from({ length: k }, () => new LaneMd5());
    const rounds = 1 + rnd(6);
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < k; i++) {
        const n = rnd(10) < 3 ? rnd(130) : rnd(rnd(2) ? 70_000 : 5_000);
        const b = bytes(n, rnd);
        refs[i]!.update(b);
        md5s[i]!.push(b);
      }
      if (rnd(10) < 7) hashLanes(md5s.filter(() => rnd(10) < 8), 1 + rnd(4));
    }
    for (let i = 0; i < k; i++, messages++) if (md5s[i]!.digestHex() !== refs[i]!.digest('hex')) wrong++;
  }
  t.equal(wrong, 0, `${messages} messages, every digest right`);
  // lengths around the padding's boundary (55, 56, 63, 64 bytes into the last block)
  for (const len of [55, 56, 57, 63, 64, 65, 119, 120, 128]) {
    const b = bytes(len, rnd);
    const m = new LaneMd5();
    m.push(b);
    t.equal(m.digestHex(), createHash('md5').update(b).digest('hex'), `${len} bytes`);
  }
});

t.test('MD5 in lanes: four messages share passes; minLanes keeps a lone message queued', { skip: !laneMd5Available && 'no native module' }, async (t) => {
  const rnd = seeded(3);
  const four = Array.from({ length: 4 }, () => new LaneMd5());
  const bodies = four.map(() => bytes(1 << 20, rnd));
  four.forEach((m, i) => m.push(bodies[i]!));
  const before = laneStats[3]!;
  hashLanes(four, 4);
  t.equal(laneStats[3]! - before, 4 << 20, 'four equal bodies: every byte hashed with four lanes busy');
  four.forEach((m, i) => t.equal(m.digestHex(), createHash('md5').update(bodies[i]!).digest('hex')));

  const long = new LaneMd5();
  const short = new LaneMd5();
  long.push(bytes(64 * 100, rnd));
  short.push(bytes(64 * 10, rnd));
  hashLanes([long, short], 2);
  t.equal(short.hashedBytes, 640, 'the shorter message is hashed through');
  t.equal(long.hashedBytes, 640, 'the longer one only as far as it had company');
  hashLanes([long], 1);
  t.equal(long.hashedBytes, 6400, 'then alone when asked to');
});

/** Feeds `body` into `sums` in seeded chunks, a turn flushed every few chunks. */
function feed(sums: BodySums, body: Buffer, rnd: (n: number) => number): void {
  for (let at = 0, chunks = 0; at < body.length; ) {
    const len = Math.min(body.length - at, 1 + rnd(300_000));
    sums.update(body.subarray(at, at + len));
    at += len;
    if (++chunks > rnd(4)) {
      sums.flushTurn();
      chunks = 0;
    }
  }
}

for (const native of ['on', 'off']) {
  t.test(`the proxy's hashing thread, native ${native}: five bodies interleaved on one thread`, async (t) => {
    const saved = process.env.SWIFTLET_NATIVE;
    process.env.SWIFTLET_NATIVE = native; // read by the thread when it loads native-sums
    const pool = new HashPool(1);
    t.teardown(async () => {
      await pool.close();
      if (saved === undefined) delete process.env.SWIFTLET_NATIVE;
      else process.env.SWIFTLET_NATIVE = saved;
    });
    const rnd = seeded(native === 'on' ? 21 : 22);
    const sizes = [HASH_OFF_LOOP_ABOVE_BYTES + 1, 3 << 20, (5 << 20) + 13, 9 << 20, (6 << 20) + 63];
    const bodies = sizes.map((n) => bytes(n, rnd));
    const sessions = bodies.map((b) => pool.sumsFor(b.length));
    // in four rounds, each body a quarter at a time, the thread answering in between
    for (let q = 0; q < 4; q++) {
      bodies.forEach((b, i) => feed(sessions[i]!, b.subarray((b.length * q) >> 2, (b.length * (q + 1)) >> 2), rnd));
      await new Promise((r) => setTimeout(r, 15));
    }
    const got = await Promise.all(sessions.map((s) => s.result()));
    got.forEach((g, i) =>
      t.same(g, { md5Hex: createHash('md5').update(bodies[i]!).digest('hex'), crc: portableCrc32c(bodies[i]!) }, `body ${i} (${sizes[i]} bytes)`),
    );
  });
}
