import { createHash } from 'node:crypto';
import { CHECKSUM_ALGORITHMS, createChecksum, isChecksumValue, type ChecksumAlgorithm } from './checksums.js';
import { S3Error } from './errors.js';
import { parseXml } from './xml-input.js';

/**
 * S3 multipart uploads, the pure part (no I/O, no clock, no randomness of its own): where an
 * upload's pieces live in Swift, the names and numbers a request may carry, the
 * CompleteMultipartUpload document, the checks AWS makes on it (InvalidPart, InvalidPartOrder,
 * EntityTooSmall), the object's ETag and checksum as AWS composes them, and the paging of
 * ListParts / ListMultipartUploads over a Swift listing.
 *
 * Layout, as Swift's s3api (controllers/multi_upload.py): the hidden container `<bucket>+segments`
 * holds an empty upload marker `<key>/<upload-id>` (the upload's metadata) and the parts
 * `<key>/<upload-id>/<part-number>`; a completed upload is an SLO manifest at `<key>` listing them.
 */

export const SEGMENTS_SUFFIX = '+segments';
/** Every part but the last is at least this big (S3's limit; Swift's s3api min_segment_size). */
export const MIN_PART_SIZE = 5 * 1024 * 1024;
export const MAX_PART_NUMBER = 10_000;

export function segmentsContainer(bucket: string): string {
  return `${bucket}${SEGMENTS_SUFFIX}`;
}

export function isSegmentsContainer(name: string): boolean {
  return name.endsWith(SEGMENTS_SUFFIX);
}

export function uploadMarker(key: string, uploadId: string): string {
  return `${key}/${uploadId}`;
}

export function partObject(key: string, uploadId: string, part: number): string {
  return `${key}/${uploadId}/${part}`;
}

/** An upload id from random bytes: base64url, never all digits (a part's name ends in digits). */
export function uploadIdOf(random: Uint8Array): string {
  const id = Buffer.from(random).toString('base64url');
  return /^\d*$/.test(id) ? `u${id}` : id;
}

/** An id this layer could have made: anything else names no upload (and never a path). */
export function isUploadId(id: string): boolean {
  return /^[A-Za-z0-9_-]{8,64}$/.test(id) && !/^\d+$/.test(id);
}

/** `partNumber`: an integer 1..10000, else InvalidArgument (as S3 answers). */
export function parsePartNumber(raw: string | null): number {
  if (raw === null || !/^\d{1,5}$/.test(raw) || Number(raw) < 1 || Number(raw) > MAX_PART_NUMBER) {
    throw new S3Error('InvalidArgument', { message: `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`, extra: [['ArgumentName', 'partNumber'], ['ArgumentValue', raw ?? '']] });
  }
  return Number(raw);
}

/** How an upload's object checksum is made from its parts' (S3 user guide, "Checking object integrity"). */
export type ChecksumType = 'COMPOSITE' | 'FULL_OBJECT';
const FULL_OBJECT_ALGORITHMS: readonly ChecksumAlgorithm[] = ['CRC32', 'CRC32C', 'CRC64NVME'];

/**
 * CreateMultipartUpload's `x-amz-checksum-algorithm` and `x-amz-checksum-type`: CRC64NVME is
 * FULL_OBJECT only, SHA1/SHA256 COMPOSITE only; the CRC32s either (COMPOSITE by default).
 */
export function uploadChecksum(algorithmRaw: string | undefined, typeRaw: string | undefined): { algorithm: ChecksumAlgorithm; type: ChecksumType } | undefined {
  if (algorithmRaw === undefined) {
    if (typeRaw !== undefined) throw new S3Error('InvalidRequest', { message: 'The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.' });
    return undefined;
  }
  const algorithm = CHECKSUM_ALGORITHMS.find((a) => a === algorithmRaw.toUpperCase());
  if (!algorithm) throw new S3Error('InvalidRequest', { message: 'Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]' });
  const type = typeRaw?.toUpperCase() ?? (algorithm === 'CRC64NVME' ? 'FULL_OBJECT' : 'COMPOSITE');
  if (type !== 'COMPOSITE' && type !== 'FULL_OBJECT') throw new S3Error('InvalidRequest', { message: 'Value for x-amz-checksum-type header is invalid.' });
  if (type === 'FULL_OBJECT' && !FULL_OBJECT_ALGORITHMS.includes(algorithm)) throw new S3Error('InvalidRequest', { message: `The ${algorithm} checksum algorithm does not support the FULL_OBJECT checksum type.` });
  if (type === 'COMPOSITE' && algorithm === 'CRC64NVME') throw new S3Error('InvalidRequest', { message: 'The CRC64NVME checksum algorithm does not support the COMPOSITE checksum type.' });
  return { algorithm, type };
}

/** A part named in CompleteMultipartUpload: its number, ETag (unquoted) and any checksums. */
export interface CompletedPart {
  partNumber: number;
  etag: string;
  checksums: Partial<Record<ChecksumAlgorithm, string>>;
}

function textOf(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/**
 * The CompleteMultipartUpload document: at least one Part, each with a PartNumber and an ETag,
 * in strictly ascending order (else InvalidPartOrder).
 */
export function parseCompleteDocument(xml: string): CompletedPart[] {
  const root = parseXml(xml, ['Part'])['CompleteMultipartUpload'];
  if (root === undefined || typeof root !== 'object' || root === null) throw new S3Error('MalformedXML');
  const parts = (root as Record<string, unknown>)['Part'];
  if (!Array.isArray(parts) || parts.length === 0) throw new S3Error('MalformedXML');
  const out: CompletedPart[] = [];
  let previous = 0;
  for (const p of parts as unknown[]) {
    if (typeof p !== 'object' || p === null) throw new S3Error('MalformedXML');
    const r = p as Record<string, unknown>;
    const num = textOf(r['PartNumber'])?.trim();
    const etag = textOf(r['ETag'])?.trim();
    if (num === undefined || etag === undefined || !/^\d{1,9}$/.test(num)) throw new S3Error('MalformedXML');
    const partNumber = Number(num);
    if (partNumber < 1 || partNumber > MAX_PART_NUMBER) throw new S3Error('InvalidArgument', { message: `Part number must be an integer between 1 and ${MAX_PART_NUMBER}, inclusive`, extra: [['ArgumentName', 'partNumber'], ['ArgumentValue', num]] });
    if (partNumber <= previous) throw new S3Error('InvalidPartOrder');
    previous = partNumber;
    const checksums: CompletedPart['checksums'] = {};
    for (const alg of CHECKSUM_ALGORITHMS) {
      const v = textOf(r[`Checksum${alg}`])?.trim();
      if (v !== undefined) checksums[alg] = v;
    }
    out.push({ partNumber, etag: etag.replace(/^"(.*)"$/, '$1'), checksums });
  }
  return out;
}

/** A stored part: what the segments container's listing and its HEAD say. */
export interface StoredPart {
  partNumber: number;
  etag: string;
  size: number;
  lastModified: string;
  /** The part's checksum in the upload's algorithm, when it has one. */
  checksum?: string;
}

/** A part's number from its object name under `<key>/<upload-id>/`, or undefined for anything else. */
export function partNumberOf(name: string, prefix: string): number | undefined {
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  if (!/^[1-9]\d{0,4}$/.test(rest)) return undefined;
  const n = Number(rest);
  return n <= MAX_PART_NUMBER ? n : undefined;
}

export interface CompletionPlan {
  /** The parts of the object, in order. */
  parts: StoredPart[];
  /** `<hex md5 of the parts' binary md5s>-N`, unquoted. */
  etag: string;
  size: number;
}

/**
 * The checks AWS makes on CompleteMultipartUpload against the parts stored: each named part
 * exists with that ETag (InvalidPart), a checksum given for it matches the stored one
 * (InvalidPart), every part but the last holds at least `minPartSize` bytes (EntityTooSmall).
 * With a COMPOSITE upload checksum each named part must carry its checksum (as AWS requires).
 */
export function planCompletion(asked: readonly CompletedPart[], stored: ReadonlyMap<number, StoredPart>, upload: { uploadId: string; checksum?: { algorithm: ChecksumAlgorithm; type: ChecksumType } }, minPartSize = MIN_PART_SIZE): CompletionPlan {
  const parts: StoredPart[] = [];
  for (const a of asked) {
    const s = stored.get(a.partNumber);
    if (!s || s.etag !== a.etag) throw new S3Error('InvalidPart', { extra: [['UploadId', upload.uploadId], ['PartNumber', String(a.partNumber)], ['ETag', a.etag]] });
    for (const [alg, v] of Object.entries(a.checksums) as Array<[ChecksumAlgorithm, string]>) {
      if (upload.checksum && alg !== upload.checksum.algorithm) throw new S3Error('InvalidRequest', { message: `The upload was created using a ${upload.checksum.algorithm.toLowerCase()} checksum. The complete request must use the same checksum algorithm; it used ${alg.toLowerCase()} for part ${a.partNumber}.` });
      if (s.checksum !== undefined && v !== s.checksum) throw new S3Error('InvalidPart', { message: `The ${alg.toLowerCase()} checksum given for part ${a.partNumber} does not match the part's.`, extra: [['PartNumber', String(a.partNumber)]] });
    }
    if (upload.checksum?.type === 'COMPOSITE' && a.checksums[upload.checksum.algorithm] === undefined) {
      throw new S3Error('InvalidRequest', { message: `The upload was created using a ${upload.checksum.algorithm.toLowerCase()} checksum. The complete request must include the checksum for each part. It was missing for part ${a.partNumber} in the request.` });
    }
    parts.push(s);
  }
  for (const p of parts.slice(0, -1)) {
    if (p.size < minPartSize) throw new S3Error('EntityTooSmall', { extra: [['ProposedSize', String(p.size)], ['MinSizeAllowed', String(minPartSize)], ['PartNumber', String(p.partNumber)]] });
  }
  return { parts, etag: multipartEtag(parts.map((p) => p.etag)), size: parts.reduce((n, p) => n + p.size, 0) };
}

/** The ETag S3 gives a multipart object: md5 of the concatenated binary md5s of its parts, "-N". */
export function multipartEtag(partEtags: readonly string[]): string {
  const h = createHash('md5');
  for (const e of partEtags) h.update(Buffer.from(e, 'hex'));
  return `${h.digest('hex')}-${partEtags.length}`;
}

/** A COMPOSITE checksum: the algorithm over the parts' binary checksums, concatenated, base64, "-N". */
export async function compositeChecksum(alg: ChecksumAlgorithm, partValues: readonly string[]): Promise<string> {
  const c = createChecksum(alg);
  for (const v of partValues) c.update(Buffer.from(v, 'base64'));
  return `${await c.digest()}-${partValues.length}`;
}

/** The CRCs S3 can combine into a FULL_OBJECT checksum: width and reflected polynomial. */
const CRC_PARAMS: Record<'CRC32' | 'CRC32C' | 'CRC64NVME', { width: number; poly: bigint }> = {
  CRC32: { width: 32, poly: 0xedb88320n },
  CRC32C: { width: 32, poly: 0x82f63b78n },
  CRC64NVME: { width: 64, poly: 0x9a6c9329ac4bc9b5n },
};

/** a·b mod p for reflected polynomials (zlib's multmodp, any width). */
function multModP(a: bigint, b: bigint, width: number, poly: bigint): bigint {
  let m = 1n << BigInt(width - 1);
  let p = 0n;
  for (;;) {
    if (a & m) {
      p ^= b;
      if ((a & (m - 1n)) === 0n) break;
    }
    m >>= 1n;
    b = b & 1n ? (b >> 1n) ^ poly : b >> 1n;
  }
  return p;
}

/** x^(8·bytes) mod p: the operator that moves a CRC past `bytes` bytes (zlib's x2nmodp(len, 3)). */
function shiftOperator(bytes: number, width: number, poly: bigint): bigint {
  let p = 1n << BigInt(width - 1); // x^0
  let sq = 1n << BigInt(width - 2); // x^1
  // x^(2^k): start at k = 3 (x^8 per byte)
  for (let k = 0; k < 3; k++) sq = multModP(sq, sq, width, poly);
  let n = BigInt(bytes);
  while (n > 0n) {
    if (n & 1n) p = multModP(sq, p, width, poly);
    sq = multModP(sq, sq, width, poly);
    n >>= 1n;
  }
  return p;
}

/**
 * A FULL_OBJECT checksum: the CRC of the whole object from its parts' CRCs and sizes (the CRC of
 * A‖B is the CRC of A moved past |B| bytes, xor the CRC of B — zlib's crc32_combine, which works
 * for any reflected CRC whose init and final xor are all ones, as CRC32, CRC32C and CRC64NVME).
 */
export function fullObjectChecksum(alg: ChecksumAlgorithm, parts: ReadonlyArray<{ value: string; size: number }>): string {
  if (alg !== 'CRC32' && alg !== 'CRC32C' && alg !== 'CRC64NVME') throw new S3Error('InvalidRequest', { message: `The ${alg} checksum algorithm does not support the FULL_OBJECT checksum type.` });
  const { width, poly } = CRC_PARAMS[alg];
  const bytes = width / 8;
  let crc = 0n; // the CRC of no bytes
  for (const part of parts) {
    const b = BigInt(`0x${Buffer.from(part.value, 'base64').toString('hex') || '0'}`);
    crc = multModP(shiftOperator(part.size, width, poly), crc, width, poly) ^ b;
  }
  return Buffer.from(crc.toString(16).padStart(bytes * 2, '0'), 'hex').toString('base64');
}

/** The object's checksum from its parts' (each well-formed in the upload's algorithm). */
export async function objectChecksum(checksum: { algorithm: ChecksumAlgorithm; type: ChecksumType }, parts: readonly StoredPart[]): Promise<string | undefined> {
  const values: Array<{ value: string; size: number }> = [];
  for (const p of parts) {
    if (p.checksum === undefined || !isChecksumValue(checksum.algorithm, p.checksum)) return undefined;
    values.push({ value: p.checksum, size: p.size });
  }
  return checksum.type === 'FULL_OBJECT'
    ? fullObjectChecksum(checksum.algorithm, values)
    : compositeChecksum(
        checksum.algorithm,
        values.map((v) => v.value),
      );
}

/** An upload in progress, from its marker's row in the segments container's listing. */
export interface UploadRow {
  key: string;
  uploadId: string;
  initiated: string;
}

/** The upload markers among a segments container's rows (parts, named `…/<digits>`, are not). */
export function uploadsOf(rows: ReadonlyArray<{ name?: string; last_modified?: string }>): UploadRow[] {
  const out: UploadRow[] = [];
  for (const r of rows) {
    if (r.name === undefined) continue;
    const slash = r.name.lastIndexOf('/');
    if (slash <= 0) continue;
    const uploadId = r.name.slice(slash + 1);
    if (!isUploadId(uploadId)) continue;
    out.push({ key: r.name.slice(0, slash), uploadId, initiated: r.last_modified ?? '' });
  }
  return out;
}

export interface UploadsPage {
  uploads: UploadRow[];
  prefixes: string[];
  truncated: boolean;
  nextKeyMarker?: string;
  nextUploadIdMarker?: string;
}

/**
 * One page of ListMultipartUploads over uploads sorted by key then by the order they were listed
 * in: after (key-marker, upload-id-marker), under `prefix`, keys folded at `delimiter` into
 * CommonPrefixes, at most `maxUploads` entries (uploads and prefixes together, as S3 counts).
 */
export function pageUploads(all: readonly UploadRow[], o: { prefix: string; delimiter: string; keyMarker: string; uploadIdMarker: string; maxUploads: number }): UploadsPage {
  const after = (u: UploadRow): boolean => {
    if (o.keyMarker === '') return true;
    if (o.uploadIdMarker === '') return u.key > o.keyMarker;
    return u.key > o.keyMarker || (u.key === o.keyMarker && u.uploadId > o.uploadIdMarker);
  };
  const sorted = all.filter((u) => u.key.startsWith(o.prefix) && after(u)).sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.uploadId < b.uploadId ? -1 : a.uploadId > b.uploadId ? 1 : 0));
  const uploads: UploadRow[] = [];
  const prefixes: string[] = [];
  let truncated = false;
  let last: { key: string; uploadId?: string } | undefined;
  for (const u of sorted) {
    let cp: string | undefined;
    if (o.delimiter !== '') {
      const at = u.key.indexOf(o.delimiter, o.prefix.length);
      if (at >= 0) cp = u.key.slice(0, at + o.delimiter.length);
    }
    if (cp !== undefined && prefixes[prefixes.length - 1] === cp) continue;
    if (uploads.length + prefixes.length >= o.maxUploads) {
      truncated = true;
      break;
    }
    if (cp !== undefined) {
      prefixes.push(cp);
      last = { key: cp };
    } else {
      uploads.push(u);
      last = { key: u.key, uploadId: u.uploadId };
    }
  }
  return {
    uploads,
    prefixes,
    truncated,
    ...(truncated && last ? { nextKeyMarker: last.key, ...(last.uploadId !== undefined ? { nextUploadIdMarker: last.uploadId } : {}) } : {}),
  };
}

/** One page of ListParts: parts numbered above `marker`, at most `maxParts`. */
export function pageParts(all: readonly StoredPart[], marker: number, maxParts: number): { parts: StoredPart[]; truncated: boolean; next: number } {
  const sorted = all.filter((p) => p.partNumber > marker).sort((a, b) => a.partNumber - b.partNumber);
  const parts = sorted.slice(0, maxParts);
  const last = parts[parts.length - 1];
  return { parts, truncated: sorted.length > maxParts, next: last ? last.partNumber : marker };
}

/** The byte range [first, last] of part `n` of an object made of parts of these sizes. */
export function partRange(sizes: readonly number[], n: number): [number, number] | undefined {
  if (n < 1 || n > sizes.length) return undefined;
  let start = 0;
  for (let i = 0; i < n - 1; i++) start += sizes[i] as number;
  return [start, start + (sizes[n - 1] as number) - 1];
}

/** A bounded integer query parameter (max-uploads, max-parts, part-number-marker): InvalidArgument if not one. */
export function intParam(q: URLSearchParams, name: string, dflt: number, max: number): number {
  const raw = q.get(name);
  if (raw === null) return dflt;
  if (!/^\d{1,9}$/.test(raw)) throw new S3Error('InvalidArgument', { message: `Provided ${name} not an integer or within integer range`, extra: [['ArgumentName', name], ['ArgumentValue', raw]] });
  return Math.min(Number(raw), max);
}
