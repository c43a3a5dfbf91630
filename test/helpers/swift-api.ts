import type { Test } from 'tap';
import { request } from 'undici';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { hashPath } from '../../common/hash-path.js';
import { startCluster, type Cluster } from './cluster.js';

/** A tiny Swift client for tests: token handling and a request helper. */
export interface Api {
  storageUrl: string;
  token: string;
  req(
    method: string,
    path: string,
    opts?: { headers?: Record<string, string>; body?: string | Buffer },
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer }>;
}

export async function api(cluster: Cluster, user = 'test:tester', key = 'testing'): Promise<Api> {
  const { token, storageUrl } = await cluster.token(user, key);
  return {
    storageUrl,
    token,
    async req(method, path, opts = {}) {
      const res = await request(`${storageUrl}${path}`, {
        method: method as 'GET',
        headers: { 'x-auth-token': token, ...opts.headers },
        ...(opts.body !== undefined ? { body: opts.body } : {}),
      });
      const chunks: Buffer[] = [];
      for await (const c of res.body) chunks.push(c as Buffer);
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(',') : v;
      return { status: res.statusCode, headers, body: Buffer.concat(chunks) };
    },
  };
}

/**
 * A cluster started with `opts` (stopped when `test` ends), a client, its account, and
 * container `c` created.
 */
export async function clusterWithContainer(
  test: Test,
  opts: Parameters<typeof startCluster>[0] = {},
): Promise<{ cluster: Cluster; a: Api; account: string }> {
  const cluster = await startCluster(opts);
  test.teardown(() => cluster.stop());
  const a = await api(cluster);
  const account = a.storageUrl.split('/').pop() as string;
  test.equal((await a.req('PUT', '/c')).status, 201);
  return { cluster, a, account };
}

/** Which devices hold a .data file for the object (looks at every node's disk). */
export async function devicesHoldingObject(cluster: Cluster, account: string, container: string, object: string): Promise<string[]> {
  const hash = hashPath({ prefix: cluster.secret.swift_hash_path_prefix, suffix: cluster.secret.swift_hash_path_suffix }, account, container, object);
  const suffix = hash.slice(-3);
  const found: string[] = [];
  for (const node of cluster.nodes) {
    const objectsDir = join(node.devicesRoot, node.device, 'objects');
    let parts: string[] = [];
    try {
      parts = await readdir(objectsDir);
    } catch {
      continue;
    }
    for (const part of parts) {
      try {
        const files = await readdir(join(objectsDir, part, suffix, hash));
        if (files.some((f) => f.endsWith('.data'))) found.push(node.device);
      } catch {
        /* not in this partition */
      }
    }
  }
  return found;
}
