/**
 * One NBD connection: the handshake (fixed newstyle; options answered one at a time) and then the
 * transmission phase (many requests in flight, replies in completion order). It knows nothing of
 * sockets — bytes come in with `receive()` and go out through `ConnectionIo`, so tests drive it
 * with transcripts — and nothing of storage beyond the `BlockVolume` interface.
 *
 * Backpressure: the connection stops pulling requests from its decoder, and asks the transport to
 * stop reading (io.pause), while more than `maxInFlightBytes` of READ/WRITE payload or
 * `maxInFlightRequests` requests are being served, or while the transport's own output buffer is
 * full (io.write returned false, until onDrain()).
 */
import { NbdDecoder, encodeBlockStatusChunk, encodeDataChunk, encodeErrorChunk, encodeExportNameReply, encodeGreeting, encodeHoleChunk, encodeNoneChunk, encodeOptionReply, encodeSimpleReply, type Inbound, type NbdRequest } from './codec.js';
import {
  BASE_ALLOCATION,
  CMD,
  CMD_FLAG,
  FLAG_C_FIXED_NEWSTYLE,
  FLAG_C_NO_ZEROES,
  FLAG_FIXED_NEWSTYLE,
  FLAG_NO_ZEROES,
  INFO,
  MAX_REQUEST_PAYLOAD,
  MAX_STRING,
  NBD_ERR,
  OPT,
  REP,
  STATE_HOLE,
  STATE_ZERO,
  TF,
} from './protocol.js';
import { VolumeError, type BlockVolume, type ExportCatalog, type NbdExport } from '../volume.js';

export interface ConnectionIo {
  /** Queues bytes for the client; false when the transport's buffer is full (onDrain() follows). */
  write(chunks: Buffer[]): boolean;
  pause(): void;
  resume(): void;
  /** Clean close once queued bytes are out. */
  end(): void;
  /** Hard disconnect. */
  destroy(): void;
  /**
   * Present when the server has TLS credentials: called right after the ACK to NBD_OPT_STARTTLS is
   * queued; from then on every byte both ways goes through TLS (receive() gets plaintext).
   */
  startTls?(): void;
}

export interface ConnectionOptions {
  catalog: ExportCatalog;
  maxInFlightBytes?: number;
  maxInFlightRequests?: number;
  /** Options a client may send before choosing an export; more ends the connection. */
  maxOptions?: number;
  /** Told about protocol violations and volume failures (never throws into the connection). */
  onEvent?: (event: ConnectionEvent) => void;
}

export type ConnectionEvent =
  | { kind: 'protocol-error'; reason: string; detail: string }
  | { kind: 'volume-error'; command: number; error: unknown }
  | { kind: 'export'; name: string };

/** The metadata context id this server gives `base:allocation` in SET_META_CONTEXT. */
export const BASE_ALLOCATION_ID = 1;

const FLAGS_ALLOWED: Record<number, number> = {
  [CMD.READ]: CMD_FLAG.FUA | CMD_FLAG.DF,
  [CMD.WRITE]: CMD_FLAG.FUA,
  [CMD.DISC]: CMD_FLAG.FUA,
  [CMD.FLUSH]: CMD_FLAG.FUA,
  [CMD.TRIM]: CMD_FLAG.FUA,
  [CMD.CACHE]: CMD_FLAG.FUA,
  [CMD.WRITE_ZEROES]: CMD_FLAG.FUA | CMD_FLAG.NO_HOLE | CMD_FLAG.FAST_ZERO,
  [CMD.BLOCK_STATUS]: CMD_FLAG.FUA | CMD_FLAG.REQ_ONE,
};

const WRITES = new Set<number>([CMD.WRITE, CMD.TRIM, CMD.WRITE_ZEROES]);

/** The transmission flags of an export; INFO and GO and EXPORT_NAME all use this one function. */
export function transmissionFlags(v: BlockVolume, structured: boolean): number {
  let f = TF.HAS_FLAGS | TF.SEND_FLUSH | TF.SEND_FUA | TF.SEND_CACHE;
  if (v.readOnly) f |= TF.READ_ONLY;
  else f |= TF.SEND_TRIM | TF.SEND_WRITE_ZEROES | TF.SEND_FAST_ZERO;
  if (structured) f |= TF.SEND_DF;
  if (v.multiConn) f |= TF.CAN_MULTI_CONN;
  return f;
}

type State = 'flags' | 'options' | 'transmission' | 'closing' | 'closed';

/** Bounds-checked reads of an option payload; undefined when the payload is short. */
class Reader {
  private at = 0;
  constructor(private readonly b: Buffer) {}
  u32(): number | undefined {
    if (this.at + 4 > this.b.length) return undefined;
    const v = this.b.readUInt32BE(this.at);
    this.at += 4;
    return v;
  }
  u16(): number | undefined {
    if (this.at + 2 > this.b.length) return undefined;
    const v = this.b.readUInt16BE(this.at);
    this.at += 2;
    return v;
  }
  str(n: number): string | undefined {
    if (n > MAX_STRING || this.at + n > this.b.length) return undefined;
    const s = this.b.toString('utf8', this.at, this.at + n);
    this.at += n;
    return s;
  }
  get done(): boolean {
    return this.at === this.b.length;
  }
}

export class NbdConnection {
  private readonly decoder = new NbdDecoder();
  private state: State = 'flags';
  private fixed = false;
  private noZeroes = false;
  private structured = false;
  private meta: { exportName: string; baseAllocation: boolean } | undefined;
  private optionCount = 0;
  private optionBusy = false;
  private export: NbdExport | undefined;
  private inFlight = 0;
  private inFlightBytes = 0;
  private outputBlocked = false;
  private paused = false;
  private readonly maxInFlightBytes: number;
  private readonly maxInFlightRequests: number;
  private readonly maxOptions: number;
  private idleWaiters: Array<() => void> = [];
  private tlsActive = false;

  constructor(
    private readonly io: ConnectionIo,
    private readonly opts: ConnectionOptions,
  ) {
    this.maxInFlightBytes = opts.maxInFlightBytes ?? 64 * 1024 * 1024;
    this.maxInFlightRequests = opts.maxInFlightRequests ?? 128;
    this.maxOptions = opts.maxOptions ?? 64;
  }

  /** Sends the greeting. */
  start(): void {
    this.send([encodeGreeting(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES)]);
  }

  receive(chunk: Buffer): void {
    if (this.state === 'closed' || this.state === 'closing') return;
    this.decoder.push(chunk);
    this.pump();
  }

  /** The transport's output buffer emptied. */
  onDrain(): void {
    this.outputBlocked = false;
    this.pump();
  }

  /** The transport is gone (client hung up): no more replies; in-flight work still finishes. */
  onClose(): void {
    this.state = 'closed';
  }

  /** Requests being served (for tests and status). */
  get pending(): { requests: number; bytes: number } {
    return { requests: this.inFlight, bytes: this.inFlightBytes };
  }

  /** Resolves once nothing is in flight. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private throttled(): boolean {
    return this.outputBlocked || this.inFlightBytes >= this.maxInFlightBytes || this.inFlight >= this.maxInFlightRequests;
  }

  private pump(): void {
    while ((this.state === 'flags' || this.state === 'options' || this.state === 'transmission') && !this.optionBusy && !this.throttled()) {
      const m = this.decoder.next();
      if (m === null) break;
      this.dispatch(m);
    }
    const shouldPause = this.throttled();
    if (shouldPause !== this.paused) {
      this.paused = shouldPause;
      if (shouldPause) this.io.pause();
      else this.io.resume();
    }
  }

  private dispatch(m: Inbound): void {
    switch (m.kind) {
      case 'error':
        this.opts.onEvent?.({ kind: 'protocol-error', reason: m.reason, detail: m.detail });
        this.hangUp();
        return;
      case 'client-flags':
        this.fixed = (m.flags & FLAG_C_FIXED_NEWSTYLE) !== 0;
        this.noZeroes = (m.flags & FLAG_C_NO_ZEROES) !== 0;
        this.state = 'options';
        return;
      case 'option':
        this.optionBusy = true;
        this.handleOption(m.option, m.data)
          .catch((err: unknown) => {
            this.opts.onEvent?.({ kind: 'protocol-error', reason: 'option-failed', detail: String(err) });
            this.hangUp();
          })
          .finally(() => {
            this.optionBusy = false;
            this.pump();
          });
        return;
      case 'oversize':
        // The payload is skipped by the decoder; the client hears EINVAL and may carry on.
        this.reply(m.request, NBD_ERR.EINVAL, 'request larger than 32 MiB');
        return;
      case 'request':
        this.startRequest(m.request);
        return;
    }
  }

  // ---- handshake ----

  private optionError(option: number, type: number, message: string): void {
    this.send([encodeOptionReply(option, type, Buffer.from(message, 'utf8'))]);
  }

  private async handleOption(option: number, data: Buffer): Promise<void> {
    if (++this.optionCount > this.maxOptions) {
      this.opts.onEvent?.({ kind: 'protocol-error', reason: 'too-many-options', detail: `${this.optionCount} options` });
      this.hangUp();
      return;
    }
    if (!this.fixed && option !== OPT.EXPORT_NAME) {
      // Plain newstyle has no option replies: nothing to answer with but a hang-up.
      this.hangUp();
      return;
    }
    // FORCEDTLS (proto.md): with TLS configured, nothing but STARTTLS and ABORT before it.
    if (this.io.startTls !== undefined && !this.tlsActive && option !== OPT.STARTTLS && option !== OPT.ABORT) {
      if (option === OPT.EXPORT_NAME) return this.hangUp(); // cannot be answered with an error
      return this.optionError(option, REP.ERR_TLS_REQD, 'TLS is required: send NBD_OPT_STARTTLS first');
    }
    switch (option) {
      case OPT.EXPORT_NAME: {
        const name = data.length <= MAX_STRING ? data.toString('utf8') : undefined;
        const exp = name === undefined ? undefined : await this.opts.catalog.open(name);
        if (exp === undefined) {
          // EXPORT_NAME cannot be refused with an error: the spec says terminate.
          this.hangUp();
          return;
        }
        this.send([encodeExportNameReply(exp.volume.size, transmissionFlags(exp.volume, this.structured), this.noZeroes)]);
        this.enterTransmission(exp);
        return;
      }
      case OPT.ABORT:
        this.send([encodeOptionReply(option, REP.ACK)]);
        this.state = 'closing';
        this.io.end();
        return;
      case OPT.LIST: {
        if (data.length !== 0) return this.optionError(option, REP.ERR_INVALID, 'LIST takes no data');
        const out: Buffer[] = [];
        for (const e of await this.opts.catalog.list()) {
          // The name, then (what nbdinfo --list shows) a description for humans.
          const name = Buffer.from(e.name, 'utf8');
          const b = Buffer.concat([Buffer.alloc(4), name, Buffer.from(e.description ?? '', 'utf8')]);
          b.writeUInt32BE(name.length, 0);
          out.push(encodeOptionReply(option, REP.SERVER, b));
        }
        out.push(encodeOptionReply(option, REP.ACK));
        this.send(out);
        return;
      }
      case OPT.STARTTLS:
        return this.startTls(option, data);
      case OPT.INFO:
      case OPT.GO:
        return this.infoOrGo(option, data);
      case OPT.STRUCTURED_REPLY:
        if (data.length !== 0) return this.optionError(option, REP.ERR_INVALID, 'STRUCTURED_REPLY takes no data');
        this.structured = true;
        this.send([encodeOptionReply(option, REP.ACK)]);
        return;
      case OPT.LIST_META_CONTEXT:
      case OPT.SET_META_CONTEXT:
        return this.metaContext(option, data);
      default:
        return this.optionError(option, REP.ERR_UNSUP, `option ${option} is not supported`);
    }
  }

  private startTls(option: number, data: Buffer): void {
    if (this.io.startTls === undefined) return this.optionError(option, REP.ERR_UNSUP, 'this gateway has no TLS credentials');
    if (this.tlsActive) return this.optionError(option, REP.ERR_INVALID, 'TLS is already on');
    if (data.length !== 0) return this.optionError(option, REP.ERR_INVALID, 'STARTTLS takes no data');
    if (this.decoder.buffered !== 0) {
      // The client must wait for the ACK before its TLS handshake: bytes here are a violation.
      this.opts.onEvent?.({ kind: 'protocol-error', reason: 'data-before-tls', detail: `${this.decoder.buffered} bytes after STARTTLS` });
      return this.hangUp();
    }
    this.send([encodeOptionReply(option, REP.ACK)]);
    this.tlsActive = true;
    this.io.startTls();
  }

  /** Whether STARTTLS has switched this connection to TLS. */
  get tls(): boolean {
    return this.tlsActive;
  }

  private async infoOrGo(option: number, data: Buffer): Promise<void> {
    const r = new Reader(data);
    const nameLen = r.u32();
    const name = nameLen === undefined ? undefined : r.str(nameLen);
    const n = r.u16();
    const wanted: number[] = [];
    for (let i = 0; n !== undefined && i < n; i++) {
      const t = r.u16();
      if (t === undefined) break;
      wanted.push(t);
    }
    if (name === undefined || n === undefined || wanted.length !== n || !r.done) return this.optionError(option, REP.ERR_INVALID, 'malformed INFO/GO request');
    const exp = await this.opts.catalog.open(name);
    if (exp === undefined) return this.optionError(option, REP.ERR_UNKNOWN, `no export named "${name}"`);
    const v = exp.volume;
    const out: Buffer[] = [];
    const info = (type: number, body: Buffer): void => {
      const b = Buffer.alloc(2 + body.length);
      b.writeUInt16BE(type, 0);
      body.copy(b, 2);
      out.push(encodeOptionReply(option, REP.INFO, b));
    };
    if (wanted.includes(INFO.NAME)) info(INFO.NAME, Buffer.from(exp.name, 'utf8'));
    if (wanted.includes(INFO.DESCRIPTION) && exp.description !== undefined) info(INFO.DESCRIPTION, Buffer.from(exp.description, 'utf8'));
    // Block sizes are sent even unasked: the minimum is what every request must be aligned to.
    const bs = Buffer.alloc(12);
    bs.writeUInt32BE(v.blockSize.minimum, 0);
    bs.writeUInt32BE(v.blockSize.preferred, 4);
    bs.writeUInt32BE(Math.min(v.blockSize.maximum, MAX_REQUEST_PAYLOAD), 8);
    info(INFO.BLOCK_SIZE, bs);
    const ex = Buffer.alloc(10);
    ex.writeBigUInt64BE(BigInt(v.size), 0);
    ex.writeUInt16BE(transmissionFlags(v, this.structured), 8);
    info(INFO.EXPORT, ex);
    out.push(encodeOptionReply(option, REP.ACK));
    this.send(out);
    if (option === OPT.GO) this.enterTransmission(exp);
  }

  private async metaContext(option: number, data: Buffer): Promise<void> {
    if (!this.structured) return this.optionError(option, REP.ERR_INVALID, 'negotiate structured replies first');
    const r = new Reader(data);
    const nameLen = r.u32();
    const name = nameLen === undefined ? undefined : r.str(nameLen);
    const count = r.u32();
    const queries: string[] = [];
    for (let i = 0; count !== undefined && i < count; i++) {
      const len = r.u32();
      const q = len === undefined ? undefined : r.str(len);
      if (q === undefined) break;
      queries.push(q);
    }
    if (name === undefined || count === undefined || queries.length !== count || !r.done) return this.optionError(option, REP.ERR_INVALID, 'malformed meta context request');
    if ((await this.opts.catalog.open(name)) === undefined) return this.optionError(option, REP.ERR_UNKNOWN, `no export named "${name}"`);
    const listing = option === OPT.LIST_META_CONTEXT;
    // LIST with no query lists everything; "base:" lists the base namespace. SET takes exact names.
    const matches = (listing && queries.length === 0) || queries.some((q) => q === BASE_ALLOCATION || (listing && q === 'base:'));
    const out: Buffer[] = [];
    if (matches) {
      const ctx = Buffer.from(BASE_ALLOCATION, 'utf8');
      const b = Buffer.alloc(4 + ctx.length);
      b.writeUInt32BE(listing ? 0 : BASE_ALLOCATION_ID, 0);
      ctx.copy(b, 4);
      out.push(encodeOptionReply(option, REP.META_CONTEXT, b));
    }
    if (!listing) this.meta = { exportName: name, baseAllocation: matches };
    out.push(encodeOptionReply(option, REP.ACK));
    this.send(out);
  }

  private enterTransmission(exp: NbdExport): void {
    this.export = exp;
    // Contexts chosen for another export do not carry over (nbdkit does the same).
    if (this.meta !== undefined && this.meta.exportName !== exp.name) this.meta = undefined;
    this.state = 'transmission';
    this.decoder.startTransmission();
    this.opts.onEvent?.({ kind: 'export', name: exp.name });
  }

  // ---- transmission ----

  private startRequest(r: NbdRequest): void {
    if (r.command === CMD.DISC) {
      this.state = 'closing';
      void this.idle().then(() => this.io.end());
      return;
    }
    const bytes = r.command === CMD.WRITE ? (r.data?.length ?? 0) : r.command === CMD.READ ? Math.min(r.length, MAX_REQUEST_PAYLOAD) : 0;
    this.inFlight++;
    this.inFlightBytes += bytes;
    this.execute(r)
      .catch((err: unknown) => {
        // execute() answers every failure itself; this is a bug guard so a rejection never escapes.
        this.opts.onEvent?.({ kind: 'volume-error', command: r.command, error: err });
      })
      .finally(() => {
        this.inFlight--;
        this.inFlightBytes -= bytes;
        if (this.inFlight === 0) {
          const w = this.idleWaiters;
          this.idleWaiters = [];
          for (const f of w) f();
        }
        this.pump();
      });
  }

  /** Why a request is refused before it reaches the volume, or undefined. */
  private refuse(r: NbdRequest, v: BlockVolume): { errno: number; message: string } | undefined {
    const allowed = FLAGS_ALLOWED[r.command];
    if (allowed === undefined) return { errno: NBD_ERR.EINVAL, message: `unknown command ${r.command}` };
    if ((r.flags & ~allowed) !== 0) return { errno: NBD_ERR.EINVAL, message: `flags 0x${r.flags.toString(16)} not valid for command ${r.command}` };
    if ((r.flags & CMD_FLAG.DF) !== 0 && !this.structured) return { errno: NBD_ERR.EINVAL, message: 'DF needs structured replies' };
    if (r.command === CMD.BLOCK_STATUS && !(this.structured && this.meta?.baseAllocation)) return { errno: NBD_ERR.EINVAL, message: 'no metadata context selected' };
    if (WRITES.has(r.command) && v.readOnly) return { errno: NBD_ERR.EPERM, message: 'read-only export' };
    if (r.command === CMD.FLUSH) return undefined;
    const end = r.offset + BigInt(r.length);
    if (r.length === 0 || end > BigInt(v.size)) {
      const errno = r.command === CMD.WRITE || r.command === CMD.WRITE_ZEROES ? NBD_ERR.ENOSPC : NBD_ERR.EINVAL;
      return { errno, message: `range ${r.offset}+${r.length} outside the export (size ${v.size})` };
    }
    const min = v.blockSize.minimum;
    if (min > 1 && (Number(r.offset) % min !== 0 || r.length % min !== 0)) return { errno: NBD_ERR.EINVAL, message: `request not aligned to ${min} bytes` };
    if (r.command === CMD.READ && r.length > Math.min(v.blockSize.maximum, MAX_REQUEST_PAYLOAD)) return { errno: NBD_ERR.EINVAL, message: 'read larger than the maximum block size' };
    return undefined;
  }

  private async execute(r: NbdRequest): Promise<void> {
    const exp = this.export as NbdExport;
    const v = exp.volume;
    const no = this.refuse(r, v);
    if (no !== undefined) return this.reply(r, no.errno, no.message);
    const offset = Number(r.offset);
    const fua = (r.flags & CMD_FLAG.FUA) !== 0;
    try {
      switch (r.command) {
        case CMD.READ:
          return this.replyRead(r, offset, await v.read(offset, r.length));
        case CMD.WRITE:
          await v.write(offset, r.data as Buffer, { fua });
          break;
        case CMD.FLUSH:
          await v.flush();
          break;
        case CMD.TRIM:
          await v.trim(offset, r.length, { fua });
          break;
        case CMD.WRITE_ZEROES:
          await v.writeZeroes(offset, r.length, { fua, mayTrim: (r.flags & CMD_FLAG.NO_HOLE) === 0, fastOnly: (r.flags & CMD_FLAG.FAST_ZERO) !== 0 });
          break;
        case CMD.CACHE:
          await v.cache(offset, r.length);
          break;
        case CMD.BLOCK_STATUS:
          return this.replyBlockStatus(r, await v.blockStatus(offset, r.length));
      }
    } catch (err) {
      const errno = errnoOf(err);
      // ENOTSUP for FAST_ZERO is an answer, not a failure worth reporting.
      if (errno !== NBD_ERR.ENOTSUP) this.opts.onEvent?.({ kind: 'volume-error', command: r.command, error: err });
      return this.reply(r, errno, err instanceof Error ? err.message : 'volume error');
    }
    this.reply(r, 0, '');
  }

  /** A reply without payload: an error chunk when structured, else a simple reply. */
  private reply(r: NbdRequest, errno: number, message: string): void {
    if (errno !== 0 && this.structured) this.send([encodeErrorChunk(r.handle, errno, message, true)]);
    else if (r.command === CMD.READ && this.structured) this.send([encodeNoneChunk(r.handle)]);
    else this.send([encodeSimpleReply(r.handle, errno)]);
  }

  private replyRead(r: NbdRequest, offset: number, extents: Awaited<ReturnType<BlockVolume['read']>>): void {
    const df = (r.flags & CMD_FLAG.DF) !== 0;
    if (!this.structured || df) {
      const parts = extents.map((e) => (e.kind === 'data' ? e.data : Buffer.alloc(e.length)));
      const data = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
      if (data.length !== r.length) return this.reply(r, NBD_ERR.EIO, 'volume returned a short read');
      if (this.structured) this.send(encodeDataChunk(r.handle, offset, data, true));
      else this.send([encodeSimpleReply(r.handle, 0), data]);
      return;
    }
    const total = extents.reduce((n, e) => n + (e.kind === 'data' ? e.data.length : e.length), 0);
    if (total !== r.length) return this.reply(r, NBD_ERR.EIO, 'volume returned a short read');
    const out: Buffer[] = [];
    let at = offset;
    extents.forEach((e, i) => {
      const last = i === extents.length - 1;
      if (e.kind === 'data') {
        out.push(...encodeDataChunk(r.handle, at, e.data, last));
        at += e.data.length;
      } else {
        out.push(encodeHoleChunk(r.handle, at, e.length, last));
        at += e.length;
      }
    });
    this.send(out);
  }

  private replyBlockStatus(r: NbdRequest, extents: Awaited<ReturnType<BlockVolume['blockStatus']>>): void {
    const out: Array<{ length: number; flags: number }> = [];
    let covered = 0;
    for (const e of extents) {
      const length = Math.min(e.length, r.length - covered);
      if (length <= 0) break;
      // ZERO only with HOLE: a data extent is never claimed to read as zeroes.
      out.push({ length, flags: e.hole ? STATE_HOLE | (e.zero ? STATE_ZERO : 0) : 0 });
      covered += length;
      if ((r.flags & CMD_FLAG.REQ_ONE) !== 0) break;
    }
    if (out.length === 0) return this.reply(r, NBD_ERR.EIO, 'volume returned no extents');
    this.send([encodeBlockStatusChunk(r.handle, BASE_ALLOCATION_ID, out, true)]);
  }

  // ---- output ----

  private send(chunks: Buffer[]): void {
    if (this.state === 'closed') return;
    if (!this.io.write(chunks)) this.outputBlocked = true;
  }

  private hangUp(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.io.destroy();
  }
}

/** The NBD error for whatever a volume threw. */
export function errnoOf(err: unknown): number {
  if (err instanceof VolumeError) return NBD_ERR[err.code];
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT' || code === 'EFBIG') return NBD_ERR.ENOSPC;
  if (code === 'EROFS' || code === 'EPERM' || code === 'EACCES') return NBD_ERR.EPERM;
  return NBD_ERR.EIO;
}
