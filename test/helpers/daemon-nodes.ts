import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { signingDispatcher, TEST_BACKEND_KEY } from './signing.js';
import { backendClientOver } from '../../common/http-client.js';
import { parseConfig } from '../../common/config.js';
import { backendPath } from '../../common/backend-path.js';
import { silentLogger } from '../../common/log.js';
import { Timestamp } from '../../common/timestamp.js';
import type { StoragePolicies } from '../../common/storage-policy.js';
import { createClusterRings } from '../../ring-builder/bootstrap.js';
import { Ring } from '../../ring-builder/ring.js';
import type { DaemonContext, DaemonRings } from '../../replicator/context.js';
import { storageNodeSpec } from '../../storage-node/config.js';
import { createDbServers, type DbServers } from '../../storage-node/db/index.js';
import { createAccountUpdateRetryHandler } from '../../storage-node/db/updater-endpoint.js';
import { createObjectServer } from '../../storage-node/object/object-server.js';
import { createStorageNodeHttpServer } from '../../storage-node/server.js';
import type { StorageNodeContext } from '../../storage-node/types.js';
import { SECRET, testNodeContext } from './node-context.js';

/**
 * In-process storage nodes for daemon tests (updater, auditor, expirer): each node has one device
 * in its own temp root, object + container + account servers and the account-update retry
 * endpoint, on 127.0.0.1. Time is a shared fake clock (`time.ms`) so expiry needs no waiting.
 */
export { SECRET };

export interface FakeTime {
  ms: number;
}

type Teardown = { teardown(fn: () => unknown): void };

export interface TestNode {
  device: string;
  root: string;
  devicePath: string;
  port: number;
  ctx: StorageNodeContext;
  dbs: DbServers;
  /** Listens on `port` (again). */
  start(): Promise<void>;
  /** Stops listening; the databases stay open. */
  stop(): Promise<void>;
  url(partition: number, account: string, container?: string, obj?: string): string;
}

/** A port nobody listens on right now (for a server that is "down" until started). */
export async function reservePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

export async function startNode(t: Teardown, opts: { device: string; time: FakeTime; port?: number; listen?: boolean; policies?: StoragePolicies }): Promise<TestNode> {
  const ctx = await testNodeContext('swiftlet-daemon-', opts.device, { clock: () => opts.time.ms, ...(opts.policies ? { policies: opts.policies } : {}) });
  const root = ctx.devicesRoot;
  const devicePath = join(root, opts.device);
  const object = createObjectServer(ctx);
  const dbs = createDbServers(ctx, { accountUpdateDelayMs: 5 });
  const server: Server = createStorageNodeHttpServer(ctx, {
    object,
    container: dbs.container,
    account: dbs.account,
    objectRow: dbs.objectRow,
    containerRow: dbs.containerRow,
    extra: createAccountUpdateRetryHandler(dbs, root),
  });
  let port = opts.port ?? 0;
  const node: TestNode = {
    device: opts.device,
    root,
    devicePath,
    get port() {
      return port;
    },
    ctx,
    dbs,
    async start() {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, '127.0.0.1', () => resolve());
      });
      port = (server.address() as AddressInfo).port;
    },
    async stop() {
      const closed = new Promise((r) => server.close(r));
      server.closeAllConnections();
      await closed;
    },
    url: (partition, account, container, obj) => `http://127.0.0.1:${port}${backendPath(opts.device, partition, account, container, obj)}`,
  };
  t.teardown(async () => {
    if (server.listening) await node.stop();
    await object.close();
    await dbs.close();
    await ctx.backend.close();
    await rm(root, { recursive: true, force: true });
  });
  if (opts.listen !== false) await node.start();
  return node;
}

/** Account, container and object rings over the nodes' devices (one zone each), read back as Rings. */
export async function makeRings(t: Teardown, nodes: Array<{ port: number; device: string }>, replicas: number): Promise<DaemonRings> {
  const dir = await mkdtemp(join(tmpdir(), 'swiftlet-rings-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const devices = nodes.map((n, i) => ({ region: 1, zone: i + 1, ip: '127.0.0.1', port: n.port, device: n.device, weight: 100 }));
  const files = createClusterRings(dir, devices, { partPower: 4, replicas, minPartHours: 0, seed: 7, now: 0 });
  const account = Ring.loadSync(files.account, SECRET);
  const container = Ring.loadSync(files.container, SECRET);
  const object = Ring.loadSync(files.object, SECRET);
  return { account: () => account, container: () => container, object: () => object };
}

/** The DaemonContext of the daemons running beside `node` (with the node's storage policies). */
export function daemonContext(t: Teardown, node: TestNode, rings: DaemonRings, time: FakeTime, config: Record<string, unknown> = {}): DaemonContext {
  const agent = signingDispatcher();
  t.teardown(() => agent.close());
  return {
    config: parseConfig(storageNodeSpec, {
      swift_hash_path_prefix: SECRET.prefix,
      swift_hash_path_suffix: SECRET.suffix,
      bind_ip: '127.0.0.1',
      bind_port: node.port,
      devices: node.root,
      fsync: false,
      node_timeout_ms: 2000,
      ...config,
    }),
    devicesRoot: node.root,
    secret: SECRET,
    rings,
    ...(node.ctx.policies ? { policies: node.ctx.policies } : {}),
    backend: backendClientOver(agent, TEST_BACKEND_KEY),
    log: silentLogger,
    clock: () => time.ms,
    fsync: false,
  };
}

const client = signingDispatcher();
/** Call once per test file, from its top level. */
export function closeClientAfter(t: Teardown): void {
  t.teardown(() => client.close());
}

export async function call(method: string, url: string, headers: Record<string, string> = {}, body?: string | Buffer) {
  const res = await request(url, { method: method as 'GET', headers, body, dispatcher: client });
  const buf = Buffer.from(await res.body.arrayBuffer());
  return { status: res.statusCode, headers: res.headers, body: buf };
}

/** Strictly increasing timestamps near the fake clock. */
export function stamper(time: FakeTime): () => Timestamp {
  let last = 0;
  return () => {
    const ticks = Math.max(Math.round(time.ms * 100), last + 1);
    last = ticks;
    return new Timestamp(ticks);
  };
}

/** JSON listing of a container on one node: the object names. */
export async function listing(url: string): Promise<string[]> {
  const r = await call('GET', `${url}?format=json`);
  if (r.status === 204) return [];
  if (r.status !== 200) throw new Error(`listing ${url}: ${r.status}`);
  return (JSON.parse(r.body.toString()) as Array<{ name: string }>).map((x) => x.name);
}
