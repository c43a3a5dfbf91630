import t from 'tap';
import { getEventListeners } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../../common/log.js';
import { pause, runForever, startReport } from '../../replicator/daemon.js';

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
});
