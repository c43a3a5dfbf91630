import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { request } from 'undici';
import { SWIFTLET_BIN } from '../helpers/cluster.js';

/**
 * Ctrl-C on `swiftlet aio` (npm start) after it has served traffic: the terminal sends SIGINT to
 * every process of its group, aio then SIGTERMs its children as well. Everything stops, exit 0,
 * and nothing is printed on the way but each child's clean exit: no crash (the proxy once died of
 * an unhandled ClientDestroyedError closing its backend client twice), no process warning (the
 * fastify deprecations every start printed).
 */
t.test('Ctrl-C on the all-in-one after traffic: exit 0, no error output', async (t) => {
  const data = await mkdtemp(join(tmpdir(), 'swiftlet-aio-stop-'));
  t.teardown(() => rm(data, { recursive: true, force: true }));
  const { MALLOC_ARENA_MAX: _arenas, UV_THREADPOOL_SIZE: _threads, ...env } = process.env;
  // Its own process group, as a terminal's foreground job is.
  const proc = spawn(process.execPath, [SWIFTLET_BIN, 'aio', '--data', data, '--port', '0', '--part-power', '6'], { stdio: ['ignore', 'pipe', 'pipe'], env, detached: true });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  t.teardown(() => {
    if (proc.exitCode === null) process.kill(-proc.pid!, 'SIGKILL');
  });
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const stdout: string[] = [];
  const ready = new Promise<{ auth_url: string }>((resolve, reject) => {
    createInterface({ input: proc.stdout! }).on('line', (line) => {
      stdout.push(line);
      if (line.startsWith('{') && line.includes('"aio ready"')) resolve(JSON.parse(line) as { auth_url: string });
    });
    void exited.then((code) => reject(new Error(`aio exited ${code} before it was ready: ${stderr}`)));
  });
  const info = await ready;

  const login = await request(info.auth_url, { headers: { 'x-auth-user': 'test:tester', 'x-auth-key': 'testing' } });
  await login.body.dump();
  const token = String(login.headers['x-auth-token']);
  const url = String(login.headers['x-storage-url']);
  const call = async (method: string, path: string, body?: string | Buffer): Promise<number> => {
    const res = await request(`${url}${path}`, { method: method as 'GET', headers: { 'x-auth-token': token }, ...(body !== undefined ? { body } : {}) });
    await res.body.dump();
    return res.statusCode;
  };
  t.equal(await call('PUT', '/c'), 201);
  t.equal(await call('PUT', '/c/small', 'hello'), 201);
  // Above 4 MiB: hashed on the proxy's worker threads, which must stop too.
  t.equal(await call('PUT', '/c/large', Buffer.alloc(6 * 1024 * 1024, 0x61)), 201);
  t.equal(await call('GET', '/c/large'), 200);
  t.equal(await call('GET', '/c'), 200);
  t.equal(await call('GET', '/nothing-here'), 404);
  t.equal(await call('DELETE', '/c/small'), 204);

  // 'close', not 'exit': aio's last stderr lines may still be in the pipe when its exit is seen.
  const closed = new Promise<void>((r) => proc.once('close', () => r()));
  process.kill(-proc.pid!, 'SIGINT');
  t.equal(await exited, 0, 'aio exits 0');
  t.same(await processesUsing(data), [], 'no process of this cluster outlives aio');
  await closed;
  const lines = stderr.split('\n').filter((l) => l !== '');
  const clean = lines.filter((l) => /^\[aio\] \S+ exited \(0\)$/.test(l));
  t.equal(clean.length, 9, 'the proxy, 4 storage nodes and their daemons all exited 0');
  t.same(lines.filter((l) => !clean.includes(l)), [], 'nothing else on stderr (no crash, no warning)');
  t.same(
    stdout.filter((l) => /"level":(50|60)/.test(l)),
    [],
    'no error logged by any process',
  );
});

/** Command lines of the running processes that name dir (aio's children take their configs from it). */
async function processesUsing(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((d) => /^\d+$/.test(d))) {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes(dir) && Number(pid) !== process.pid) found.push(`${pid}: ${cmdline.split('\0').join(' ')}`);
  }
  return found;
}
