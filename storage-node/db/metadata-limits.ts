import { SwiftletError } from '../../common/errors.js';
import { META_LIMITS } from '../../common/meta-limits.js';
import type { Metadata } from './merge.js';

/**
 * The limits on a container's or account's stored metadata (pure, no I/O).
 *
 * The proxy checks each request alone, so without this many small POSTs add up: a container
 * with more metadata than the limits allow has a HEAD larger than anything the proxy expects,
 * for every tenant's requests that pass through the same node. Swift's container and account
 * servers merge the request's metadata into the stored set and validate the result
 * (swift/common/db.py `DatabaseBroker.update_metadata(validate_metadata=True)`); so do we.
 */

const USER_META_PREFIXES = ['x-account-meta-', 'x-container-meta-'];

/**
 * Swift's measure: user metadata only (sysmeta, ACLs and other saved headers are not counted),
 * keys whose value is not a deletion; size = name after the prefix + value, in characters: Swift
 * decodes the stored UTF-8 before it counts (DatabaseBroker.validate_metadata), where the proxy's
 * check_metadata counts the bytes of one request. A character is at most its bytes, so a set the
 * proxy accepted in one request is never refused here.
 */
export function userMetadataTotals(m: Metadata): { count: number; size: number } {
  let count = 0;
  let size = 0;
  for (const [key, [value]] of Object.entries(m)) {
    if (value === '') continue;
    const lower = key.toLowerCase();
    const prefix = USER_META_PREFIXES.find((p) => lower.startsWith(p));
    if (!prefix) continue;
    count++;
    size += characters(key.slice(prefix.length)) + characters(value);
  }
  return { count, size };
}

const utf8 = new TextDecoder('utf-8');

/** Characters (code points) of a header value, which arrives as a Latin-1 string of its UTF-8 bytes. */
function characters(v: string): number {
  // ASCII, the common case: a byte is a character.
  if (!/[^\x00-\x7f]/.test(v)) return v.length;
  const text = /[^\u0000-\u00ff]/.test(v) ? v : utf8.decode(Buffer.from(v, 'latin1'));
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/**
 * Swift's message when the merged metadata breaks a limit, else undefined. A measure already over
 * its limit before the request (stored sets merged by replication can add up) refuses only a
 * request that makes it larger still: removing keys is always possible, where Swift would refuse
 * every change to such a database.
 */
export function mergedMetadataError(stored: Metadata, merged: Metadata): string | undefined {
  const before = userMetadataTotals(stored);
  const after = userMetadataTotals(merged);
  if (after.count > META_LIMITS.maxMetaCount && after.count > before.count) {
    return `Too many metadata items; max ${META_LIMITS.maxMetaCount}`;
  }
  if (after.size > META_LIMITS.maxMetaOverallSize && after.size > before.size) {
    return `Total metadata too large; max ${META_LIMITS.maxMetaOverallSize}`;
  }
  return undefined;
}

/** Throws BAD_REQUEST (400) with Swift's message when `merged` breaks a limit (mergedMetadataError). */
export function requireMetadataFits(stored: Metadata, merged: Metadata): void {
  const why = mergedMetadataError(stored, merged);
  if (why) throw new SwiftletError('BAD_REQUEST', why);
}
