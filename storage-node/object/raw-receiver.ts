import { ServerResponse, type IncomingMessage } from 'node:http';
import { Socket } from 'node:net';
import { RAW_BODY_PROTOCOL, RAW_TRAILER_BYTES } from '../../common/raw-body.js';
import { SwiftletError } from '../../common/errors.js';

/** Where a raw body goes: a DataFileWriter (diskfile.ts). */
export interface RawSink {
  /** Memory to read up to `max` body bytes into, or undefined (then the bytes go through write()). */
  directRegion(max: number): Buffer | undefined;
  /** `n` bytes landed at the start of `region`; a promise when the sink must catch up before the next region. */
  landed(region: Buffer, n: number): Promise<void> | undefined;
  write(bufs: Buffer[]): Promise<void>;
}

/** Reads that do not land in the sink's memory get buffers of this size (fresh ones: the sink may keep them). */
const SPILL_BYTES = 64 * 1024;
/** Pause the socket when this many spilled bytes wait for the sink. */
const HIGH_WATER = 1 << 20;

/** Raw bodies received by this process, and the bytes read straight into the sink's memory (for tests). */
export const rawBodyStats = { bodies: 0, bytesInPlace: 0 };

/**
 * One upgraded connection of the raw body transfer (common/raw-body.ts), from the storage node's
 * side. The upgrade hands us Node's socket; its handle is re-wrapped in a socket that reads into
 * buffers we choose (net.Socket `onread`), and an ordinary ServerResponse answers on it.
 */
export class RawBodyConnection {
  readonly res: ServerResponse;
  private readonly socket: Socket;
  /** The buffer the next read lands in, and whether it is the sink's memory. */
  private next: Buffer;
  private nextInPlace = false;
  /** Set by receive(): called for every read. */
  private onRead: ((n: number, buf: Buffer, inPlace: boolean) => boolean) | undefined;
  /** Bytes read before receive() (the handle may still be reading when it is handed over). */
  private readonly early: Buffer[] = [];

  /** Undefined when the request is not a raw body upgrade or its connection is already gone. */
  static accept(req: IncomingMessage, upgraded: Socket, head: Buffer): RawBodyConnection | undefined {
    const proto = req.headers.upgrade;
    if (typeof proto !== 'string' || proto.trim().toLowerCase() !== RAW_BODY_PROTOCOL) return undefined;
    // The proxy sends nothing before our 101, and the socket must be unused to be re-wrapped.
    if (head.length || upgraded.destroyed || !(upgraded as unknown as { _handle: unknown })._handle) return undefined;
    return new RawBodyConnection(req, upgraded);
  }

  private constructor(req: IncomingMessage, upgraded: Socket) {
    this.next = Buffer.allocUnsafe(SPILL_BYTES);
    const old = upgraded as unknown as { _handle: { reading?: boolean; readStop(): number } | null };
    const handle = old._handle as { reading?: boolean; readStop(): number };
    // The HTTP server may have left it reading: nothing is read until receive() asks.
    handle.readStop();
    handle.reading = false;
    // The old socket must never touch the handle again (its close would close ours). Destroyed
    // without it, it closes nothing and the server stops counting it as a connection.
    upgraded.removeAllListeners();
    old._handle = null;
    upgraded.on('error', () => undefined);
    upgraded.destroy();
    this.socket = new Socket({
      handle,
      allowHalfOpen: true,
      manualStart: true,
      onread: {
        buffer: () => this.next,
        callback: (n: number, buf: Buffer) => (this.onRead ? this.onRead(n, buf, buf === this.next && this.nextInPlace) : this.keepEarly(n, buf)),
      },
    } as ConstructorParameters<typeof Socket>[0] & { handle: unknown; manualStart: boolean });
    this.socket.on('error', () => undefined);
    this.res = new ServerResponse(req);
    this.res.shouldKeepAlive = false;
    this.res.assignSocket(this.socket);
    // Answered (or given up): close once the answer is out.
    this.res.on('finish', () => this.socket.destroySoon());
    this.res.on('close', () => this.socket.destroySoon());
  }

  /** A read before receive(): kept for it, and no more reads until then. */
  private keepEarly(n: number, buf: Buffer): boolean {
    this.early.push(buf.subarray(0, n));
    this.next = Buffer.allocUnsafe(SPILL_BYTES);
    this.nextInPlace = false;
    return false;
  }

  /** Says "send the body" (the 101); the counterpart of 100 Continue. */
  sendContinue(): void {
    if (!this.res.headersSent) this.socket.write(`HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ${RAW_BODY_PROTOCOL}\r\n\r\n`);
  }

  /**
   * Reads exactly `length` body bytes into the sink, then the trailer. Reads land in the sink's
   * own memory while it has room; while it waits for the disk they land in spill buffers, which
   * are copied in (or, for a sink without such memory, written) once it caught up. Resolves with
   * the trailer once every byte is in the sink (no write in flight). Rejects with
   * CLIENT_DISCONNECT (the connection ended or failed early), CLIENT_TIMEOUT (quiet for
   * `idleTimeoutMs` while we were waiting for it) or the sink's error, also only once no write is
   * in flight.
   */
  receive(sink: RawSink, length: number, idleTimeoutMs: number): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const trailer = Buffer.alloc(RAW_TRAILER_BYTES);
      let got = 0;
      let trailerGot = 0;
      let queue: Buffer[] = [];
      let queued = 0;
      /** The sink catching up (a slot waiting for the disk, or a write): reads spill meanwhile. */
      let inflight: Promise<void> | undefined;
      let pausedByUs = false;
      let settled = false;

      /** Where the next read lands: the sink's memory when nothing waits before it, else a fresh buffer. */
      const chooseNext = (): void => {
        this.nextInPlace = false;
        if (got >= length) {
          // After the whole trailer nothing more is read; a small buffer keeps the handle valid.
          this.next = trailerGot < RAW_TRAILER_BYTES ? trailer.subarray(trailerGot) : Buffer.allocUnsafe(64);
          return;
        }
        const region = !inflight && !queue.length ? sink.directRegion(length - got) : undefined;
        this.nextInPlace = region !== undefined;
        this.next = region ?? Buffer.allocUnsafe(Math.min(SPILL_BYTES, length - got));
      };
      const finish = (err?: unknown): void => {
        if (settled) return;
        settled = true;
        this.onRead = undefined;
        this.socket.setTimeout(0);
        this.socket.off('end', onEnd);
        this.socket.off('close', onEnd);
        this.socket.off('timeout', onTimeout);
        this.socket.pause();
        if (err === undefined) {
          rawBodyStats.bodies++;
          resolve(trailer);
        } else {
          // never reject while a write is in flight: the caller removes the temp file next
          void (inflight ?? Promise.resolve()).catch(() => undefined).then(() => reject(err));
        }
      };
      const waitFor = (p: Promise<void>): void => {
        inflight = p.then(
          () => {
            inflight = undefined;
            drain();
          },
          (e: unknown) => {
            inflight = undefined;
            finish(e);
          },
        );
      };
      /**
       * Moves spilled bytes into the sink in order (copied into its memory while it has room, or
       * written when it has none of its own); then resumes the socket or finishes.
       */
      const drain = (): void => {
        while (!settled && !inflight && queue.length) {
          const b = queue[0] as Buffer;
          const region = sink.directRegion(b.length);
          if (!region) {
            const bufs = queue;
            queue = [];
            queued = 0;
            return waitFor(sink.write(bufs));
          }
          const n = b.copy(region);
          if (n === b.length) queue.shift();
          else queue[0] = b.subarray(n);
          queued -= n;
          const wait = sink.landed(region, n);
          if (wait) waitFor(wait);
        }
        if (settled || inflight || queue.length) return;
        if (got >= length && trailerGot === RAW_TRAILER_BYTES) return finish();
        if (pausedByUs) {
          pausedByUs = false;
          chooseNext();
          this.socket.setTimeout(idleTimeoutMs);
          this.socket.resume();
        }
      };
      /** Takes bytes read into a buffer of our own: body (queued), then trailer; anything past the trailer is ignored. */
      const takeCopy = (b: Buffer): void => {
        const body = Math.min(b.length, length - got);
        if (body > 0) {
          queue.push(b.subarray(0, body));
          queued += body;
          got += body;
        }
        trailerGot += b.copy(trailer, trailerGot, body);
      };
      this.onRead = (n, buf, inPlace) => {
        if (inPlace) {
          got += n;
          rawBodyStats.bytesInPlace += n;
          const wait = sink.landed(buf, n);
          if (wait) waitFor(wait);
        } else if (buf.buffer === trailer.buffer) {
          trailerGot += n; // read straight into the trailer
        } else {
          takeCopy(buf.subarray(0, n));
          drain();
        }
        if (trailerGot === RAW_TRAILER_BYTES) {
          // The end: nothing more is read; drain() finishes once the sink has every byte.
          pausedByUs = true;
          this.socket.setTimeout(0);
          chooseNext();
          drain();
          return false;
        }
        chooseNext();
        if (queued < HIGH_WATER) return true;
        // The disk is behind: stop reading (and the idle clock: the wait is ours) until drain() caught up.
        pausedByUs = true;
        this.socket.setTimeout(0);
        return false;
      };
      const onEnd = (): void => finish(new SwiftletError('CLIENT_DISCONNECT', `raw body ended after ${got} of ${length} bytes`));
      const onTimeout = (): void => finish(new SwiftletError('CLIENT_TIMEOUT', `client sent nothing for ${idleTimeoutMs} ms`));
      this.socket.on('end', onEnd);
      this.socket.on('close', onEnd);
      this.socket.on('timeout', onTimeout);
      for (const b of this.early.splice(0)) takeCopy(b);
      pausedByUs = true;
      drain();
    });
  }
}
