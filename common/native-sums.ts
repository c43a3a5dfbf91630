import { crc32c as portableCrc32c } from '@node-rs/crc32';
import { native, type NativeModule } from './native.js';

/**
 * CRC32C and MD5 for bodies, through the native module (common/native.ts) when it was built and
 * the CPU has what it uses, else through @node-rs/crc32 and node:crypto. Same values either way;
 * the native CRC32C is ~4x faster, and its MD5 hashes four messages at once for about the cost of
 * one (`LaneMd5` + `hashLanes`, used by the proxy's hashing thread).
 */
/** Which native parts are in use (the tests assert them where gcc exists). */
export const nativeSums = { crc32c: native.crc32c !== undefined, md5Lanes: native.md5Lanes !== undefined };

/** CRC-32C of `data`, continuing from `previous` (0 to start). */
export const crc32c: (data: Uint8Array, previous?: number) => number = native.crc32c
  ? (data, previous = 0) => (native.crc32c as NonNullable<NativeModule['crc32c']>)(data, previous)
  : (data, previous = 0) => portableCrc32c(Buffer.from(data.buffer, data.byteOffset, data.byteLength), previous);

const MD5_INIT = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
const LANES = 4;

/** One message's MD5 for hashLanes: its state, the bytes of a block not yet complete, its length. */
export class LaneMd5 {
  readonly state = Uint32Array.from(MD5_INIT);
  private readonly partial = Buffer.alloc(64);
  private partialLength = 0;
  private length = 0;
  /** Bytes pushed so far. */
  private pushed = 0;
  /** Chunks given and not yet hashed, and where hashing stands in the first of them. */
  private readonly queue: Uint8Array[] = [];
  private offset = 0;

  /** Bytes hashed so far (whole blocks; the last partial block's bytes come at the end). */
  get hashedBytes(): number {
    return this.length;
  }

  /** Bytes pushed and not yet hashed (queued, or in the partial block). */
  get waitingBytes(): number {
    return this.pushed - this.length;
  }

  /** Queues `data` (kept, not copied: it must not change until hashLanes returns). */
  push(data: Uint8Array): void {
    if (!data.byteLength) return;
    this.queue.push(data);
    this.pushed += data.byteLength;
  }

  /** Whole blocks ready to hash in place, from the current chunk. */
  blocksReady(): number {
    if (this.partialLength > 0) return 0;
    const c = this.queue[0];
    return c ? Math.floor((c.byteLength - this.offset) / 64) : 0;
  }

  /** The current chunk's next `blocks` blocks, and marks them hashed. */
  takeBlocks(blocks: number): Uint8Array {
    const c = this.queue[0] as Uint8Array;
    const view = c.subarray(this.offset, this.offset + blocks * 64);
    this.offset += blocks * 64;
    this.length += blocks * 64;
    if (this.offset === c.byteLength) this.next();
    return view;
  }

  /**
   * Moves bytes that do not make a whole block in place into the partial block. Returns it once
   * complete (to be hashed next, as one block), undefined when more bytes are needed or it is
   * not time yet (whole blocks wait in the current chunk).
   */
  fillPartial(): Buffer | undefined {
    for (;;) {
      const c = this.queue[0];
      if (!c) return undefined;
      const left = c.byteLength - this.offset;
      if (this.partialLength === 0 && left >= 64) return undefined;
      const n = Math.min(64 - this.partialLength, left);
      this.partial.set(c.subarray(this.offset, this.offset + n), this.partialLength);
      this.partialLength += n;
      this.offset += n;
      if (this.offset === c.byteLength) this.next();
      if (this.partialLength === 64) {
        this.partialLength = 0;
        this.length += 64;
        return this.partial;
      }
    }
  }

  /** True while queued bytes are left that hashLanes can still take (a whole block's worth). */
  pending(): boolean {
    return this.waitingBytes >= 64;
  }

  private next(): void {
    this.queue.shift();
    this.offset = 0;
  }

  /** The MD5 of every byte pushed (call once, at the end). */
  digestHex(): string {
    hashLanes([this]);
    const rest = this.queue.splice(0);
    for (const c of rest) {
      const from = c === rest[0] ? this.offset : 0;
      this.partial.set(c.subarray(from), this.partialLength);
      this.partialLength += c.byteLength - from;
    }
    const total = this.length + this.partialLength;
    // The padding: 0x80, zeros to 56 mod 64, the length in bits (little-endian 64-bit).
    const blocks = this.partialLength < 56 ? 1 : 2;
    const tail = Buffer.alloc(blocks * 64);
    this.partial.copy(tail, 0, 0, this.partialLength);
    tail[this.partialLength] = 0x80;
    tail.writeUInt32LE((total * 8) % 2 ** 32, blocks * 64 - 8);
    tail.writeUInt32LE(Math.floor((total * 8) / 2 ** 32), blocks * 64 - 4);
    (native.md5Lanes as NonNullable<NativeModule['md5Lanes']>)(this.state, blocks, tail);
    return Buffer.from(this.state.buffer, this.state.byteOffset, 16).toString('hex');
  }
}

/** Whether hashLanes can run (the native module with md5Lanes is loaded). */
export const laneMd5Available = native.md5Lanes !== undefined;

/** Bytes hashed with 1, 2, 3 and 4 lanes busy, for benchmarks and tests. */
export const laneStats = [0, 0, 0, 0];

/**
 * Hashes the queued bytes of the messages in `md5s` (up to the last whole block of each), four
 * lanes at a time: while several messages have bytes queued, one pass of the block function
 * advances them all. Messages that run out drop out; the rest go on with fewer lanes, down to
 * `minLanes` (below it the rest stays queued, to share a later pass).
 */
export function hashLanes(md5s: LaneMd5[], minLanes = 1): void {
  const md5Lanes = native.md5Lanes;
  if (!md5Lanes) throw new Error('hashLanes needs the native module (laneMd5Available)');
  const states = new Uint32Array(4 * LANES);
  for (;;) {
    let live = md5s.filter((m) => m.pending());
    if (live.length === 0 || live.length < minLanes) break;
    // Complete partial blocks first, then every message has whole blocks in place (or is dry).
    const partials: Array<{ m: LaneMd5; block: Buffer }> = [];
    for (const m of live) {
      const block = m.fillPartial();
      if (block) partials.push({ m, block });
    }
    for (let i = 0; i < partials.length; i += LANES) {
      const group = partials.slice(i, i + LANES);
      run(group.map((p) => p.m), 1, group.map((p) => p.block));
    }
    // Four (or fewer) at a time, each pass the blocks the group has in common.
    live = live.filter((m) => m.blocksReady() > 0);
    for (let i = 0; i < live.length; i += LANES) {
      const group = live.slice(i, i + LANES);
      if (group.length < minLanes) break;
      const blocks = Math.min(...group.map((m) => m.blocksReady()));
      run(group, blocks, group.map((m) => m.takeBlocks(blocks)));
    }
  }

  function run(group: LaneMd5[], blocks: number, views: Uint8Array[]): void {
    group.forEach((m, i) => states.set(m.state, 4 * i));
    (md5Lanes as NonNullable<NativeModule['md5Lanes']>)(states, blocks, ...views);
    group.forEach((m, i) => m.state.set(states.subarray(4 * i, 4 * i + 4)));
    laneStats[group.length - 1] += blocks * 64 * group.length;
  }
}
