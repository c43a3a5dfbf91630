import { connect, type Socket } from 'node:net';

/**
 * The large-object load generator's HTTP/1.1 client: one keep-alive socket per worker, the request
 * head written by hand, a PUT body written from one shared buffer, the response body counted in one
 * reused read buffer (`onread`) and never copied out. On this 2-core machine the load generator's
 * CPU is taken from the servers under test: undici spent 1.1–1.5 s of CPU per GB of 64 MiB GETs
 * received (its parser copies each read into WebAssembly memory and each body piece back out),
 * this client 0.5–0.7 s (bench/RESULTS.md "How the load is generated").
 */

/** Counts an HTTP/1.1 response's bytes as they arrive: the head parsed, the body framed and skipped. */
export class ResponseCounter {
  status = 0;
  headers: Record<string, string> = {};
  /** Body bytes seen (chunk framing not counted). */
  bodyBytes = 0;
  done = false;
  /** The server closes after this response (Connection: close, or a body that runs to the close). */
  closes = false;
  private head = '';
  private state: 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'to-close' = 'head';
  private left = 0;
  private line = '';

  /**
   * `onBody`: called with each piece of the body as it is read (bytes [start, end) of a buffer that
   * is reused for the next read: consume it before returning, e.g. a hash's update).
   */
  constructor(
    private readonly method: string,
    private readonly onBody?: (buf: Buffer, start: number, end: number) => void,
  ) {}

  /**
   * Feeds bytes [start, end) of `buf`; returns how many belong to this response (the rest, if any,
   * is the next one's: only possible if the server sent more than asked, counted as an error).
   */
  feed(buf: Buffer, start: number, end: number): number {
    let at = start;
    while (at < end && !this.done) {
      switch (this.state) {
        case 'head': {
          // Search the head seen so far plus the next 16 KiB (not the whole read: it may hold MiBs of body).
          const pieceEnd = Math.min(end, at + 16 * 1024);
          const from = Math.max(0, this.head.length - 3);
          this.head += buf.toString('latin1', at, pieceEnd);
          const blank = this.head.indexOf('\r\n\r\n', from);
          if (blank < 0) {
            if (this.head.length > 1024 * 1024) throw new Error('response head over 1 MiB');
            at = pieceEnd;
            break;
          }
          at = pieceEnd - (this.head.length - (blank + 4));
          this.parseHead(this.head.slice(0, blank));
          this.head = '';
          break;
        }
        case 'length':
        case 'chunk-data': {
          // Body bytes of a known count (the whole body, or one chunk): counted, skipped.
          const take = Math.min(this.left, end - at);
          this.left -= take;
          this.bodyBytes += take;
          this.onBody?.(buf, at, at + take);
          at += take;
          if (this.left === 0) {
            if (this.state === 'length') this.done = true;
            else this.state = 'chunk-crlf';
          }
          break;
        }
        case 'to-close':
          this.bodyBytes += end - at;
          this.onBody?.(buf, at, end);
          at = end;
          break;
        default: {
          // chunk-size, chunk-crlf and trailers are lines: read up to the next LF.
          const lf = buf.indexOf(10, at);
          const stop = lf === -1 || lf >= end ? end : lf + 1;
          this.line += buf.toString('latin1', at, stop);
          at = stop;
          if (!this.line.endsWith('\n')) break;
          const line = this.line.trim();
          this.line = '';
          if (this.state === 'chunk-crlf') this.state = 'chunk-size';
          else if (this.state === 'trailers') this.done = line === '';
          else {
            this.left = parseInt(line.split(';')[0] ?? '', 16);
            if (!Number.isFinite(this.left)) throw new Error(`bad chunk size line: ${line}`);
            this.state = this.left === 0 ? 'trailers' : 'chunk-data';
          }
        }
      }
    }
    return at - start;
  }

  /** The connection closed: the end of a body that runs to the close; otherwise the response is cut short. */
  closed(): boolean {
    if (this.state === 'to-close') this.done = true;
    return this.done;
  }

  private parseHead(text: string): void {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '');
    if (!m) throw new Error(`not an HTTP/1.1 response: ${JSON.stringify((lines[0] ?? '').slice(0, 80))}`);
    this.status = Number(m[1]);
    for (const l of lines.slice(1)) {
      const colon = l.indexOf(':');
      if (colon > 0) this.headers[l.slice(0, colon).trim().toLowerCase()] = l.slice(colon + 1).trim();
    }
    this.closes = /\bclose\b/i.test(this.headers['connection'] ?? '');
    const noBody = this.method === 'HEAD' || this.status === 204 || this.status === 304 || (this.status >= 100 && this.status < 200);
    if (this.status >= 100 && this.status < 200) {
      // 100 Continue (never asked for here) is followed by the real head.
      this.headers = {};
      this.state = 'head';
      return;
    }
    if (noBody) this.done = true;
    else if (/\bchunked\b/i.test(this.headers['transfer-encoding'] ?? '')) this.state = 'chunk-size';
    else if (this.headers['content-length'] !== undefined) {
      this.left = Number(this.headers['content-length']);
      this.state = 'length';
      if (this.left === 0) this.done = true;
    } else {
      this.state = 'to-close';
      this.closes = true;
    }
  }
}

/** What a request got: the status and how many body bytes. */
export interface RawResponse {
  status: number;
  bodyBytes: number;
}

/** A body of `size` bytes, written as repeats of `pattern` (never allocated whole). */
export interface RepeatedBody {
  size: number;
  pattern: Buffer;
}

/** A body of `size` bytes, written as the buffers `pieces` yields (their lengths add up to `size`). */
export interface PiecesBody {
  size: number;
  pieces: Iterable<Buffer>;
}

/** The pieces of a repeated body: `pattern` again and again, the last one cut to what is left. */
function* repeatedPieces(body: RepeatedBody): Generator<Buffer> {
  let left = body.size;
  while (left > 0) {
    const piece = left >= body.pattern.length ? body.pattern : body.pattern.subarray(0, left);
    left -= piece.length;
    yield piece;
  }
}

/** One keep-alive connection, one request at a time; reconnects after a close or an error. */
export class RawHttpConnection {
  private socket: Socket | undefined;
  private readonly readBuf = Buffer.allocUnsafe(1024 * 1024);
  private current: { counter: ResponseCounter; resolve: (r: RawResponse) => void; reject: (e: Error) => void } | undefined;

  /** `host` as net.connect takes it (no brackets around IPv6); `hostHeader` as the URL has it. */
  constructor(
    private readonly host: string,
    private readonly port: number,
    private readonly hostHeader = `${host}:${port}`,
  ) {}

  /** `onBody`: each piece of the response body as it arrives (see ResponseCounter). */
  async request(method: string, path: string, headers: Record<string, string>, body?: RepeatedBody | PiecesBody, onBody?: (buf: Buffer, start: number, end: number) => void): Promise<RawResponse> {
    if (this.current) throw new Error('one request at a time');
    const socket = await this.connected();
    const counter = new ResponseCounter(method, onBody);
    const answered = new Promise<RawResponse>((resolve, reject) => (this.current = { counter, resolve, reject }));
    let head = `${method} ${path} HTTP/1.1\r\nHost: ${this.hostHeader}\r\n`;
    for (const [k, v] of Object.entries(headers)) head += `${k}: ${v}\r\n`;
    if (body) head += `Content-Length: ${body.size}\r\n`;
    socket.write(`${head}\r\n`, 'latin1');
    // An answer before the whole body (an error status) leaves the connection mid-request: close it.
    if (body && !(await writeRepeated(socket, body, answered))) answered.then(() => this.close(), () => undefined);
    return answered;
  }

  close(): void {
    this.socket?.destroy();
    this.socket = undefined;
  }

  private connected(): Promise<Socket> {
    if (this.socket && !this.socket.destroyed) return Promise.resolve(this.socket);
    return new Promise((resolve, reject) => {
      const socket: Socket = connect({
        host: this.host,
        port: this.port,
        noDelay: true,
        onread: { buffer: this.readBuf, callback: (n: number): boolean => this.onRead(socket, n) },
      });
      this.socket = socket;
      socket.once('connect', () => resolve(socket));
      socket.on('error', (err: Error) => {
        reject(err);
        this.fail(socket, err);
      });
      socket.on('close', () => {
        const c = this.current;
        if (c && this.socket === socket && c.counter.closed()) this.finish(c);
        this.fail(socket, new Error('connection closed before the response ended'));
      });
    });
  }

  private onRead(socket: Socket, n: number): boolean {
    const c = this.current;
    if (!c) {
      this.fail(socket, new Error('bytes from the server with no request outstanding'));
      return false;
    }
    try {
      const used = c.counter.feed(this.readBuf, 0, n);
      if (c.counter.done) {
        if (used < n) throw new Error('the server sent more than one response');
        this.finish(c);
        if (c.counter.closes) this.close();
      }
    } catch (err) {
      this.fail(socket, err as Error);
    }
    return true;
  }

  private finish(c: NonNullable<RawHttpConnection['current']>): void {
    this.current = undefined;
    c.resolve({ status: c.counter.status, bodyBytes: c.counter.bodyBytes });
  }

  private fail(socket: Socket, err: Error): void {
    if (this.socket === socket) this.socket = undefined;
    socket.destroy();
    const c = this.current;
    this.current = undefined;
    c?.reject(err);
  }
}

/**
 * Writes the body with backpressure. Returns false if it stopped early: the answer came first (an
 * error status mid-body) or the connection went away.
 */
async function writeRepeated(socket: Socket, body: RepeatedBody | PiecesBody, answered: Promise<RawResponse>): Promise<boolean> {
  let over = false;
  const answer = answered.then(
    () => (over = true),
    () => (over = true),
  );
  let left = body.size;
  for (const piece of 'pieces' in body ? body.pieces : repeatedPieces(body)) {
    if (left <= 0 || over || socket.destroyed) break;
    left -= piece.length;
    if (socket.write(piece)) continue;
    let done!: () => void;
    const drained = new Promise<void>((resolve) => (done = resolve));
    socket.on('drain', done);
    socket.on('close', done);
    await Promise.race([drained, answer]);
    socket.off('drain', done);
    socket.off('close', done);
  }
  return left === 0 && !socket.destroyed;
}
