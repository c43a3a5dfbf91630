import { Timestamp } from '../../../common/timestamp.js';
import { RESERVED, reservedName } from '../../constraints.js';

/**
 * Object versioning's names (Swift's object_versioning ObjectVersioningContext), pure: the hidden
 * container of container `c` is reserved("versions", c); a version of object `o` written at `ts`
 * is reserved(o, ~ts), the inverted timestamp, so a name's versions list newest first. A version
 * id is the timestamp's internal form ("1700000000.12345"), or "null" for an object written while
 * versioning was off.
 */

export const DELETE_MARKER_CONTENT_TYPE = 'application/x-deleted;swift_versions_deleted=1';

export const SYSMETA = {
  enabled: 'x-container-sysmeta-versions-enabled',
  container: 'x-container-sysmeta-versions-container',
  /** On the current object's link: it is versioning's (its target is a version). */
  versionsSymlink: 'x-object-sysmeta-versions-symlink',
} as const;

/** Swift's ~Timestamp: (999999999999999 − ticks), so later sorts first. */
export function invert(ts: Timestamp): Timestamp {
  if (ts.offset) throw new RangeError('Cannot invert timestamps with offsets');
  return new Timestamp(999999999999999 - ts.ticks);
}

export function versionsContainerName(container: string): string {
  return reservedName('versions', container);
}

export function versionObjectName(object: string, ts: Timestamp): string {
  return reservedName(object, invert(ts).internal);
}

/** Every version of `object` starts with this (Swift's _build_versions_object_prefix). */
export function versionObjectPrefix(object: string): string {
  return reservedName(object, '');
}

/** A version's name back into the object's name and the version's timestamp; undefined if it is none. */
export function splitVersionName(name: string): { object: string; ts: Timestamp } | undefined {
  if (!name.startsWith(RESERVED)) return undefined;
  const parts = name.slice(RESERVED.length).split(RESERVED);
  if (parts.length !== 2) return undefined;
  const inv = Timestamp.tryParse(parts[1]);
  if (!inv || inv.offset || inv.ticks > 999999999999999) return undefined;
  return { object: parts[0] as string, ts: invert(inv) };
}

/** The user container a hidden container versions, or undefined. */
export function splitVersionsContainer(name: string): string | undefined {
  if (!name.startsWith(RESERVED)) return undefined;
  const parts = name.slice(RESERVED.length).split(RESERVED);
  return parts.length === 2 && parts[0] === 'versions' ? parts[1] : undefined;
}

/** A version-id query value: "null", or a timestamp without offset. */
export function parseVersionId(v: string): 'null' | Timestamp | undefined {
  if (v === 'null') return 'null';
  const ts = Timestamp.tryParse(v);
  return ts && !ts.offset && /^\d+(\.\d+)?$/.test(v) ? ts : undefined;
}

/** Swift's config_true_value. */
export function trueValue(v: string | undefined): boolean {
  return v !== undefined && ['true', '1', 'yes', 'on', 't', 'y'].includes(v.trim().toLowerCase());
}

/** The object headers a version keeps, besides its metadata and sysmeta. */
const VERSION_HEADERS = ['content-type', 'content-length', 'etag', 'content-disposition', 'content-encoding', 'content-language', 'cache-control', 'expires'];
/** A link read with ?symlink=get shows its target under these names: its version is a link again. */
const LINK_HEADERS = ['x-symlink-target', 'x-symlink-target-account', 'x-symlink-target-etag'];

/**
 * _put_versioned_obj: the headers of a PUT that copies an object read with ?symlink=get (as it is
 * stored) to a version: its metadata, sysmeta and object headers, and what makes it a large object
 * (X-Static-Large-Object, X-Object-Manifest) or a link (X-Symlink-Target), so the version reads as
 * one. An SLO's content type carries its size again (";swift_bytes=", the listing's size), as
 * Swift's.
 */
export function versionHeaders(src: { headers: Record<string, string> }, keepDeleteAt: boolean): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(src.headers)) {
    const lk = k.toLowerCase();
    const kept = VERSION_HEADERS.includes(lk) || LINK_HEADERS.includes(lk) || lk === 'x-static-large-object' || lk === 'x-object-manifest' || (keepDeleteAt && lk === 'x-delete-at');
    if (kept || lk.startsWith('x-object-meta-') || lk.startsWith('x-object-sysmeta-')) headers[lk] = v;
  }
  // The symlink stage writes a link's container update again.
  if (headers['x-symlink-target'] !== undefined) delete headers['x-object-sysmeta-container-update-override-etag'];
  const sloSize = headers['x-object-sysmeta-slo-size'];
  if (sloSize !== undefined && headers['content-type'] !== undefined && !headers['content-type'].includes('swift_bytes=')) headers['content-type'] += `;swift_bytes=${sloSize}`;
  return headers;
}
