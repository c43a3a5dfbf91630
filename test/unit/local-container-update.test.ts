import { keyForSecret, signingDispatcher } from '../helpers/signing.js';
import t from 'tap';
import { readdirSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { request } from 'undici';
import { parseConfig } from '../../common/config.js';
import { backendPath } from '../../common/backend-path.js';
import { silentLogger } from '../../common/log.js';
import { Timestamp } from '../../common/timestamp.js';
import type { RingDevice } from '../../ring-builder/ring.js';
import { pairByHost } from '../../ring-builder/update-targets.js';
import { storageNodeSpec } from '../../storage-node/config.js';
import { startStorageNode } from '../../storage-node/main.js';
import { listAsyncPendings, loadAsyncPending } from '../../storage-node/object/async-pending.js';
import { objectLocation } from '../../storage-node/object/layout.js';
import { hashPath } from '../../common/hash-path.js';
import { localContainerUpdater, splitHost } from '../../storage-node/local-update.js';
import { startOneDeviceNode } from '../helpers/one-device-node.js';
import { rowSyncedOnDevice, type ContainerUpdate, type UpdateContext } from '../../storage-node/object/container-update.js';

/**
 * An object replica's container update to a container replica on its own storage node stays in
 * the process (storage-node/local-update.ts): the row lands as over HTTP, no request goes out; one
 * for a device the node lacks is saved for the updater; one for another node still goes over
 * HTTP. And the proxy's pairing that makes such updates common.
 */
let ticks = 1_700_000_000_00000;
const stamp = (): string => new Timestamp(ticks++ + 1000).internal;

t.test('updates to the node itself: applied in process, the same row, nothing over HTTP', async (t) => {
  const root = t.testdir();
  for (const d of ['sda', 'sdb']) await mkdir(join(root, d));
  const node = await startStorageNode(
    parseConfig(storageNodeSpec, { swift_hash_path_prefix: 'p', swift_hash_path_suffix: 's', bind_ip: '127.0.0.1', bind_port: 0, devices: root }),
    silentLogger,
  );
  t.teardown(() => node.close());
  const client = signingDispatcher(keyForSecret('p', 's'));
  t.teardown(() => client.close());
  const base = `http://127.0.0.1:${node.port}`;
  const rowRequests: string[] = [];
  node.server.on('request', (req: IncomingMessage) => {
    if (req.headers['x-backend-source'] === 'object-server') rowRequests.push(`${req.method} ${req.url}`);
  });
  const call = async (method: string, path: string, headers: Record<string, string> = {}, body?: string) => {
    const res = await request(`${base}${path}`, { method: method as 'PUT', headers, body, dispatcher: client });
    return { status: res.statusCode, body: await res.body.text() };
  };
  const updateTo = (host: string, device: string) => ({ 'x-container-host': host, 'x-container-device': device, 'x-container-partition': '7' });
  const listing = async (): Promise<Array<{ name: string; bytes: number; hash: string }>> =>
    JSON.parse((await call('GET', `${backendPath('sdb', 7, 'AUTH_a', 'c')}?format=json`)).body);

  t.equal((await call('PUT', backendPath('sdb', 7, 'AUTH_a', 'c'), { 'x-timestamp': stamp() })).status, 201, 'container on sdb');
  const self = `127.0.0.1:${node.port}`;
  const put = await call('PUT', backendPath('sda', 3, 'AUTH_a', 'c', 'o'), { 'x-timestamp': stamp(), 'content-type': 'text/plain', ...updateTo(self, 'sdb') }, 'hello');
  t.equal(put.status, 201);
  t.same(
    (await listing()).map((r) => [r.name, r.bytes, r.hash]),
    [['o', 5, '5d41402abc4b2a76b9719d911017c592']],
    'the row is in the container replica',
  );
  const del = await call('DELETE', backendPath('sda', 3, 'AUTH_a', 'c', 'o'), { 'x-timestamp': stamp(), ...updateTo(self, 'sdb') });
  t.equal(del.status, 204);
  t.same(await listing(), [], 'the DELETE row too');
  t.same(rowRequests, [], 'no container update went over HTTP');
  t.same(await listAsyncPendings(join(root, 'sda')), [], 'nothing pending');

  // A container device this node does not have: saved for the updater, as a 507 over HTTP would be.
  t.equal((await call('PUT', backendPath('sda', 3, 'AUTH_a', 'c', 'p'), { 'x-timestamp': stamp(), 'content-type': 'text/plain', ...updateTo(self, 'sdz') }, 'x')).status, 201);
  const pending = await listAsyncPendings(join(root, 'sda'));
  t.equal(pending.length, 1, 'an async pending for the missing device');
  t.equal((await loadAsyncPending(pending[0]!.path))?.device, 'sdz');
  t.same(rowRequests, [], 'still nothing over HTTP');

  // Another node (another port): over HTTP as before.
  const got: string[] = [];
  const other = createServer((req, res) => {
    got.push(`${req.method} ${req.url}`);
    req.resume();
    req.on('end', () => res.writeHead(201).end());
  });
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => other.close(() => r())));
  const otherHost = `127.0.0.1:${(other.address() as AddressInfo).port}`;
  t.equal((await call('PUT', backendPath('sda', 3, 'AUTH_a', 'c', 'q'), { 'x-timestamp': stamp(), 'content-type': 'text/plain', ...updateTo(otherHost, 'sdb') }, 'y')).status, 201);
  t.same(got, [`PUT ${backendPath('sdb', 7, 'AUTH_a', 'c', 'q')}`], 'the other node got the update over HTTP');
});

t.test("a row on the object's own device: the hash dir is fsynced after it, the write still whole", async (t) => {
  const { root, self, call } = await startOneDeviceNode(t);
  const sameDevice = { 'x-container-host': self, 'x-container-device': 'sda', 'x-container-partition': '7' };
  t.equal((await call('PUT', backendPath('sda', 7, 'AUTH_a', 'c'), { 'x-timestamp': stamp() })).status, 201);
  t.equal((await call('PUT', backendPath('sda', 3, 'AUTH_a', 'c', 'o'), { 'x-timestamp': stamp(), 'content-type': 'text/plain', ...sameDevice }, 'hello')).status, 201);
  t.equal((await call('GET', backendPath('sda', 3, 'AUTH_a', 'c', 'o'))).body, 'hello', 'the object is in place');
  // An overwrite: the superseded .data goes once the new one's rename is durable, not before, and goes.
  t.equal((await call('PUT', backendPath('sda', 3, 'AUTH_a', 'c', 'o'), { 'x-timestamp': stamp(), 'content-type': 'text/plain', ...sameDevice }, 'hello again')).status, 201);
  const hashDir = objectLocation(join(root, 'sda'), 3, hashPath({ prefix: 'p', suffix: 's' }, 'AUTH_a', 'c', 'o')).hashDir;
  t.equal(readdirSync(hashDir).filter((f) => f.endsWith('.data')).length, 1, 'one .data left');
  t.equal((await call('GET', backendPath('sda', 3, 'AUTH_a', 'c', 'o'))).body, 'hello again');
  const names = async (): Promise<string[]> =>
    (JSON.parse((await call('GET', `${backendPath('sda', 7, 'AUTH_a', 'c')}?format=json`)).body) as Array<{ name: string }>).map((r) => r.name);
  t.same(await names(), ['o'], 'and listed');
  t.equal((await call('DELETE', backendPath('sda', 3, 'AUTH_a', 'c', 'o'), { 'x-timestamp': stamp(), ...sameDevice })).status, 204);
  t.equal((await call('GET', backendPath('sda', 3, 'AUTH_a', 'c', 'o'))).status, 404);
  t.same(await names(), [], 'the DELETE row too');
  // The row refused (no such container): saved for the updater, and the object still stored.
  const noContainer = { ...sameDevice, 'x-container-partition': '8' };
  t.equal((await call('PUT', backendPath('sda', 3, 'AUTH_a', 'c2', 'p'), { 'x-timestamp': stamp(), 'content-type': 'text/plain', ...noContainer }, 'x')).status, 201);
  t.equal((await call('GET', backendPath('sda', 3, 'AUTH_a', 'c2', 'p'))).body, 'x');
  t.equal((await listAsyncPendings(join(root, 'sda'))).length, 1, 'an async pending for the refused row');
});

t.test("which rows are synced on the object's own device", async (t) => {
  const root = t.testdir();
  const local = localContainerUpdater({ devicesRoot: root, ip: '127.0.0.1', port: 6201, apply: async () => 201 });
  const u = (host: string, device: string): ContainerUpdate => ({ op: 'PUT', account: 'a', container: 'c', obj: 'o', headers: {}, host, device, partition: 1 });
  const ctx = { fsync: true, localContainerUpdate: local } as UpdateContext;
  t.ok(rowSyncedOnDevice(ctx, u('127.0.0.1:6201', 'sda'), join(root, 'sda')), 'this node, the same device');
  t.notOk(rowSyncedOnDevice(ctx, u('127.0.0.1:6201', 'sdb'), join(root, 'sda')), 'this node, another device');
  t.notOk(rowSyncedOnDevice(ctx, u('127.0.0.1:6202', 'sda'), join(root, 'sda')), 'another node');
  t.notOk(rowSyncedOnDevice(ctx, undefined, join(root, 'sda')), 'no update asked for');
  t.notOk(rowSyncedOnDevice({ ...ctx, fsync: false }, u('127.0.0.1:6201', 'sda'), join(root, 'sda')), 'fsync off: nothing to order');
  t.notOk(rowSyncedOnDevice({ ...ctx, localContainerUpdate: undefined }, u('127.0.0.1:6201', 'sda'), join(root, 'sda')), 'no local updates');
});

t.test('host parsing', async (t) => {
  t.same(splitHost('10.0.0.1:6200'), { ip: '10.0.0.1', port: 6200 });
  t.same(splitHost('[fd00::1]:6200'), { ip: 'fd00::1', port: 6200 });
  t.equal(splitHost('nohost'), undefined);
});

t.test('the proxy pairs each object replica with a container replica on its own node when it can', async (t) => {
  const dev = (id: number, port: number): RingDevice => ({ id, region: 1, zone: 1, ip: '127.0.0.1', port, device: `d${id}`, weight: 1, meta: '' });
  const [a, b, c, d] = [6201, 6202, 6203, 6204];
  // object on nodes a, b, c; container on b, c, d: the b and c replicas stay local, a tells d
  t.same(pairByHost([dev(0, a!), dev(1, b!), dev(2, c!)], [dev(10, b!), dev(11, c!), dev(12, d!)]), [2, 0, 1]);
  // the same three nodes in another order: all local
  t.same(pairByHost([dev(0, a!), dev(1, b!), dev(2, c!)], [dev(10, c!), dev(11, a!), dev(12, b!)]), [1, 2, 0]);
  // nothing shared: Swift's order
  t.same(pairByHost([dev(0, a!), dev(1, b!)], [dev(10, c!), dev(11, d!)]), [0, 1]);
  // two devices of one node in the container ring: each used once
  t.same(pairByHost([dev(0, a!), dev(1, a!), dev(2, b!)], [dev(10, a!), dev(11, c!), dev(12, a!)]), [0, 2, 1]);
  // replica counts differ: Swift's order
  t.same(pairByHost([dev(0, a!), dev(1, b!), dev(2, c!)], [dev(10, c!), dev(11, b!)]), [0, 1, 2]);
});
