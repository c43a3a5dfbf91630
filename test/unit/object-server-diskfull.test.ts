import t from 'tap';
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { request } from 'undici';
import { signingDispatcher, TEST_BACKEND_KEY } from '../helpers/signing.js';
import { backendClientOver } from '../../common/http-client.js';
import { backendPath } from '../../common/backend-path.js';
import { Timestamp } from '../../common/timestamp.js';
import { createStorageNodeHttpServer, sendStatus } from '../../storage-node/server.js';
import type { BackendServer, StorageNodeContext } from '../../storage-node/types.js';
import * as realFd from '../../storage-node/object/fd.js';
import * as realErrors from '../../common/errors.js';

// A disk that is full: every write into a temp file fails with ENOSPC once `full` is set.
let full = false;
const enospc = (): Error => Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28 });
// Absolute URLs: with source maps on, tap would resolve relative keys against the .ts file.
const here = (p: string): string => new URL(p, import.meta.url).href;
const { createObjectServer } = await t.mockImport<typeof import('../../storage-node/object/object-server.js')>(here('../../storage-node/object/object-server.js'), {
  // the router below comes from the normal module graph: share its error class
  [here('../../common/errors.js')]: realErrors,
  [here('../../storage-node/object/fd.js')]: {
    ...realFd,
    writevAt: async (fd: number, bufs: Buffer[], position: number) => {
      if (full) throw enospc();
      return realFd.writevAt(fd, bufs, position);
    },
    writevAtSync: (fd: number, bufs: Buffer[], position: number) => {
      if (full) throw enospc();
      return realFd.writevAtSync(fd, bufs, position);
    },
  },
});

t.test('ENOSPC while writing a PUT answers 507 and leaves no temp file', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'swiftlet-full-'));
  await mkdir(join(root, 'sda1'));
  const agent = signingDispatcher(TEST_BACKEND_KEY, {});
  const ctx: StorageNodeContext = {
    devicesRoot: root,
    secret: { prefix: 'p', suffix: 's' },
    fsync: false,
    backend: backendClientOver(agent, TEST_BACKEND_KEY),
    backendKey: TEST_BACKEND_KEY,
    log: pino({ level: 'silent' }),
    clock: () => Date.now(),
    containerUpdateTimeoutMs: 1000,
    clientTimeoutMs: 5000,
  };
  const stub: BackendServer = { handle: async (r) => sendStatus(r.res, 501), close: async () => {} };
  const server = createStorageNodeHttpServer(ctx, { object: createObjectServer(ctx), container: stub, account: stub, objectRow: stub, containerRow: stub });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await agent.close();
    await rm(root, { recursive: true, force: true });
  });
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const putBody = async (name: string, size: number) => {
    const res = await request(base + backendPath('sda1', 3, 'AUTH_a', 'c', name), {
      method: 'PUT',
      headers: { 'X-Timestamp': Timestamp.now().internal, 'Content-Type': 'a/b' },
      body: Buffer.alloc(size, 1),
      dispatcher: agent,
    });
    await res.body.dump();
    return res.statusCode;
  };
  full = true;
  t.equal(await putBody('small', 100), 507, 'small body: fails at commit');
  t.equal(await putBody('large', 3 * 1024 * 1024), 507, 'large body: fails mid-body');
  t.same(await readdir(join(root, 'sda1', 'tmp')), [], 'temp files removed');
  t.same(await readdir(join(root, 'sda1')).then((l) => l.includes('objects')), false, 'nothing stored');
  const del = await request(base + backendPath('sda1', 3, 'AUTH_a', 'c', 'small'), {
    method: 'DELETE',
    headers: { 'X-Timestamp': Timestamp.now().internal },
    dispatcher: agent,
  });
  await del.body.dump();
  t.equal(del.statusCode, 507, 'a tombstone cannot be written either');
  t.same(await readdir(join(root, 'sda1', 'tmp')), [], 'no temp file left by the tombstone');
  full = false;
  t.equal(await putBody('small', 100), 201, 'space again: the same PUT works');
});
