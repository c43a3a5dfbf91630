import * as fs from 'node:fs';
import { readAt, writeAt } from './fd.js';
import { closeQuietlySync, errnoOf, writeAllAt } from './fs-durable.js';

/**
 * O_DIRECT for large object bodies: the bytes go from a page-aligned staging buffer straight to
 * the device, not through the page cache. Swift drops the page cache behind large objects
 * (drop_buffer_cache, keep_cache_size) for the same reason: a big upload should not evict hot
 * small objects and listings, and filling the page cache costs kernel CPU per page — on a VM
 * whose free pages go back to the host (virtio-balloon free page reporting) about 3 ms per MB,
 * against 0.1 ms per MB written direct (measured with 64 MiB files on loop-mounted XFS).
 *
 * O_DIRECT needs the memory, the file offset and the length aligned to the device's block size.
 * Node gives no aligned allocation, but a WebAssembly.Memory's backing store is page-aligned, so
 * the staging slots are carved from one. Filesystems that refuse O_DIRECT (tmpfs) and any
 * unexpected EINVAL fall back to ordinary buffered writes, remembered per device.
 */

/** Offsets and lengths of direct writes are multiples of this (covers 512- and 4096-byte sectors). */
export const DIRECT_ALIGN = 4096;
/** One staging slot: the size of a direct write. */
export const SLOT_BYTES = 1 << 20;
const SLOTS_PER_GROUP = 8;
/** At most this many slots per process (concurrent large writes beyond it are buffered). */
export const MAX_SLOTS = 128;
const WASM_PAGE = 64 * 1024;

const freeSlots: Buffer[] = [];
let slotsMade = 0;

/** A page-aligned SLOT_BYTES buffer, or undefined when MAX_SLOTS are in use. Give it back with releaseSlot. */
function takeSlot(): Buffer | undefined {
  const free = freeSlots.pop();
  if (free) return free;
  if (slotsMade >= MAX_SLOTS) return undefined;
  // WebAssembly.Memory cannot shrink and growing it would detach the slots in use: a new group each time.
  const memory = new WebAssembly.Memory({ initial: (SLOTS_PER_GROUP * SLOT_BYTES) / WASM_PAGE, maximum: (SLOTS_PER_GROUP * SLOT_BYTES) / WASM_PAGE });
  for (let i = 1; i < SLOTS_PER_GROUP; i++) freeSlots.push(Buffer.from(memory.buffer, i * SLOT_BYTES, SLOT_BYTES));
  slotsMade += SLOTS_PER_GROUP;
  return Buffer.from(memory.buffer, 0, SLOT_BYTES);
}

function releaseSlot(slot: Buffer): void {
  freeSlots.push(slot);
}

/** Bytes moved O_DIRECT by this process, and the files that went that way (for operators and tests). */
export const directIoStats = { bytesWritten: 0, bytesRead: 0, filesWritten: 0, filesRead: 0 };

/** Devices (by path) where O_DIRECT was refused: never tried again in this process. */
const noDirect = new Set<string>();

/**
 * The default for bodies that skip the page cache both ways (written and read O_DIRECT): larger
 * than this. Smaller ones stay cached for the next GET. Swift's keep_cache_size is 5 MiB.
 */
export const DIRECT_IO_ABOVE_BYTES = 4 * 1024 * 1024;

/** Whether a body (or range) of `length` bytes goes O_DIRECT under the threshold `above` (0: never). */
export function wantsDirect(length: number, above = DIRECT_IO_ABOVE_BYTES): boolean {
  return above > 0 && length > above;
}

/** Opens `path` with O_DIRECT added to `flags`; undefined when the device refuses O_DIRECT (then remembered). */
function openWithDirect(devicePath: string, path: string, flags: number): Promise<number | undefined> {
  if (noDirect.has(devicePath)) return Promise.resolve(undefined);
  return new Promise((resolve, reject) =>
    fs.open(path, flags | fs.constants.O_DIRECT, (e, fd) => {
      if (!e) return resolve(fd);
      if (errnoOf(e) !== 'EINVAL') return reject(e);
      noDirect.add(devicePath);
      resolve(undefined);
    }),
  );
}

/** `count` staging slots and an O_DIRECT descriptor, or undefined (nothing held) when either is unavailable. */
async function openStaged(devicePath: string, path: string, flags: number, count: number): Promise<{ fd: number; slots: Buffer[] } | undefined> {
  if (noDirect.has(devicePath)) return undefined;
  const slots: Buffer[] = [];
  for (let i = 0; i < count; i++) {
    const slot = takeSlot();
    if (!slot) {
      for (const s of slots) releaseSlot(s);
      return undefined;
    }
    slots.push(slot);
  }
  let fd: number | undefined;
  try {
    fd = await openWithDirect(devicePath, path, flags);
  } finally {
    if (fd === undefined) for (const s of slots) releaseSlot(s);
  }
  return fd === undefined ? undefined : { fd, slots };
}

/**
 * An O_DIRECT descriptor with its staging slots, and the file's ordinary descriptor: a late
 * EINVAL (an alignment the device wants after all) switches to the ordinary one for the rest of
 * the file and, remembered, for later files on the device.
 */
abstract class StagedFile {
  protected fd: number;
  private released = false;

  protected constructor(
    private readonly devicePath: string,
    private readonly directFd: number,
    private readonly bufferedFd: number,
    protected readonly slots: readonly Buffer[],
  ) {
    this.fd = directFd;
  }

  /** Runs one read or write on the current descriptor, falling back as above; resolves with its byte count. */
  protected async io(call: (fd: number) => Promise<number>): Promise<number> {
    for (;;) {
      try {
        return await call(this.fd);
      } catch (e) {
        if (errnoOf(e) !== 'EINVAL' || this.fd === this.bufferedFd) throw e;
        noDirect.add(this.devicePath);
        this.fd = this.bufferedFd;
      }
    }
  }

  protected get direct(): boolean {
    return this.fd === this.directFd;
  }

  protected get ordinaryFd(): number {
    return this.bufferedFd;
  }

  /** Closes the direct descriptor and returns the slots (no I/O may be in flight). Safe to call twice. */
  protected release(): void {
    if (this.released) return;
    this.released = true;
    closeQuietlySync(this.directFd);
    for (const s of this.slots) releaseSlot(s);
  }
}

/**
 * Reads a file O_DIRECT into two staging slots, one read ahead. Each chunk is a view into a
 * slot, valid only until the next chunk is asked for (that starts a read into the same slot):
 * the consumer must be done with a chunk (its socket write completed) before it asks for the
 * next one.
 */
export class DirectReader extends StagedFile {

  /** A reader for the open file at `path` (its ordinary descriptor `bufferedFd`), or undefined when O_DIRECT or slots are unavailable. */
  static async open(devicePath: string, path: string, bufferedFd: number): Promise<DirectReader | undefined> {
    const staged = await openStaged(devicePath, path, fs.constants.O_RDONLY, 2);
    if (!staged) return undefined;
    directIoStats.filesRead++;
    return new DirectReader(devicePath, staged.fd, bufferedFd, staged.slots);
  }

  /** The bytes [start, end) as slot views (see the class comment). */
  async *chunks(start: number, end: number): AsyncGenerator<Buffer> {
    let pos = start;
    let turn = 0;
    const readAhead = (): Promise<Buffer> | undefined => {
      if (pos >= end) return undefined;
      const at = pos;
      const slot = this.slots[turn] as Buffer;
      turn ^= 1;
      const p = this.readView(slot, at, end);
      // The read ahead may fail (a file cut short on disk) while the consumer still holds the
      // last chunk: its rejection is awaited only when the next chunk is asked for. Marked
      // handled now, or Node reports it unhandled and the storage node dies of a bad file.
      p.catch(() => undefined);
      pos = Math.min(end, at - (at % DIRECT_ALIGN) + SLOT_BYTES);
      return p;
    };
    let next = readAhead();
    try {
      while (next) {
        const view = await next;
        next = readAhead();
        yield view;
      }
    } finally {
      if (next) await next.catch(() => undefined);
    }
  }

  /** One aligned read around `at` into `slot`: the view of [at, min(end, what was read)). */
  private async readView(slot: Buffer, at: number, end: number): Promise<Buffer> {
    const from = at - (at % DIRECT_ALIGN);
    const n = await this.io((fd) => readAt(fd, slot, 0, SLOT_BYTES, from));
    if (this.direct) directIoStats.bytesRead += n;
    const want = Math.min(end, from + SLOT_BYTES);
    if (from + n < want) throw new Error(`unexpected end of file at ${from + n}`);
    return slot.subarray(at - from, want - from);
  }

  /** Closes the direct descriptor and returns the slots; call once the generator is done (its finally waits for the read ahead). */
  close(): void {
    this.release();
  }
}

/** Staging slots per written file: up to WRITE_SLOTS − 1 slot writes in flight while one fills. */
export const WRITE_SLOTS = 4;

/**
 * Writes a body O_DIRECT through WRITE_SLOTS staging slots, filled in turn: chunks are copied in
 * as they arrive (so the socket's buffers die young instead of waiting for the disk in the old
 * generation, where they cost V8 a full mark-compact every few dozen MB) or received in place
 * (freeRegion), each full slot is written in the background while the next fills, and the caller
 * waits only when the next slot's own write is still going. Several slots in flight keep the
 * body moving through a slow write or two (a busy virtual disk); with only two, one slow 1 MiB
 * write stalled the upload. The file's last partial block goes through the ordinary descriptor.
 */
export class DirectWriter extends StagedFile {
  private current = 0;
  private fill = 0;
  /** File offset of the slot being filled. */
  private position = 0;
  /** Per slot, its write in flight (never rejects: errors go to `failure`). */
  private readonly writing: Array<Promise<void> | undefined>;
  private failure: { error: unknown } | undefined;

  private constructor(devicePath: string, directFd: number, bufferedFd: number, slots: readonly Buffer[]) {
    super(devicePath, directFd, bufferedFd, slots);
    this.writing = slots.map(() => undefined);
  }

  /**
   * A direct writer for the open file at `path` (its ordinary descriptor `bufferedFd`), or
   * undefined when the device does not do O_DIRECT (EINVAL: tmpfs, some FUSE filesystems; then
   * remembered) or every staging slot is in use.
   */
  static async open(devicePath: string, path: string, bufferedFd: number): Promise<DirectWriter | undefined> {
    const staged = await openStaged(devicePath, path, fs.constants.O_WRONLY, WRITE_SLOTS);
    if (!staged) return undefined;
    directIoStats.filesWritten++;
    return new DirectWriter(devicePath, staged.fd, bufferedFd, staged.slots);
  }

  /** Bytes taken so far (written or staged). */
  get bytes(): number {
    return this.position + this.fill;
  }

  /** Copies the chunks in; resolves at once unless the next slot has to wait for its write. */
  async append(bufs: readonly Buffer[]): Promise<void> {
    for (const b of bufs) {
      for (let off = 0; off < b.length; ) {
        // a slot is never full here: advance() moved on to the next one when it filled
        const n = b.copy(this.freeRegion(b.length - off) as Buffer, 0, off);
        off += n;
        const wait = this.advance(n);
        if (wait) await wait;
      }
    }
  }

  /**
   * Free staging memory for up to `max` more bytes, to be filled in place (a socket read) and then
   * passed to advance(); undefined while the slot is full and the next one still being written.
   * Valid only until the next append/advance/finish.
   */
  freeRegion(max: number): Buffer | undefined {
    if (this.fill === SLOT_BYTES || max <= 0) return undefined;
    return (this.slots[this.current] as Buffer).subarray(this.fill, Math.min(SLOT_BYTES, this.fill + max));
  }

  /** `n` bytes were put at the start of the last freeRegion(); a promise when that filled the slot (wait before the next region). */
  advance(n: number): Promise<void> | undefined {
    this.fill += n;
    return this.fill === SLOT_BYTES ? this.submit() : undefined;
  }

  /** Starts writing the full slot and moves to the next one once that one's own write is done. */
  private async submit(): Promise<void> {
    this.throwIfFailed();
    const i = this.current;
    this.writing[i] = this.writeSlot(this.slots[i] as Buffer, SLOT_BYTES, this.position).then(
      () => {
        this.writing[i] = undefined;
      },
      (error: unknown) => {
        this.writing[i] = undefined;
        this.failure ??= { error };
      },
    );
    this.position += SLOT_BYTES;
    const next = (i + 1) % this.slots.length;
    // the slot may be filled again only once its previous write is done
    if (this.writing[next]) await this.writing[next];
    this.current = next;
    this.fill = 0;
    this.throwIfFailed();
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }

  /** Waits for every write in flight; rethrows the first write error. */
  private async settle(): Promise<void> {
    await Promise.all(this.writing);
    this.throwIfFailed();
  }

  private async writeSlot(slot: Buffer, length: number, position: number): Promise<void> {
    let done = 0;
    while (done < length) {
      const n = await this.io((fd) => writeAt(fd, slot, done, length - done, position + done));
      if (n <= 0) throw new Error('write made no progress');
      if (this.direct) directIoStats.bytesWritten += n;
      done += n;
    }
  }

  /**
   * Appends `tail` (the trailer) and writes everything still staged: the aligned part direct,
   * the last partial block through the ordinary descriptor. Resolves with the file's length.
   */
  async finish(tail: readonly Buffer[]): Promise<number> {
    await this.append(tail);
    await this.settle();
    const slot = this.slots[this.current] as Buffer;
    const aligned = this.fill - (this.fill % DIRECT_ALIGN);
    if (aligned > 0) await this.writeSlot(slot, aligned, this.position);
    if (aligned < this.fill) await writeAllAt(this.ordinaryFd, [slot.subarray(aligned, this.fill)], this.position + aligned);
    this.position += this.fill;
    this.fill = 0;
    return this.position;
  }

  /** Closes the direct descriptor and returns the slots, once no write is in flight. Safe to call twice. */
  async close(): Promise<void> {
    await Promise.all(this.writing);
    this.release();
  }
}

