import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../common/log.js';
import type { StorageNodeContext } from '../../storage-node/types.js';

import { SECRET, TEST_BACKEND_KEY, testBackendClient } from './signing.js';

export { SECRET };

/**
 * A fresh temp devices root (named after `prefix`) holding an empty folder for `device`, and a
 * StorageNodeContext over it for in-process test nodes: fsync off, a quiet log, its own
 * keep-alive agent, short timeouts; `over` changes any of it. The caller closes `ctx.backend` and
 * removes `ctx.devicesRoot` when its servers are down.
 */
export async function testNodeContext(prefix: string, device: string, over: Partial<StorageNodeContext> = {}): Promise<StorageNodeContext> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  await mkdir(join(root, device));
  return {
    devicesRoot: root,
    secret: SECRET,
    fsync: false,
    backend: testBackendClient(),
    backendKey: TEST_BACKEND_KEY,
    log: silentLogger,
    clock: Date.now,
    containerUpdateTimeoutMs: 1000,
    clientTimeoutMs: 5000,
    ...over,
  };
}
