import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { mkdir } from 'node:fs/promises';
import { requireHashSecret } from '../common/config.js';
import { SwiftletError } from '../common/errors.js';
import { systemClock } from '../common/clock.js';
import { backendKeyFrom } from '../common/backend-auth.js';
import { createBackendClient } from '../common/http-client.js';
import type { Logger } from '../common/log.js';
import { startMallocTrim } from '../common/malloc-trim.js';
import { parseStoragePolicies } from '../common/storage-policy.js';
import type { StorageNodeConfig } from './config.js';
import { createDbServers } from './db/index.js';
import { createAccountUpdateRetryHandler } from './db/updater-endpoint.js';
import { createDbReplicationHandlers } from './db/replication.js';
import { createObjectServer } from './object/object-server.js';
import { createObjectReplicationHandler } from './object/replication.js';
import { localContainerUpdater } from './local-update.js';
import { createStorageNodeHttpServer, requestsSettled } from './server.js';
import { createTmpSweeper } from './tmp-sweeper.js';
import type { StorageNodeContext } from './types.js';

export interface RunningStorageNode {
  server: Server;
  port: number;
  close(): Promise<void>;
}

/** Starts one storage node: object, container and account servers on one port. */
export async function startStorageNode(config: StorageNodeConfig, log: Logger): Promise<RunningStorageNode> {
  const secret = requireHashSecret(config);
  const policies = parseStoragePolicies(config.storage_policies);
  if (!config.bind_ip) throw new SwiftletError('CONFIG', 'bind_ip is empty: resolve it from the rings first (ring-builder/node-address.ts), or set it');
  await mkdir(config.devices, { recursive: true });
  const backendKey = backendKeyFrom(config);
  const backend = createBackendClient({ connectTimeoutMs: config.conn_timeout_ms, nodeTimeoutMs: config.node_timeout_ms, key: backendKey });
  const ctx: StorageNodeContext = {
    devicesRoot: config.devices,
    secret,
    fsync: config.fsync,
    backend,
    backendKey,
    log,
    clock: systemClock,
    containerUpdateTimeoutMs: config.container_update_timeout_ms,
    expirerDivisor: config.expiring_objects_container_divisor,
    clientTimeoutMs: config.client_timeout_ms,
    directIoAboveBytes: config.direct_io_above_bytes,
    policies,
  };
  const object = createObjectServer(ctx);
  const db = createDbServers(ctx);
  const server = createStorageNodeHttpServer(ctx, {
    object,
    container: db.container,
    account: db.account,
    objectRow: db.objectRow,
    containerRow: db.containerRow,
    extra: createAccountUpdateRetryHandler(db, config.devices),
    replicate: {
      object: createObjectReplicationHandler(ctx, { reclaimAgeS: config.reclaim_age_s }),
      ...createDbReplicationHandlers(ctx, db.pool),
    },
    levelDbMemory: () => db.pool.memoryBytes(),
  });
  // Dead temp files (a write's process killed mid-body) go before the node takes new writes.
  const tmpSweeper = createTmpSweeper({ devicesRoot: config.devices, ageS: config.tmp_reclaim_age_s, clock: systemClock, log });
  await tmpSweeper.sweep();
  tmpSweeper.start();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.bind_port, config.bind_ip, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  // An update addressed to this node as the rings list it stays in the process.
  ctx.localContainerUpdate = localContainerUpdater({ devicesRoot: config.devices, ip: config.ring_ip || config.bind_ip, port: config.ring_port || port, apply: db.applyObjectRow });
  const stopTrim = startMallocTrim({ intervalMs: config.malloc_trim_interval_s * 1000, log });
  log.info({ port, devices: config.devices }, 'listening');
  let closing: Promise<void> | undefined;
  return {
    server,
    port,
    // Once, as the proxy's: a second close would close the backend client again (undici rejects).
    close() {
      closing ??= (async () => {
        stopTrim();
        tmpSweeper.stop();
        // close() waits for every connection to end: drop the proxies' idle keep-alives at once.
        const closed = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeAllConnections();
        await closed;
        await requestsSettled(server, 5_000);
        await object.close();
        await db.close();
        await backend.close();
      })();
      return closing;
    },
  };
}
