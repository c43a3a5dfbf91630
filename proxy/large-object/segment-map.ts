import { isDataSegment, segmentLength, type StoredSegment } from './manifest.js';

/**
 * Which bytes of which segments make a byte range of a large object (Swift's
 * _byterange_listing_iterator and the DLO's _segment_listing_iterator), pure. A client range of
 * the whole object becomes a list of pieces in order: a slice of an object segment (its path,
 * the first and last byte inside it, inner ranges of a manifest applied), inline data, or a slice
 * of a nested SLO, which the caller maps again once it has that manifest.
 */
export type Piece =
  | {
      kind: 'object';
      /** "/container/object" as the manifest names it. */
      name: string;
      /** What the manifest recorded: the segment's ETag and size, checked when it is read. */
      etag: string;
      size: number;
      /** Inclusive byte positions inside the segment object. */
      first: number;
      last: number;
    }
  | { kind: 'data'; bytes: Buffer }
  | {
      kind: 'sub';
      name: string;
      etag: string;
      size: number;
      /** Inclusive positions inside the nested large object. */
      first: number;
      last: number;
    };

/**
 * The pieces of `segments` holding bytes `first..last` (inclusive) of the object they make.
 * Pieces of zero length never appear; past the end the list simply stops.
 */
export function mapSloRange(segments: readonly StoredSegment[], first: number, last: number): Piece[] {
  const out: Piece[] = [];
  if (last < first) return out;
  let f = first;
  let l = last;
  for (const seg of segments) {
    if (l < 0) break;
    const len = segmentLength(seg);
    if (f >= len || len === 0) {
      f -= len;
      l -= len;
      continue;
    }
    const from = Math.max(0, f);
    const to = Math.min(len - 1, l);
    if (isDataSegment(seg)) {
      out.push({ kind: 'data', bytes: Buffer.from(seg.data, 'base64').subarray(from, to + 1) });
    } else {
      const start = seg.range === undefined ? 0 : Number(seg.range.split('-')[0]);
      const piece = { name: seg.name, etag: seg.hash, size: seg.bytes, first: start + from, last: start + to };
      out.push(seg.sub_slo ? { kind: 'sub', ...piece } : { kind: 'object', ...piece });
    }
    f -= len;
    l -= len;
  }
  return out;
}

/** A DLO segment as its container listing shows it. */
export interface ListedSegment {
  name: string;
  bytes: number;
  hash: string;
}

/**
 * The pieces of one listing page of a DLO's segments holding bytes `first..last` (inclusive,
 * relative to this page's first byte). `rest` says where the range stands after the page, for
 * the next page: negative `last` means nothing more is wanted. DLO pieces carry no ETag to check
 * (Swift: a DLO only cares that names match the prefix); their size is the listing's.
 */
export function mapDloPage(
  page: readonly ListedSegment[],
  container: string,
  first: number,
  last: number,
): { pieces: Array<Extract<Piece, { kind: 'object' }>>; rest: { first: number; last: number } } {
  const pieces: Array<Extract<Piece, { kind: 'object' }>> = [];
  if (last < first) return { pieces, rest: { first, last: -1 } };
  let f = first;
  let l = last;
  for (const seg of page) {
    if (l < 0) break;
    if (f >= seg.bytes || seg.bytes === 0) {
      f -= seg.bytes;
      l -= seg.bytes;
      continue;
    }
    pieces.push({ kind: 'object', name: `/${container}/${seg.name}`, etag: '', size: seg.bytes, first: Math.max(0, f), last: Math.min(seg.bytes - 1, l) });
    f -= seg.bytes;
    l -= seg.bytes;
  }
  return { pieces, rest: { first: Math.max(f, 0), last: l } };
}
