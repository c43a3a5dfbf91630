import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { alive } from '../helpers/processes.js';
import { SWIFTLET_BIN } from '../helpers/cluster.js';

/** `swiftlet aio` (what `npm start` runs): starts, serves, stops on a signal, and keeps data across restarts. */
interface AioReady {
  auth_url: string;
  pids: Record<string, number>;
  storage_node_ports: number[];
}

function startAio(data: string): { proc: ChildProcess; ready: Promise<AioReady> } {
  // aio's own defaults, whatever the environment the tests run in
  const { MALLOC_ARENA_MAX: _arenas, UV_THREADPOOL_SIZE: _threads, ...env } = process.env;
  const proc = spawn(process.execPath, [SWIFTLET_BIN, 'aio', '--data', data, '--port', '0', '--part-power', '6'], { stdio: ['ignore', 'pipe', 'inherit'], env });
  const ready = new Promise<AioReady>((resolve, reject) => {
    const rl = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
    rl.on('line', (line) => {
      if (!line.startsWith('{')) return;
      try {
        const rec = JSON.parse(line) as AioReady & { msg?: string };
        if (rec.msg === 'aio ready') resolve(rec);
      } catch {
        /* a child's log line */
      }
    });
    proc.once('exit', (code) => reject(new Error(`aio exited ${code}`)));
  });
  return { proc, ready };
}

async function stopAio(proc: ChildProcess): Promise<number | null> {
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  proc.kill('SIGINT');
  return exited;
}

t.test('all-in-one: start, use, stop, restart', async (t) => {
  const data = await mkdtemp(join(tmpdir(), 'swiftlet-aio-'));
  t.teardown(() => rm(data, { recursive: true, force: true }));
  let aio = startAio(data);
  let info = await aio.ready;
  t.same(
    Object.keys(info.pids).sort(),
    ['daemons1', 'daemons2', 'daemons3', 'daemons4', 'node1', 'node2', 'node3', 'node4', 'proxy'],
    'proxy + 4 storage nodes + their daemons',
  );
  for (const name of ['proxy', 'node1']) {
    const argv = (await readFile(`/proc/${info.pids[name]}/cmdline`, 'utf8')).split('\0');
    t.ok(argv.includes('--initial-old-space-size=128'), `${name} runs with the old-generation floor (no full GC every few hundred ms while bodies stream)`);
    t.ok(argv.includes('--max-semi-space-size=64'), `${name} runs with the larger young generation (fewer scavenges per request)`);
    t.ok(argv.includes('--min-semi-space-size=64'), `${name} starts with its young generation full-size (RSS levels off instead of creeping up)`);
    t.ok(argv.includes('--no-page-promotion'), `${name} keeps its young generation's pages (no promotion of whole pages, no fresh untouched ones)`);
    const env = (await readFile(`/proc/${info.pids[name]}/environ`, 'utf8')).split('\0');
    t.ok(env.includes('MALLOC_ARENA_MAX=2'), `${name} runs with at most two malloc arenas (freed memory not kept per thread)`);
  }
  // touched once at start (common/young-generation.ts): both 64 MiB semi-spaces resident before any load
  const recon = await request(`http://127.0.0.1:${info.storage_node_ports[0]}/recon/memory`);
  const young = ((await recon.body.json()) as { v8Spaces: Record<string, { physical: number }> }).v8Spaces.new_space?.physical ?? 0;
  t.ok(young >= 120 * 1024 * 1024, `node1's young generation is resident from the start (${(young / 1048576).toFixed(0)} MiB)`);
  const nodeEnv = (await readFile(`/proc/${info.pids.node1}/environ`, 'utf8')).split('\0');
  t.ok(nodeEnv.includes('UV_THREADPOOL_SIZE=16'), 'a storage node runs with 16 threads for its disk calls');
  const login = async () => {
    const res = await request(info.auth_url, { headers: { 'x-auth-user': 'test:tester', 'x-auth-key': 'testing' } });
    await res.body.dump();
    t.equal(res.statusCode, 200, 'test:tester / testing logs in');
    return { token: String(res.headers['x-auth-token']), url: String(res.headers['x-storage-url']) };
  };
  let s = await login();
  let res = await request(`${s.url}/c`, { method: 'PUT', headers: { 'x-auth-token': s.token } });
  await res.body.dump();
  t.equal(res.statusCode, 201);
  res = await request(`${s.url}/c/o`, { method: 'PUT', headers: { 'x-auth-token': s.token }, body: 'kept across restarts' });
  await res.body.dump();
  t.equal(res.statusCode, 201);

  // Two storage policies out of the box: gold (3 replicas, the default) and scratch (2).
  res = await request(`${new URL(info.auth_url).origin}/info`);
  t.same(((await res.body.json()) as { swift: { policies: unknown } }).swift.policies, [
    { name: 'gold', aliases: 'gold', default: true },
    { name: 'scratch', aliases: 'scratch' },
  ]);
  res = await request(`${s.url}/c`, { method: 'HEAD', headers: { 'x-auth-token': s.token } });
  t.equal(res.headers['x-storage-policy'], 'gold', 'a container made without asking is gold');
  res = await request(`${s.url}/tmp`, { method: 'PUT', headers: { 'x-auth-token': s.token, 'x-storage-policy': 'scratch' } });
  await res.body.dump();
  t.equal(res.statusCode, 201);
  res = await request(`${s.url}/tmp/o`, { method: 'PUT', headers: { 'x-auth-token': s.token }, body: 'two copies' });
  await res.body.dump();
  t.equal(res.statusCode, 201);
  const dataFiles = async (folder: string): Promise<number> => {
    let n = 0;
    for (let i = 1; i <= 4; i++) {
      const names = await readdir(join(data, `node${i}`, `d${i}`, folder), { recursive: true }).catch(() => []);
      n += names.filter((f) => String(f).endsWith('.data')).length;
    }
    return n;
  };
  // The answer comes at quorum; the last replica's file may land just after it.
  for (let i = 0; i < 100 && (await dataFiles('objects')) < 3; i++) await new Promise((r) => setTimeout(r, 50));
  t.equal(await dataFiles('objects-1'), 2, 'a scratch object: 2 replicas, in objects-1');
  t.equal(await dataFiles('objects'), 3, 'the gold object: 3 replicas, in objects');
  t.equal(await stopAio(aio.proc), 0, 'Ctrl-C stops it cleanly');
  for (const pid of Object.values(info.pids)) {
    // aio waits for its children; give the kernel a moment to reap them.
    for (let i = 0; i < 50 && alive(pid); i++) await new Promise((r) => setTimeout(r, 100));
    t.notOk(alive(pid), `child ${pid} is gone`);
  }

  aio = startAio(data);
  info = await aio.ready;
  s = await login();
  res = await request(`${s.url}/c/o`, { headers: { 'x-auth-token': s.token } });
  t.equal(await res.body.text(), 'kept across restarts');
  t.equal(await stopAio(aio.proc), 0);
});
