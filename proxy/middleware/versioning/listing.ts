import { pyQuote } from '../../copy-headers.js';
import { unquote } from '../symlink/target.js';
import { DELETE_MARKER_CONTENT_TYPE, splitVersionName } from './names.js';

/**
 * Listings of a versioned container (Swift's object_versioning ContainerContext), pure: the
 * current objects are links to versions, listed with their version's size and etag; `?versions`
 * merges the current listing with the hidden container's into one list of every version, with
 * version_id and is_latest, delete markers included.
 */

export type Item = Record<string, unknown> & { name?: string; subdir?: string };

/** The target path of a link into `versionsContainer` of `account`: its object's name and version. */
function linkTarget(item: Item, account: string, versionsContainer: string): { object: string; versionId: string } | undefined {
  const path = item['symlink_path'];
  if (typeof path !== 'string') return undefined;
  const m = /^\/v1\/([^/]+)\/([^/]+)\/(.+)$/s.exec(path);
  if (!m || unquote(m[1] as string) !== account || unquote(m[2] as string) !== versionsContainer) return undefined;
  const v = splitVersionName(unquote(m[3] as string));
  return v ? { object: v.object, versionId: v.ts.internal } : undefined;
}

/**
 * The plain listing of a versioned container: a versioning link shows its version's bytes and
 * hash, `version_symlink: true`, and a symlink_path to `?version-id=`.
 */
export function currentListing(items: Item[], account: string, container: string, versionsContainer: string): Item[] {
  for (const item of items) {
    if (!('symlink_path' in item && 'symlink_etag' in item && 'symlink_bytes' in item)) continue;
    const target = linkTarget(item, account, versionsContainer);
    if (!target) continue;
    const hash = String(item['hash'] ?? '');
    const params = hash.includes(';') ? hash.slice(hash.indexOf(';')) : '';
    item['bytes'] = item['symlink_bytes'];
    item['hash'] = String(item['symlink_etag']) + params;
    delete item['symlink_bytes'];
    delete item['symlink_etag'];
    item['version_symlink'] = true;
    item['symlink_path'] = `${pyQuote(`/v1/${account}/${container}/${target.object}`)}?version-id=${target.versionId}`;
  }
  return items;
}

/**
 * `?versions` (Swift's _list_versions): `primary` is the container's own listing as
 * currentListing left it, `versions` the hidden container's (undefined when it has none).
 * Objects written without versioning are version "null" and latest; a version a current link
 * points at is latest, and so is a delete marker newer than any other version of its name.
 */
export function versionsListing(primary: Item[], versions: Item[] | undefined, opts: { limit: number; reverse: boolean }): Item[] {
  const subdirs = new Set<string>();
  const nullListing: Item[] = [];
  const current = new Map<string, Item>();
  const latest = new Set<string>();
  for (const item of primary) {
    if (item.name === undefined) {
      if (item.subdir !== undefined) subdirs.add(item.subdir);
      continue;
    }
    if (item['version_symlink']) {
      const m = /\?version-id=(.+)$/.exec(String(item['symlink_path']));
      if (m) current.set(`${item.name}\u0000${m[1] as string}`, item);
    } else {
      nullListing.push({ ...item, version_id: 'null', is_latest: true });
      latest.add(item.name);
    }
  }
  const versionsOut: Item[] = [];
  for (const item of versions ?? []) {
    if (item.name === undefined) {
      if (item.subdir !== undefined) {
        const v = item.subdir.startsWith('\u{10FFFF}') ? item.subdir.slice(1).split('\u{10FFFF}')[0] : item.subdir;
        if (v !== undefined) subdirs.add(v);
      }
      continue;
    }
    const v = splitVersionName(item.name);
    if (!v) continue;
    const key = `${v.object}\u0000${v.ts.internal}`;
    let isLatest = false;
    if (current.has(key)) {
      isLatest = true;
      latest.add(v.object);
      current.delete(key);
    } else if (item['content_type'] === DELETE_MARKER_CONTENT_TYPE && !latest.has(v.object)) {
      isLatest = true;
      latest.add(v.object);
    }
    versionsOut.push({ ...item, name: v.object, version_id: v.ts.internal, is_latest: isLatest });
  }
  // A current link whose version the hidden listing did not show (a lagging listing).
  const broken: Item[] = [];
  for (const [key, item] of current) {
    const [name, versionId] = key.split('\u0000') as [string, string];
    broken.push({
      name,
      is_latest: true,
      version_id: versionId,
      content_type: item['content_type'],
      bytes: item['bytes'],
      hash: item['hash'],
      last_modified: item['last_modified'],
    });
  }
  const all = [...nullListing, ...versionsOut, ...[...subdirs].map((s) => ({ subdir: s })), ...broken];
  const keyOf = (i: Item): string => (i.subdir !== undefined ? i.subdir : (i.name as string));
  // A stable sort by name (Python's sorted): a name's versions keep their newest-first order.
  const dir = opts.reverse ? -1 : 1;
  all.sort((a, b) => dir * (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
  return all.slice(0, opts.limit);
}
