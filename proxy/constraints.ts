import { titleCase } from '../common/headers.js';
import { isUtf8 } from 'node:buffer';
import { META_LIMITS } from '../common/meta-limits.js';

/**
 * Swift's request constraints (swift/common/constraints.py), with Swift's messages.
 * Each check returns undefined when the request is fine, or the status and body Swift answers.
 */
export const LIMITS = {
  ...META_LIMITS,
  maxHeaderSize: 8192,
  maxObjectNameLength: 1024,
  containerListingLimit: 10_000,
  accountListingLimit: 10_000,
  maxAccountNameLength: 256,
  maxContainerNameLength: 256,
} as const;

export interface Rejection {
  status: number;
  body: string;
  /** Swift's constraints answer "text/plain"; other refusals have swob's text/html (the default). */
  contentType?: string;
}

/** A refusal from Swift's constraints.py, which sends its words as text/plain. */
const plain = (status: number, body: string): Rejection => ({ status, body, contentType: 'text/plain' });

/**
 * The reserved namespace (Swift's RESERVED_STR, a NUL, in get_reserved_name): names only the proxy
 * itself uses, for versioning's hidden containers and versions. Swiftlet's container databases
 * separate names with NUL in their keys, so the reserved character is U+10FFFF (a Unicode
 * noncharacter) instead: valid UTF-8 everywhere below the proxy, sorted after every other name,
 * and refused in a client's names as Swift refuses NUL (412).
 */
export const RESERVED = '\u{10FFFF}';

/** Swift's get_reserved_name: the parts joined by, and starting with, the reserved character. */
export function reservedName(...parts: string[]): string {
  return RESERVED + parts.join(RESERVED);
}

export function hasReserved(name: string | undefined): boolean {
  return name !== undefined && name.includes(RESERVED);
}

/** Swift's check_utf8: valid UTF-8 and no NUL. `raw` is the percent-decoded bytes. */
export function isValidUtf8Name(raw: Buffer): boolean {
  return !raw.includes(0) && isUtf8(raw);
}

/**
 * A request header's value as the bytes the client sent. Node's parser hands header values over
 * latin1-decoded (one char per byte), so UTF-8 metadata arrives as a string of its bytes and is
 * relayed to the nodes byte for byte. A char above U+00FF cannot come off the wire: such a string
 * is already text, and its bytes are its UTF-8.
 */
export function headerBytes(value: string): Buffer {
  return /[^\u0000-\u00ff]/.test(value) ? Buffer.from(value, 'utf8') : Buffer.from(value, 'latin1');
}

export function checkContainerName(name: string): Rejection | undefined {
  const len = Buffer.byteLength(name);
  if (len > LIMITS.maxContainerNameLength) {
    return { status: 400, body: `Container name length of ${len} longer than ${LIMITS.maxContainerNameLength}` };
  }
  if (name.includes('/')) return { status: 400, body: 'Container name cannot contain slashes' };
  return undefined;
}

export function checkObjectName(name: string): Rejection | undefined {
  const len = Buffer.byteLength(name);
  if (len > LIMITS.maxObjectNameLength) {
    return plain(400, `Object name length of ${len} longer than ${LIMITS.maxObjectNameLength}`);
  }
  return undefined;
}

/**
 * The whole header block a client may send, request line included (Node's server refuses more
 * with 431). Swift runs under eventlet's wsgi server, whose MAX_TOTAL_HEADER_SIZE is 64 KiB:
 * enough for 90 metadata items with room to spare, where Node's default 16 KiB is not for a
 * request that also sets ACLs or the object's persisted headers.
 */
export const CLIENT_MAX_HEADER_BYTES = 64 * 1024;

/**
 * Swift's max_header_size (eventlet's MAX_HEADER_LINE): a header line, "name:value" and its CRLF,
 * must be shorter than 8192 bytes. A header sent more than once is checked as the one value Node
 * joins it into, so no header the nodes store (an ACL, Content-Disposition...) is longer, and a
 * stored container's or object's HEAD stays bounded (common/http-client.ts counts it).
 * Node hands header values over as Latin-1 strings: their length is their size in bytes.
 */
export function checkHeaderLines(headers: Record<string, string | string[] | undefined>): Rejection | undefined {
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) {
      if (name.length + 1 + v.length + 2 >= LIMITS.maxHeaderSize) return { status: 400, body: 'Header Line Too Long' };
    }
  }
  return undefined;
}

/**
 * check_metadata for target 'account' | 'container' | 'object'. Lengths are in the bytes the
 * client sent. Account and container metadata must be UTF-8 (Swift serializes it as JSON in its
 * databases); an object's may be any bytes, as in Swift, and is kept byte for byte.
 */
export function checkMetadata(headers: Record<string, string | string[] | undefined>, target: 'account' | 'container' | 'object'): Rejection | undefined {
  const prefix = `x-${target}-meta-`;
  let count = 0;
  let size = 0;
  for (const [rawKey, rawValue] of Object.entries(headers)) {
    const key = rawKey.toLowerCase();
    if (!key.startsWith(prefix)) continue;
    const value = Array.isArray(rawValue) ? rawValue.join(',') : (rawValue ?? '');
    const name = key.slice(prefix.length);
    if (!name) return plain(400, 'Metadata name cannot be empty');
    const nameBytes = headerBytes(name);
    const valueBytes = headerBytes(value);
    if (target !== 'object' && (!isValidUtf8Name(nameBytes) || (value !== '' && !isValidUtf8Name(valueBytes)))) {
      return plain(400, 'Metadata must be valid UTF-8');
    }
    count++;
    const nameLen = nameBytes.length;
    const valueLen = valueBytes.length;
    size += nameLen + valueLen;
    // Swift names the header as its WSGI layer spells it: the prefix lower case, the rest title case.
    if (nameLen > LIMITS.maxMetaNameLength) {
      return plain(400, `Metadata name too long: ${prefix}${titleCase(name)}`);
    }
    if (valueLen > LIMITS.maxMetaValueLength) {
      return plain(400, `Metadata value longer than ${LIMITS.maxMetaValueLength}: ${prefix}${titleCase(name)}`);
    }
    if (count > LIMITS.maxMetaCount) {
      return plain(400, `Too many metadata items; max ${LIMITS.maxMetaCount}`);
    }
    if (size > LIMITS.maxMetaOverallSize) {
      return plain(400, `Total metadata too large; max ${LIMITS.maxMetaOverallSize}`);
    }
  }
  return undefined;
}

/** check_object_creation: length rules, then name and metadata. */
export function checkObjectCreation(
  headers: Record<string, string | string[] | undefined>,
  objectName: string,
  maxFileSize: number,
): Rejection | undefined {
  const te = String(headers['transfer-encoding'] ?? '').toLowerCase();
  const cl = headers['content-length'];
  if (te && te !== 'chunked') return plain(501, 'Not Implemented');
  if (cl !== undefined && !te) {
    const n = Number(cl);
    if (!/^\d+$/.test(String(cl))) return plain(400, 'Invalid Content-Length');
    if (n > maxFileSize) return plain(413, 'Your request is too large.');
  } else if (!te) {
    return plain(411, 'Missing Content-Length header.');
  }
  const nameBad = checkObjectName(objectName);
  if (nameBad) return nameBad;
  const ct = headers['content-type'];
  if (typeof ct === 'string' && ct.includes('\u0000')) return plain(400, 'Invalid Content-Type');
  return checkMetadata(headers, 'object');
}

/**
 * Listing limit (Swift's constrain_req_limit): 412 past the maximum; a limit that is not all
 * digits ("5000.0", "-1") is ignored, and the nodes list up to the maximum.
 */
export function checkListingLimit(limit: string | null, max: number): Rejection | undefined {
  if (limit === null || !/^\d+$/.test(limit)) return undefined;
  if (Number(limit) > max) return { status: 412, body: `Maximum limit is ${max}` };
  return undefined;
}
