import t from 'tap';
import { getEventListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../common/log.js';
import { createHash } from 'node:crypto';
import { loadReports, pause, runForever, runPass, startReport, type Daemon } from '../../replicator/daemon.js';

t.test('runForever leaves no abort listener behind per pass', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'swiftlet-daemon-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const warnings: string[] = [];
  const onWarning = (w: Error): void => void warnings.push(w.name);
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));
  const stop = new AbortController();
  const listeners: number[] = [];
  let passes = 0;
  const daemon = {
    name: 'test-daemon',
    async runOnce() {
      listeners.push(getEventListeners(stop.signal, 'abort').length);
      if (++passes === 30) stop.abort();
      return startReport('test-daemon', Date.now).finish();
    },
  };
  await runForever(daemon, { intervalMs: 0, devicesRoot: root, log: silentLogger, signal: stop.signal });
  t.equal(passes, 30, 'ran until the signal');
  t.same([...new Set(listeners)], [0], 'no listener left on the signal between passes');
  await new Promise((r) => setImmediate(r));
  t.same(warnings, [], 'no MaxListenersExceededWarning');
});

t.test('pause: ends at its time or at the abort, and removes its listener either way', async (t) => {
  const ac = new AbortController();
  await pause(1, ac.signal);
  t.equal(getEventListeners(ac.signal, 'abort').length, 0, 'after the timer');
  const waiting = pause(60_000, ac.signal);
  t.equal(getEventListeners(ac.signal, 'abort').length, 1, 'while waiting');
  ac.abort();
  await waiting;
  t.equal(getEventListeners(ac.signal, 'abort').length, 0, 'after the abort');
  await pause(0);
  // A signal that aborted before the wait (SIGTERM during a pass): no wait at all, not the whole interval.
  const done = await Promise.race([pause(60_000, ac.signal).then(() => 'resolved'), new Promise((r) => setImmediate(() => r('still waiting')))]);
  t.equal(done, 'resolved', 'an aborted signal ends the wait at once');
});

t.test('runPass: the CPU of a pass that ran alone in its process, none for passes that overlapped', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'swiftlet-daemon-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const busy = (name: string, ms: number): Daemon => ({
    name,
    async runOnce() {
      const pass = startReport(name, Date.now);
      const until = process.cpuUsage().user + ms * 1000;
      while (process.cpuUsage().user < until) createHash('sha256').update(Buffer.alloc(65536)).digest();
      await pause(5);
      return pass.finish();
    },
  });
  const alone = await runPass(busy('alone', 30), { devicesRoot: root, intervalS: 7 });
  t.ok((alone.cpuUserMs ?? 0) >= 30, `its CPU: ${alone.cpuUserMs} ms user`);
  t.type(alone.cpuSystemMs, 'number');
  t.equal(alone.intervalS, 7);
  t.equal(alone.pid, process.pid);
  const saved = (await loadReports(root)).find((r) => r.daemon === 'alone');
  t.equal(saved?.cpuUserMs, alone.cpuUserMs, 'saved with the report');
  const [a, b] = await Promise.all([runPass(busy('a', 5), { devicesRoot: root }), runPass(busy('b', 5), { devicesRoot: root })]);
  t.equal(a.cpuUserMs, undefined, 'overlapped: no figure that would count the other pass too');
  t.equal(b.cpuUserMs, undefined);
  t.equal(a.counts.failures, undefined, 'both passes ran');
});

t.test("runPass: one pass of a daemon at a time on a node; the other is skipped, reported, not saved", async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'swiftlet-daemon-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let runs = 0;
  const slow: Daemon = {
    name: 'slow',
    async runOnce() {
      runs++;
      const pass = startReport('slow', Date.now);
      pass.count('done');
      await gate;
      return pass.finish();
    },
  };
  const first = runPass(slow, { devicesRoot: root });
  await new Promise((r) => setImmediate(r));
  const second = await runPass(slow, { devicesRoot: root });
  t.match(second.skipped, /another pass holds .*slow\.lock/, 'skipped, and says why');
  t.equal(runs, 1, 'the second did not run');
  t.same(await loadReports(root), [], 'nothing saved for the skipped pass');
  release();
  t.equal((await first).counts.done, 1);
  t.equal((await runPass(slow, { devicesRoot: root })).skipped, undefined, 'the lock is free again afterwards');
  t.equal(runs, 2);
});

t.test('runForever over several daemons runs their passes one after the other', async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'swiftlet-daemon-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const stop = new AbortController();
  const events: string[] = [];
  const step = (name: string): Daemon => ({
    name,
    async runOnce() {
      events.push(`${name} start`);
      await pause(2);
      events.push(`${name} end`);
      if (name === 'db' && events.length >= 8) stop.abort();
      return startReport(name, Date.now).finish();
    },
  });
  await runForever([step('objects'), step('db')], { intervalMs: 0, devicesRoot: root, log: silentLogger, signal: stop.signal });
  t.same(events, ['objects start', 'objects end', 'db start', 'db end', 'objects start', 'objects end', 'db start', 'db end']);
  const reports = await loadReports(root);
  t.ok(reports.every((r) => typeof r.cpuUserMs === 'number'), 'so every pass has its own CPU figure');
});
