import { titleCase } from '../../common/headers.js';
import { SwiftletError } from '../../common/errors.js';
import { Timestamp } from '../../common/timestamp.js';

/**
 * Object metadata as stored in .data trailers, .ts and .meta files: header names in Swift's
 * Title-Case (`X-Object-Meta-Color`), values as received (Node hands header values over as
 * latin1 strings, so bytes round-trip unchanged).
 */
export type ObjectMetadata = Record<string, string>;

/** Keys the object server itself sets. */
export const M = {
  name: 'name',
  timestamp: 'X-Timestamp',
  contentLength: 'Content-Length',
  contentType: 'Content-Type',
  /** When a .meta changed the content type (Swift's Content-Type-Timestamp): it wins over an older .data's. */
  contentTypeTimestamp: 'Content-Type-Timestamp',
  etag: 'ETag',
  crc32c: 'X-Crc32c',
  deleteAt: 'X-Delete-At',
} as const;

/** Request headers persisted with PUT and replaced by POST (Swift's allowed_headers, docs/BACKEND.md). */
const ALLOWED_HEADERS = new Set([
  'content-disposition',
  'content-encoding',
  'content-language',
  'cache-control',
  'expires',
  'x-delete-at',
  'x-object-manifest',
  'x-static-large-object',
]);

const USER_META = 'x-object-meta-';
const SYSMETA = 'x-object-sysmeta-';

/** Kept from the .data when a .meta applies: what a POST may not change (Swift's RESERVED_DATAFILE_META, DATAFILE_SYSTEM_META, sysmeta). */
const DATAFILE_ONLY = new Set(['name', 'Content-Length', 'ETag', 'X-Crc32c', 'X-Static-Large-Object']);


type Headers = Record<string, string | string[] | undefined>;

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(', ') : v;
}

/** The metadata a PUT persists from its headers: user metadata, sysmeta and the allowed headers. */
export function persistedFromPut(headers: Headers): ObjectMetadata {
  const out: ObjectMetadata = {};
  for (const key of Object.keys(headers)) {
    if (key.startsWith(USER_META) || key.startsWith(SYSMETA) || ALLOWED_HEADERS.has(key)) {
      const v = headerValue(headers[key]);
      if (v !== undefined) out[titleCase(key)] = v;
    }
  }
  return out;
}

/** What a POST replaces: user metadata and the allowed headers, never sysmeta. */
export function persistedFromPost(headers: Headers): ObjectMetadata {
  const out: ObjectMetadata = {};
  for (const key of Object.keys(headers)) {
    if (key.startsWith(USER_META) || ALLOWED_HEADERS.has(key)) {
      const v = headerValue(headers[key]);
      if (v !== undefined) out[titleCase(key)] = v;
    }
  }
  return out;
}

/**
 * The metadata of an object whose newest .meta is newer than its .data (Swift's
 * DiskFile._construct_from_data_file): the .meta's keys, with the .data's immutable ones kept,
 * and the content type of whichever set it last.
 */
export function mergeMetaFile(data: ObjectMetadata, meta: ObjectMetadata, dataTimestamp: Timestamp): ObjectMetadata {
  const out: ObjectMetadata = { ...meta };
  for (const [k, v] of Object.entries(data)) {
    if (DATAFILE_ONLY.has(k) || k.toLowerCase().startsWith(SYSMETA)) out[k] = v;
  }
  const ctTs = Timestamp.tryParse(meta[M.contentTypeTimestamp]);
  if (meta[M.contentType] === undefined || !ctTs || ctTs.compare(dataTimestamp) <= 0) {
    if (data[M.contentType] !== undefined) out[M.contentType] = data[M.contentType];
    delete out[M.contentTypeTimestamp];
  }
  return out;
}

/** Metadata keys that go out as GET/HEAD response headers as they are. */
export function isResponseMetadata(key: string): boolean {
  const k = key.toLowerCase();
  return k.startsWith(USER_META) || k.startsWith(SYSMETA) || ALLOWED_HEADERS.has(k);
}

// ---- the .data trailer: body ‖ metadata JSON ‖ u32be JSON length ‖ "SWLTMETA" ----

export const TRAILER_MAGIC = Buffer.from('SWLTMETA', 'latin1');
/** u32 length + magic. */
export const TRAILER_FIXED = 4 + TRAILER_MAGIC.length;

/** The bytes appended after the body. */
export function encodeTrailer(meta: ObjectMetadata): Buffer {
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  const out = Buffer.allocUnsafe(json.length + TRAILER_FIXED);
  json.copy(out, 0);
  out.writeUInt32BE(json.length, json.length);
  TRAILER_MAGIC.copy(out, json.length + 4);
  return out;
}

export type TrailerParse =
  | { ok: true; metadata: ObjectMetadata; bodyLength: number }
  /** The tail read was too short for the JSON: read `need` bytes ending at the end of the file and retry. */
  | { ok: false; need: number };

/**
 * Parses the trailer from the last `tail.length` bytes of a .data file of `fileSize` bytes.
 * Throws SwiftletError('CORRUPT') when the file cannot be a .data file.
 */
export function parseTrailer(tail: Buffer, fileSize: number): TrailerParse {
  if (fileSize < TRAILER_FIXED || tail.length < TRAILER_FIXED) throw new SwiftletError('CORRUPT', 'data file too short for a trailer');
  const magicAt = tail.length - TRAILER_MAGIC.length;
  if (!tail.subarray(magicAt).equals(TRAILER_MAGIC)) throw new SwiftletError('CORRUPT', 'data file trailer magic missing');
  const jsonLength = tail.readUInt32BE(magicAt - 4);
  const total = jsonLength + TRAILER_FIXED;
  if (total > fileSize) throw new SwiftletError('CORRUPT', 'data file trailer longer than the file');
  if (total > tail.length) return { ok: false, need: total };
  const metadata = parseMetadataJson(tail.subarray(tail.length - total, tail.length - TRAILER_FIXED));
  const bodyLength = fileSize - total;
  if (String(bodyLength) !== metadata[M.contentLength]) throw new SwiftletError('CORRUPT', 'data file length does not match its Content-Length');
  return { ok: true, metadata, bodyLength };
}

/** A .ts/.meta file's content, or a trailer's JSON: an object of strings. */
export function parseMetadataJson(buf: Buffer): ObjectMetadata {
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch (e) {
    throw new SwiftletError('CORRUPT', 'metadata is not JSON', { cause: e });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new SwiftletError('CORRUPT', 'metadata is not an object');
  for (const x of Object.values(v)) if (typeof x !== 'string') throw new SwiftletError('CORRUPT', 'metadata value is not a string');
  return v as ObjectMetadata;
}
