import t from 'tap';
import { execFileSync } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { native } from '../../common/native.js';
import { backendPath } from '../../common/backend-path.js';
import { Timestamp } from '../../common/timestamp.js';
import { GroupSync, groupSyncOf, groupSyncStats, syncfsReportsErrors } from '../../storage-node/group-sync.js';
import { startOneDeviceNode } from '../helpers/one-device-node.js';

/**
 * A device's group commit (storage-node/group-sync.ts): a sync() waits for a syncfs that started
 * after it; everyone who asked while one ran shares the next; a failed syncfs fails only the
 * writes it stood for; the device's descriptor is open from the first writer's enter() to the
 * last one's leave(). Then on a real node: concurrent PUTs, rows and DELETEs share syncfs calls,
 * and with SWIFTLET_GROUP_SYNC=off a node makes its per-file syncs and works the same.
 */
function fakeSyncfs(): { syncfs: (fd: number) => Promise<void>; calls: Array<{ fd: number; done: (err?: Error) => void }> } {
  const calls: Array<{ fd: number; done: (err?: Error) => void }> = [];
  return {
    calls,
    syncfs: (fd) => new Promise<void>((resolve, reject) => calls.push({ fd, done: (err) => (err ? reject(err) : resolve()) })),
  };
}
const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

t.test('group commit: waits for a syncfs started after the call, shares it, fails only its own', async (t) => {
  const dir = t.testdir();
  const fake = fakeSyncfs();
  const g = new GroupSync(dir, fake.syncfs);
  g.enter();
  const fd = g['fd'] as number;
  t.type(fd, 'number', 'enter() opens the device folder');
  let first = false;
  const a = g.sync().then(() => (first = true));
  t.equal(fake.calls.length, 1, 'the first sync starts a syncfs at once');
  // These may have written after the first syncfs started: they need the next one.
  const settled: string[] = [];
  const b = g.sync().then(() => settled.push('b'));
  const c = g.sync().then(() => settled.push('c'));
  await turn();
  t.equal(fake.calls.length, 1, 'no second syncfs while one runs');
  fake.calls[0]!.done();
  await a;
  t.ok(first);
  await turn();
  t.equal(fake.calls.length, 2, 'one more syncfs for both waiters');
  t.same(settled, [], 'and they wait for it');
  const d = g.sync();
  fake.calls[1]!.done(Object.assign(new Error('syncfs: errno 5'), { code: 'ESYNCFS' }));
  await t.rejects(Promise.all([b, c]), /errno 5/, 'its failure fails the writes it stood for');
  await turn();
  t.equal(fake.calls.length, 3, 'the next waiter gets a syncfs of its own');
  fake.calls[2]!.done();
  await d;
  t.pass('which succeeds');
  t.ok(fake.calls.every((c) => c.fd === fd), 'every syncfs on the device folder');
  g.leave();
  t.equal(g['fd'], undefined, 'the last leave() closes it (the disk can be unmounted)');
  g.enter();
  g.enter();
  g.leave();
  t.type(g['fd'], 'number', 'open while a writer is left');
  g.leave();
});

t.test('group commit: syncfs reports writeback errors from Linux 5.8 on only', async (t) => {
  t.equal(syncfsReportsErrors('5.7.19'), false);
  t.equal(syncfsReportsErrors('4.19.0-21-amd64'), false);
  t.equal(syncfsReportsErrors('5.8.0'), true);
  t.equal(syncfsReportsErrors('6.18.44-fc-v657'), true);
  t.equal(syncfsReportsErrors('weird'), false);
});

t.test('the native syncfs: resolves on a real filesystem, rejects a bad descriptor', { skip: !native.syncfs && 'no native module' }, async (t) => {
  const g = groupSyncOf(t.testdir());
  t.ok(g, 'group commit is on here');
  g!.enter();
  await g!.sync();
  g!.leave();
  t.pass('a real syncfs');
  await t.rejects(native.syncfs!(987654), { code: 'ESYNCFS' });
});

let ticks = 1_750_000_000_00000;
const stamp = (): string => new Timestamp(ticks++).internal;

t.test('a node: concurrent PUTs, rows and DELETEs share syncfs calls', { skip: !groupSyncOf('/') && 'group commit off here' }, async (t) => {
  const { root, self, call } = await startOneDeviceNode(t);
  t.equal((await call('PUT', backendPath('sda', 7, 'AUTH_a', 'c'), { 'x-timestamp': stamp() })).status, 201);
  const before = { ...groupSyncStats };
  const names = Array.from({ length: 24 }, (_, i) => `o${i}`);
  const update = { 'x-container-host': self, 'x-container-device': 'sda', 'x-container-partition': '7' };
  const puts = await Promise.all(
    names.map((n) => call('PUT', backendPath('sda', 3, 'AUTH_a', 'c', n), { 'x-timestamp': stamp(), 'content-type': 'text/plain', ...update }, `body of ${n}`)),
  );
  t.same(puts.map((p) => p.status), names.map(() => 201), 'every PUT stored');
  const waits = groupSyncStats.waits - before.waits;
  const syncs = groupSyncStats.syncs - before.syncs;
  // each file waits, and each batch of rows (the container server batches concurrent rows)
  t.ok(waits > names.length, `each PUT waited for its file, the rows too (${waits} waits)`);
  t.ok(syncs < waits, `fewer syncfs calls than waits: shared (${syncs} for ${waits})`);
  const listing = JSON.parse((await call('GET', `${backendPath('sda', 7, 'AUTH_a', 'c')}?format=json`)).body) as Array<{ name: string }>;
  t.same(listing.map((r) => r.name).sort(), [...names].sort(), 'every row listed');
  t.equal((await call('GET', backendPath('sda', 3, 'AUTH_a', 'c', 'o5'))).body, 'body of o5');
  const dels = await Promise.all(names.map((n) => call('DELETE', backendPath('sda', 3, 'AUTH_a', 'c', n), { 'x-timestamp': stamp(), ...update })));
  t.same(dels.map((d) => d.status), names.map(() => 204), 'every DELETE stored');
  t.equal((await call('GET', backendPath('sda', 3, 'AUTH_a', 'c', 'o5'))).status, 404);
  t.same(await readdir(join(root, 'sda', 'tmp')), [], 'no temp file left');
});

t.test('SWIFTLET_GROUP_SYNC=off: per-file syncs, the same answers', async (t) => {
  const root = t.testdir();
  const script = `
    import { mkdir } from 'node:fs/promises';
    import { request } from 'undici';
        const { startStorageNode } = await import(${JSON.stringify(new URL('../../storage-node/main.js', import.meta.url).href)});
    const { parseConfig } = await import(${JSON.stringify(new URL('../../common/config.js', import.meta.url).href)});
    const { silentLogger } = await import(${JSON.stringify(new URL('../../common/log.js', import.meta.url).href)});
    const { storageNodeSpec } = await import(${JSON.stringify(new URL('../../storage-node/config.js', import.meta.url).href)});
    const { keyForSecret, signingDispatcher } = await import(${JSON.stringify(new URL('../helpers/signing.js', import.meta.url).href)});
    const { groupSyncOf, groupSyncStats } = await import(${JSON.stringify(new URL('../../storage-node/group-sync.js', import.meta.url).href)});
    await mkdir(${JSON.stringify(join(root, 'sda'))}, { recursive: true });
    const node = await startStorageNode(parseConfig(storageNodeSpec, { swift_hash_path_prefix: 'p', swift_hash_path_suffix: 's', bind_ip: '127.0.0.1', bind_port: 0, devices: ${JSON.stringify(root)} }), silentLogger);
    const base = 'http://127.0.0.1:' + node.port;
    const dispatcher = signingDispatcher(keyForSecret('p', 's'));
    const self = '127.0.0.1:' + node.port;
    const up = { 'x-container-host': self, 'x-container-device': 'sda', 'x-container-partition': '7' };
    const out = [];
    const call = async (m, p, h = {}, b) => { const r = await request(base + p, { method: m, headers: h, body: b, dispatcher }); out.push(r.statusCode); return r.body.text(); };
    await call('PUT', '/sda/7/AUTH_a/c', { 'x-timestamp': '1750000000.00000' });
    await Promise.all([1, 2, 3].map((i) => call('PUT', '/sda/3/AUTH_a/c/o' + i, { 'x-timestamp': '1750000001.0000' + i, 'content-type': 'text/plain', ...up }, 'x' + i)));
    const body = await call('GET', '/sda/3/AUTH_a/c/o2');
    await call('DELETE', '/sda/3/AUTH_a/c/o2', { 'x-timestamp': '1750000002.00000', ...up });
    const listing = await call('GET', '/sda/7/AUTH_a/c?format=json');
    await node.close();
    await dispatcher.close();
    console.log(JSON.stringify({ out, body, names: JSON.parse(listing).map((r) => r.name), group: groupSyncOf(${JSON.stringify(root)}) !== undefined, syncs: groupSyncStats.syncs }));
  `;
  const got = JSON.parse(
    execFileSync(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, SWIFTLET_GROUP_SYNC: 'off' }, cwd: process.cwd() }).toString(),
  ) as { out: number[]; body: string; names: string[]; group: boolean; syncs: number };
  t.same(got.out, [201, 201, 201, 201, 200, 204, 200]);
  t.equal(got.body, 'x2');
  t.same(got.names, ['o1', 'o3']);
  t.equal(got.group, false, 'group commit off');
  t.equal(got.syncs, 0, 'no syncfs made');
});
