import { createHash } from 'node:crypto';
import { Worker } from 'node:worker_threads';
import { crc32c } from '../common/native-sums.js';

/**
 * The MD5 (the ETag) and CRC32C of a PUT body, computed once in the proxy while the body streams
 * through it (object-put.ts sends both to every node as trailers).
 *
 * A small body is hashed on the event loop. A large one is hashed on a worker thread: the MD5 is
 * the heaviest per-byte work the proxy does (~1.5 s of CPU per GB, as much as reading the body and
 * writing it to three nodes together), and on the event loop the relay waits for it; on its own
 * thread, hashing one turn's chunks overlaps relaying the next (bench/RESULTS.md, "What was
 * changed for speed").
 */
export interface BodySums {
  /** The next chunk of the body. It must stay unchanged until the turn is flushed. */
  update(chunk: Buffer): void;
  /**
   * The end of an event-loop turn: the turn's chunks go to the hasher. True when the hasher is
   * more than HASH_BEHIND_BYTES behind: hold the client until onDrain.
   */
  flushTurn(): boolean;
  /** `cb` once the hasher has caught up (or has failed: result() then rejects). */
  onDrain(cb: () => void): void;
  /** The sums of every chunk updated. Rejects if the hashing thread died. */
  result(): Promise<{ md5Hex: string; crc: number }>;
  /** The PUT failed: the sums are not needed. */
  abort(): void;
}

/** Bodies larger than this are hashed off the event loop (smaller ones: the round trip to the thread would cost more). */
export const HASH_OFF_LOOP_ABOVE_BYTES = 4 * 1024 * 1024;

/** How far the hashing thread may fall behind one body before its client is paused. */
export const HASH_BEHIND_BYTES = 4 * 1024 * 1024;

/** Messages to the hashing thread (hash-worker.ts). `data` is transferred, not copied. */
export type HashRequest = { id: number; kind: 'data'; data: ArrayBuffer } | { id: number; kind: 'end' } | { id: number; kind: 'abort' };
/** Its answers: how many bytes of a session it has hashed, and a finished session's sums. */
export type HashReply = { id: number; kind: 'hashed'; bytes: number } | { id: number; kind: 'sums'; md5Hex: string; crc: number };

class InlineSums implements BodySums {
  private readonly md5 = createHash('md5');
  private crc = 0;

  update(chunk: Buffer): void {
    this.md5.update(chunk);
    this.crc = crc32c(chunk, this.crc);
  }

  flushTurn(): boolean {
    return false;
  }

  onDrain(cb: () => void): void {
    cb();
  }

  result(): Promise<{ md5Hex: string; crc: number }> {
    return Promise.resolve({ md5Hex: this.md5.digest('hex'), crc: this.crc });
  }

  abort(): void {}
}

/** One body's session on a hashing thread. */
class OffloadedSums implements BodySums {
  private turn: Buffer[] = [];
  private turnBytes = 0;
  /** Bytes sent to the thread and not yet hashed. */
  private unhashed = 0;
  private drained: (() => void) | undefined;
  private answer: { resolve: (r: { md5Hex: string; crc: number }) => void; reject: (e: Error) => void } | undefined;
  private failure: Error | undefined;
  /** result() or abort() was called: nothing more goes to the thread. */
  private ended = false;

  constructor(
    private readonly thread: HashThread,
    readonly id: number,
  ) {}

  update(chunk: Buffer): void {
    this.turn.push(chunk);
    this.turnBytes += chunk.length;
  }

  flushTurn(): boolean {
    if (this.failure || this.ended) {
      this.turn = [];
      this.turnBytes = 0;
      return false;
    }
    if (this.turnBytes > 0) {
      // One copy per turn into a buffer of its own, which moves to the thread without another copy
      // (the chunks themselves are still queued on the node sockets).
      const data = new ArrayBuffer(this.turnBytes);
      const view = new Uint8Array(data);
      let at = 0;
      for (const c of this.turn) {
        view.set(c, at);
        at += c.length;
      }
      this.thread.send({ id: this.id, kind: 'data', data }, [data]);
      this.unhashed += this.turnBytes;
    }
    this.turn = [];
    this.turnBytes = 0;
    return this.unhashed > HASH_BEHIND_BYTES;
  }

  onDrain(cb: () => void): void {
    if (this.failure || this.unhashed <= HASH_BEHIND_BYTES) cb();
    else this.drained = cb;
  }

  result(): Promise<{ md5Hex: string; crc: number }> {
    this.flushTurn();
    this.ended = true;
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.answer = { resolve, reject };
      this.thread.send({ id: this.id, kind: 'end' });
    });
  }

  abort(): void {
    if (this.failure || this.ended) return;
    this.ended = true;
    this.thread.send({ id: this.id, kind: 'abort' });
    this.thread.forget(this.id);
  }

  /** The thread hashed `bytes` more; a client held for it resumes at half the limit (fewer pause/resume rounds). */
  hashed(bytes: number): void {
    this.unhashed -= bytes;
    if (this.drained && this.unhashed <= HASH_BEHIND_BYTES / 2) this.release();
  }

  done(md5Hex: string, crc: number): void {
    this.answer?.resolve({ md5Hex, crc });
  }

  fail(err: Error): void {
    this.failure = err;
    this.answer?.reject(err);
    this.release();
  }

  private release(): void {
    const cb = this.drained;
    this.drained = undefined;
    cb?.();
  }
}

/** One worker thread and the sessions it hashes. */
class HashThread {
  private readonly worker: Worker;
  private readonly sessions = new Map<number, OffloadedSums>();
  dead = false;

  constructor() {
    this.worker = new Worker(new URL('./hash-worker.js', import.meta.url));
    // The thread never keeps the proxy alive; its sessions' sockets do.
    this.worker.unref();
    this.worker.on('message', (m: HashReply) => {
      const s = this.sessions.get(m.id);
      if (!s) return;
      if (m.kind === 'hashed') return s.hashed(m.bytes);
      this.sessions.delete(m.id);
      s.done(m.md5Hex, m.crc);
    });
    this.worker.on('error', (err) => this.die(err));
    this.worker.on('exit', (code) => this.die(new Error(`hashing thread exited (${code})`)));
  }

  open(id: number): OffloadedSums {
    const s = new OffloadedSums(this, id);
    this.sessions.set(id, s);
    return s;
  }

  send(m: HashRequest, transfer?: ArrayBuffer[]): void {
    if (!this.dead) this.worker.postMessage(m, transfer);
  }

  forget(id: number): void {
    this.sessions.delete(id);
  }

  /** Every body still being hashed fails; the next body gets a new thread. */
  die(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    for (const s of this.sessions.values()) s.fail(err);
    this.sessions.clear();
  }

  async terminate(): Promise<void> {
    this.die(new Error('proxy closing'));
    await this.worker.terminate();
  }
}

/**
 * The proxy's hashing threads, started on the first large body. Bodies are spread over them in
 * turn; a thread that died is replaced for the next body (the bodies it held fail their PUTs).
 */
export class HashPool {
  private threads: Array<HashThread | undefined>;
  private next = 0;
  private nextId = 1;

  constructor(threadCount: number) {
    this.threads = new Array<HashThread | undefined>(Math.max(1, threadCount)).fill(undefined);
  }

  /** The sums of a body of `contentLength` bytes (undefined: chunked, hashed inline). */
  sumsFor(contentLength: number | undefined): BodySums {
    if (contentLength === undefined || contentLength <= HASH_OFF_LOOP_ABOVE_BYTES) return new InlineSums();
    const i = this.next++ % this.threads.length;
    let t = this.threads[i];
    if (!t || t.dead) this.threads[i] = t = new HashThread();
    return t.open(this.nextId++);
  }

  async close(): Promise<void> {
    const live = this.threads.filter((t): t is HashThread => t !== undefined && !t.dead);
    this.threads.fill(undefined);
    await Promise.all(live.map((t) => t.terminate()));
  }
}
