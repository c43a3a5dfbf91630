/**
 * The NBD frame codec: pure, no sockets, no clock. Bytes go in with `push()`, whole messages come
 * out of `next()` one at a time (a pull parser, so the connection can switch the decoder from
 * option haggling to transmission exactly after the option that ends it, and can stop pulling
 * when too much work is in flight). Nothing here throws on bad input: a malformed stream makes
 * `next()` return one `{ kind: 'error' }` and nothing after it, and the connection hangs up.
 *
 * A WRITE whose payload is larger than `maxPayload` is not buffered: its header comes out as
 * `{ kind: 'oversize' }` and its payload is discarded as it arrives, so the connection can answer
 * EINVAL and carry on (nbdkit does the same).
 *
 * The encoders below build what the server sends (and, for tests and tools, what a client sends).
 */
import {
  CMD,
  FLAG_C_FIXED_NEWSTYLE,
  FLAG_C_NO_ZEROES,
  IHAVEOPT,
  MAX_OPTION_DATA,
  MAX_REQUEST_PAYLOAD,
  NBDMAGIC,
  OPTION_REPLY_MAGIC,
  REPLY_FLAG_DONE,
  REPLY_TYPE,
  REQUEST_MAGIC,
  SIMPLE_REPLY_MAGIC,
  STRUCTURED_REPLY_MAGIC,
} from './protocol.js';

export interface NbdRequest {
  flags: number;
  command: number;
  handle: bigint;
  /** Unsigned 64-bit: may exceed Number.MAX_SAFE_INTEGER, so the connection range-checks it as a bigint. */
  offset: bigint;
  length: number;
  /** The payload of a WRITE (exactly `length` bytes). */
  data?: Buffer;
}

export type DecodeErrorReason = 'bad-client-flags' | 'bad-option-magic' | 'option-too-large' | 'bad-request-magic';

export type Inbound =
  | { kind: 'client-flags'; flags: number }
  | { kind: 'option'; option: number; data: Buffer }
  | { kind: 'request'; request: NbdRequest }
  /** A WRITE larger than the limit: its payload is being skipped, never buffered. */
  | { kind: 'oversize'; request: NbdRequest }
  | { kind: 'error'; reason: DecodeErrorReason; detail: string };

type Phase = 'client-flags' | 'options' | 'transmission' | 'dead';

export interface DecoderLimits {
  maxPayload?: number;
  maxOptionData?: number;
}

/** A FIFO of received chunks that hands out exact byte counts, copying only across chunk boundaries. */
class ByteQueue {
  private chunks: Buffer[] = [];
  private head = 0; // offset into chunks[0]
  length = 0;

  push(b: Buffer): void {
    if (b.length === 0) return;
    this.chunks.push(b);
    this.length += b.length;
  }

  /** The next n bytes (n ≤ length). */
  take(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length - this.head >= n) {
      const out = first.subarray(this.head, this.head + n);
      this.advance(n);
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    while (filled < n) {
      const c = this.chunks[0] as Buffer;
      const k = Math.min(n - filled, c.length - this.head);
      c.copy(out, filled, this.head, this.head + k);
      filled += k;
      this.advance(k);
    }
    return out;
  }

  /** Drops up to n bytes; returns how many were dropped. */
  skip(n: number): number {
    let dropped = 0;
    while (dropped < n && this.chunks.length > 0) {
      const c = this.chunks[0] as Buffer;
      const k = Math.min(n - dropped, c.length - this.head);
      dropped += k;
      this.advance(k);
    }
    return dropped;
  }

  /** A copy of the next n bytes (n ≤ length), left in the queue. */
  peek(n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    let filled = 0;
    for (let i = 0; filled < n; i++) {
      const c = this.chunks[i] as Buffer;
      const start = i === 0 ? this.head : 0;
      const k = Math.min(n - filled, c.length - start);
      c.copy(out, filled, start, start + k);
      filled += k;
    }
    return out;
  }

  private advance(n: number): void {
    this.head += n;
    this.length -= n;
    while (this.chunks.length > 0 && this.head >= (this.chunks[0] as Buffer).length) {
      this.head -= (this.chunks[0] as Buffer).length;
      this.chunks.shift();
    }
  }

  clear(): void {
    this.chunks = [];
    this.head = 0;
    this.length = 0;
  }
}

/** The server's decoder of what a client sends. */
export class NbdDecoder {
  private readonly q = new ByteQueue();
  private phase: Phase = 'client-flags';
  private skipLeft = 0;
  private readonly maxPayload: number;
  private readonly maxOptionData: number;

  constructor(limits: DecoderLimits = {}) {
    this.maxPayload = limits.maxPayload ?? MAX_REQUEST_PAYLOAD;
    this.maxOptionData = limits.maxOptionData ?? MAX_OPTION_DATA;
  }

  push(bytes: Buffer): void {
    if (this.phase === 'dead') return;
    this.q.push(bytes);
  }

  /** Bytes received and not yet returned as messages (what backpressure keeps bounded). */
  get buffered(): number {
    return this.q.length;
  }

  /** Called by the connection after the option that ends the handshake (EXPORT_NAME, or a successful GO). */
  startTransmission(): void {
    if (this.phase !== 'dead') this.phase = 'transmission';
  }

  /** The next whole message, or null until more bytes arrive. Never throws. */
  next(): Inbound | null {
    switch (this.phase) {
      case 'dead':
        return null;
      case 'client-flags': {
        if (this.q.length < 4) return null;
        const flags = this.q.take(4).readUInt32BE(0);
        if ((flags & ~(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)) !== 0) return this.fail('bad-client-flags', `client flags 0x${flags.toString(16)}`);
        this.phase = 'options';
        return { kind: 'client-flags', flags };
      }
      case 'options': {
        // The magic is checked as soon as it is here, so garbage is refused without waiting for more.
        if (this.q.length >= 8 && this.q.peek(8).readBigUInt64BE(0) !== IHAVEOPT) return this.fail('bad-option-magic', 'option without IHAVEOPT');
        if (this.q.length < 16) return null;
        const hdr = this.q.peek(16);
        const option = hdr.readUInt32BE(8);
        const len = hdr.readUInt32BE(12);
        if (len > this.maxOptionData) return this.fail('option-too-large', `option ${option} carries ${len} bytes`);
        if (this.q.length < 16 + len) return null;
        this.q.take(16);
        const data = Buffer.from(this.q.take(len)); // a copy: options are small and kept by the state machine
        return { kind: 'option', option, data };
      }
      case 'transmission': {
        if (this.skipLeft > 0) {
          this.skipLeft -= this.q.skip(this.skipLeft);
          if (this.skipLeft > 0) return null;
        }
        if (this.q.length >= 4 && this.q.peek(4).readUInt32BE(0) !== REQUEST_MAGIC) return this.fail('bad-request-magic', 'request without its magic');
        if (this.q.length < 28) return null;
        const hdr = this.q.peek(28);
        const request: NbdRequest = {
          flags: hdr.readUInt16BE(4),
          command: hdr.readUInt16BE(6),
          handle: hdr.readBigUInt64BE(8),
          offset: hdr.readBigUInt64BE(16),
          length: hdr.readUInt32BE(24),
        };
        if (request.command !== CMD.WRITE) {
          this.q.take(28);
          return { kind: 'request', request };
        }
        if (request.length > this.maxPayload) {
          this.q.take(28);
          this.skipLeft = request.length - this.q.skip(request.length);
          return { kind: 'oversize', request };
        }
        if (this.q.length < 28 + request.length) return null;
        this.q.take(28);
        request.data = this.q.take(request.length);
        return { kind: 'request', request };
      }
    }
  }

  private fail(reason: DecodeErrorReason, detail: string): Inbound {
    this.phase = 'dead';
    this.q.clear();
    return { kind: 'error', reason, detail };
  }
}

// ---- server → client ----

/** The newstyle greeting: NBDMAGIC, IHAVEOPT, 16-bit handshake flags. */
export function encodeGreeting(handshakeFlags: number): Buffer {
  const b = Buffer.alloc(18);
  b.writeBigUInt64BE(NBDMAGIC, 0);
  b.writeBigUInt64BE(IHAVEOPT, 8);
  b.writeUInt16BE(handshakeFlags, 16);
  return b;
}

export function encodeOptionReply(option: number, replyType: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(20 + data.length);
  b.writeBigUInt64BE(OPTION_REPLY_MAGIC, 0);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(replyType >>> 0, 12);
  b.writeUInt32BE(data.length, 16);
  data.copy(b, 20);
  return b;
}

/** The answer to NBD_OPT_EXPORT_NAME: size, transmission flags, and 124 zeroes unless NO_ZEROES. */
export function encodeExportNameReply(size: number, transmissionFlags: number, noZeroes: boolean): Buffer {
  const b = Buffer.alloc(noZeroes ? 10 : 134);
  b.writeBigUInt64BE(BigInt(size), 0);
  b.writeUInt16BE(transmissionFlags, 8);
  return b;
}

export function encodeSimpleReply(handle: bigint, error: number): Buffer {
  const b = Buffer.alloc(16);
  b.writeUInt32BE(SIMPLE_REPLY_MAGIC, 0);
  b.writeUInt32BE(error, 4);
  b.writeBigUInt64BE(handle, 8);
  return b;
}

export function encodeChunkHeader(flags: number, type: number, handle: bigint, length: number): Buffer {
  const b = Buffer.alloc(20);
  writeChunkHeader(b, flags, type, handle, length);
  return b;
}

function writeChunkHeader(b: Buffer, flags: number, type: number, handle: bigint, length: number): void {
  b.writeUInt32BE(STRUCTURED_REPLY_MAGIC, 0);
  b.writeUInt16BE(flags, 4);
  b.writeUInt16BE(type, 6);
  b.writeBigUInt64BE(handle, 8);
  b.writeUInt32BE(length, 16);
}

export function encodeNoneChunk(handle: bigint): Buffer {
  return encodeChunkHeader(REPLY_FLAG_DONE, REPLY_TYPE.NONE, handle, 0);
}

/** An OFFSET_DATA chunk: header + offset in one buffer, the data after it (not copied). */
export function encodeDataChunk(handle: bigint, offset: number, data: Buffer, done: boolean): Buffer[] {
  const b = Buffer.alloc(28);
  writeChunkHeader(b, done ? REPLY_FLAG_DONE : 0, REPLY_TYPE.OFFSET_DATA, handle, 8 + data.length);
  b.writeBigUInt64BE(BigInt(offset), 20);
  return [b, data];
}

export function encodeHoleChunk(handle: bigint, offset: number, length: number, done: boolean): Buffer {
  const b = Buffer.alloc(32);
  writeChunkHeader(b, done ? REPLY_FLAG_DONE : 0, REPLY_TYPE.OFFSET_HOLE, handle, 12);
  b.writeBigUInt64BE(BigInt(offset), 20);
  b.writeUInt32BE(length, 28);
  return b;
}

export function encodeBlockStatusChunk(handle: bigint, contextId: number, extents: ReadonlyArray<{ length: number; flags: number }>, done: boolean): Buffer {
  const b = Buffer.alloc(24 + 8 * extents.length);
  writeChunkHeader(b, done ? REPLY_FLAG_DONE : 0, REPLY_TYPE.BLOCK_STATUS, handle, 4 + 8 * extents.length);
  b.writeUInt32BE(contextId, 20);
  extents.forEach((e, i) => {
    b.writeUInt32BE(e.length, 24 + 8 * i);
    b.writeUInt32BE(e.flags, 28 + 8 * i);
  });
  return b;
}

export function encodeErrorChunk(handle: bigint, error: number, message: string, done: boolean): Buffer {
  const msg = Buffer.from(message, 'utf8').subarray(0, 4096);
  const b = Buffer.alloc(26 + msg.length);
  writeChunkHeader(b, done ? REPLY_FLAG_DONE : 0, REPLY_TYPE.ERROR, handle, 6 + msg.length);
  b.writeUInt32BE(error, 20);
  b.writeUInt16BE(msg.length, 24);
  msg.copy(b, 26);
  return b;
}

// ---- client → server (tests, tools) ----

export function encodeClientFlags(flags: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(flags >>> 0, 0);
  return b;
}

export function encodeOption(option: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(16 + data.length);
  b.writeBigUInt64BE(IHAVEOPT, 0);
  b.writeUInt32BE(option >>> 0, 8);
  b.writeUInt32BE(data.length, 12);
  data.copy(b, 16);
  return b;
}

export function encodeRequest(r: NbdRequest): Buffer {
  const b = Buffer.alloc(28 + (r.data?.length ?? 0));
  b.writeUInt32BE(REQUEST_MAGIC, 0);
  b.writeUInt16BE(r.flags, 4);
  b.writeUInt16BE(r.command, 6);
  b.writeBigUInt64BE(r.handle, 8);
  b.writeBigUInt64BE(r.offset, 16);
  b.writeUInt32BE(r.length >>> 0, 24);
  r.data?.copy(b, 28);
  return b;
}
