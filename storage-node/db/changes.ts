import { randomUUID } from 'node:crypto';
import { key } from './keys.js';
import type { BatchOp } from './store.js';

/**
 * The change log behind replication sync points (Swift's ROWID plus its sync table).
 *
 * Every row change of a container (account) takes the next sequence number of that database,
 * `rowSeq` on its record; the row's value ends with it, and the log entry
 * `Q\0<a>\0<c>\0<seq>` → name (`R\0<a>\0<seq>` for accounts) indexes the row by it. The entry of
 * the superseded version is deleted in the same batch, so the log holds exactly one entry per
 * current row and "rows changed since seq N" is one range scan.
 *
 * Sequences never go back while the record exists. A record removed (handoff revert, reclaim) and
 * created again gets a new `replicaId`; peers key their sync points by it, so a point learned from
 * the old copy is never applied to the new one.
 */

export type ChangeLogType = 'Q' | 'R';

/** Fixed width, so the log's byte order is numeric order. */
export function seqString(seq: number): string {
  return String(seq).padStart(16, '0');
}

export function changeKey(type: ChangeLogType, names: string[], seq: number): Buffer {
  return key(type, ...names, seqString(seq));
}

export interface ChangeState {
  rowSeq: number;
  replicaId: string;
}

/** Where a write's sequence numbers continue from; the first row change names the copy. */
export function startChanges(rec: { rowSeq?: number; replicaId?: string }): ChangeState {
  return { rowSeq: rec.rowSeq ?? 0, replicaId: rec.replicaId ?? randomUUID() };
}

/**
 * The log ops for a row `name` written at `seq`: its new entry, and deletes for the entries of the
 * versions it replaces (`oldSeqs`, 0 = none).
 */
export function changeLogOps(type: ChangeLogType, names: string[], name: string, oldSeqs: number[], seq: number): BatchOp[] {
  const ops: BatchOp[] = [{ type: 'put', key: changeKey(type, names, seq), value: name }];
  for (const s of new Set(oldSeqs)) if (s > 0 && s !== seq) ops.push({ type: 'del', key: changeKey(type, names, s) });
  return ops;
}
