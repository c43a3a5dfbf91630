import { createHash, type Hash } from 'node:crypto';
import { crc32 } from '@node-rs/crc32';
import { Crc64Nvme } from '@aws-sdk/crc64-nvme';
import { crc32c } from '../../common/native-sums.js';

/**
 * The additional checksums S3 takes with a body (S3 user guide, "Checking object integrity"):
 * CRC32, CRC32C, CRC64NVME, SHA1, SHA256, each sent base64 of its big-endian bytes in
 * `x-amz-checksum-<alg>` (a header, or a trailer of an aws-chunked body). The CRCs come from
 * maintained libraries: @node-rs/crc32 (CRC32; CRC32C goes through common/native-sums like every
 * other CRC32C of the store) and AWS's own @aws-sdk/crc64-nvme, the one its SDKs use.
 */
export const CHECKSUM_ALGORITHMS = ['CRC32', 'CRC32C', 'CRC64NVME', 'SHA1', 'SHA256'] as const;
export type ChecksumAlgorithm = (typeof CHECKSUM_ALGORITHMS)[number];

/** Bytes of each algorithm's value (a sent value that decodes to another length is InvalidDigest-bad). */
const DIGEST_BYTES: Record<ChecksumAlgorithm, number> = { CRC32: 4, CRC32C: 4, CRC64NVME: 8, SHA1: 20, SHA256: 32 };

export function checksumHeader(alg: ChecksumAlgorithm): string {
  return `x-amz-checksum-${alg.toLowerCase()}`;
}

/** The algorithm an `x-amz-checksum-*` name (header or trailer, any case) stands for. */
export function algorithmOfHeader(name: string): ChecksumAlgorithm | undefined {
  const n = name.toLowerCase();
  return CHECKSUM_ALGORITHMS.find((a) => checksumHeader(a) === n);
}

/** Is `value` a well-formed base64 value of the algorithm's length? */
export function isChecksumValue(alg: ChecksumAlgorithm, value: string): boolean {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) return false;
  return Buffer.from(value, 'base64').length === DIGEST_BYTES[alg];
}

export interface RunningChecksum {
  readonly algorithm: ChecksumAlgorithm;
  update(data: Uint8Array): void;
  /** The value as S3 sends it: base64 of the big-endian digest. */
  digest(): Promise<string>;
}

function crcOf(algorithm: 'CRC32' | 'CRC32C'): RunningChecksum {
  let state = 0;
  return {
    algorithm,
    update(data) {
      state = algorithm === 'CRC32' ? crc32(data, state) : crc32c(data, state);
    },
    digest() {
      const b = Buffer.alloc(4);
      b.writeUInt32BE(state >>> 0);
      return Promise.resolve(b.toString('base64'));
    },
  };
}

function hashOf(algorithm: 'SHA1' | 'SHA256'): RunningChecksum {
  const h: Hash = createHash(algorithm === 'SHA1' ? 'sha1' : 'sha256');
  return {
    algorithm,
    update(data) {
      h.update(data);
    },
    digest() {
      return Promise.resolve(h.digest('base64'));
    },
  };
}

function crc64nvme(): RunningChecksum {
  const c = new Crc64Nvme();
  return {
    algorithm: 'CRC64NVME',
    update(data) {
      c.update(data);
    },
    async digest() {
      return Buffer.from(await c.digest()).toString('base64');
    },
  };
}

export function createChecksum(alg: ChecksumAlgorithm): RunningChecksum {
  switch (alg) {
    case 'CRC32':
    case 'CRC32C':
      return crcOf(alg);
    case 'SHA1':
    case 'SHA256':
      return hashOf(alg);
    case 'CRC64NVME':
      return crc64nvme();
  }
}
