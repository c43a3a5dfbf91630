import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import t from 'tap';
import { createClusterRings } from '../../ring-builder/bootstrap.js';
import { resolveBindIp, ringBindAddress } from '../../ring-builder/node-address.js';
import type { RingDevice } from '../../ring-builder/ring.js';

/** A storage node with no bind_ip listens on the address the rings list it at, not on every interface. */
const dev = (ip: string, port: number, device: string): RingDevice => ({ id: 0, region: 1, zone: 1, ip, port, device, weight: 1, meta: '' });
const cdev = (ip: string, port: number, device: string, zone: number) => ({ region: 1, zone, ip, port, device, weight: 1 });

t.test('the decision: this host, this port, a device folder here', async (t) => {
  const base = { port: 6200, hasDevice: async (d: string) => d !== 'gone', isLocal: async (h: string) => h === '10.0.0.5' || h === 'me.example' };
  t.same(await ringBindAddress({ ...base, devices: [dev('10.0.0.5', 6200, 'd1'), dev('10.0.0.6', 6200, 'd2')] }), { ip: '10.0.0.5' });
  t.same(await ringBindAddress({ ...base, devices: [dev('me.example', 6200, 'd1')] }), { ip: 'me.example' }, 'a ring hostname of ours');
  t.match(await ringBindAddress({ ...base, devices: [dev('10.0.0.5', 6201, 'd1')] }), { error: /set bind_ip/ }, 'another port');
  t.match(await ringBindAddress({ ...base, devices: [dev('10.0.0.5', 6200, 'gone')] }), { error: /set bind_ip/ }, 'no device folder');
  t.match(await ringBindAddress({ ...base, devices: [dev('10.0.0.5', 6200, 'd1'), dev('me.example', 6200, 'd2')] }), { error: /several addresses/ });
});

t.test('from real ring files; an explicit bind_ip wins', async (t) => {
  const dir = t.testdir();
  mkdirSync(join(dir, 'node', 'd1'), { recursive: true });
  createClusterRings(join(dir, 'etc'), [cdev('127.0.0.1', 6301, 'd1', 1), cdev('198.51.100.1', 6301, 'd2', 2), cdev('198.51.100.2', 6301, 'd3', 3)], { partPower: 2, replicas: 3, minPartHours: 0, seed: 1 });
  const cfg = { bind_ip: '', bind_port: 6301, ring_ip: '', ring_port: 0, ring_dir: join(dir, 'etc'), devices: join(dir, 'node'), secret: { prefix: 'p', suffix: 's' } };
  t.same(await resolveBindIp(cfg), { ip: '127.0.0.1' });
  t.same(await resolveBindIp({ ...cfg, bind_ip: '0.0.0.0' }), { ip: '0.0.0.0' });
  t.match(await resolveBindIp({ ...cfg, ring_ip: '198.51.100.1' }), { error: /set bind_ip/ }, 'a ring_ip that is not ours (NAT)');
  t.match(await resolveBindIp({ ...cfg, ring_dir: join(dir, 'none') }), { error: /no rings/ });
});

t.test('swiftlet storage-node without bind_ip listens on its ring address only', async (t) => {
  const dir = t.testdir();
  mkdirSync(join(dir, 'node', 'd1'), { recursive: true });
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  createClusterRings(join(dir, 'etc'), [cdev('127.0.0.1', port, 'd1', 1)], { partPower: 2, replicas: 1, minPartHours: 0, seed: 1 });
  const config = join(dir, 'node.json');
  writeFileSync(config, JSON.stringify({ swift_hash_path_prefix: 'p', swift_hash_path_suffix: 's', ring_dir: join(dir, 'etc'), devices: join(dir, 'node'), bind_port: port }));
  const proc = spawn(process.execPath, [resolve('dist/bin/swiftlet.js'), 'storage-node', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => void proc.kill('SIGKILL'));
  await new Promise<void>((res, rej) => {
    createInterface({ input: proc.stdout }).on('line', (l) => l.includes('"listening"') && res());
    proc.on('exit', (code) => rej(new Error(`storage-node exited ${code}`)));
  });
  const reach = (host: string): Promise<boolean> =>
    new Promise((res) => {
      const s = connect(port, host);
      s.on('connect', () => (s.destroy(), res(true)));
      s.on('error', () => res(false));
    });
  t.equal(await reach('127.0.0.1'), true, 'the ring address answers');
  const other = Object.values(networkInterfaces())
    .flat()
    .find((a) => a && a.family === 'IPv4' && !a.internal)?.address;
  if (other) t.equal(await reach(other), false, `${other}, another address of this host, is not listened on`);
  else t.pass('this host has no other IPv4 address to try');
});

t.test("a node only a storage policy's object ring lists is found there", async (t) => {
  const dir = t.testdir();
  mkdirSync(join(dir, 'node', 'd1'), { recursive: true });
  const etc = join(dir, 'etc');
  // Every ring but policy 1's lists other hosts only.
  createClusterRings(etc, [cdev('198.51.100.1', 6301, 'd2', 2), cdev('198.51.100.2', 6301, 'd3', 3)], { partPower: 2, replicas: 2, minPartHours: 0, seed: 1 });
  createClusterRings(join(dir, 'p1'), [cdev('127.0.0.1', 6301, 'd1', 1)], { partPower: 2, replicas: 1, minPartHours: 0, seed: 1 });
  copyFileSync(join(dir, 'p1', 'object.ring.gz'), join(etc, 'object-1.ring.gz'));
  const cfg = { bind_ip: '', bind_port: 6301, ring_ip: '', ring_port: 0, ring_dir: etc, devices: join(dir, 'node'), secret: { prefix: 'p', suffix: 's' } };
  t.match(await resolveBindIp(cfg), { error: /set bind_ip/ }, 'without policies, object-1.ring.gz is not looked at');
  const storage_policies = [
    { index: 0, name: 'gold', default: true },
    { index: 1, name: 'scratch' },
  ];
  t.same(await resolveBindIp({ ...cfg, storage_policies }), { ip: '127.0.0.1' }, "found in policy 1's ring");
});
