import t from 'tap';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../../common/config.js';
import { silentLogger } from '../../common/log.js';
import { proxySpec } from '../../proxy/config.js';
import { startProxy } from '../../proxy/main.js';
import { ringFile, writeRingFile, type RingDevice } from '../../ring-builder/ring.js';

/** The proxy as `swiftlet proxy` starts and stops it, with its rings in a temp dir. */
t.test('the proxy starts without warnings and closes cleanly, however often it is told to', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'swiftlet-proxy-start-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const devices: RingDevice[] = [0, 1, 2].map((i) => ({ id: i, region: 1, zone: i + 1, ip: '127.0.0.1', port: 1 + i, device: `d${i}`, weight: 1, meta: '' }));
  for (const name of ['account', 'container', 'object'] as const) {
    writeRingFile(ringFile(dir, name), { partPower: 0, replicas: 3, devices, replica2part2dev: [Uint16Array.of(0), Uint16Array.of(1), Uint16Array.of(2)] });
  }
  const warnings: string[] = [];
  const onWarning = (w: Error & { code?: string }): void => void warnings.push(`${w.name} ${w.code ?? ''}: ${w.message}`);
  process.on('warning', onWarning);
  t.teardown(() => void process.off('warning', onWarning));

  const config = parseConfig(proxySpec, { swift_hash_path_prefix: 'p', swift_hash_path_suffix: 's', ring_dir: dir, bind_ip: '127.0.0.1', bind_port: 0, malloc_trim_interval_s: 0, access_log: 'off' });
  const p = await startProxy(config, silentLogger);
  const res = await fetch(`http://127.0.0.1:${p.port}/healthcheck`);
  t.equal(await res.text(), 'OK', 'it serves');
  // Ctrl-C on the all-in-one: SIGINT to the proxy, then aio's SIGTERM, both while it closes.
  const first = p.close();
  const second = p.close();
  await Promise.all([first, second]);
  await t.resolves(p.close(), 'and once more after it has closed');
  await new Promise((r) => setImmediate(r));
  t.same(warnings, [], 'no process warning (deprecations, listener leaks) from start to close');
});
