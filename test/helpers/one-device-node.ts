import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { parseConfig } from '../../common/config.js';
import { silentLogger } from '../../common/log.js';
import { storageNodeSpec } from '../../storage-node/config.js';
import { startStorageNode } from '../../storage-node/main.js';
import { keyForSecret, signingDispatcher } from './signing.js';

/** A real storage node in this process with one device, `sda`, under a test dir; closed at teardown. */
export async function startOneDeviceNode(t: { testdir(): string; teardown(f: () => unknown): void }): Promise<{
  root: string;
  /** host:port of the node, for X-Container-Host. */
  self: string;
  call: (method: string, path: string, headers?: Record<string, string>, body?: string) => Promise<{ status: number; body: string }>;
}> {
  const root = t.testdir();
  await mkdir(join(root, 'sda'));
  const node = await startStorageNode(
    parseConfig(storageNodeSpec, { swift_hash_path_prefix: 'p', swift_hash_path_suffix: 's', bind_ip: '127.0.0.1', bind_port: 0, devices: root }),
    silentLogger,
  );
  t.teardown(() => node.close());
  const client = signingDispatcher(keyForSecret('p', 's'));
  t.teardown(() => client.close());
  const base = `http://127.0.0.1:${node.port}`;
  const call = async (method: string, path: string, headers: Record<string, string> = {}, body?: string) => {
    const res = await request(`${base}${path}`, { method: method as 'PUT', headers, body, dispatcher: client });
    return { status: res.statusCode, body: await res.body.text() };
  };
  return { root, self: `127.0.0.1:${node.port}`, call };
}
