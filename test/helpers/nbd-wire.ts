/**
 * NBD test kit: a fake transport that records what the server sends, a parser for the server's
 * side of the wire (greeting, option replies, simple and structured replies), and two in-memory
 * BlockVolumes — a sparse one with 4 KiB allocation, and a "gated" one whose operations wait for
 * the test to release them (replies out of order, backpressure).
 */
import { CMD, OPTION_REPLY_MAGIC, SIMPLE_REPLY_MAGIC, STRUCTURED_REPLY_MAGIC } from '../../volume-gateway/nbd/protocol.js';
import type { ConnectionIo } from '../../volume-gateway/nbd/connection.js';
import { VolumeError, type AllocationExtent, type BlockSizes, type BlockVolume, type ReadExtent, type WriteOptions, type ZeroOptions } from '../../volume-gateway/volume.js';

export class FakeIo implements ConnectionIo {
  out: Buffer[] = [];
  paused = false;
  pauses = 0;
  ended = false;
  destroyed = false;
  /** Make write() report a full buffer. */
  full = false;
  write(chunks: Buffer[]): boolean {
    this.out.push(...chunks.map((c) => Buffer.from(c)));
    return !this.full;
  }
  pause(): void {
    this.paused = true;
    this.pauses++;
  }
  resume(): void {
    this.paused = false;
  }
  end(): void {
    this.ended = true;
  }
  destroy(): void {
    this.destroyed = true;
  }
  /** Everything sent since the last take(). */
  take(): Buffer {
    const b = Buffer.concat(this.out);
    this.out = [];
    return b;
  }
}

export interface OptionReply {
  option: number;
  type: number;
  data: Buffer;
}

/** A transport with TLS credentials: records when the connection switches to TLS. */
export class FakeTlsIo extends FakeIo {
  tlsStarted = 0;
  startTls(): void {
    this.tlsStarted++;
  }
}

/** Splits a run of option replies. */
export function parseOptionReplies(b: Buffer): OptionReply[] {
  const out: OptionReply[] = [];
  let at = 0;
  while (at < b.length) {
    if (b.readBigUInt64BE(at) !== OPTION_REPLY_MAGIC) throw new Error(`no option reply magic at ${at}`);
    const len = b.readUInt32BE(at + 16);
    out.push({ option: b.readUInt32BE(at + 8), type: b.readUInt32BE(at + 12), data: b.subarray(at + 20, at + 20 + len) });
    at += 20 + len;
  }
  return out;
}

export type Reply =
  | { kind: 'simple'; handle: bigint; error: number; data?: Buffer }
  | { kind: 'chunk'; handle: bigint; flags: number; type: number; payload: Buffer };

/**
 * Splits transmission replies. A simple reply carries data only for READs without structured
 * replies; `readLengths` says how long each such READ (by handle) is.
 */
export function parseReplies(b: Buffer, readLengths: Map<bigint, number> = new Map()): Reply[] {
  const out: Reply[] = [];
  let at = 0;
  while (at < b.length) {
    const magic = b.readUInt32BE(at);
    if (magic === SIMPLE_REPLY_MAGIC) {
      const handle = b.readBigUInt64BE(at + 8);
      const error = b.readUInt32BE(at + 4);
      const n = error === 0 ? (readLengths.get(handle) ?? 0) : 0;
      out.push({ kind: 'simple', handle, error, data: n > 0 ? b.subarray(at + 16, at + 16 + n) : undefined });
      at += 16 + n;
    } else if (magic === STRUCTURED_REPLY_MAGIC) {
      const len = b.readUInt32BE(at + 16);
      out.push({ kind: 'chunk', handle: b.readBigUInt64BE(at + 8), flags: b.readUInt16BE(at + 4), type: b.readUInt16BE(at + 6), payload: b.subarray(at + 20, at + 20 + len) });
      at += 20 + len;
    } else {
      throw new Error(`no reply magic at ${at}`);
    }
  }
  return out;
}

/** A sparse in-memory volume: 4 KiB blocks allocated on write, freed by TRIM and zeroing. */
export class MemoryVolume implements BlockVolume {
  readonly blockSize: BlockSizes = { minimum: 1, preferred: 4096, maximum: 32 << 20 };
  readonly multiConn = true;
  readonly blocks = new Map<number, Buffer>();
  flushes = 0;
  fuaWrites = 0;
  constructor(
    readonly size: number,
    readonly readOnly = false,
  ) {}
  async read(offset: number, length: number): Promise<ReadExtent[]> {
    const out: ReadExtent[] = [];
    for (let at = offset; at < offset + length; ) {
      const blk = Math.floor(at / 4096);
      const n = Math.min(4096 - (at % 4096), offset + length - at);
      const b = this.blocks.get(blk);
      const last = out[out.length - 1];
      if (b === undefined) {
        if (last?.kind === 'hole') last.length += n;
        else out.push({ kind: 'hole', length: n });
      } else {
        const piece = b.subarray(at % 4096, (at % 4096) + n);
        if (last?.kind === 'data') last.data = Buffer.concat([last.data, piece]);
        else out.push({ kind: 'data', data: Buffer.from(piece) });
      }
      at += n;
    }
    return out;
  }
  async write(offset: number, data: Buffer, opts: WriteOptions): Promise<void> {
    for (let i = 0; i < data.length; ) {
      const at = offset + i;
      const blk = Math.floor(at / 4096);
      const n = Math.min(4096 - (at % 4096), data.length - i);
      const b = this.blocks.get(blk) ?? Buffer.alloc(4096);
      data.copy(b, at % 4096, i, i + n);
      this.blocks.set(blk, b);
      i += n;
    }
    if (opts.fua) this.fuaWrites++;
  }
  async flush(): Promise<void> {
    this.flushes++;
  }
  async trim(offset: number, length: number): Promise<void> {
    await this.writeZeroes(offset, length, { fua: false, mayTrim: true, fastOnly: false });
  }
  async writeZeroes(offset: number, length: number, opts: ZeroOptions): Promise<void> {
    for (let at = offset; at < offset + length; ) {
      const blk = Math.floor(at / 4096);
      const n = Math.min(4096 - (at % 4096), offset + length - at);
      if (n === 4096 && opts.mayTrim) this.blocks.delete(blk);
      else await this.write(at, Buffer.alloc(n), { fua: false });
      at += n;
    }
  }
  async blockStatus(offset: number, length: number): Promise<AllocationExtent[]> {
    return (await this.read(offset, length)).map((e) => (e.kind === 'hole' ? { length: e.length, hole: true, zero: true } : { length: e.data.length, hole: false, zero: false }));
  }
  async cache(): Promise<void> {}
}

/** A volume whose reads and writes wait until the test releases them, in any order. */
export class GatedVolume extends MemoryVolume {
  readonly waiting: Array<{ command: number; offset: number; release: () => void }> = [];
  override async read(offset: number, length: number): Promise<ReadExtent[]> {
    await this.gate(CMD.READ, offset);
    return super.read(offset, length);
  }
  override async write(offset: number, data: Buffer, opts: WriteOptions): Promise<void> {
    await this.gate(CMD.WRITE, offset);
    return super.write(offset, data, opts);
  }
  private gate(command: number, offset: number): Promise<void> {
    return new Promise((release) => this.waiting.push({ command, offset, release }));
  }
}

/** A volume that fails every write with the given reason. */
export class FailingVolume extends MemoryVolume {
  constructor(
    size: number,
    private readonly code: VolumeError['code'],
  ) {
    super(size);
  }
  override async write(): Promise<void> {
    throw new VolumeError(this.code, 'injected');
  }
}

/** Lets queued promise callbacks run (the connection's async steps). */
export async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((r) => setImmediate(r));
}
