import { H } from '../../common/headers.js';
import { containerUpdatesFor, updateContainerOrSave, withUpdateOverrides } from './container-update.js';
import { finishWrite, loadObject, writeMetaFile } from './diskfile.js';
import { applyQueueUpdates, queueUpdatesFor } from './expiring-update.js';
import { M, persistedFromPost, type ObjectMetadata } from './metadata.js';
import { deleteAtError, header, isExpired, requestTimestamp, respond, validName, type ObjectRequest } from './request.js';

/**
 * Object POST (Swift obj/server.py POST): writes a `<timestamp>.meta` whose user metadata and
 * allowed headers replace the object's, then updates the container's row (or saves the update
 * for the updater); 202, 404 when there is no live object, 409 when not newer.
 */
export async function handlePost(o: ObjectRequest): Promise<void> {
  const { ctx, r } = o;
  const h = r.req.headers;
  const ts = requestTimestamp(h);
  if (!ts) return respond(r.res, 400, {}, 'Missing or invalid X-Timestamp');
  if (!validName(o)) return respond(r.res, 400, {}, 'Invalid object name');
  const badDeleteAt = deleteAtError(h, ts);
  if (badDeleteAt) return respond(r.res, 400, {}, badDeleteAt);

  const found = await loadObject(o.loc, { fsync: ctx.fsync });
  if (found.kind === 'deleted') return respond(r.res, 404, { [H.backendTimestamp]: found.timestamp.internal });
  if (found.kind !== 'live') return respond(r.res, 404);
  const obj = found.object;
  await obj.close(); // only the metadata is needed
  if (isExpired(obj.metadata, ctx.clock())) return respond(r.res, 404, { [H.backendTimestamp]: obj.timestamp.internal });
  if (obj.timestamp.compare(ts) >= 0) return respond(r.res, 409, { [H.backendTimestamp]: obj.timestamp.internal });

  const meta: ObjectMetadata = { ...persistedFromPost(h), [M.name]: o.name, [M.timestamp]: ts.internal };
  const contentType = header(h, 'content-type');
  if (contentType) {
    // An SLO manifest keeps its size for the listing on a new content type (Swift's object server does).
    const swiftBytes = /;\s*swift_bytes=[^;]*$/.exec(obj.dataMetadata[M.contentType] ?? '');
    meta[M.contentType] = swiftBytes && !contentType.includes('swift_bytes=') ? `${contentType}${swiftBytes[0]}` : contentType;
    meta[M.contentTypeTimestamp] = ts.internal;
  } else if (obj.metadata[M.contentTypeTimestamp] !== undefined) {
    // An earlier POST changed the content type: carry it forward, this .meta replaces that one.
    meta[M.contentType] = obj.metadata[M.contentType] as string;
    meta[M.contentTypeTimestamp] = obj.metadata[M.contentTypeTimestamp];
  }
  await writeMetaFile(o.loc, ts, meta, ctx.fsync);
  // As Swift's object server: every POST tells the container (a PUT of the row) the object's
  // content type with its timestamp and the POST's, so a new Content-Type reaches the listing and
  // its last_modified moves; size and ETag go along, in case the PUT's own update was lost.
  const contentTypeSet = meta[M.contentTypeTimestamp] !== undefined;
  const fields = withUpdateOverrides(
    {
      [H.timestamp]: obj.dataTimestamp.internal,
      [H.size]: String(obj.bodyLength),
      [H.contentType]: meta[M.contentType] ?? obj.dataMetadata[M.contentType] ?? '',
      [H.contentTypeTimestamp]: meta[M.contentTypeTimestamp] ?? obj.dataTimestamp.internal,
      [H.metaTimestamp]: ts.internal,
      [H.etag]: obj.metadata[M.etag] ?? '',
    },
    obj.dataMetadata,
  );
  // A content type the POST set wins over an override from the PUT (as Swift's).
  if (contentTypeSet) fields[H.contentType] = meta[M.contentType] as string;
  const updates = containerUpdatesFor('PUT', h, o.account, o.container, o.obj, fields, r.log);
  await Promise.all([
    finishWrite(o.loc).catch((e: unknown) => r.log.error({ err: e, obj: o.name }, 'object POST: cleanup/invalidation failed')),
    updates.length ? updateContainerOrSave({ ...ctx, log: r.log }, r.devicePath, o.hash, ts, updates) : undefined,
    // The X-Delete-At the POST sets (a POST without one removes it) and the one it replaces.
    applyQueueUpdates(o, ts, queueUpdatesFor(o, ts, meta[M.deleteAt], obj.metadata[M.deleteAt])),
  ]);
  // As Swift's object server: the answer carries the object's sysmeta, so a middleware can tell
  // what it POSTed to (symlink's 307).
  const sysmeta: Record<string, string> = {};
  for (const [k, v] of Object.entries(obj.dataMetadata)) if (k.toLowerCase().startsWith('x-object-sysmeta-')) sysmeta[k] = v;
  respond(r.res, 202, sysmeta);
}
