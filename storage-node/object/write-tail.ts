import type { Timestamp } from '../../common/timestamp.js';
import { updateContainerOrSave, type ContainerUpdate } from './container-update.js';
import { finishWrite } from './diskfile.js';
import { applyQueueUpdates, type QueueUpdates } from './expiring-update.js';
import { fsyncDirsSync } from './fs-durable.js';
import type { ObjectRequest } from './request.js';

/**
 * What an object write (PUT, DELETE) does once its file is renamed into the hash dir, before it
 * answers: the container update (or its async pending), the expiring-queue rows (expiring-update.ts) and the cleanup of what the file
 * supersedes plus the suffix invalidation (`cleanup: false` for a new object: nothing to remove).
 * The two are independent and run together, except with `dirSyncAfterRow` (rowSyncedOnDevice):
 * the rename's directory fsync was left for after the row, and what the new file supersedes is
 * removed only once that fsync made the rename durable.
 */
export async function finishObjectWrite(
  o: ObjectRequest,
  timestamp: Timestamp,
  updates: ContainerUpdate[],
  w: { dirSyncAfterRow: boolean; cleanup: boolean; op: 'PUT' | 'DELETE'; queue?: QueueUpdates },
): Promise<void> {
  const { ctx, r } = o;
  const cleanup = (): Promise<void> =>
    finishWrite(o.loc, { cleanup: w.cleanup }).catch((e: unknown) => r.log.error({ err: e, obj: o.name }, `object ${w.op}: cleanup/invalidation failed`));
  await Promise.all([
    w.dirSyncAfterRow ? undefined : cleanup(),
    updates.length ? updateContainerOrSave({ ...ctx, log: r.log }, r.devicePath, o.hash, timestamp, updates) : undefined,
    w.queue ? applyQueueUpdates(o, timestamp, w.queue) : undefined,
  ]);
  if (w.dirSyncAfterRow) {
    fsyncDirsSync([o.loc.hashDir]);
    await cleanup();
  }
}
