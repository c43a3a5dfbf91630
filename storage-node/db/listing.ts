/**
 * Swift's listing semantics (swift/container/backend.py list_objects_iter, the same for
 * accounts' list_containers_iter) over any ordered cursor of named rows. Pure: the LevelDB
 * cursor lives in store.ts, tests drive it with a sorted array.
 *
 * Order is UTF-8 byte order (sqlite's binary collation), never JS string order: every bound and
 * seek target is a Buffer.
 *
 * - marker / end_marker are exclusive bounds; with `reverse` they swap roles (marker is then the
 *   upper bound and end_marker the lower), and the listing runs downwards.
 * - prefix restricts to names starting with it.
 * - delimiter (with an optional prefix): a name with the delimiter after the prefix is rolled up
 *   into one `subdir` entry "prefix…delimiter"; the cursor then seeks past every name under it
 *   instead of reading them. A subdir equal to the (swapped) lower marker is not shown.
 * - path (containers only, Swift's pseudo-hierarchy parameter): the names directly under
 *   `path/` as rows (a name ending in its only further `/`, a directory marker, included), never
 *   deeper names and never subdirs; it overrides prefix and delimiter. An empty path lists the top.
 * - deleted rows are skipped; at most `limit` entries (rows and subdirs) are returned.
 */

/** Swift's CONTAINER_LISTING_LIMIT and ACCOUNT_LISTING_LIMIT. */
export const LISTING_LIMIT = 10_000;

export interface ListingQuery {
  prefix?: string;
  delimiter?: string;
  marker?: string;
  endMarker?: string;
  limit: number;
  reverse: boolean;
  path?: string;
}

/** Bounds on names (UTF-8 bytes); at most one lower and one upper. */
export interface NameBounds {
  gt?: Buffer;
  gte?: Buffer;
  lt?: Buffer;
}

export interface NamedRow<R> {
  name: string;
  row: R;
}

export interface RowCursor<R> {
  /** Up to `n` next rows in iteration order; empty once exhausted. */
  next(n: number): Promise<Array<NamedRow<R>>>;
  /** Forward: continue at the first name ≥ target. Reverse: at the last name ≤ target. Bounds still apply. */
  seek(target: Buffer): void;
  close(): Promise<void>;
}

export type OpenCursor<R> = (bounds: NameBounds, reverse: boolean) => RowCursor<R>;

export type ListingItem<R> = NamedRow<R> | { subdir: string };

export function isSubdir<R>(item: ListingItem<R>): item is { subdir: string } {
  return (item as { subdir?: string }).subdir !== undefined;
}

/** Largest read per cursor call; small after a seek, growing while rows are used as they come. */
const MAX_BATCH = 1000;
const FF = Buffer.from([0xff]);

/** Bytes just above every name starting with `p` (valid UTF-8 never has 0xff, so no carry). */
function prefixEnd(p: Buffer): Buffer {
  const out = Buffer.from(p);
  out[out.length - 1] = (out[out.length - 1] as number) + 1;
  return out;
}

/** Where the cursor must run: Swift's WHERE clause. Exported for tests. */
export function listingBounds(q: ListingQuery): NameBounds {
  const lo = q.reverse ? q.endMarker : q.marker;
  const hi = q.reverse ? q.marker : q.endMarker;
  const prefix = q.prefix ? Buffer.from(q.prefix) : undefined;
  const out: NameBounds = {};
  const loB = lo ? Buffer.from(lo) : undefined;
  if (loB && (!prefix || Buffer.compare(loB, prefix) >= 0)) out.gt = loB;
  else if (prefix) out.gte = prefix;
  const hiB = hi ? Buffer.from(hi) : undefined;
  const pEnd = prefix ? prefixEnd(prefix) : undefined;
  if (hiB && (!pEnd || Buffer.compare(hiB, pEnd) < 0)) out.lt = hiB;
  else if (pEnd) out.lt = pEnd;
  return out;
}

/** A `path` query as Swift's list_objects_iter turns it into a prefix ("a" → "a/") and delimiter "/". */
function withPath(q: ListingQuery): ListingQuery {
  if (q.path === undefined) return q;
  const prefix = q.path ? `${q.path.replace(/\/+$/, '')}/` : '';
  return { ...q, prefix, delimiter: '/', path: prefix };
}

export async function listRows<R>(open: OpenCursor<R>, query: ListingQuery, isDeleted: (row: R) => boolean): Promise<Array<ListingItem<R>>> {
  const results: Array<ListingItem<R>> = [];
  const q = withPath(query);
  if (q.limit <= 0) return results;
  const cursor = open(listingBounds(q), q.reverse);
  try {
    if (q.delimiter) await listWithDelimiter(cursor, q, q.delimiter, isDeleted, results);
    else await listFlat(cursor, q.limit, isDeleted, results);
  } finally {
    await cursor.close();
  }
  return results;
}

async function listFlat<R>(cursor: RowCursor<R>, limit: number, isDeleted: (row: R) => boolean, results: Array<ListingItem<R>>): Promise<void> {
  while (results.length < limit) {
    const batch = await cursor.next(Math.min(limit - results.length, MAX_BATCH));
    if (batch.length === 0) return;
    for (const e of batch) {
      if (isDeleted(e.row)) continue;
      results.push(e);
      if (results.length >= limit) return;
    }
  }
}

async function listWithDelimiter<R>(
  cursor: RowCursor<R>,
  q: ListingQuery,
  delimiter: string,
  isDeleted: (row: R) => boolean,
  results: Array<ListingItem<R>>,
): Promise<void> {
  const prefix = q.prefix ?? '';
  // Swift compares each subdir with the original lower marker (after the reverse swap).
  const origMarker = (q.reverse ? q.endMarker : q.marker) ?? '';
  // Reverse seeks land on "≤ subdir": the name equal to the subdir itself must be skipped.
  let skipName: string | undefined;
  let batchSize = 16;
  while (results.length < q.limit) {
    const batch = await cursor.next(batchSize);
    if (batch.length === 0) return;
    let sought = false;
    for (const e of batch) {
      if (isDeleted(e.row) || e.name === skipName || e.name === q.path) continue;
      const end = e.name.indexOf(delimiter, prefix.length);
      // With path, a name whose only further delimiter ends it (a directory marker) is a row.
      if (end < 0 || (q.path !== undefined && e.name.length === end + delimiter.length)) {
        results.push(e);
        if (results.length >= q.limit) return;
        continue;
      }
      const dir = e.name.slice(0, end + delimiter.length);
      // With path, deeper names are skipped whole, without a subdir entry.
      if (dir !== origMarker && q.path === undefined) results.push({ subdir: dir });
      const dirBytes = Buffer.from(dir);
      if (q.reverse) {
        cursor.seek(dirBytes);
        skipName = dir;
      } else {
        cursor.seek(Buffer.concat([dirBytes, FF]));
      }
      sought = true;
      break;
    }
    // Directory-heavy listings waste what follows a seek: read less; flat stretches: read more.
    batchSize = sought ? Math.max(1, batchSize >> 1) : Math.min(batchSize * 2, MAX_BATCH);
  }
}
