import { isSwiftletError, statusForCode } from '../../common/errors.js';
import { H } from '../../common/headers.js';
import { parseEtagList } from '../../common/conditional.js';
import { decodeRawTrailer } from '../../common/raw-body.js';
import { receiveBody } from './body-receiver.js';
import { containerUpdatesFor, rowSyncedOnDevice, withUpdateOverrides } from './container-update.js';
import { DataFileWriter, readObjectInfo } from './diskfile.js';
import { M, persistedFromPut, type ObjectMetadata } from './metadata.js';
import { readHashDirSync } from './ondisk.js';
import { deleteAtError, header, isExpired, requestTimestamp, respond, validName, type ObjectRequest } from './request.js';
import { finishObjectWrite } from './write-tail.js';
import { queueUpdatesFor } from './expiring-update.js';
import { holdForCreate, isCreate, stillAbsent } from './create-guard.js';

/**
 * Object PUT (Swift obj/server.py PUT): 201 + ETag once the .data is fsynced, renamed and its
 * directory fsynced, and the container told (or the update saved for the updater).
 */
export async function handlePut(o: ObjectRequest): Promise<void> {
  if (!isCreate(header(o.r.req.headers, 'if-none-match'))) return putObject(o);
  const release = holdForCreate(o.loc.hashDir);
  // Another create of this object is under way here: this one is refused before its body.
  if (!release) return respond(o.r.res, 412, {}, 'Precondition Failed', { close: !o.r.req.readableEnded });
  try {
    await putObject(o);
  } finally {
    release();
  }
}

async function putObject(o: ObjectRequest): Promise<void> {
  const { ctx, r } = o;
  const h = r.req.headers;
  // Early answers leave the body unread: close the connection rather than drain a big upload.
  const reject = (status: number, body: string, headers: Record<string, string> = {}): void =>
    respond(r.res, status, headers, body, { close: !r.req.readableEnded });

  const ts = requestTimestamp(h);
  if (!ts) return reject(400, 'Missing or invalid X-Timestamp');
  if (!validName(o)) return reject(400, 'Invalid object name');
  const contentType = header(h, 'content-type');
  if (!contentType) return reject(400, 'No content type');
  const raw = r.raw;
  const chunked = !raw && /(^|,)\s*chunked\s*$/i.test(header(h, 'transfer-encoding') ?? '');
  // The proxy sends the body chunked with its length in a header and its checksums as trailers,
  // or (a large one) raw after an upgrade, its length in the same header, its checksums after it.
  const sumsInTrailer = (chunked && header(h, H.checksumTrailer) !== undefined) || raw !== undefined;
  // A small body comes whole, with Content-Length and its checksums as headers.
  const sumsInHeaders = !chunked && !raw && header(h, H.backendEtag) !== undefined;
  const lengthHeader = chunked || raw ? header(h, H.objContentLength) : header(h, 'content-length');
  if (!chunked && lengthHeader === undefined) return reject(411, 'Missing Content-Length');
  const expectedLength = lengthHeader === undefined ? undefined : Number(lengthHeader);
  if (expectedLength !== undefined && !Number.isSafeInteger(expectedLength)) return reject(400, 'Invalid Content-Length');
  const badDeleteAt = deleteAtError(h, ts);
  if (badDeleteAt) return reject(400, badDeleteAt);

  const files = readHashDirSync(o.loc.hashDir);
  const ifNoneMatch = header(h, 'if-none-match');
  if (ifNoneMatch !== undefined && files.data && (await existingMatches(o, ifNoneMatch))) return reject(412, 'Precondition Failed');
  // A create is checked again at its rename, atomically (create-guard.ts).
  const mayRename = isCreate(ifNoneMatch) ? stillAbsent(o.loc.hashDir, files.data?.name) : undefined;
  const orig = files.data?.timestamp ?? files.tombstone?.timestamp;
  if (orig && orig.compare(ts) >= 0) return reject(409, 'Conflict', { 'X-Backend-Timestamp': orig.internal });
  // The X-Delete-At this version replaces: its queue row goes (expiring-update.ts).
  const oldDeleteAt = files.data ? await currentDeleteAt(o) : undefined;

  const writer = new DataFileWriter(r.devicePath, ctx.fsync, {
    md5: !sumsInTrailer && !sumsInHeaders,
    ...(expectedLength === undefined ? {} : { sizeHint: expectedLength }),
    ...(ctx.directIoAboveBytes === undefined ? {} : { directIoAboveBytes: ctx.directIoAboveBytes }),
  });
  let size: number;
  let rawTrailer: Buffer | undefined;
  try {
    if (raw) {
      size = expectedLength ?? 0;
      await writer.startDirect();
      // Only now "send the body": a refusal above (409, 412, 400) went out as a plain answer.
      raw.sendContinue();
      rawTrailer = await raw.receive(writer, size, ctx.clientTimeoutMs);
    } else {
      // Only now ask for the body: a refusal above went out before the proxy sent a byte.
      r.sendContinue?.();
      size = await receiveBody(r.req, writer, { expectedLength, idleTimeoutMs: ctx.clientTimeoutMs });
    }
  } catch (e) {
    await writer.abort();
    if (!isSwiftletError(e)) throw e;
    const status = statusForCode(e.code);
    if (e.code === 'CLIENT_DISCONNECT') r.log.info({ obj: o.name, err: e.message }, 'object PUT: client disconnected, nothing stored');
    else if (e.code === 'CLIENT_TIMEOUT') r.log.info({ obj: o.name }, 'object PUT: client timed out, nothing stored');
    else r.log.warn({ obj: o.name, err: e }, 'object PUT failed, nothing stored');
    respond(r.res, status, {}, e.message, { close: true });
    if (e.code === 'CLIENT_TIMEOUT') r.res.once('finish', () => r.req.destroy());
    return;
  }

  let etag: string;
  if (sumsInTrailer || sumsInHeaders) {
    const sums = rawTrailer ? decodeRawTrailer(rawTrailer) : sentSums(sumsInTrailer ? r.req.trailers : h);
    if (!sums) {
      await writer.abort();
      return respond(r.res, 400, {}, `Missing or invalid checksum ${sumsInTrailer ? 'trailers' : 'headers'}`);
    }
    if (sums.crc32c !== writer.crc32c()) {
      await writer.abort();
      r.log.warn({ obj: o.name, sent: sums.crc32c, received: writer.crc32c() }, 'object PUT: body changed in transit (CRC32C), nothing stored');
      return respond(r.res, 422, {}, 'Body does not match its CRC32C');
    }
    etag = sums.etag;
  } else {
    etag = writer.etag();
  }
  const sentEtag = header(h, 'etag');
  if (sentEtag !== undefined && sentEtag.trim().replace(/^"(.*)"$/, '$1').toLowerCase() !== etag) {
    await writer.abort();
    return respond(r.res, 422, {}, 'ETag mismatch');
  }
  const metadata: ObjectMetadata = {
    ...persistedFromPut(h),
    [M.name]: o.name,
    [M.timestamp]: ts.internal,
    [M.contentLength]: String(size),
    [M.contentType]: contentType,
    [M.etag]: etag,
    [M.crc32c]: writer.crc32c(),
  };
  const updates = containerUpdatesFor(
    'PUT',
    h,
    o.account,
    o.container,
    o.obj,
    withUpdateOverrides({ [H.timestamp]: ts.internal, [H.size]: String(size), [H.contentType]: contentType, [H.etag]: etag }, metadata),
    r.log,
  );
  // The hash dir's fsync waits for the container row when that sync makes it cheap.
  const dirSyncAfterRow = rowSyncedOnDevice(ctx, updates, r.devicePath);
  try {
    await writer.commit(o.loc, ts, metadata, !files.exists, !dirSyncAfterRow, mayRename);
  } catch (e) {
    await writer.abort();
    if (isSwiftletError(e, 'PRECONDITION_FAILED')) return respond(r.res, 412, {}, 'Precondition Failed');
    throw e; // DISK_FULL → 507 at the router
  }

  const queue = queueUpdatesFor(o, ts, metadata[M.deleteAt], oldDeleteAt);
  await finishObjectWrite(o, ts, updates, { dirSyncAfterRow, cleanup: files.exists, op: 'PUT', queue });
  respond(r.res, 201, { ETag: etag }, '');
}

/** The X-Delete-At of the live version on disk, if any. */
async function currentDeleteAt(o: ObjectRequest): Promise<string | undefined> {
  const info = await readObjectInfo(o.loc, o.ctx.fsync);
  return info.kind === 'live' ? info.metadata[M.deleteAt] : undefined;
}

/** The proxy's X-Backend-Etag / X-Backend-Crc32c (trailers or headers), or undefined when missing or malformed. */
function sentSums(t: NodeJS.Dict<string | string[]>): { etag: string; crc32c: string } | undefined {
  const etag = header(t, H.backendEtag)?.trim().toLowerCase();
  const crc = header(t, H.backendCrc32c)?.trim().toLowerCase();
  if (!etag || !crc || !/^[0-9a-f]{32}$/.test(etag) || !/^[0-9a-f]{8}$/.test(crc)) return undefined;
  return { etag, crc32c: crc };
}

/**
 * If-None-Match on PUT (Swift): `*` fails when the object exists, a tag list when its ETag is in
 * it. An expired object does not exist (Swift reads its metadata as of now).
 */
async function existingMatches(o: ObjectRequest, ifNoneMatch: string): Promise<boolean> {
  const list = parseEtagList(ifNoneMatch);
  const info = await readObjectInfo(o.loc, o.ctx.fsync);
  if (info.kind !== 'live' || isExpired(info.metadata, o.ctx.clock())) return false;
  return list === '*' || list.includes(info.metadata[M.etag] ?? '');
}
