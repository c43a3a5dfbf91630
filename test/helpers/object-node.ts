import { rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pino } from 'pino';
import { hashPath } from '../../common/hash-path.js';
import { backendPath } from '../../common/backend-path.js';
import { objectLocation, type ObjectLocation } from '../../storage-node/object/layout.js';
import { createObjectServer } from '../../storage-node/object/object-server.js';
import { createObjectReplicationHandler } from '../../storage-node/object/replication.js';
import { createStorageNodeHttpServer, sendStatus } from '../../storage-node/server.js';
import type { BackendServer, StorageNodeContext } from '../../storage-node/types.js';
import { SECRET, testNodeContext } from './node-context.js';

export { SECRET };

/**
 * One in-process storage node with only its object server and object replication (the others answer 501), one device
 * in a temp root, on 127.0.0.1; its log lines can be awaited. For the object server's tests.
 */
export const DEV = 'sda1';
export const PART = 17;
export type LogRecord = Record<string, unknown> & { msg?: string };

export interface Node {
  port: number;
  base: string;
  root: string;
  ctx: StorageNodeContext;
  now: { ms: number };
  waitLog(pred: (r: LogRecord) => boolean): Promise<LogRecord>;
  loc(a: string, c: string, o: string): ObjectLocation;
  url(a: string, c: string, o: string, dev?: string): string;
}

export async function startNode(t: { teardown: (f: () => unknown) => void }, over: Partial<StorageNodeContext> = {}): Promise<Node> {
  const logs: LogRecord[] = [];
  const waiters: Array<{ pred: (r: LogRecord) => boolean; resolve: (r: LogRecord) => void }> = [];
  const log = pino(
    { level: 'debug' },
    {
      write(line: string) {
        const rec = JSON.parse(line) as LogRecord;
        logs.push(rec);
        for (const w of [...waiters]) if (w.pred(rec)) (waiters.splice(waiters.indexOf(w), 1), w.resolve(rec));
      },
    },
  );
  const now = { ms: Date.now() };
  const ctx = await testNodeContext('swiftlet-objsrv-', DEV, { log, clock: () => now.ms, containerUpdateTimeoutMs: 2000, ...over });
  const root = ctx.devicesRoot;
  const stub: BackendServer = { handle: async (r) => sendStatus(r.res, 501), close: async () => {} };
  const server = createStorageNodeHttpServer(ctx, {
    object: createObjectServer(ctx),
    container: stub,
    account: stub,
    objectRow: stub,
    containerRow: stub,
    replicate: { object: createObjectReplicationHandler(ctx, { reclaimAgeS: 7 * 86400 }) },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await ctx.backend.close();
    await rm(root, { recursive: true, force: true });
  });
  return {
    port,
    base: `http://127.0.0.1:${port}`,
    root,
    ctx,
    now,
    waitLog: (pred) => {
      const hit = logs.find(pred);
      if (hit) return Promise.resolve(hit);
      // never hang a test run: a log line that does not come is a failure
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('expected log line never came')), 10_000);
        waiters.push({ pred, resolve: (r) => (clearTimeout(timer), resolve(r)) });
      });
    },
    loc: (a, c, o) => objectLocation(join(root, DEV), PART, hashPath(SECRET, a, c, o)),
    url: (a, c, o, dev = DEV) => `http://127.0.0.1:${port}${backendPath(dev, PART, a, c, o)}`,
  };
}
