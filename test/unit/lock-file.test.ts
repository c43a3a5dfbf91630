import t from 'tap';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { tryLockFile } from '../../common/lock-file.js';

/** The cross-process lock file (common/lock-file.ts): one holder at a time, dead holders' locks taken over. */

const holderFile = (pid: number, host = hostname(), token = 'x'): string => JSON.stringify({ pid, host, token });

/** A pid that was just used and is gone now. */
function deadPid(): number {
  const r = spawnSync(process.execPath, ['-e', '0']);
  return r.pid as number;
}

/** Another process that stays alive until killed. */
function liveProcess(t: { teardown(f: () => unknown): void }): ChildProcess {
  const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  t.teardown(() => p.kill('SIGKILL'));
  return p;
}

function setAge(path: string, ageMs: number): void {
  const s = (Date.now() - ageMs) / 1000;
  utimesSync(path, s, s);
}

t.test('one holder at a time, in one process; released, it can be taken again', async (t) => {
  const path = join(t.testdir({}), '3.lock');
  const a = tryLockFile(path);
  t.ok(a, 'taken');
  t.same(JSON.parse(readFileSync(path, 'utf8')).pid, process.pid, 'the file names its holder');
  t.equal(tryLockFile(path), undefined, 'busy for a second try');
  a?.release();
  t.notOk(existsSync(path), 'released: the file is gone');
  a?.release();
  const b = tryLockFile(path);
  t.ok(b, 'taken again');
  b?.release();
  t.throws(() => tryLockFile(join(t.testdir({}), 'missing', '3.lock')), { code: 'ENOENT' }, 'a missing folder is an error');
});

t.test('a lock of a live process is respected; once it dies, the lock is taken over', async (t) => {
  const path = join(t.testdir({}), '3.lock');
  const other = liveProcess(t);
  writeFileSync(path, holderFile(other.pid as number));
  t.equal(tryLockFile(path), undefined, 'held by a live process');
  await new Promise((r) => {
    other.once('exit', r);
    other.kill('SIGKILL');
  });
  const mine = tryLockFile(path);
  t.ok(mine, 'its holder is gone: taken');
  t.same(JSON.parse(readFileSync(path, 'utf8')).pid, process.pid);
  mine?.release();

  writeFileSync(path, holderFile(deadPid()));
  const d = tryLockFile(path);
  t.ok(d, 'a pid that is gone: taken');
  d?.release();
});

t.test('staleness by age: a reused pid, another host, a torn file', async (t) => {
  const path = join(t.testdir({}), '3.lock');
  writeFileSync(path, holderFile(process.pid)); // a live pid (ours), as after pid reuse
  t.equal(tryLockFile(path, { staleAfterMs: 60_000 }), undefined, 'recently refreshed: held');
  setAge(path, 120_000);
  const l = tryLockFile(path, { staleAfterMs: 60_000 });
  t.ok(l, 'not refreshed for longer than staleAfterMs: taken');
  l?.release();

  writeFileSync(path, holderFile(deadPid(), 'another-host'));
  t.equal(tryLockFile(path), undefined, 'another host: its pid means nothing here, so only age counts');
  setAge(path, 11 * 60_000);
  const m = tryLockFile(path);
  t.ok(m, 'another host, unrefreshed for 11 min (default stale age 10 min)');
  m?.release();

  writeFileSync(path, '');
  t.equal(tryLockFile(path), undefined, 'empty (its holder between open and write): held while young');
  setAge(path, 11 * 60_000);
  const e = tryLockFile(path);
  t.ok(e, 'empty and old: taken');
  e?.release();
});

t.test('a holder refreshes its lock; a broken and retaken lock is not removed by the old holder', async (t) => {
  const path = join(t.testdir({}), '3.lock');
  const l = tryLockFile(path, { refreshMs: 10 });
  t.ok(l);
  setAge(path, 3600_000);
  const old = statSync(path).mtimeMs;
  for (let i = 0; i < 500 && statSync(path).mtimeMs === old; i++) await new Promise((r) => setTimeout(r, 10));
  t.ok(statSync(path).mtimeMs > Date.now() - 60_000, 'touched again by its holder');

  // Someone judged it stale anyway (say it was stopped) and took it: the old holder's release leaves it.
  const other = tryLockFile(path, { staleAfterMs: -1 });
  t.ok(other, 'taken over');
  const content = readFileSync(path, 'utf8');
  l?.release();
  t.equal(readFileSync(path, 'utf8'), content, "the new holder's lock stays");
  other?.release();
  t.notOk(existsSync(path));
});

t.test('across processes: a child holds it, then dies with kill -9 without releasing', async (t) => {
  const path = join(t.testdir({}), '3.lock');
  const mod = resolve('dist/common/lock-file.js');
  const child = spawn(
    process.execPath,
    ['--input-type=module', '-e', `const { tryLockFile } = await import(${JSON.stringify(mod)}); console.log(tryLockFile(${JSON.stringify(path)}) ? 'locked' : 'busy'); setInterval(() => {}, 1000);`],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  t.teardown(() => child.kill('SIGKILL'));
  const first = await new Promise<string>((r) => createInterface({ input: child.stdout as NodeJS.ReadableStream }).once('line', r));
  t.equal(first, 'locked', 'the child took it');
  t.equal(tryLockFile(path), undefined, 'busy here');
  await new Promise((r) => {
    child.once('exit', r);
    child.kill('SIGKILL');
  });
  t.ok(existsSync(path), 'left behind');
  const mine = tryLockFile(path);
  t.ok(mine, 'taken over from the dead child');
  mine?.release();
});
