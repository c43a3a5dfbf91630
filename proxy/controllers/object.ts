import { abortBody } from '../../common/http-client.js';
import { H } from '../../common/headers.js';
import { parseEtagList } from '../../common/conditional.js';
import type { Readable } from 'node:stream';
import type { Timestamp } from '../../common/timestamp.js';
import { backendPath } from '../../common/backend-path.js';
import { checkMetadata, checkObjectCreation, checkObjectName } from '../constraints.js';
import type { ProxyContext } from '../context.js';
import { makeRequests, readFromNodes, readNewest } from '../fanout.js';
import { nodeIter } from '../backend.js';
import { resumingBody } from '../get-resume.js';
import { deleteAtHeader } from '../expiry.js';
import { guessContentType } from '../mime.js';
import { PutError, putToReplicas } from '../object-put.js';
import { defaultBody } from '../responses.js';
import { rejection, respond, type ProxyResponse } from '../pipeline.js';
import type { SwiftRequest } from '../swift-request.js';
import type { ContainerInfo } from '../info-cache.js';
import { deleteAtUpdateTargets, objectUpdateTargets } from '../../ring-builder/update-targets.js';
import { answerWrite, baseBackendHeaders, containerInfo, forwardedMetadata, relay } from './common.js';
import { objectPolicy } from '../storage-policy.js';
import { cleanContentType } from '../large-object/manifest.js';
import { POLICY_INDEX_HEADER } from '../../common/storage-policy.js';

const READ_HEADERS = ['range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', H.ignoreRangeIfMetadata];

/** Swift's object controller: GET/HEAD with failover, PUT fan-out, POST, DELETE (copies: copy.ts). */
export async function handleObject(ctx: ProxyContext, sreq: SwiftRequest): Promise<ProxyResponse> {
  const nameBad = checkObjectName(sreq.object as string);
  if (nameBad) return rejection(nameBad);
  switch (sreq.method) {
    case 'GET':
    case 'HEAD':
      return getObject(ctx, sreq);
    case 'PUT':
      return putObject(ctx, sreq);
    case 'POST':
      return postObject(ctx, sreq);
    case 'DELETE':
      return deleteObject(ctx, sreq);
    default:
      return respond(405, { Allow: 'GET, HEAD, POST, PUT, DELETE, COPY' });
  }
}

/**
 * Where an object lives: the ring of its container's storage policy, its partition, each node's
 * path, and the header telling the nodes which policy's folders to use. A 503 when the policy
 * cannot be told (proxy/storage-policy.ts objectPolicy).
 */
export async function objectTarget(ctx: ProxyContext, sreq: SwiftRequest, account: string, container: string, object: string, info?: ContainerInfo) {
  const policy = objectPolicy(ctx.policies, info ?? (await containerInfo(ctx, sreq, account, container)), sreq.log);
  if ('status' in policy) return policy;
  const ring = ctx.rings.object(policy.index);
  const part = ring.partitionFor(account, container, object);
  return {
    ring,
    part,
    pathFor: (dev: { device: string }) => backendPath(dev.device, part, account, container, object),
    policyHeader: { [POLICY_INDEX_HEADER]: String(policy.index) } as Record<string, string>,
  };
}

async function getObject(ctx: ProxyContext, sreq: SwiftRequest): Promise<ProxyResponse> {
  const target = await objectTarget(ctx, sreq, sreq.account, sreq.container as string, sreq.object as string);
  if ('status' in target) return respond(target.status);
  const { ring, part, pathFor } = target;
  const headers = { ...baseBackendHeaders(sreq), ...target.policyHeader };
  for (const h of READ_HEADERS) if (sreq.headers[h] !== undefined) headers[h] = sreq.headers[h] as string;
  const newest = (sreq.headers['x-newest'] ?? '').toLowerCase() === 'true';
  const nodes = nodeIter(ctx, ring, part);
  const { response, status } = newest
    ? await readNewest(ctx, ring, part, sreq.method, pathFor, headers)
    : await readFromNodes(ctx, ring, part, sreq.method, pathFor, headers, { keepBody: true, nodes });
  if (!response) return respond(status);
  // A node failing mid-body: the rest comes from the next nodes (not for X-Newest, as in Swift).
  if (!newest && response.body && response.status < 300) response.body = resumingBody(response, { ctx, nodes, pathFor, headers, what: sreq.path }) as typeof response.body;
  const res = relay(sreq, response);
  // An SLO manifest's content type carries its size for the listing (";swift_bytes=N"): never shown (Swift's clean_content_type).
  const ct = res.headers['content-type'];
  if (ct !== undefined) res.headers['content-type'] = cleanContentType(ct);
  return res;
}

async function putObject(ctx: ProxyContext, sreq: SwiftRequest): Promise<ProxyResponse> {
  const object = sreq.object as string;
  // Swift's object PUT: If-None-Match may only ask "does it exist at all".
  const ifNoneMatch = sreq.headers['if-none-match'];
  const create = ifNoneMatch !== undefined && parseEtagList(ifNoneMatch) === '*';
  if (ifNoneMatch !== undefined && !create) return respond(400, { 'Content-Type': 'text/plain' }, 'If-None-Match only supports *');
  const bad = checkObjectCreation(sreq.headers, object, ctx.config.max_file_size);
  if (bad) return rejection(bad);
  const notReady = await writeTargetReady(ctx, sreq);
  if (notReady) return respond(notReady.status, {}, notReady.body);

  const ts = sreq.stamp();
  const deleteAt = deleteAtHeader(sreq.headers, ts.seconds);
  if (deleteAt.error) return respond(400, { 'Content-Type': 'text/plain' }, deleteAt.error);
  const meta = forwardedMetadata(sreq.headers, 'object');
  if (!meta['content-type'] || (sreq.headers['x-detect-content-type'] ?? '').toLowerCase() === 'true') {
    meta['content-type'] = guessContentType(object);
  }
  if (deleteAt.value) meta['x-delete-at'] = deleteAt.value;
  const te = (sreq.headers['transfer-encoding'] ?? '').toLowerCase();
  const store: StoreRequest = {
    ts,
    meta,
    body: sreq.body,
    contentLength: te === 'chunked' ? undefined : Number(sreq.headers['content-length']),
    create,
  };
  if (sreq.headers['etag'] !== undefined) store.etag = sreq.headers['etag'].replace(/"/g, '');
  return storeObject(ctx, sreq, store);
}

/** Whether the destination of a write can take it: undefined when its container exists, else the answer. */
export async function writeTargetReady(ctx: ProxyContext, sreq: SwiftRequest): Promise<{ status: number; body?: string } | undefined> {
  // Swift writes only into a container its lookup found: any other answer is a 404.
  return (await containerFound(ctx, sreq)) ? undefined : { status: 404 };
}

/** What storeObject writes: checked metadata (X-Delete-At already normalized) and a body of known or chunked length. */
export interface StoreRequest {
  ts: Timestamp;
  meta: Record<string, string>;
  body: Readable;
  /** undefined: chunked. */
  contentLength: number | undefined;
  /** The ETag the body must have (the client's, or a copied object's). */
  etag?: string;
  /** If-None-Match: * (object-put.ts PutPlacement.create). */
  create: boolean;
  /** Headers for a 201 besides ETag and Last-Modified. */
  extraReply?: Record<string, string>;
}

/** The object PUT's fan-out to the replicas and its answer (a plain PUT's or a copy's). */
export async function storeObject(ctx: ProxyContext, sreq: SwiftRequest, s: StoreRequest): Promise<ProxyResponse> {
  const account = sreq.account;
  const container = sreq.container as string;
  const headers: Record<string, string> = { ...baseBackendHeaders(sreq, s.ts), ...s.meta };
  if (s.contentLength === undefined) headers['transfer-encoding'] = 'chunked';
  else headers['content-length'] = String(s.contentLength);
  if (s.etag !== undefined) headers['etag'] = s.etag;
  if (s.create) headers['if-none-match'] = '*';

  const target = await objectTarget(ctx, sreq, account, container, sreq.object as string);
  if ('status' in target) {
    s.body.resume();
    return respond(target.status);
  }
  const { ring, part, pathFor } = target;
  const nodes = ring.primaries(part);
  const targets = withQueueTargets(ctx, objectUpdateTargets(ctx.rings, account, container, nodes), nodes.length, s.meta['x-delete-at'], account, container, sreq.object as string);
  // A body of unknown length is bounded by what a stage allows (the quotas' room), as a known one is checked before.
  const limit = s.contentLength === undefined ? sreq.bodyLimit : undefined;
  const bounded = limit && limit.bytes < ctx.config.max_file_size ? { maxBytes: limit.bytes } : {};
  try {
    const outcome = await putToReplicas(
      ctx,
      { ring, part, pathFor, headersFor: (i) => ({ ...headers, ...target.policyHeader, ...targets(i) }), create: s.create, ...bounded },
      s.body,
      s.contentLength,
    );
    // Swift: a node holding newer data (409) means this write is already superseded: 202.
    if (outcome.statuses.some((x) => x.status === 409)) return respond(202, { 'Content-Type': 'text/html; charset=UTF-8' }, defaultBody(202));
    if (outcome.status === 201) {
      return respond(
        201,
        { ETag: outcome.etag ?? '', 'Last-Modified': s.ts.httpDate, 'Content-Type': 'text/html; charset=UTF-8', ...s.extraReply },
        '',
      );
    }
    return respond(outcome.status);
  } catch (err) {
    if (!(err instanceof PutError)) throw err;
    // The rest of the body is never read: the connection closes after the answer.
    if (err.kind === 'too-large') return respond(413, { Connection: 'close' }, 'maxBytes' in bounded ? limit?.body : undefined);
    sreq.log.info({ kind: err.kind }, 'object PUT aborted by the client');
    return respond(err.kind === 'client-timeout' ? 408 : 499, { Connection: 'close' });
  }
}

async function postObject(ctx: ProxyContext, sreq: SwiftRequest): Promise<ProxyResponse> {
  const bad = checkMetadata(sreq.headers, 'object');
  if (bad) return rejection(bad);
  if (!(await containerFound(ctx, sreq))) return respond(404);
  const ts = sreq.stamp();
  const deleteAt = deleteAtHeader(sreq.headers, ts.seconds);
  if (deleteAt.error) return respond(400, { 'Content-Type': 'text/plain' }, deleteAt.error);
  const meta = forwardedMetadata(sreq.headers, 'object');
  if (deleteAt.value) meta['x-delete-at'] = deleteAt.value;
  const target = await objectTarget(ctx, sreq, sreq.account, sreq.container as string, sreq.object as string);
  if ('status' in target) return respond(target.status);
  const { ring, part, pathFor } = target;
  // Each replica updates one container replica, as for a PUT: a POST changes the listing's row.
  const nodes = ring.primaries(part);
  const targets = withQueueTargets(
    ctx,
    objectUpdateTargets(ctx.rings, sreq.account, sreq.container as string, nodes),
    nodes.length,
    meta['x-delete-at'],
    sreq.account,
    sreq.container as string,
    sreq.object as string,
  );
  const result = await makeRequests(ctx, ring, part, 'POST', pathFor, { ...baseBackendHeaders(sreq, ts), ...meta, ...target.policyHeader }, targets);
  const answer = answerWrite(sreq, result);
  // The object's sysmeta, as the nodes return it, tells the symlink stage it was a symlink.
  if (result.status === 202 && result.chosen) {
    for (const [k, v] of Object.entries(result.chosen.headers)) if (k.toLowerCase().startsWith('x-object-sysmeta-')) answer.headers[k] = v;
  }
  return answer;
}

/**
 * A version with an X-Delete-At also tells the replicas of its queue container in
 * `.expiring_objects` (Swift's _config_obj_expiration and _backend_requests): each queue replica is
 * named by at least one of the object's `objectReplicas` replicas (several, comma-separated, by one
 * when the object has fewer replicas than the queue container).
 */
function withQueueTargets(
  ctx: ProxyContext,
  targets: (i: number) => Record<string, string>,
  objectReplicas: number,
  deleteAt: string | undefined,
  account: string,
  container: string,
  obj: string,
): (i: number) => Record<string, string> {
  if (deleteAt === undefined || !/^\d+$/.test(deleteAt)) return targets;
  const secret = { prefix: ctx.config.swift_hash_path_prefix, suffix: ctx.config.swift_hash_path_suffix };
  const queue = deleteAtUpdateTargets(ctx.rings, secret, ctx.config.expiring_objects_container_divisor, Number(deleteAt), account, container, obj, objectReplicas);
  return (i) => ({ ...targets(i), ...queue(i) });
}

async function deleteObject(ctx: ProxyContext, sreq: SwiftRequest): Promise<ProxyResponse> {
  if (!(await containerFound(ctx, sreq))) return respond(404);
  const target = await objectTarget(ctx, sreq, sreq.account, sreq.container as string, sreq.object as string);
  if ('status' in target) return respond(target.status);
  const { ring, part, pathFor } = target;
  const targets = objectUpdateTargets(ctx.rings, sreq.account, sreq.container as string, ring.primaries(part));
  const headers = { ...baseBackendHeaders(sreq, sreq.stamp()), ...target.policyHeader };
  // Each object server checks it against the X-Delete-At it holds (Swift's expirer sends it too).
  const ifDeleteAt = sreq.headers['x-if-delete-at'];
  if (ifDeleteAt !== undefined) headers['x-if-delete-at'] = ifDeleteAt;
  // Swift's _delete_object overrides: without a quorum, a replica's 404 counts as deleted (204).
  return answerWrite(sreq, await makeRequests(ctx, ring, part, 'DELETE', pathFor, headers, targets, { overrides: { 404: 204 } }));
}

/** Swift writes an object only into a container its lookup found (any other answer: 404). */
async function containerFound(ctx: ProxyContext, sreq: SwiftRequest): Promise<boolean> {
  const info = await containerInfo(ctx, sreq, sreq.account, sreq.container as string);
  return info.status >= 200 && info.status < 300;
}

