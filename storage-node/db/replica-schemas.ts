import { SwiftletError } from '../../common/errors.js';
import { accountLockKey, getAccount, isAccountDeleted, mergeAccountRecord, mergeContainerRows } from './account-db.js';
import { containerLockKey, getContainer, isContainerDeleted, mergeContainerRecord, mergeObjectRows } from './container-db.js';
import { key } from './keys.js';
import { containerRowDigestKey, mergeObjectRow, objectRowDigestKey, type ContainerRow, type ObjectRow } from './merge.js';
import type { AnySchema, ReplicaSchema } from './replica-ops.js';
import { parseContainerRow, parseObjectRow, type DbKind, type DbRef } from './replication-wire.js';
import { containerRowSeq, decodeContainerRow, decodeObjectRow, objectRowSeq, type StoredAccount, type StoredContainer } from './store.js';

/** What makes a container and an account different to the replication verbs (replica-ops.ts). */

function containerOf(ref: DbRef): string {
  if (ref.container === undefined) throw new SwiftletError('BAD_REQUEST', 'container replication needs a container');
  return ref.container;
}

export const containerSchema: ReplicaSchema<StoredContainer, ObjectRow> = {
  kind: 'container',
  recordType: 'C',
  logType: 'Q',
  syncType: 'Y',
  rangeTypes: ['O', 'T', 'Q', 'Y', 'X'],
  extraKeys: (ref) => [key('U', ref.account, containerOf(ref))],
  names: (ref) => [ref.account, containerOf(ref)],
  ref: ([account = '', container = '']) => ({ account, container }),
  lockKey: (ref) => containerLockKey(ref.account, containerOf(ref)),
  get: (db, ref) => getContainer(db, ref.account, containerOf(ref)),
  mergeRecord: (db, ref, r) => mergeContainerRecord(db, ref.account, containerOf(ref), r),
  // Replicated rows may land in a deleted container (as in Swift): requireLive is off.
  mergeRows: async (db, ref, rows) => (await mergeObjectRows(db, ref.account, containerOf(ref), { rows, requireLive: false })).info,
  async readRows(db, ref, names) {
    const c = containerOf(ref);
    const [live, dead] = await Promise.all([db.getMany(names.map((n) => key('O', ref.account, c, n))), db.getMany(names.map((n) => key('T', ref.account, c, n)))]);
    const out: ObjectRow[] = [];
    names.forEach((name, i) => {
      const l = live[i] === undefined ? undefined : decodeObjectRow(name, live[i] as string, false);
      const d = dead[i] === undefined ? undefined : decodeObjectRow(name, dead[i] as string, true);
      const row = l && d ? mergeObjectRow(l, d) : (l ?? d);
      if (row) out.push(row);
    });
    return out;
  },
  parseRow: parseObjectRow,
  isDeleted: isContainerDeleted,
  reclaimable: (rec, before) => isContainerDeleted(rec) && rec.deleteTimestamp < before,
  reclaimableFrom: (rec) => (isContainerDeleted(rec) ? rec.deleteTimestamp : undefined),
  reclaimRows: {
    type: 'T',
    indexType: 'X',
    indexedAt: (row) => (row.deleted ? row.timestamp : undefined),
    decode: (name, v) => decodeObjectRow(name, v, true),
    reclaimable: (row, before) => row.timestamp < before,
    digestKey: objectRowDigestKey,
    seqOf: objectRowSeq,
  },
};

export const accountSchema: ReplicaSchema<StoredAccount, ContainerRow> = {
  kind: 'account',
  recordType: 'A',
  logType: 'R',
  syncType: 'Z',
  rangeTypes: ['K', 'R', 'Z', 'W'],
  extraKeys: () => [],
  names: (ref) => [ref.account],
  ref: ([account = '']) => ({ account }),
  lockKey: (ref) => accountLockKey(ref.account),
  get: (db, ref) => getAccount(db, ref.account),
  mergeRecord: (db, ref, r) => mergeAccountRecord(db, ref.account, r),
  mergeRows: (db, ref, rows) => mergeContainerRows(db, ref.account, { rows, requireLive: false }),
  async readRows(db, ref, names) {
    const values = await db.getMany(names.map((n) => key('K', ref.account, n)));
    const out: ContainerRow[] = [];
    names.forEach((name, i) => {
      const v = values[i];
      if (v !== undefined) out.push(decodeContainerRow(name, v));
    });
    return out;
  },
  parseRow: parseContainerRow,
  isDeleted: isAccountDeleted,
  // No reaper yet: an account whose containers still exist is kept, deleted or not.
  reclaimable: (rec, before) => isAccountDeleted(rec) && rec.deleteTimestamp < before && rec.containerCount === 0,
  reclaimableFrom: (rec) => (isAccountDeleted(rec) && rec.containerCount === 0 ? rec.deleteTimestamp : undefined),
  reclaimRows: {
    type: 'K',
    indexType: 'W',
    indexedAt: (row) => (row.deleted ? row.deleteTimestamp : undefined),
    decode: decodeContainerRow,
    reclaimable: (row, before) => row.deleted && row.deleteTimestamp < before,
    digestKey: containerRowDigestKey,
    seqOf: containerRowSeq,
  },
};

export const replicaSchemas: Record<DbKind, AnySchema> = {
  container: containerSchema,
  account: accountSchema,
};
