import { key, keyPrefix } from './keys.js';
import type { BatchOp } from './store.js';

/**
 * The reclaim index: the rows reclaim may one day remove (object tombstones, deleted container
 * rows), ordered by the timestamp that decides when (`X\0<a>\0<c>\0<ts>\0<name>`,
 * `W\0<a>\0<ts>\0<name>`, empty values). Every write keeps it in step with the row, in the same
 * batch, so a reclaim pass reads only the range older than its cut-off instead of every row
 * (replica-ops.ts reclaimDb).
 *
 * The record says what the index holds (`reclaimIndex` on StoredContainer / StoredAccount):
 * absent, the index may be incomplete (a database written before it existed) and the next
 * reclaim builds it with one scan of the rows; `{ oldest }`, no entry is older than `oldest`
 * (a lower bound: an entry removed by a later write may have been the oldest); `{}`, none at all.
 * The replicator skips reclaim for a database whose `oldest` is not past its cut-off.
 */

export type ReclaimIndexType = 'X' | 'W';

export interface ReclaimIndexState {
  oldest?: string;
}

export function reclaimIndexKey(type: ReclaimIndexType, names: string[], ts: string, name: string): Buffer {
  return key(type, ...names, ts, name);
}

export function reclaimIndexPrefix(type: ReclaimIndexType, names: string[]): Buffer {
  return keyPrefix(type, ...names);
}

/** An index entry's key below its prefix ("<ts>\0<name>") back into its parts. */
export function parseIndexEntry(rest: string): { ts: string; name: string } {
  const at = rest.indexOf('\0');
  return { ts: rest.slice(0, at), name: rest.slice(at + 1) };
}

/**
 * The ops moving a row's entry from `before` to `after` (its indexed timestamps, undefined when
 * it has none), and the record's index state afterwards.
 */
export function reclaimIndexOps(
  type: ReclaimIndexType,
  names: string[],
  name: string,
  before: string | undefined,
  after: string | undefined,
  state: ReclaimIndexState | undefined,
): { ops: BatchOp[]; state: ReclaimIndexState | undefined } {
  if (before === after) return { ops: [], state };
  const ops: BatchOp[] = [];
  if (before !== undefined) ops.push({ type: 'del', key: reclaimIndexKey(type, names, before, name) });
  if (after === undefined) return { ops, state };
  ops.push({ type: 'put', key: reclaimIndexKey(type, names, after, name), value: '' });
  // Not built yet: the build computes `oldest` from everything it finds.
  if (!state) return { ops, state };
  return { ops, state: state.oldest === undefined || after < state.oldest ? { oldest: after } : state };
}
