/**
 * The seam between the NBD server and storage: what a connection calls, typed at the boundary.
 * The NBD layer (nbd/) range-checks every request against `size` and `blockSize` before calling,
 * so implementations see only in-range, non-empty requests.
 *
 * Implementations: `FileVolume` (file-volume.ts), a sparse local file — for tests and development
 * only. Volumes made of objects in the cluster (thin, durable at quorum on FLUSH, snapshots,
 * clones) are the next slice of issue 25 and do not exist yet.
 */

/** What a READ returns, in order, covering exactly the requested range. */
export type ReadExtent = { kind: 'data'; data: Buffer } | { kind: 'hole'; length: number };

/** One run of `base:allocation` status. `zero` only where the bytes are known to read as zero (never for data). */
export interface AllocationExtent {
  length: number;
  hole: boolean;
  zero: boolean;
}

export interface BlockSizes {
  /** Requests must be aligned to this (1: any byte offset). */
  minimum: number;
  preferred: number;
  /** The largest READ/WRITE payload the volume takes in one request. */
  maximum: number;
}

export interface WriteOptions {
  /** Force unit access: durable before the promise resolves. */
  fua: boolean;
}

export interface ZeroOptions extends WriteOptions {
  /** The range may be deallocated (NBD: the client did not set NO_HOLE). */
  mayTrim: boolean;
  /** Fail with ENOTSUP rather than zero slowly (NBD_CMD_FLAG_FAST_ZERO). */
  fastOnly: boolean;
}

export interface BlockVolume {
  readonly size: number;
  readonly blockSize: BlockSizes;
  readonly readOnly: boolean;
  /** FLUSH on one connection covers writes acknowledged on every connection (NBD CAN_MULTI_CONN). */
  readonly multiConn: boolean;
  read(offset: number, length: number): Promise<ReadExtent[]>;
  write(offset: number, data: Buffer, opts: WriteOptions): Promise<void>;
  /** Every write acknowledged before the call is durable when it resolves. */
  flush(): Promise<void>;
  /** The range may be deallocated; it need not read as zero afterwards (but does here). */
  trim(offset: number, length: number, opts: WriteOptions): Promise<void>;
  writeZeroes(offset: number, length: number, opts: ZeroOptions): Promise<void>;
  /** Consecutive extents from `offset`, covering at most `length` bytes (at least one extent). */
  blockStatus(offset: number, length: number): Promise<AllocationExtent[]>;
  /** A hint to prefetch; may do nothing. */
  cache(offset: number, length: number): Promise<void>;
}

/** The errno-like reasons a volume may fail with; the NBD layer maps them to reply errors. */
export type VolumeErrorCode = 'EIO' | 'ENOSPC' | 'EPERM' | 'EINVAL' | 'ENOTSUP';

export class VolumeError extends Error {
  readonly code: VolumeErrorCode;
  constructor(code: VolumeErrorCode, message: string, opts: { cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'VolumeError';
    this.code = code;
  }
}

/** An export: a name the client asks for, and the volume behind it. */
export interface NbdExport {
  name: string;
  description?: string;
  volume: BlockVolume;
}

/** Where connections find exports. `open('')` is the default export, if there is one. */
export interface ExportCatalog {
  list(): Promise<Array<{ name: string; description?: string }>>;
  open(name: string): Promise<NbdExport | undefined>;
}
