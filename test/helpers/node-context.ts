import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent } from 'undici';
import { silentLogger } from '../../common/log.js';
import type { StorageNodeContext } from '../../storage-node/types.js';

/** The cluster secret of in-process test nodes. */
export const SECRET = { prefix: 'pre', suffix: 'suf' };

/**
 * A fresh temp devices root (named after `prefix`) holding an empty folder for `device`, and a
 * StorageNodeContext over it for in-process test nodes: fsync off, a quiet log, its own
 * keep-alive agent, short timeouts; `over` changes any of it. The caller closes `ctx.agent` and
 * removes `ctx.devicesRoot` when its servers are down.
 */
export async function testNodeContext(prefix: string, device: string, over: Partial<StorageNodeContext> = {}): Promise<StorageNodeContext> {
  const root = await mkdtemp(join(tmpdir(), prefix));
  await mkdir(join(root, device));
  return {
    devicesRoot: root,
    secret: SECRET,
    fsync: false,
    agent: new Agent({ keepAliveTimeout: 10 }),
    log: silentLogger,
    clock: Date.now,
    containerUpdateTimeoutMs: 1000,
    clientTimeoutMs: 5000,
    ...over,
  };
}
