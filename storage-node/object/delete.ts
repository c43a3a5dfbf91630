import { H } from '../../common/headers.js';
import { Timestamp } from '../../common/timestamp.js';
import { containerUpdatesFor, rowSyncedOnDevice } from './container-update.js';
import { loadObject, writeTombstone } from './diskfile.js';
import { M } from './metadata.js';
import { header, isExpired, requestTimestamp, respond, validName, type ObjectRequest } from './request.js';
import { finishObjectWrite } from './write-tail.js';
import { queueUpdatesFor } from './expiring-update.js';

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
  let origDeleteAt: string | undefined;
  let status = 404;
  if (found.kind === 'deleted') orig = found.timestamp;
  else if (found.kind === 'live') {
    const obj = found.object;
    await obj.close();
    orig = obj.dataTimestamp;
    origDeleteAt = obj.metadata[M.deleteAt];
    if (!isExpired(obj.metadata, ctx.clock())) status = orig.compare(ts) < 0 ? 204 : 409;
  }
  const ifDeleteAt = header(h, 'x-if-delete-at');
  if (ifDeleteAt !== undefined) {
    const verdict = ifDeleteAtVerdict(ifDeleteAt, orig, origDeleteAt, ts);
    if (verdict) return respond(r.res, verdict.status, {}, verdict.body ?? '');
    status = 204; // an expired object deleted by its X-Delete-At is a success, not a 404
  }
  if (!orig || orig.compare(ts) < 0) {
    const updates = containerUpdatesFor('DELETE', h, o.account, o.container, o.obj, { [H.timestamp]: ts.internal }, r.log);
    // As for a PUT: the hash dir's fsync waits for the container row when that sync makes it cheap.
    const dirSyncAfterRow = rowSyncedOnDevice(ctx, updates, r.devicePath);
    await writeTombstone(o.loc, ts, { [M.timestamp]: ts.internal, [M.name]: o.name }, ctx.fsync, !dirSyncAfterRow);
    // The deleted version's queue row goes too (the expirer's own DELETE leaves it to the expirer).
    await finishObjectWrite(o, ts, updates, { dirSyncAfterRow, cleanup: true, op: 'DELETE', queue: queueUpdatesFor(o, ts, undefined, origDeleteAt) });
  }
  const newest = orig && orig.compare(ts) > 0 ? orig : ts;
  respond(r.res, status, { [H.backendTimestamp]: newest.internal });
}

/**
 * X-If-Delete-At (Swift's obj/server.py DELETE; our expirer sends it too): delete only the version
 * whose X-Delete-At is that time. Not a timestamp (Swift parses it as one: digits, a fraction)
 * → 400; no object at all, not even a tombstone → 404; a version at least as new as the request
 * → 409, it is not the one meant; another X-Delete-At (a tombstone has none: 0) → 412.
 * Undefined: go ahead.
 */
function ifDeleteAtVerdict(value: string, orig: Timestamp | undefined, origDeleteAt: string | undefined, ts: Timestamp): { status: number; body?: string } | undefined {
  const want = Timestamp.tryParse(value);
  if (!want || want.seconds >= 1e10) return { status: 400, body: 'Bad X-If-Delete-At header value' };
  if (!orig) return { status: 404 };
  if (orig.compare(ts) >= 0) return { status: 409 };
  const have = Timestamp.tryParse(origDeleteAt) ?? new Timestamp(0);
  if (have.compare(want) !== 0) return { status: 412, body: 'X-If-Delete-At and X-Delete-At do not match' };
  return undefined;
}
