import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { MockAgent } from 'undici';
import { TEST_BACKEND_KEY } from '../helpers/signing.js';
import { backendClientOver } from '../../common/http-client.js';
import { silentLogger } from '../../common/log.js';
import { AccountUpdateQueue, accountTargetFromHeaders, retryPendingAccountUpdates } from '../../storage-node/db/account-update.js';
import { listPendingAccountUpdates, mergeObjectRows, putContainer } from '../../storage-node/db/container-db.js';
import { DeviceDb } from '../../storage-node/db/store.js';

/** Account updates against a mocked account server (no network). */

const TARGET = { host: '10.0.0.1:6002', device: 'sdb', partition: 7 };

async function setup(t: { teardown(fn: () => Promise<void>): void }, statusCode = 201, delayMs = 0) {
  const dir = await mkdtemp(join(tmpdir(), 'swiftlet-au-'));
  const db = await DeviceDb.open(dir, { fsync: false });
  const agent = new MockAgent();
  agent.disableNetConnect();
  const calls: Array<{ path: string; headers: Record<string, string> }> = [];
  const status = { code: statusCode };
  const scope = agent
    .get('http://10.0.0.1:6002')
    .intercept({ path: /.*/, method: 'PUT' })
    .reply((opts) => {
      calls.push({ path: opts.path, headers: { ...(opts.headers as Record<string, string>) } });
      return { statusCode: status.code, data: '' };
    });
  if (delayMs) scope.delay(delayMs);
  scope.persist();
  const opts = { backend: backendClientOver(agent, TEST_BACKEND_KEY), timeoutMs: 1000, clock: () => 1_700_000_000_000, log: silentLogger };
  const queue = new AccountUpdateQueue({ ...opts, delayMs: 20 });
  t.teardown(async () => {
    await queue.close();
    await db.close();
    await agent.close();
    await rm(dir, { recursive: true, force: true });
  });
  await putContainer(db, 'AUTH_a', 'c/x', '1700000000.00000', {}, TARGET);
  return { db, calls, queue, opts, status };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('target headers', async (t) => {
  t.same(accountTargetFromHeaders({ 'x-account-host': 'h:1', 'x-account-device': 'd', 'x-account-partition': '3' }), { host: 'h:1', device: 'd', partition: 3 });
  t.equal(accountTargetFromHeaders({ 'x-account-host': 'h:1', 'x-account-device': 'd' }), undefined);
  t.equal(accountTargetFromHeaders({ 'x-account-host': 'h:1', 'x-account-device': 'd', 'x-account-partition': 'x' }), undefined);
});

t.test('sendNow sends the stats and clears the marker', async (t) => {
  const { db, calls, queue } = await setup(t);
  await mergeObjectRows(db, 'AUTH_a', 'c/x', { rows: [{ name: 'o', timestamp: '1700000001.00000', size: 5, contentType: '', etag: '', deleted: false }], requireLive: true });
  t.equal(await queue.sendNow(db, 'AUTH_a', 'c/x', TARGET, 'tx1'), true);
  t.equal(calls.length, 1);
  t.equal(calls[0]?.path, '/sdb/7/AUTH_a/c%2Fx');
  t.match(calls[0]?.headers, {
    'x-backend-source': 'container-server',
    'x-put-timestamp': '1700000000.00000',
    'x-delete-timestamp': '0000000000.00000',
    'x-object-count': '1',
    'x-bytes-used': '5',
    'x-timestamp': '1700000000.00000',
    'x-trans-id': 'tx1',
  });
  t.same(await listPendingAccountUpdates(db), []);
});

t.test('a burst of changes becomes one update', async (t) => {
  const { db, calls, queue } = await setup(t);
  for (let i = 0; i < 10; i++) queue.schedule(db, 'AUTH_a', 'c/x', TARGET);
  for (let i = 0; i < 100 && calls.length === 0; i++) await sleep(5);
  await sleep(100);
  t.equal(calls.length, 1);
});

t.test('a change during a send triggers exactly one more', async (t) => {
  const { db, calls, queue } = await setup(t, 201, 50);
  const first = queue.sendNow(db, 'AUTH_a', 'c/x', TARGET);
  await sleep(10);
  for (let i = 0; i < 5; i++) queue.schedule(db, 'AUTH_a', 'c/x', TARGET);
  t.equal(await first, true);
  for (let i = 0; i < 100 && calls.length < 2; i++) await sleep(5);
  await sleep(150);
  t.equal(calls.length, 2);
});

t.test('a refused update keeps the marker; the retry pass sends it', async (t) => {
  const { db, calls, queue, opts, status } = await setup(t, 503);
  t.equal(await queue.sendNow(db, 'AUTH_a', 'c/x', TARGET), false);
  t.same((await listPendingAccountUpdates(db)).map((p) => [p.account, p.container, p.target]), [['AUTH_a', 'c/x', TARGET]]);
  status.code = 204;
  t.same(await retryPendingAccountUpdates(opts, db), { attempted: 1, succeeded: 1, failed: 0, noTarget: 0 });
  t.same(await listPendingAccountUpdates(db), []);
  t.equal(calls.length, 2);
});

t.test('markers without a target wait for a resolver', async (t) => {
  const { db, opts } = await setup(t);
  await putContainer(db, 'AUTH_b', 'c', '1700000000.00000', {});
  const first = await retryPendingAccountUpdates(opts, db);
  t.same(first, { attempted: 1, succeeded: 1, failed: 0, noTarget: 1 });
  const second = await retryPendingAccountUpdates(opts, db, { resolveTarget: () => TARGET });
  t.same(second, { attempted: 1, succeeded: 1, failed: 0, noTarget: 0 });
  t.same(await listPendingAccountUpdates(db), []);
});
