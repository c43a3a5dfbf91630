/**
 * A BlockVolume in a sparse local file — FOR TESTS AND DEVELOPMENT ONLY. It has none of what issue
 * 25 asks of real volumes (replicas, snapshots, clones, leases); volumes made of objects in the
 * cluster are the next slice.
 *
 * Durability: writes go to the page cache with positioned writes; FLUSH and FUA call fdatasync.
 * Holes: READ and BLOCK_STATUS map the file with lseek SEEK_DATA/SEEK_HOLE and TRIM punches holes
 * with fallocate, both through the native module (native/swiftlet.c). Without the module (no gcc,
 * or SWIFTLET_NATIVE=off) the volume says so in `holes: false`: every range reads as data, and
 * TRIM / WRITE_ZEROES write zeroes instead of freeing blocks (and FAST_ZERO gets ENOTSUP).
 */
import { open, type FileHandle } from 'node:fs/promises';
import { native } from '../common/native.js';
import { VolumeError, type AllocationExtent, type BlockSizes, type BlockVolume, type ReadExtent, type WriteOptions, type ZeroOptions } from './volume.js';
import { MAX_REQUEST_PAYLOAD } from './nbd/protocol.js';

const SEEK_DATA = 3;
const SEEK_HOLE = 4;
const ZERO_CHUNK = 1 << 20;
/** BLOCK_STATUS answers at most this many extents per request (the client asks again from where it ends). */
const MAX_STATUS_EXTENTS = 1024;

export interface FileVolumeOptions {
  readOnly?: boolean;
  /** Create the file with this size if it does not exist (sparse), or grow it to this size. */
  size?: number;
}

export class FileVolume implements BlockVolume {
  readonly blockSize: BlockSizes = { minimum: 1, preferred: 4096, maximum: MAX_REQUEST_PAYLOAD };
  readonly multiConn = true; // one file, one page cache: fdatasync covers every connection's writes
  /** Whether holes are mapped and punched (the native module is there). */
  readonly holes: boolean;

  private constructor(
    private readonly fh: FileHandle,
    readonly size: number,
    readonly readOnly: boolean,
  ) {
    this.holes = native.seekData !== undefined && native.punchHole !== undefined;
  }

  static async open(path: string, opts: FileVolumeOptions = {}): Promise<FileVolume> {
    const readOnly = opts.readOnly ?? false;
    const fh = await open(path, readOnly ? 'r' : opts.size !== undefined ? 'a+' : 'r+').then(async (h) => {
      if (readOnly || opts.size === undefined) return h;
      // 'a+' only created it; positioned writes need a handle without O_APPEND.
      await h.close();
      return open(path, 'r+');
    });
    let size = (await fh.stat()).size;
    if (opts.size !== undefined && opts.size > size && !readOnly) {
      await fh.truncate(opts.size);
      size = opts.size;
    }
    return new FileVolume(fh, size, readOnly);
  }

  async close(): Promise<void> {
    await this.fh.close();
  }

  async read(offset: number, length: number): Promise<ReadExtent[]> {
    const out: ReadExtent[] = [];
    for (const e of this.map(offset, length, Infinity)) {
      if (e.hole) out.push({ kind: 'hole', length: e.length });
      else out.push({ kind: 'data', data: await this.pread(e.offset, e.length) });
    }
    return out;
  }

  async write(offset: number, data: Buffer, opts: WriteOptions): Promise<void> {
    this.writable();
    let done = 0;
    while (done < data.length) {
      const { bytesWritten } = await this.fh.write(data, done, data.length - done, offset + done);
      done += bytesWritten;
    }
    if (opts.fua) await this.flush();
  }

  async flush(): Promise<void> {
    await this.fh.datasync();
  }

  async trim(offset: number, length: number, opts: WriteOptions): Promise<void> {
    this.writable();
    await this.zero(offset, length, true);
    if (opts.fua) await this.flush();
  }

  async writeZeroes(offset: number, length: number, opts: ZeroOptions): Promise<void> {
    this.writable();
    const punch = opts.mayTrim && this.holes;
    if (opts.fastOnly && !punch) throw new VolumeError('ENOTSUP', 'zeroing here is a write of zeroes, not fast');
    await this.zero(offset, length, punch);
    if (opts.fua) await this.flush();
  }

  async blockStatus(offset: number, length: number): Promise<AllocationExtent[]> {
    return this.map(offset, length, MAX_STATUS_EXTENTS).map((e) => ({ length: e.length, hole: e.hole, zero: e.hole }));
  }

  async cache(): Promise<void> {
    // The page cache does this on its own.
  }

  private writable(): void {
    if (this.readOnly) throw new VolumeError('EPERM', 'read-only volume');
  }

  private async zero(offset: number, length: number, punch: boolean): Promise<void> {
    if (punch && native.punchHole) {
      try {
        await native.punchHole(this.fh.fd, offset, length);
        return;
      } catch {
        // A filesystem without hole punching: zeroes below.
      }
    }
    const zeroes = Buffer.alloc(Math.min(ZERO_CHUNK, length));
    for (let at = offset; at < offset + length; at += zeroes.length) {
      const n = Math.min(zeroes.length, offset + length - at);
      await this.fh.write(zeroes, 0, n, at);
    }
  }

  private async pread(offset: number, length: number): Promise<Buffer> {
    const buf = Buffer.allocUnsafe(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.fh.read(buf, done, length - done, offset + done);
      if (bytesRead === 0) {
        buf.fill(0, done); // the file shrank under us: past its end reads as zeroes
        break;
      }
      done += bytesRead;
    }
    return buf;
  }

  /** The range as data/hole runs (at most `maxExtents`), from lseek; all data without the native module. */
  private map(offset: number, length: number, maxExtents: number): Array<{ offset: number; length: number; hole: boolean }> {
    const end = offset + length;
    const seek = native.seekData;
    if (!seek) return [{ offset, length, hole: false }];
    const out: Array<{ offset: number; length: number; hole: boolean }> = [];
    let pos = offset;
    try {
      while (pos < end && out.length < maxExtents) {
        let data = seek(this.fh.fd, pos, SEEK_DATA);
        if (data < 0 || data > end) data = end;
        if (data > pos) {
          out.push({ offset: pos, length: data - pos, hole: true });
          pos = data;
          continue;
        }
        let hole = seek(this.fh.fd, pos, SEEK_HOLE);
        if (hole <= pos || hole > end) hole = end; // ≤ pos: punched between the two seeks; call it data
        out.push({ offset: pos, length: hole - pos, hole: false });
        pos = hole;
      }
    } catch (err) {
      throw new VolumeError('EIO', 'mapping the file failed', { cause: err });
    }
    return out;
  }
}
