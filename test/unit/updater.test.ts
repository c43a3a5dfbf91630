import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import t from 'tap';
import { createUpdater } from '../../replicator/updater.js';
import { listPendingAccountUpdates } from '../../storage-node/db/container-db.js';
import { listAsyncPendings } from '../../storage-node/object/async-pending.js';
import { call, closeClientAfter, daemonContext, listing, makeRings, reservePort, stamper, startNode, type FakeTime } from '../helpers/daemon-nodes.js';
import { parseStoragePolicies } from '../../common/storage-policy.js';

/** The updater against real in-process storage nodes: async pendings and account updates. */

closeClientAfter(t);

async function ls(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch {
    return [];
  }
}

t.test('an async pending waits for its container server, then is sent and removed', async (t) => {
  const time: FakeTime = { ms: 1_700_000_000_000 };
  const stamp = stamper(time);
  const objNode = await startNode(t, { device: 'sda1', time });
  const contPort = await reservePort();
  const contNode = await startNode(t, { device: 'sdb1', time, port: contPort, listen: false });
  const rings = await makeRings(t, [objNode, { port: contPort, device: 'sdb1' }], 1);
  const opart = rings.object().partitionFor('AUTH_a', 'c', 'o1');
  const cpart = rings.container().partitionFor('AUTH_a', 'c');

  // The container server is down: the object server saves the update.
  const put = await call('PUT', objNode.url(opart, 'AUTH_a', 'c', 'o1'), {
    'X-Timestamp': stamp().internal,
    'Content-Type': 'text/plain',
    'X-Container-Host': `127.0.0.1:${contPort}`,
    'X-Container-Device': 'sdb1',
    'X-Container-Partition': String(cpart),
  }, 'hello');
  t.equal(put.status, 201);
  t.equal((await listAsyncPendings(objNode.devicePath)).length, 1, 'update saved for the updater');

  const updater = createUpdater(daemonContext(t, objNode, rings, time));
  let r = await updater.runOnce();
  t.equal(r.daemon, 'updater');
  t.equal(r.counts.asyncPendings, 1);
  t.equal(r.counts.failures, 1, 'connection refused counts as a failure');
  t.equal(r.counts.successes, undefined);
  t.equal((await listAsyncPendings(objNode.devicePath)).length, 1, 'kept after a failure');

  // Up, but this replica has no such container (yet): keep retrying.
  await contNode.start();
  r = await updater.runOnce();
  t.equal(r.counts.notFound, 1);
  t.equal(r.counts.failures, 1);
  t.equal(r.counts.dropped, undefined);
  t.equal((await listAsyncPendings(objNode.devicePath)).length, 1, 'kept after a 404 younger than reclaim_age');

  t.equal((await call('PUT', contNode.url(cpart, 'AUTH_a', 'c'), { 'X-Timestamp': stamp().internal })).status, 201);
  t.same(await listing(contNode.url(cpart, 'AUTH_a', 'c')), [], 'no row before the updater runs');
  r = await updater.runOnce();
  t.equal(r.counts.successes, 1);
  t.equal(r.counts.failures, undefined);
  t.same(await listing(contNode.url(cpart, 'AUTH_a', 'c')), ['o1'], 'row delivered');
  t.same(await listAsyncPendings(objNode.devicePath), [], 'pending removed');
  t.same(await ls(join(objNode.devicePath, 'async_pending')), [], 'empty suffix folder removed too');

  r = await updater.runOnce();
  t.equal(r.counts.asyncPendings, undefined, 'nothing left to send');
});

t.test('a 404 older than reclaim_age is dropped; an unreadable pending is quarantined', async (t) => {
  const time: FakeTime = { ms: 1_700_000_000_000 };
  const stamp = stamper(time);
  const node = await startNode(t, { device: 'sda1', time });
  const rings = await makeRings(t, [node], 1);
  const opart = rings.object().partitionFor('AUTH_a', 'nope', 'o');
  const cpart = rings.container().partitionFor('AUTH_a', 'nope');
  const put = await call('PUT', node.url(opart, 'AUTH_a', 'nope', 'o'), {
    'X-Timestamp': stamp().internal,
    'Content-Type': 'text/plain',
    'X-Container-Host': `127.0.0.1:${node.port}`,
    'X-Container-Device': 'sda1',
    'X-Container-Partition': String(cpart),
  }, 'x');
  t.equal(put.status, 201);
  const [pending] = await listAsyncPendings(node.devicePath);
  t.ok(pending, 'the missing container made the object server save the update');

  const junkDir = join(node.devicePath, 'async_pending', 'fff');
  await mkdir(junkDir, { recursive: true });
  const junk = `${'0'.repeat(29)}fff-1700000000.00000`;
  await writeFile(join(junkDir, junk), 'not json');

  const updater = createUpdater(daemonContext(t, node, rings, time, { reclaim_age_s: 3600 }));
  let r = await updater.runOnce();
  t.equal(r.counts.asyncPendings, 2);
  t.equal(r.counts.corrupt, 1);
  t.equal(r.counts.notFound, 1);
  t.equal(r.counts.dropped, undefined);
  t.same(await ls(join(node.devicePath, 'quarantined', 'async_pending')), [junk], 'moved aside, not deleted');
  t.same((await listAsyncPendings(node.devicePath)).map((p) => p.path), [pending?.path]);

  time.ms += 3601 * 1000;
  r = await updater.runOnce();
  t.equal(r.counts.notFound, 1);
  t.equal(r.counts.dropped, 1);
  t.equal(r.counts.failures, undefined, 'a dropped update is not a failure');
  t.same(await listAsyncPendings(node.devicePath), []);
});

t.test('container → account updates are retried through the storage node endpoint', async (t) => {
  const time: FakeTime = { ms: 1_700_000_000_000 };
  const stamp = stamper(time);
  const contNode = await startNode(t, { device: 'sda1', time });
  const acctPort = await reservePort();
  const acctNode = await startNode(t, { device: 'sdb1', time, port: acctPort, listen: false });
  const rings = await makeRings(t, [contNode, { port: acctPort, device: 'sdb1' }], 1);
  const cpart = rings.container().partitionFor('AUTH_a', 'c');
  const apart = rings.account().partitionFor('AUTH_a');

  const put = await call('PUT', contNode.url(cpart, 'AUTH_a', 'c'), {
    'X-Timestamp': stamp().internal,
    'X-Account-Host': `127.0.0.1:${acctPort}`,
    'X-Account-Device': 'sdb1',
    'X-Account-Partition': String(apart),
  });
  t.equal(put.status, 201);
  const db = await contNode.dbs.pool.get(contNode.devicePath);
  t.equal((await listPendingAccountUpdates(db)).length, 1, 'account server down: the update is pending');

  const updater = createUpdater(daemonContext(t, contNode, rings, time));
  let r = await updater.runOnce();
  t.equal(r.counts.accountUpdatesFailed, 1);
  t.equal(r.counts.failures, 1);
  t.equal((await listPendingAccountUpdates(db)).length, 1);

  await acctNode.start();
  t.equal((await call('PUT', acctNode.url(apart, 'AUTH_a'), { 'X-Timestamp': stamp().internal })).status, 201);
  r = await updater.runOnce();
  t.equal(r.counts.accountUpdatesSent, 1);
  t.equal(r.counts.failures, undefined);
  t.same(await listPendingAccountUpdates(db), [], 'marker cleared');
  t.same(await listing(acctNode.url(apart, 'AUTH_a')), ['c'], 'the account lists the container');
});

t.test('the retry endpoint checks its input', async (t) => {
  const time: FakeTime = { ms: 1_700_000_000_000 };
  const node = await startNode(t, { device: 'sda1', time });
  const base = `http://127.0.0.1:${node.port}/recon/retry-account-updates`;
  t.equal((await call('GET', `${base}?device=sda1`)).status, 405);
  t.equal((await call('POST', base)).status, 400);
  t.equal((await call('POST', `${base}?device=..`)).status, 400);
  t.equal((await call('POST', `${base}?device=sda1&limit=0`)).status, 400);
  t.equal((await call('POST', `${base}?device=sdz9`)).status, 507);
  const ok = await call('POST', `${base}?device=sda1`);
  t.equal(ok.status, 200);
  t.same(JSON.parse(ok.body.toString()), { attempted: 0, succeeded: 0, failed: 0, noTarget: 0 });
  t.same(await ls(node.devicePath), [], 'no database created on a device without one');
});

t.test("a device only another storage policy's ring lists still gets its async pendings sent", async (t) => {
  const time: FakeTime = { ms: 1_700_000_000_000 };
  const stamp = stamper(time);
  const policies = parseStoragePolicies([
    { index: 0, name: 'gold', default: true },
    { index: 1, name: 'scratch' },
  ]);
  const objNode = await startNode(t, { device: 'sda1', time, policies });
  const contPort = await reservePort();
  const contNode = await startNode(t, { device: 'sdb1', time, port: contPort, listen: false, policies });
  // Policy 0 (and the container ring) live on sdb1 only; policy 1 on sda1 only.
  const onCont = await makeRings(t, [{ port: contPort, device: 'sdb1' }], 1);
  const onObj = await makeRings(t, [objNode], 1);
  const rings = { account: onCont.account, container: onCont.container, object: (p = 0) => (p === 1 ? onObj.object() : onCont.object()) };
  const opart = rings.object(1).partitionFor('AUTH_a', 'c', 'o1');
  const cpart = rings.container().partitionFor('AUTH_a', 'c');
  const put = await call(
    'PUT',
    objNode.url(opart, 'AUTH_a', 'c', 'o1'),
    { 'X-Timestamp': stamp().internal, 'Content-Type': 'text/plain', 'X-Backend-Storage-Policy-Index': '1', 'X-Container-Host': `127.0.0.1:${contPort}`, 'X-Container-Device': 'sdb1', 'X-Container-Partition': String(cpart) },
    'hello',
  );
  t.equal(put.status, 201);
  t.equal((await listAsyncPendings(objNode.devicePath)).length, 1, 'the container server is down: saved');
  await contNode.start();
  t.equal((await call('PUT', contNode.url(cpart, 'AUTH_a', 'c'), { 'X-Timestamp': stamp().internal })).status, 201);
  const r = await createUpdater(daemonContext(t, objNode, rings, time)).runOnce();
  t.equal(r.counts.successes, 1, 'sent from the device of the policy 1 ring');
  t.same(await listing(contNode.url(cpart, 'AUTH_a', 'c')), ['o1']);
});
