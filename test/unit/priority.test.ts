import t from 'tap';
import { spawnSync } from 'node:child_process';
import { native } from '../../common/native.js';

/**
 * A daemon's priority (common/priority.ts), checked in a child process (it cannot be undone): every
 * thread nice 19 and in the idle I/O class, and threads made after the call (a worker) too.
 */

const PRIORITY_MODULE = new URL('../../common/priority.js', import.meta.url).href;

interface ThreadState {
  tid: number;
  nice: number;
  io?: [number, number];
}

function runChild(level: string, env: NodeJS.ProcessEnv = process.env): { result: { nice: number; io: string; threads: number; errors: string[] }; threads: ThreadState[] } {
  const script = `
    import { readdirSync, readFileSync } from 'node:fs';
    import { readFile } from 'node:fs/promises';
    import { promisify } from 'node:util';
    import { Worker } from 'node:worker_threads';
    import { pbkdf2 } from 'node:crypto';
    const { applyDaemonPriority } = await import(${JSON.stringify(PRIORITY_MODULE)});
    const { native } = await import(${JSON.stringify(new URL('../../common/native.js', import.meta.url).href)});
    const result = applyDaemonPriority(${JSON.stringify(level)});
    // Threads made after the call: libuv's pool busy at once (4 threads) and a worker thread.
    await Promise.all([...Array(8)].map(() => promisify(pbkdf2)('x', 's', 20000, 32, 'sha256')));
    await readFile('/proc/self/stat');
    const worker = new Worker('setInterval(() => {}, 1000)', { eval: true });
    await new Promise((r) => worker.once('online', r));
    const threads = readdirSync('/proc/self/task').map(Number).map((tid) => {
      const stat = readFileSync('/proc/self/task/' + tid + '/stat', 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return { tid, nice: Number(fields[16]), ...(native.ioprioGet ? { io: native.ioprioGet(tid) } : {}) };
    });
    console.log(JSON.stringify({ result, threads }));
    await worker.terminate();
  `;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', env });
  if (r.status !== 0) throw new Error(r.stderr);
  return JSON.parse(r.stdout) as ReturnType<typeof runChild>;
}

t.test('idle: every thread at nice 19 and in the idle I/O class, threads started later too', { skip: process.platform !== 'linux' && 'Linux only' }, async (t) => {
  const { result, threads } = runChild('idle');
  t.same(result.errors, [], 'every call succeeded');
  t.equal(result.nice, 19);
  t.ok(threads.length > result.threads, `threads made after the call are checked too (${result.threads} then, ${threads.length} now)`);
  t.same(threads.filter((th) => th.nice !== 19), [], 'all threads nice 19');
  if (!native.ioprioGet) {
    t.equal(result.io, 'unavailable', 'no native module: said so');
    return;
  }
  t.equal(result.io, 'idle');
  t.same(threads.filter((th) => th.io?.[0] !== 3), [], 'all threads in IOPRIO_CLASS_IDLE (3), as ioprio_get(2) reports');
});

t.test('low: nice 10 and best-effort level 7', { skip: process.platform !== 'linux' && 'Linux only' }, async (t) => {
  const { result, threads } = runChild('low');
  t.same(result.errors, []);
  t.same(threads.filter((th) => th.nice !== 10), [], 'all threads nice 10');
  if (native.ioprioGet) t.same(threads.filter((th) => th.io?.[0] !== 2 || th.io[1] !== 7), [], 'all threads best-effort 7');
});

t.test('without the native module: nice only, and it says the I/O class is unavailable', { skip: process.platform !== 'linux' && 'Linux only' }, async (t) => {
  const { result, threads } = runChild('idle', { ...process.env, SWIFTLET_NATIVE: 'off' });
  t.equal(result.io, 'unavailable');
  t.same(result.errors, []);
  t.same(threads.filter((th) => th.nice !== 19), [], 'still nice 19');
});

t.test('ioprioSet: a bad class is refused, and the syscall result is checked', { skip: !native.ioprioSet && 'no native module' }, async (t) => {
  t.throws(() => native.ioprioSet?.(0, 9, 0), /class 0-3/);
  // A thread id that does not exist: ESRCH from the kernel, thrown with its code.
  t.throws(() => native.ioprioSet?.(2 ** 30, 3, 0), { code: 'EIOPRIO' });
  t.throws(() => native.ioprioGet?.(2 ** 30), { code: 'EIOPRIO' });
});
