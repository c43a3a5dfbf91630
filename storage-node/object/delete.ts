import { H } from '../../common/headers.js';
import type { Timestamp } from '../../common/timestamp.js';
import { containerUpdateFor, rowSyncedOnDevice } from './container-update.js';
import { loadObject, writeTombstone } from './diskfile.js';
import { M } from './metadata.js';
import { isExpired, requestTimestamp, respond, validName, type ObjectRequest } from './request.js';
import { finishObjectWrite } from './write-tail.js';

/**
 * Object DELETE, as Swift's obj/server.py: a live object older than the request → tombstone and
 * 204; a live object at least as new → 409; nothing there (missing, deleted, expired) → 404, with
 * a tombstone written unless an existing one is at least as new. X-Backend-Timestamp carries the
 * newer of the existing and the request's timestamps.
 */
export async function handleDelete(o: ObjectRequest): Promise<void> {
  const { ctx, r } = o;
  const h = r.req.headers;
  const ts = requestTimestamp(h);
  if (!ts) return respond(r.res, 400, {}, 'Missing or invalid X-Timestamp');
  if (!validName(o)) return respond(r.res, 400, {}, 'Invalid object name');

  const found = await loadObject(o.loc, { fsync: ctx.fsync });
  let orig: Timestamp | undefined;
  let status = 404;
  if (found.kind === 'deleted') orig = found.timestamp;
  else if (found.kind === 'live') {
    const obj = found.object;
    await obj.close();
    orig = obj.dataTimestamp;
    if (!isExpired(obj.metadata, ctx.clock())) status = orig.compare(ts) < 0 ? 204 : 409;
  }
  if (!orig || orig.compare(ts) < 0) {
    const update = containerUpdateFor('DELETE', h, o.account, o.container, o.obj, { [H.timestamp]: ts.internal });
    // As for a PUT: the hash dir's fsync waits for the container row when that sync makes it cheap.
    const dirSyncAfterRow = rowSyncedOnDevice(ctx, update, r.devicePath);
    await writeTombstone(o.loc, ts, { [M.timestamp]: ts.internal, [M.name]: o.name }, ctx.fsync, !dirSyncAfterRow);
    await finishObjectWrite(o, ts, update, { dirSyncAfterRow, cleanup: true, op: 'DELETE' });
  }
  const newest = orig && orig.compare(ts) > 0 ? orig : ts;
  respond(r.res, status, { [H.backendTimestamp]: newest.internal });
}
