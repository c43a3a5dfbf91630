import { createHash } from 'node:crypto';
import { SeededRandom } from '../common/random.js';
import type { RunResult } from './result.js';

/**
 * The pure pieces of the large-objects suite (unit tested): the segment plan of an SLO upload,
 * the object's bytes (seeded, generated as they are sent, never held whole), the manifest, and
 * one timed transfer as a RunResult for bench/report.ts.
 */

export interface Segment {
  index: number;
  offset: number;
  length: number;
}

/** `total` bytes cut into segments of `segmentSize` (the last one shorter), as `swift upload -S` does. */
export function segmentPlan(total: number, segmentSize: number): Segment[] {
  if (!Number.isSafeInteger(total) || total <= 0) throw new RangeError('the object size must be a positive integer');
  if (!Number.isSafeInteger(segmentSize) || segmentSize <= 0) throw new RangeError('the segment size must be a positive integer');
  const out: Segment[] = [];
  for (let offset = 0, index = 0; offset < total; offset += segmentSize, index++) out.push({ index, offset, length: Math.min(segmentSize, total - offset) });
  return out;
}

/** Segment names sort in upload order (`swift upload -S` uses 8 digits too). */
export function segmentName(prefix: string, index: number): string {
  return `${prefix}/${String(index).padStart(8, '0')}`;
}

/** Each block's rotation step: odd, so block k's rotation (k × STEP mod blockSize) differs for every k < blockSize (a power of two). */
const STEP = 4099;

/**
 * The object's bytes: block k (of `blockSize` bytes, a power of two) is a seeded random pattern
 * rotated left by k × 4099 bytes, so no two blocks (and no two segments) are alike and a segment
 * served in the wrong place changes the MD5, yet every piece is a view of the one pattern (no
 * copy, no per-byte work while sending).
 */
export class SeededObjectData {
  readonly pattern: Buffer;

  constructor(
    seed: number,
    readonly blockSize = 1024 * 1024,
  ) {
    if (blockSize < 4 || (blockSize & (blockSize - 1)) !== 0) throw new RangeError('blockSize must be a power of two ≥ 4');
    const rng = new SeededRandom(seed);
    this.pattern = Buffer.allocUnsafe(blockSize);
    for (let i = 0; i < blockSize; i += 4) this.pattern.writeUInt32LE(Math.floor(rng.next() * 4294967296), i);
  }

  /** The byte at `position` (slow; for tests). */
  byteAt(position: number): number {
    const k = Math.floor(position / this.blockSize);
    const j = position % this.blockSize;
    return this.pattern[(j + k * STEP) % this.blockSize] as number;
  }

  /** Bytes [offset, offset + length) as views of the pattern, in order. */
  *pieces(offset: number, length: number): Generator<Buffer> {
    const b = this.blockSize;
    let at = offset;
    const end = offset + length;
    while (at < end) {
      const k = Math.floor(at / b);
      const blockEnd = Math.min((k + 1) * b, end);
      // within block k, byte j is pattern[(j + rot) % b]: at most two contiguous runs of the pattern
      let from = ((at % b) + ((k * STEP) % b)) % b;
      let left = blockEnd - at;
      while (left > 0) {
        const take = Math.min(left, b - from);
        yield this.pattern.subarray(from, from + take);
        left -= take;
        from = 0;
      }
      at = blockEnd;
    }
  }

  /** MD5 (hex) of bytes [offset, offset + length). */
  md5(offset: number, length: number): string {
    const h = createHash('md5');
    for (const p of this.pieces(offset, length)) h.update(p);
    return h.digest('hex');
  }
}

export interface ManifestEntry {
  path: string;
  etag: string;
  size_bytes: number;
}

/** The body of `PUT ?multipart-manifest=put`: each segment's /container/object path, MD5 and size. */
export function sloManifest(container: string, prefix: string, plan: readonly Segment[], etags: readonly string[]): string {
  const entries: ManifestEntry[] = plan.map((s) => ({ path: `/${container}/${segmentName(prefix, s.index)}`, etag: etags[s.index] as string, size_bytes: s.length }));
  return JSON.stringify(entries);
}

/**
 * One timed transfer of `bytes` as a run of one operation: MB/s (10^6 bytes) over its wall time,
 * its time as every latency figure; `error` makes it a failed run (its MB/s is not counted).
 */
export function transferResult(bytes: number, elapsedMs: number, error?: string): RunResult {
  const elapsedS = elapsedMs / 1000;
  const ok = error === undefined && elapsedS > 0;
  return {
    driver: 'node',
    ops: 1,
    errors: ok ? 0 : 1,
    errorKinds: ok ? {} : { [error ?? 'zero-time']: 1 },
    elapsedS,
    opsPerSec: ok ? 1 / elapsedS : NaN,
    mbPerSec: ok ? bytes / 1e6 / elapsedS : NaN,
    meanMs: elapsedMs,
    p50Ms: elapsedMs,
    p99Ms: elapsedMs,
    p999Ms: elapsedMs,
    maxMs: elapsedMs,
  };
}
