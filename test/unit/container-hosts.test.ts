import t from 'tap';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { backendPath } from '../../common/backend-path.js';
import { Timestamp } from '../../common/timestamp.js';
import { Ring, type RingDevice } from '../../ring-builder/ring.js';
import { objectUpdateTargets, updatePlan } from '../../ring-builder/update-targets.js';
import { listAsyncPendings, loadAsyncPending } from '../../storage-node/object/async-pending.js';
import { startOneDeviceNode } from '../helpers/one-device-node.js';

/**
 * X-Container-Host with several hosts (Swift's _backend_requests / _get_container_updates): with
 * more container replicas than object replicas, an object replica tells several container
 * replicas, named comma-separated; every container replica is told, and enough of them that a
 * quorum of object writes reached a quorum of container replicas.
 */

const dev = (id: number, port: number): RingDevice => ({ id, region: 1, zone: id, ip: '127.0.0.1', port, device: `d${id}`, weight: 1, meta: '' });

function ringOf(devices: RingDevice[], replicas: number): Ring {
  const r2p = Array.from({ length: replicas }, (_, i) => Uint16Array.of(i));
  return Ring.fromData({ partPower: 0, replicas, devices: devices.map((d, i) => ({ ...d, id: i })), replica2part2dev: r2p }, { prefix: 'p', suffix: 's' });
}

t.test("the plan: max(Qc + Ro - Qo, Rc) updates, spread over the object replicas", async (t) => {
  const nodes = (n: number, base: number): RingDevice[] => Array.from({ length: n }, (_, i) => dev(base + i, 7000 + base + i));
  t.same(updatePlan(nodes(3, 0), nodes(3, 10)), [[0], [1], [2]], '3 and 3: one each');
  t.same(updatePlan(nodes(2, 0), nodes(3, 10)), [[0, 2], [1]], '2 object replicas, 3 container replicas');
  t.same(updatePlan(nodes(1, 0), nodes(3, 10)), [[0, 1, 2]], 'one object replica tells all three');
  t.same(updatePlan(nodes(3, 0), nodes(5, 10)), [[0, 3], [1, 4], [2]], '3 and 5');
  t.same(updatePlan(nodes(4, 0), nodes(3, 10)), [[0], [1], [2], []], 'more object replicas: Swift sends no update from the fourth');
  t.same(updatePlan(nodes(5, 0), nodes(1, 10)), [[0], [0], [0], [], []], 'one container replica: Qc + Ro - Qo = 3 updates');
});

t.test('the headers: comma-separated hosts, devices and their account replicas', async (t) => {
  const objectNodes = [dev(0, 7000), dev(1, 7001)];
  const cnodes = [dev(10, 7010), dev(11, 7011), dev(12, 7012)];
  const anodes = [dev(20, 7020), dev(21, 7021), dev(22, 7022)];
  const rings = { container: () => ringOf(cnodes, 3), account: () => ringOf(anodes, 3) };
  const targets = objectUpdateTargets(rings, 'AUTH_a', 'c', objectNodes);
  t.same(targets(0), {
    'x-container-host': '127.0.0.1:7010,127.0.0.1:7012',
    'x-container-device': 'd10,d12',
    'x-container-partition': '0',
    'x-account-host': '127.0.0.1:7020,127.0.0.1:7022',
    'x-account-device': 'd20,d22',
    'x-account-partition': '0',
  });
  t.same(targets(1)['x-container-host'], '127.0.0.1:7011');
});

let ticks = 1_700_000_000_00000;
const stamp = (): string => new Timestamp(ticks++ + 1000).internal;

interface FakeContainer {
  host: string;
  got: string[];
  status: number;
  server: Server;
}

async function fakeContainer(): Promise<FakeContainer> {
  const c = { got: [] as string[], status: 201 } as FakeContainer;
  c.server = createServer((req, res) => {
    c.got.push(`${req.method} ${req.url} ${req.headers['x-account-host'] ?? ''}`);
    req.resume();
    req.on('end', () => res.writeHead(c.status).end());
  });
  await new Promise<void>((r) => c.server.listen(0, '127.0.0.1', r));
  c.host = `127.0.0.1:${(c.server.address() as AddressInfo).port}`;
  return c;
}

t.test('the object server updates every container host named; failures are kept for the updater', async (t) => {
  const { root, call: send } = await startOneDeviceNode(t);
  const call = async (method: string, path: string, headers: Record<string, string>, body?: string): Promise<number> => (await send(method, path, headers, body)).status;
  const [a, b] = [await fakeContainer(), await fakeContainer()] as [FakeContainer, FakeContainer];
  t.teardown(() => {
    a.server.close();
    b.server.close();
  });
  const two = {
    'x-container-host': `${a.host}, ${b.host}`,
    'x-container-device': 'c1,c2',
    'x-container-partition': '5',
    'x-account-host': 'acct1:1,acct2:2',
    'x-account-device': 'a1,a2',
    'x-account-partition': '9',
  };
  t.equal(await call('PUT', backendPath('sda', 3, 'AUTH_a', 'c', 'o'), { 'x-timestamp': stamp(), 'content-type': 'text/plain', ...two }, 'hello'), 201);
  t.same(a.got, [`PUT ${backendPath('c1', 5, 'AUTH_a', 'c', 'o')} acct1:1`], 'the first host, its device and account replica');
  t.same(b.got, [`PUT ${backendPath('c2', 5, 'AUTH_a', 'c', 'o')} acct2:2`], 'the second host too');
  t.same(await listAsyncPendings(join(root, 'sda')), [], 'nothing pending');

  // One refuses: its update alone is saved, for its host.
  b.status = 503;
  t.equal(await call('DELETE', backendPath('sda', 3, 'AUTH_a', 'c', 'o'), { 'x-timestamp': stamp(), ...two }), 204);
  let pending = await listAsyncPendings(join(root, 'sda'));
  t.equal(pending.length, 1);
  const one = await loadAsyncPending(pending[0]!.path);
  t.same([one.op, one.host, one.device, one.headers['x-account-host']], ['DELETE', b.host, 'c2', 'acct2:2'], 'saved for the host that failed');

  // Both refuse: one update without a host (the updater sends it to every container primary).
  a.status = 503;
  t.equal(await call('PUT', backendPath('sda', 3, 'AUTH_a', 'c', 'p'), { 'x-timestamp': stamp(), 'content-type': 'text/plain', ...two }, 'x'), 201);
  pending = await listAsyncPendings(join(root, 'sda'));
  t.equal(pending.length, 2);
  const both = await Promise.all(pending.map((p) => loadAsyncPending(p.path)));
  const forP = both.find((u) => u.obj === 'p');
  t.same([forP?.host, forP?.device, forP?.headers['x-account-host']], ['', '', undefined], 'saved once, for every primary');

  // Lists of different lengths: no update at all (Swift logs it and sends none).
  a.got.length = 0;
  a.status = 201;
  t.equal(await call('PUT', backendPath('sda', 3, 'AUTH_a', 'c', 'q'), { 'x-timestamp': stamp(), 'content-type': 'text/plain', ...two, 'x-container-device': 'c1' }, 'y'), 201);
  t.same(a.got, [], 'no update sent');
});
