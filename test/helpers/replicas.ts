import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { backendPath } from '../../common/backend-path.js';
import { hashPath } from '../../common/hash-path.js';
import { objectRingName, Ring, ringFile, type RingName } from '../../ring-builder/ring.js';
import { policyString } from '../../common/storage-policy.js';
import type { Cluster } from './cluster.js';

/** What the disks say about an object: where its newest file is a .data, and which bytes it holds. */
export function loadRing(cluster: Cluster, name: RingName): Ring {
  return Ring.loadSync(ringFile(cluster.ringDir, name), { prefix: cluster.secret.swift_hash_path_prefix, suffix: cluster.secret.swift_hash_path_suffix });
}

export interface ObjectPlacement {
  primaries: string[];
  /** Devices whose newest file for the object is a .data. */
  dataOn: string[];
  /** Devices whose newest file is a tombstone. */
  tombstoneOn: string[];
}

/** `policy`: the storage policy whose ring and folder (objects, objects-<n>) to look at. */
export async function objectPlacement(cluster: Cluster, account: string, container: string, object: string, policy = 0): Promise<ObjectPlacement> {
  const ring = loadRing(cluster, objectRingName(policy));
  const secret = { prefix: cluster.secret.swift_hash_path_prefix, suffix: cluster.secret.swift_hash_path_suffix };
  const hash = hashPath(secret, account, container, object);
  const out: ObjectPlacement = { primaries: ring.primaries(ring.partitionFor(account, container, object)).map((d) => d.device).sort(), dataOn: [], tombstoneOn: [] };
  for (const node of cluster.nodes) {
    const objectsDir = join(node.devicesRoot, node.device, policyString('objects', policy));
    const parts = await readdir(objectsDir).catch(() => [] as string[]);
    let newest: string | undefined;
    for (const part of parts) {
      const files = await readdir(join(objectsDir, part, hash.slice(-3), hash)).catch(() => [] as string[]);
      for (const f of files) if ((f.endsWith('.data') || f.endsWith('.ts')) && (!newest || f > newest)) newest = f;
    }
    if (newest?.endsWith('.data')) out.dataOn.push(node.device);
    if (newest?.endsWith('.ts')) out.tombstoneOn.push(node.device);
  }
  out.dataOn.sort();
  out.tombstoneOn.sort();
  return out;
}

/** GET straight from one storage node (no proxy): the bytes that replica would serve. */
export async function directGet(cluster: Cluster, device: string, account: string, container: string, object: string, policy = 0): Promise<{ status: number; body: Buffer }> {
  const ring = loadRing(cluster, objectRingName(policy));
  const part = ring.partitionFor(account, container, object);
  const dev = ring.allDevices().find((d) => d.device === device);
  if (!dev) throw new Error(`no device ${device}`);
  const res = await request(`http://${dev.ip}:${dev.port}${backendPath(device, part, account, container, object)}`, {
    dispatcher: cluster.backendDispatcher,
    headers: { 'x-backend-storage-policy-index': String(policy) },
  });
  return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
}

/** Every container replica's listing (names) and object count, asked of the storage nodes directly. */
export async function containerReplicas(cluster: Cluster, account: string, container: string): Promise<Array<{ device: string; names: string[]; count: number }>> {
  const ring = loadRing(cluster, 'container');
  const part = ring.partitionFor(account, container);
  const out = [];
  for (const dev of ring.primaries(part)) {
    const res = await request(`http://${dev.ip}:${dev.port}${backendPath(dev.device, part, account, container)}?format=json`, { dispatcher: cluster.backendDispatcher });
    const body = await res.body.text();
    const names = res.statusCode === 200 ? (JSON.parse(body) as Array<{ name: string }>).map((o) => o.name) : [];
    out.push({ device: dev.device, names, count: Number(res.headers['x-container-object-count'] ?? -1) });
  }
  return out;
}

/** Every account replica's stats, asked of the storage nodes directly. */
export async function accountReplicas(cluster: Cluster, account: string): Promise<Array<{ device: string; containers: number; objects: number; bytes: number }>> {
  const ring = loadRing(cluster, 'account');
  const part = ring.partitionFor(account);
  const out = [];
  for (const dev of ring.primaries(part)) {
    const res = await request(`http://${dev.ip}:${dev.port}${backendPath(dev.device, part, account)}`, { method: 'HEAD', dispatcher: cluster.backendDispatcher });
    await res.body.dump();
    out.push({
      device: dev.device,
      containers: Number(res.headers['x-account-container-count'] ?? -1),
      objects: Number(res.headers['x-account-object-count'] ?? -1),
      bytes: Number(res.headers['x-account-bytes-used'] ?? -1),
    });
  }
  return out;
}

export async function dataFilePath(cluster: Cluster, device: string, account: string, container: string, object: string): Promise<string | undefined> {
  const node = cluster.nodes.find((n) => n.device === device);
  if (!node) return undefined;
  const secret = { prefix: cluster.secret.swift_hash_path_prefix, suffix: cluster.secret.swift_hash_path_suffix };
  const hash = hashPath(secret, account, container, object);
  const objectsDir = join(node.devicesRoot, device, 'objects');
  for (const part of await readdir(objectsDir).catch(() => [] as string[])) {
    const dir = join(objectsDir, part, hash.slice(-3), hash);
    const data = (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.data')).sort().pop();
    if (data) return join(dir, data);
  }
  return undefined;
}

/**
 * dataFilePath, waiting for the replica to land: a PUT is answered once 2 of its 3 replicas hold
 * it, and the third write may still be on its way (up to `timeoutMs`).
 */
export async function landedDataFilePath(cluster: Cluster, device: string, account: string, container: string, object: string, timeoutMs = 10_000): Promise<string | undefined> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const file = await dataFilePath(cluster, device, account, container, object);
    if (file || Date.now() >= until) return file;
    await new Promise((r) => setTimeout(r, 50));
  }
}

export { readFile };
