import { join } from 'node:path';
import { policyString } from '../../common/storage-policy.js';
import { Timestamp } from '../../common/timestamp.js';

/**
 * Where things live on a device (Swift's layout, docs/BACKEND.md), `objects` standing for
 * storage policy 0's folder and `objects-<n>` for policy n's:
 *   objects/<partition>/<suffix>/<hash>/<timestamp>.data|.ts|.meta
 *   objects/<partition>/hashes.invalid, objects/<partition>.lock
 *   quarantined/objects/<hash>/
 *   tmp/, async_pending/<suffix>/<hash>-<timestamp> (one each per device, whatever the policy)
 */
export const OBJECTS_DIR = 'objects';
export const TMP_DIR = 'tmp';
export const ASYNC_PENDING_DIR = 'async_pending';
export const QUARANTINE_DIR = join('quarantined', 'objects');
export const HASHES_INVALID = 'hashes.invalid';

/** A device's object folder for storage policy `policy`: `objects`, `objects-1`… */
export function objectsDirOf(devicePath: string, policy = 0): string {
  return join(devicePath, policyString(OBJECTS_DIR, policy));
}

/** Where corrupt files of policy `policy` go: `quarantined/objects`, `quarantined/objects-1`… */
export function quarantineDirOf(devicePath: string, policy = 0): string {
  return join(devicePath, 'quarantined', policyString(OBJECTS_DIR, policy));
}

/** The last 3 hex digits of a path hash: groups hash dirs so a replicator compares a suffix at a time. */
export function suffixOf(hash: string): string {
  return hash.slice(-3);
}

/** One object's place on one device. */
export interface ObjectLocation {
  devicePath: string;
  /** The storage policy whose folder holds it. */
  policy: number;
  partition: number;
  hash: string;
  suffix: string;
  partitionDir: string;
  suffixDir: string;
  hashDir: string;
}

export function objectLocation(devicePath: string, partition: number, hash: string, policy = 0): ObjectLocation {
  const suffix = suffixOf(hash);
  const partitionDir = join(objectsDirOf(devicePath, policy), String(partition));
  const suffixDir = join(partitionDir, suffix);
  return { devicePath, policy, partition, hash, suffix, partitionDir, suffixDir, hashDir: join(suffixDir, hash) };
}

/**
 * The object replicator's lock on one partition (common/lock-file.ts): beside the partition dir,
 * not in it, so the node can still remove a reverted partition while the lock is held.
 */
export function partitionLockPath(devicePath: string, partition: number, policy = 0): string {
  return join(objectsDirOf(devicePath, policy), `${partition}.lock`);
}

export function tmpDirOf(devicePath: string): string {
  return join(devicePath, TMP_DIR);
}

export type OnDiskExt = 'data' | 'ts' | 'meta';

export interface OnDiskFile {
  name: string;
  timestamp: Timestamp;
  ext: OnDiskExt;
}

/** `<timestamp>.<ext>` → its parts; undefined for anything else (temp or foreign files are left alone). */
export function parseOnDiskName(name: string): OnDiskFile | undefined {
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return undefined;
  const ext = name.slice(dot + 1);
  if (ext !== 'data' && ext !== 'ts' && ext !== 'meta') return undefined;
  const ts = Timestamp.tryParse(name.slice(0, dot));
  if (!ts) return undefined;
  return { name, timestamp: ts, ext };
}

export function onDiskName(ts: Timestamp, ext: OnDiskExt): string {
  return `${ts.internal}.${ext}`;
}
