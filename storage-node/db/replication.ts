import type { IncomingMessage, ServerResponse } from 'node:http';
import { isSwiftletError, statusForCode, SwiftletError } from '../../common/errors.js';
import type { ReplicateHandler, ReplicateRequest } from '../server.js';
import type { StorageNodeContext } from '../types.js';
import { validName } from './keys.js';
import { inProcessReplicaClient, type DbReplicaClient, type ReplicaNode } from './replication-client.js';
import { replicaSchemas } from './replica-schemas.js';
import {
  DBS_PER_PAGE,
  MAX_BODY_BYTES,
  parseDbState,
  parseMergeRequest,
  parseRemoveGuard,
  parseTimestampParam,
  ROWS_PER_BATCH,
  type DbKind,
  type DbRef,
} from './replication-wire.js';
import type { DevicePool } from './store.js';

/**
 * The storage node's side of container/account db replication: requests with
 * `X-Backend-Replicate: container|account` (the router sends them here after the device check).
 * One verb per `op` query parameter; JSON in and out. The protocol is in docs/BACKEND.md
 * ("Database replication"); the verbs themselves are replica-ops.ts.
 *
 *   GET  /<dev>?op=list[&after=<json names>][&limit=N]     the device's databases
 *   GET  /<dev>/<part>/<a>[/<c>]?op=info                    one database's state
 *   POST /<dev>/<part>/<a>[/<c>]?op=sync      SyncRequest   merge the record, answer state + sync point
 *   GET  /<dev>/<part>/<a>[/<c>]?op=rows&since=S&limit=N    rows changed after S
 *   POST /<dev>/<part>/<a>[/<c>]?op=merge     MergeRequest  merge rows, raise the sender's sync point
 *   POST /<dev>/<part>/<a>[/<c>]?op=remove    RemoveGuard   204 removed, 409 changed since
 *   POST /<dev>/<part>/<a>[/<c>]?op=reclaim&before=<ts>     drop deleted rows / the database
 */
export function createDbReplicationHandlers(ctx: StorageNodeContext, pool: DevicePool): { container: ReplicateHandler; account: ReplicateHandler } {
  const local = inProcessReplicaClient(pool, ctx.devicesRoot);
  const handler =
    (kind: DbKind): ReplicateHandler =>
    async (r) => {
      try {
        await handle(local, kind, r);
      } catch (err) {
        r.req.resume();
        const status = isSwiftletError(err) ? statusForCode(err.code) : 500;
        if (status >= 500) ctx.log.error({ err, kind, device: r.device, rest: r.rest }, 'db replication request failed');
        sendJson(r.res, status, { error: err instanceof Error ? err.message : String(err) });
      }
    };
  return { container: handler('container'), account: handler('account') };
}

async function handle(local: DbReplicaClient, kind: DbKind, r: ReplicateRequest): Promise<void> {
  const op = r.query.get('op') ?? '';
  const node: ReplicaNode = { host: '', device: r.device };
  if (r.rest.length === 0) {
    if (op !== 'list' || r.method !== 'GET') return methodNotAllowed(r);
    r.req.resume();
    const after = r.query.get('after');
    return sendJson(r.res, 200, await local.list(kind, node, after ? refFrom(kind, parseNames(after)) : undefined, limitParam(r, DBS_PER_PAGE)));
  }
  const [partStr = '', ...names] = r.rest;
  if (!/^\d+$/.test(partStr)) throw new SwiftletError('BAD_REQUEST', 'bad partition');
  const part = Number(partStr);
  const ref = refFrom(kind, names);
  const expect = (method: string) => r.method === method;
  switch (op) {
    case 'info':
      if (!expect('GET')) return methodNotAllowed(r);
      r.req.resume();
      return sendJson(r.res, 200, await local.info(kind, node, part, ref));
    case 'sync':
      if (!expect('POST')) return methodNotAllowed(r);
      return sendJson(r.res, 200, await local.sync(kind, node, part, ref, parseDbState(await readJson(r.req))));
    case 'rows': {
      if (!expect('GET')) return methodNotAllowed(r);
      r.req.resume();
      const since = Number(r.query.get('since') ?? '0');
      if (!Number.isSafeInteger(since) || since < 0) throw new SwiftletError('BAD_REQUEST', 'bad since');
      return sendJson(r.res, 200, await local.rows(kind, node, part, ref, since, limitParam(r, ROWS_PER_BATCH)));
    }
    case 'merge': {
      if (!expect('POST')) return methodNotAllowed(r);
      const req = parseMergeRequest(await readJson(r.req), replicaSchemas[kind].parseRow);
      return sendJson(r.res, 200, await local.merge(kind, node, part, ref, req));
    }
    case 'remove': {
      if (!expect('POST')) return methodNotAllowed(r);
      const removed = await local.remove(kind, node, part, ref, parseRemoveGuard(await readJson(r.req)));
      return removed ? sendJson(r.res, 204, undefined) : sendJson(r.res, 409, { error: 'changed since the guard was taken' });
    }
    case 'reclaim': {
      if (!expect('POST')) return methodNotAllowed(r);
      r.req.resume();
      const before = parseTimestampParam(r.query.get('before'), 'before');
      return sendJson(r.res, 200, await local.reclaim(kind, node, part, ref, before));
    }
    default:
      r.req.resume();
      throw new SwiftletError('BAD_REQUEST', `unknown op ${JSON.stringify(op)}`);
  }
}

/** [a, c] for a container, [a] for an account; names as the object servers take them. */
function refFrom(kind: DbKind, names: string[]): DbRef {
  const want = kind === 'container' ? 2 : 1;
  if (names.length !== want || !names.every(validName)) throw new SwiftletError('BAD_REQUEST', `bad ${kind} path`);
  return replicaSchemas[kind].ref(names);
}

function parseNames(s: string): string[] {
  let v: unknown;
  try {
    v = JSON.parse(s);
  } catch {
    throw new SwiftletError('BAD_REQUEST', 'bad after');
  }
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw new SwiftletError('BAD_REQUEST', 'bad after');
  return v as string[];
}

function limitParam(r: ReplicateRequest, max: number): number {
  const raw = r.query.get('limit');
  if (raw === null) return max;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new SwiftletError('BAD_REQUEST', 'bad limit');
  return Math.min(Number(raw), max);
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new SwiftletError('TOO_LARGE', 'replication body too large');
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    throw new SwiftletError('BAD_REQUEST', 'body is not JSON');
  }
}

function methodNotAllowed(r: ReplicateRequest): void {
  r.req.resume();
  sendJson(r.res, 405, { error: `${r.method} not allowed here` });
}

function sendJson(res: ServerResponse, status: number, v: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (status === 204) {
    res.writeHead(204);
    res.end();
    return;
  }
  const body = Buffer.from(JSON.stringify(v));
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': String(body.length) });
  res.end(body);
}
