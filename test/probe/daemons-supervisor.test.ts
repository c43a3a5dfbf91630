import t from 'tap';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { tryLockFile } from '../../common/lock-file.js';
import { createClusterRings } from '../../ring-builder/bootstrap.js';
import { passLockPath } from '../../replicator/daemon.js';
import { SWIFTLET_BIN } from '../helpers/cluster.js';
import { alive, gone } from '../helpers/processes.js';

/**
 * `swiftlet daemons` as a supervisor of one process per daemon (replicator/supervisor.ts): each
 * child at its priority, a child killed -9 restarted, SIGTERM stops them all, the supervisor's death
 * stops them too; and a daemon's passes never overlap across processes (its lock).
 */

const execFileP = promisify(execFile);

type TestLike = { teardown(fn: () => unknown): void; testdir(): string };

function setupNode(t: TestLike): string {
  const dir = t.testdir();
  const etc = join(dir, 'etc');
  mkdirSync(join(dir, 'node', 'd1'), { recursive: true });
  // A node nobody serves: the daemons' passes find no peer, which is fine for what is tested here.
  createClusterRings(etc, [{ region: 1, zone: 1, ip: '127.0.0.1', port: 1, device: 'd1', weight: 1 }], { partPower: 2, replicas: 1, minPartHours: 0, seed: 1 });
  const file = join(dir, 'node.json');
  writeFileSync(
    file,
    JSON.stringify({ swift_hash_path_suffix: 's', ring_dir: etc, bind_ip: '127.0.0.1', bind_port: 1, devices: join(dir, 'node'), log_level: 'info', replicator_interval_s: 3600, updater_interval_s: 3600, expirer_interval_s: 3600 }),
  );
  return file;
}

interface Supervisor {
  proc: ChildProcess;
  /** The pid of the next child of `daemon` that says it started (after setting its priority). */
  started(daemon: string): Promise<number>;
  exited: Promise<number | null>;
}

function startSupervisor(t: TestLike, config: string): Supervisor {
  const proc = spawn(process.execPath, [SWIFTLET_BIN, 'daemons', '--config', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  t.teardown(() => {
    if (proc.exitCode === null) proc.kill('SIGKILL');
  });
  const seen: Array<{ daemon: string; pid: number }> = [];
  const waiters: Array<() => void> = [];
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      // A child's own line: its daemons (the replicator: objects and dbs), its pid.
      const rec = JSON.parse(line) as { msg?: string; daemons?: string[]; pid?: number };
      if (rec.msg === 'daemons started' && rec.daemons && rec.pid) {
        seen.push({ daemon: rec.daemons[0] === 'object-replicator' ? 'replicator' : String(rec.daemons[0]), pid: rec.pid });
        waiters.splice(0).forEach((w) => w());
      }
    } catch {
      /* a report line */
    }
  });
  const taken = new Set<number>();
  t.teardown(() => {
    for (const s of seen) if (alive(s.pid)) process.kill(s.pid, 'SIGKILL');
  });
  return {
    proc,
    exited,
    async started(daemon) {
      for (;;) {
        const hit = seen.find((s) => s.daemon === daemon && !taken.has(s.pid));
        if (hit) {
          taken.add(hit.pid);
          return hit.pid;
        }
        if (proc.exitCode !== null) throw new Error('the supervisor exited');
        await new Promise<void>((r) => waiters.push(r));
      }
    },
  };
}

/** The nice value of a process (field 19 of /proc/<pid>/stat). */
function niceOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
}

t.test('one child per daemon at its priority; kill -9 one: restarted; SIGTERM: all gone, exit 0', async (t) => {
  const sup = startSupervisor(t, setupNode(t));
  const pids: Record<string, number> = {};
  for (const d of ['replicator', 'updater', 'auditor', 'expirer', 'reaper']) pids[d] = await sup.started(d);
  t.equal(new Set(Object.values(pids)).size, 5, 'five processes');
  t.ok(Object.values(pids).every((p) => p !== sup.proc.pid), 'none of them the supervisor');
  t.equal(niceOf(pids.auditor!), 19, 'the auditor at nice 19');
  for (const d of ['replicator', 'updater', 'expirer', 'reaper']) t.equal(niceOf(pids[d]!), 10, `the ${d} at nice 10`);
  const cmdline = readFileSync(`/proc/${pids.auditor}/cmdline`, 'utf8').split('\0');
  t.ok(cmdline.includes('--single-threaded'), 'a daemon child runs without V8 helper threads');

  process.kill(pids.auditor!, 'SIGKILL');
  const again = await sup.started('auditor');
  t.not(again, pids.auditor, 'the auditor is back, as a new process');
  t.ok(alive(again));
  t.ok(['replicator', 'updater', 'expirer', 'reaper'].every((d) => alive(pids[d]!)), 'the others untouched');

  sup.proc.kill('SIGTERM');
  t.equal(await sup.exited, 0, 'the supervisor exits 0 once its children have');
  for (const pid of [again, pids.replicator!, pids.updater!, pids.expirer!, pids.reaper!]) t.ok(await gone(pid), `child ${pid} is gone`);
});

t.test('kill -9 the supervisor: its children stop too (their IPC channel closed)', async (t) => {
  const sup = startSupervisor(t, setupNode(t));
  const pids = await Promise.all(['replicator', 'updater', 'auditor', 'expirer', 'reaper'].map((d) => sup.started(d)));
  sup.proc.kill('SIGKILL');
  await sup.exited;
  for (const pid of pids) t.ok(await gone(pid), `child ${pid} is gone`);
});

t.test("a daemon's pass never overlaps another process's: a --once finding the lock held skips and says so", async (t) => {
  const config = setupNode(t);
  const devices = (JSON.parse(readFileSync(config, 'utf8')) as { devices: string }).devices;
  mkdirSync(join(devices, '.swiftlet-status'), { recursive: true });
  // This test process holds the auditor's lock, as a running pass of another process does.
  const lock = tryLockFile(passLockPath(devices, 'auditor'));
  t.ok(lock, 'the lock taken');
  const busy = await execFileP(process.execPath, [SWIFTLET_BIN, 'auditor', '--config', config, '--once']);
  const skipped = JSON.parse(busy.stdout.trim().split('\n').pop()!) as { daemon: string; skipped?: string };
  t.equal(skipped.daemon, 'auditor');
  t.match(skipped.skipped, /another pass holds .*auditor\.lock/, 'skipped, and the report says why');
  lock!.release();
  const free = await execFileP(process.execPath, [SWIFTLET_BIN, 'auditor', '--config', config, '--once']);
  const ran = JSON.parse(free.stdout.trim().split('\n').pop()!) as { skipped?: string; cpuUserMs?: number; counts: Record<string, number> };
  t.equal(ran.skipped, undefined, 'with the lock free the pass runs');
  t.type(ran.cpuUserMs, 'number', 'and reports its CPU');

  // `daemons --once`: every daemon one pass, one process each, one after the other.
  const all = await execFileP(process.execPath, [SWIFTLET_BIN, 'daemons', '--config', config, '--once']).catch((e: { stdout: string }) => e);
  const reports = all.stdout
    .split('\n')
    .filter((l) => l.startsWith('{"daemon"'))
    .map((l) => JSON.parse(l) as { daemon: string; pid: number; cpuUserMs?: number });
  t.same(reports.map((r) => r.daemon), ['object-replicator', 'db-replicator', 'updater', 'auditor', 'expirer', 'reaper']);
  t.equal(new Set(reports.map((r) => r.pid)).size, 5, 'five processes (the replicator runs objects, then dbs)');
  t.ok(reports.every((r) => typeof r.cpuUserMs === 'number'), 'each pass with its CPU');
});
