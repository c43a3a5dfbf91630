import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import { SwiftletError, type ErrorCode } from '../../common/errors.js';
import { backendPath, nodePath, withQuery, type BackendPath } from '../../common/backend-path.js';
import { discardBody, originOf, type BackendClient } from '../../common/http-client.js';
import { dbInfo, listDbs, mergePushed, reclaimDb, removeDb, rowsSince, syncDb } from './replica-ops.js';
import { replicaSchemas } from './replica-schemas.js';
import type {
  DbKind,
  DbRef,
  DbSummary,
  MergeRequest,
  MergeResponse,
  ReclaimResult,
  RemoveGuard,
  RowsPage,
  SyncRequest,
  SyncResponse,
} from './replication-wire.js';
import type { DevicePool } from './store.js';

/**
 * The db replication verbs as the replicator calls them, on any node: over HTTP
 * (`httpReplicaClient`, the wire protocol of docs/BACKEND.md), or straight on this process's
 * databases (`inProcessReplicaClient`, which the HTTP handlers use too).
 */

/** A device on some node: `host` is "ip:port". */
export interface ReplicaNode {
  host: string;
  device: string;
}

export interface DbReplicaClient {
  /** The databases of a device after `after` (key order), at most `limit`. */
  list(kind: DbKind, node: ReplicaNode, after: DbRef | undefined, limit: number): Promise<DbSummary[]>;
  info(kind: DbKind, node: ReplicaNode, partition: number, ref: DbRef): Promise<DbSummary>;
  sync(kind: DbKind, node: ReplicaNode, partition: number, ref: DbRef, req: SyncRequest): Promise<SyncResponse>;
  rows(kind: DbKind, node: ReplicaNode, partition: number, ref: DbRef, since: number, limit: number): Promise<RowsPage<unknown>>;
  merge(kind: DbKind, node: ReplicaNode, partition: number, ref: DbRef, req: MergeRequest<unknown>): Promise<MergeResponse>;
  /** True once the database is gone; false if it changed since the guard was taken. */
  remove(kind: DbKind, node: ReplicaNode, partition: number, ref: DbRef, guard: RemoveGuard): Promise<boolean>;
  reclaim(kind: DbKind, node: ReplicaNode, partition: number, ref: DbRef, before: string): Promise<ReclaimResult>;
}

/** Straight on this process's device databases (`devicesRoot/<device>/db`). */
export function inProcessReplicaClient(pool: DevicePool, devicesRoot: string): DbReplicaClient {
  const db = (node: ReplicaNode) => pool.get(join(devicesRoot, node.device));
  return {
    list: async (kind, node, after, limit) => listDbs(replicaSchemas[kind], await db(node), after, limit),
    info: async (kind, node, _p, ref) => dbInfo(replicaSchemas[kind], await db(node), ref),
    sync: async (kind, node, _p, ref, req) => syncDb(replicaSchemas[kind], await db(node), ref, req),
    rows: async (kind, node, _p, ref, since, limit) => rowsSince(replicaSchemas[kind], await db(node), ref, since, limit),
    merge: async (kind, node, _p, ref, req) => mergePushed(replicaSchemas[kind], await db(node), ref, req),
    remove: async (kind, node, _p, ref, guard) => removeDb(replicaSchemas[kind], await db(node), ref, guard),
    reclaim: async (kind, node, _p, ref, before) => reclaimDb(replicaSchemas[kind], await db(node), ref, before),
  };
}

const CODE_BY_STATUS: Record<number, ErrorCode> = { 400: 'BAD_REQUEST', 404: 'NOT_FOUND', 409: 'CONFLICT', 413: 'TOO_LARGE', 507: 'INSUFFICIENT_STORAGE' };

/** Over HTTP with `X-Backend-Replicate: <kind>`; a non-2xx answer is a SwiftletError with its status in details. */
export function httpReplicaClient(backend: BackendClient, opts: { timeoutMs: number }): DbReplicaClient {
  async function call<T>(kind: DbKind, node: ReplicaNode, path: BackendPath, query: Record<string, string>, body?: unknown): Promise<T | undefined> {
    const headers: Record<string, string> = { 'x-backend-replicate': kind };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Dispatcher.ResponseData | undefined;
    try {
      res = await backend.request(originOf(node.host), body === undefined ? 'GET' : 'POST', withQuery(path, query), {
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        headersTimeout: opts.timeoutMs,
        bodyTimeout: opts.timeoutMs,
      });
      if (res.statusCode === 204) return undefined;
      if (res.statusCode !== 200) {
        const text = (await res.body.text()).slice(0, 200);
        throw new SwiftletError(CODE_BY_STATUS[res.statusCode] ?? 'INTERNAL', `${query.op} ${node.host}/${node.device}: ${res.statusCode} ${text}`, {
          details: { status: res.statusCode },
        });
      }
      return (await res.body.json()) as T;
    } finally {
      await discardBody(res?.body);
    }
  }
  const path = (node: ReplicaNode, partition: number, ref: DbRef) => backendPath(node.device, partition, ref.account, ref.container);
  return {
    list: async (kind, node, after, limit) => {
      const q: Record<string, string> = { op: 'list', limit: String(limit) };
      if (after) q.after = JSON.stringify(replicaSchemas[kind].names(after));
      return (await call<DbSummary[]>(kind, node, nodePath(node.device), q)) ?? [];
    },
    info: async (kind, node, p, ref) => need(await call<DbSummary>(kind, node, path(node, p, ref), { op: 'info' })),
    sync: async (kind, node, p, ref, req) => need(await call<SyncResponse>(kind, node, path(node, p, ref), { op: 'sync' }, req)),
    rows: async (kind, node, p, ref, since, limit) =>
      need(await call<RowsPage<unknown>>(kind, node, path(node, p, ref), { op: 'rows', since: String(since), limit: String(limit) })),
    merge: async (kind, node, p, ref, req) => need(await call<MergeResponse>(kind, node, path(node, p, ref), { op: 'merge' }, req)),
    remove: async (kind, node, p, ref, guard) => {
      try {
        await call(kind, node, path(node, p, ref), { op: 'remove' }, guard);
        return true;
      } catch (err) {
        if (err instanceof SwiftletError && err.code === 'CONFLICT') return false;
        throw err;
      }
    },
    reclaim: async (kind, node, p, ref, before) => need(await call<ReclaimResult>(kind, node, path(node, p, ref), { op: 'reclaim', before }, {})),
  };
}

function need<T>(v: T | undefined): T {
  if (v === undefined) throw new SwiftletError('INTERNAL', 'empty replication answer');
  return v;
}
