import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { statfs, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isSwiftletError, statusForCode } from '../common/errors.js';
import { H } from '../common/headers.js';
import { BACKEND_MAX_HEADER_BYTES } from '../common/http-client.js';
import { loadReports, type PassReport } from '../common/pass-report.js';
import type { Socket } from 'node:net';
import { RAW_BODY_METHOD } from '../common/raw-body.js';
import { BACKEND_SIGNATURE_HEADER, verifyBackendRequest } from '../common/backend-auth.js';
import { splitCanonicalPath } from '../common/backend-path.js';
import { isDeviceDir, validDeviceName } from './devices.js';
import { memoryReport } from './memory-report.js';
import { quarantineDirOf } from './object/layout.js';
import { SINGLE_POLICY, type StoragePolicies } from '../common/storage-policy.js';
import { RawBodyConnection } from './object/raw-receiver.js';
import type { BackendRequest, BackendServer, StorageNodeContext } from './types.js';

/**
 * The storage node's HTTP front: parses /<device>/<partition>/<account>[/<container>[/<object>]],
 * checks the device, and hands the request to the account, container or object server.
 * Routing rules are in docs/BACKEND.md.
 */
export interface StorageNodeServers {
  object: BackendServer;
  container: BackendServer;
  account: BackendServer;
  /** Object rows on the container server (5+ segments from an object server or the updater). */
  objectRow: BackendServer;
  /** Container rows on the account server (4 segments from a container server). */
  containerRow: BackendServer;
  /** Extra routes such as status, tried before the path is parsed. */
  extra?: (req: IncomingMessage, res: ServerResponse) => Promise<boolean>;
  /**
   * Replication traffic between storage nodes: any request carrying `X-Backend-Replicate:
   * object|container|account` (REPLICATE calls and the pushes that follow) goes to the matching
   * handler, after the device check.
   */
  replicate?: Partial<Record<ReplicateKind, ReplicateHandler>>;
  /** LevelDB's memory per open device database, for `GET /recon/memory`. */
  levelDbMemory?: () => Promise<Record<string, number>>;
}

export type ReplicateKind = 'object' | 'container' | 'account';

export interface ReplicateRequest {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  device: string;
  devicePath: string;
  /** Path segments after the device, percent-decoded (e.g. [partition, suffixes] or [partition, a, c, o]). */
  rest: string[];
  query: URLSearchParams;
}

export type ReplicateHandler = (r: ReplicateRequest) => Promise<void>;

export interface ParsedBackendPath {
  device: string;
  partition: number;
  account: string;
  container?: string;
  object?: string;
}

/**
 * Splits a backend path; undefined when it is not exactly one. The path must be in the canonical
 * form the senders build (common/backend-path.ts): a name spelled any other way (a raw "..",
 * "%2e", a "%2F", a partition with a leading zero) is refused rather than read as another name.
 */
export function parseBackendPath(rawPath: string): ParsedBackendPath | undefined {
  const segs = splitCanonicalPath(rawPath);
  // [dev, part, account, container?, ...object]
  if (!segs || segs.length < 3) return undefined;
  const [device, partStr, account] = segs as [string, string, string];
  if (!validDeviceName(device) || !account) return undefined;
  if (!/^(0|[1-9]\d{0,9})$/.test(partStr)) return undefined;
  const out: ParsedBackendPath = { device, partition: Number(partStr), account };
  if (segs.length >= 4) {
    out.container = segs[3];
    if (!out.container) return undefined;
  }
  if (segs.length >= 5) {
    // The object name keeps its slashes (and empty pieces between them).
    out.object = segs.slice(4).join('/');
    if (out.object === '') return undefined;
  }
  return out;
}

export function sendStatus(res: ServerResponse, status: number, body = '', headers: Record<string, string> = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const buf = Buffer.from(body);
  res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(buf.length), ...headers });
  res.end(buf);
}

/**
 * Free space per device, refreshed at most every 500 ms: an object PUT that cannot fit is refused
 * with 507 before its body is sent (Expect: 100-continue), so the proxy picks a handoff instead.
 */
class SpaceCache {
  private readonly seen = new Map<string, { at: number; avail: number }>();
  constructor(private readonly reserveBytes: number) {}

  async hasRoom(devicePath: string, length: number): Promise<boolean> {
    const need = length + this.reserveBytes;
    const hit = this.seen.get(devicePath);
    const now = Date.now();
    if (hit && now - hit.at < 500 && hit.avail > need * 4) return true;
    try {
      const s = await statfs(devicePath);
      const avail = s.bavail * s.bsize;
      this.seen.set(devicePath, { at: now, avail });
      return avail >= need;
    } catch {
      return true; // cannot tell: let the write find out
    }
  }
}

/**
 * The device check made on every request. A stat of the device folder, synchronously: its inode is
 * always cached, so the call takes a microsecond or two, where a threadpool round trip costs far
 * more; and the answer is never stale (a device removed a moment ago answers 507 at once).
 */
const IN_FLIGHT = new WeakMap<Server, Set<Promise<void>>>();

/**
 * Waits (at most `maxMs`) for the requests the server is still handling: closing its sockets does
 * not stop a handler mid-way, and the databases must stay open until it is done (a shutdown
 * otherwise logs "Database is not open" for a replication request that was in flight).
 */
export async function requestsSettled(server: Server, maxMs: number): Promise<void> {
  const pending = [...(IN_FLIGHT.get(server) ?? [])];
  if (pending.length === 0) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.allSettled(pending), new Promise<void>((r) => (timer = setTimeout(r, maxMs)))]);
  clearTimeout(timer);
}

export function createStorageNodeHttpServer(ctx: StorageNodeContext, servers: StorageNodeServers, opts: { reserveBytes?: number } = {}): Server {
  const space = new SpaceCache(opts.reserveBytes ?? 0);
  const inFlight = new Set<Promise<void>>();
  const handle = (req: IncomingMessage, res: ServerResponse, expectsContinue: boolean, raw?: RawBodyConnection): void => {
    const p = route(ctx, servers, space, req, res, expectsContinue, raw)
      .catch((err: unknown) => {
        ctx.log.error({ err, url: req.url, method: req.method }, 'unhandled storage-node error');
        if (isSwiftletError(err)) sendStatus(res, statusForCode(err.code), err.message);
        else sendStatus(res, 500, 'Internal Server Error');
      })
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  };
  // maxHeaderSize: a proxy request may carry every header a legal object or container holds (common/http-client.ts).
  const server: Server = createServer({ keepAliveTimeout: 65_000, requestTimeout: 0, headersTimeout: 60_000, maxHeaderSize: BACKEND_MAX_HEADER_BYTES }, (req, res) => handle(req, res, false));
  // Expect: 100-continue (the proxy's object PUTs): say "continue" only once the device is known
  // good, so a 507 arrives before the body and the proxy can pick a handoff instead.
  IN_FLIGHT.set(server, inFlight);
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => handle(req, res, true));
  // The proxy's large object PUTs ask to send their body raw (common/raw-body.ts): nothing else upgrades.
  server.on('upgrade', (req: IncomingMessage, socket: Socket, head: Buffer) => {
    if (!signedBy(ctx, req)) {
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const parsed = parseBackendPath((req.url ?? '/').split('?')[0] ?? '/');
    const plainObjectPut = req.method === RAW_BODY_METHOD && parsed?.object !== undefined && req.headers['x-backend-source'] === undefined && req.headers['x-backend-replicate'] === undefined;
    const raw = plainObjectPut ? RawBodyConnection.accept(req, socket, head) : undefined;
    if (!raw) {
      socket.on('error', () => undefined);
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    req.method = 'PUT'; // from here on it is an object PUT whose body comes raw
    handle(req, raw.res, false, raw);
  });
  return server;
}

async function route(
  ctx: StorageNodeContext,
  servers: StorageNodeServers,
  space: SpaceCache,
  req: IncomingMessage,
  res: ServerResponse,
  expectsContinue: boolean,
  raw?: RawBodyConnection,
): Promise<void> {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const rawPath = q === -1 ? url : url.slice(0, q);
  const query = new URLSearchParams(q === -1 ? '' : url.slice(q + 1));
  const method = (req.method ?? 'GET').toUpperCase();

  // Open to anyone who can reach the node: the health check and read-only status (no tenant data).
  if (rawPath === '/healthcheck') return sendStatus(res, 200, 'OK');
  if (rawPath === '/recon/devices' && method === 'GET') return sendJson(res, await deviceReport(ctx.devicesRoot));
  if (rawPath === '/recon/status' && method === 'GET') return sendJson(res, await nodeStatus(ctx.devicesRoot, ctx.policies ?? SINGLE_POLICY));
  if (rawPath === '/recon/memory' && method === 'GET') return sendJson(res, await memoryReport(servers.levelDbMemory ?? (async () => ({}))));
  // Everything else must be signed over this exact method, path and query (a raw body's upgrade was checked before it was accepted).
  if (!raw && !signedBy(ctx, req)) {
    req.resume();
    return sendStatus(res, 401, 'Unauthorized', { Connection: 'close' });
  }
  if (servers.extra && (await servers.extra(req, res))) return;

  const replicateKind = req.headers['x-backend-replicate'];
  if (typeof replicateKind === 'string') return routeReplication(servers, req, res, rawPath, query, method, replicateKind, ctx, expectsContinue);

  const parsed = parseBackendPath(rawPath);
  if (!parsed) {
    req.resume();
    return sendStatus(res, 400, 'Invalid path');
  }
  const devicePath = join(ctx.devicesRoot, parsed.device);
  if (!isDeviceDir(devicePath)) {
    req.resume();
    return sendStatus(res, 507, `${parsed.device} is not mounted`);
  }
  if (method === 'PUT' && parsed.object !== undefined && req.headers['x-backend-source'] !== 'object-server') {
    const length = Number(req.headers[H.objContentLength] ?? req.headers['content-length'] ?? 0);
    if (!(await space.hasRoom(devicePath, length))) {
      req.resume();
      return sendStatus(res, 507, `not enough space on ${parsed.device}`);
    }
  }
  // An object PUT says "continue" itself, once its own checks passed (as a raw body's 101 comes
  // from it); everything else here reads its body at once.
  const source = req.headers['x-backend-source'];
  const objectPut = method === 'PUT' && parsed.object !== undefined && source !== 'object-server';
  if (expectsContinue && !objectPut) res.writeContinue();
  const transId = req.headers['x-trans-id'];
  const r: BackendRequest = {
    req,
    res,
    method,
    device: parsed.device,
    devicePath,
    partition: parsed.partition,
    account: parsed.account,
    query,
    log: typeof transId === 'string' ? ctx.log.child({ txn: transId }) : ctx.log,
  };
  if (parsed.container !== undefined) r.container = parsed.container;
  if (parsed.object !== undefined) r.object = parsed.object;
  if (raw) r.raw = raw;
  if (expectsContinue && objectPut) {
    let said = false;
    r.sendContinue = () => {
      if (said || res.headersSent) return;
      said = true;
      res.writeContinue();
    };
  }
  let target: BackendServer;
  if (parsed.object !== undefined) target = source === 'object-server' ? servers.objectRow : servers.object;
  else if (parsed.container !== undefined) target = source === 'container-server' ? servers.containerRow : servers.container;
  else target = servers.account;
  try {
    await target.handle(r);
  } catch (err) {
    if (isSwiftletError(err)) {
      const status = statusForCode(err.code);
      if (status >= 500) r.log.error({ err }, 'backend request failed');
      sendStatus(res, status, err.message);
    } else {
      throw err;
    }
  }
}

async function routeReplication(
  servers: StorageNodeServers,
  req: IncomingMessage,
  res: ServerResponse,
  rawPath: string,
  query: URLSearchParams,
  method: string,
  kind: string,
  ctx: StorageNodeContext,
  expectsContinue: boolean,
): Promise<void> {
  const handler = servers.replicate?.[kind as ReplicateKind];
  const segs = splitCanonicalPath(rawPath) ?? [];
  const device = segs[0];
  if (!handler || !device || !validDeviceName(device)) {
    req.resume();
    return sendStatus(res, handler ? 400 : 501, handler ? 'Invalid path' : `no ${kind} replication here`);
  }
  const devicePath = join(ctx.devicesRoot, device);
  if (!isDeviceDir(devicePath)) {
    req.resume();
    return sendStatus(res, 507, `${device} is not mounted`);
  }
  if (expectsContinue) res.writeContinue();
  await handler({ req, res, method, device, devicePath, rest: segs.slice(1), query });
}

/** Whether the request carries a good signature of the cluster's backend key; logs why not. */
function signedBy(ctx: StorageNodeContext, req: IncomingMessage): boolean {
  const check = verifyBackendRequest(ctx.backendKey, req.method ?? '', req.url ?? '', req.headers[BACKEND_SIGNATURE_HEADER], Date.now());
  if (check === 'ok') return true;
  ctx.log.warn({ method: req.method, url: req.url, from: req.socket.remoteAddress, why: check }, 'refused an unsigned or badly signed backend request');
  return false;
}

function sendJson(res: ServerResponse, v: unknown): void {
  const body = JSON.stringify(v);
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });
  res.end(body);
}

/** What `swiftlet status` sums up: the daemons' last passes and what waits on this node's disks. */
async function nodeStatus(root: string, policies: StoragePolicies): Promise<{ reports: PassReport[]; devices: Array<{ device: string; asyncPendings: number; quarantined: number }> }> {
  const devices: Array<{ device: string; asyncPendings: number; quarantined: number }> = [];
  for (const d of await deviceReport(root)) {
    if (!d.mounted) continue;
    let quarantined = 0;
    for (const p of policies.all()) quarantined += await countFiles(quarantineDirOf(join(root, d.device), p.index), 1);
    devices.push({
      device: d.device,
      asyncPendings: await countFiles(join(root, d.device, 'async_pending'), 2),
      quarantined,
    });
  }
  return { reports: await loadReports(root), devices };
}

/** Entries `depth` levels below dir (async_pending/<suffix>/<file>: depth 2). */
async function countFiles(dir: string, depth: number): Promise<number> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return 0;
  }
  if (depth <= 1) return names.length;
  let n = 0;
  for (const name of names) n += await countFiles(join(dir, name), depth - 1);
  return n;
}

async function deviceReport(root: string): Promise<Array<{ device: string; mounted: boolean; size?: number; avail?: number }>> {
  const out: Array<{ device: string; mounted: boolean; size?: number; avail?: number }> = [];
  let names: string[] = [];
  try {
    names = await readdir(root);
  } catch {
    return out;
  }
  for (const device of names.sort()) {
    if (device.startsWith('.')) continue;
    const p = join(root, device);
    if (!isDeviceDir(p)) continue;
    try {
      const s = await statfs(p);
      out.push({ device, mounted: true, size: s.blocks * s.bsize, avail: s.bavail * s.bsize });
    } catch {
      out.push({ device, mounted: false });
    }
  }
  return out;
}
