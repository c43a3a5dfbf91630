import type { AddressInfo } from 'node:net';
import { requireHashSecret } from '../common/config.js';
import { systemClock } from '../common/clock.js';
import { startMallocTrim } from '../common/malloc-trim.js';
import { parseStoragePolicies } from '../common/storage-policy.js';
import type { Logger } from '../common/log.js';
import { openRings } from '../ring-builder/rings.js';
import { buildProxy } from './app.js';
import type { ProxyConfig } from './config.js';

export interface RunningProxy {
  port: number;
  close(): Promise<void>;
}

/** Loads the three rings (reloaded when they change and validate) and starts the proxy. */
export async function startProxy(config: ProxyConfig, log: Logger): Promise<RunningProxy> {
  const secret = requireHashSecret(config);
  // Every policy's object ring must load, or the proxy does not start (as Swift's).
  const rings = openRings(config.ring_dir, secret, { log, checkIntervalMs: config.ring_check_interval_s * 1000 }, parseStoragePolicies(config.storage_policies));
  const { app, ctx } = buildProxy({
    config,
    rings,
    log,
    clock: systemClock,
  });
  await app.listen({ port: config.bind_port, host: config.bind_ip });
  const stopTrim = startMallocTrim({ intervalMs: config.malloc_trim_interval_s * 1000, log });
  const port = (app.server.address() as AddressInfo).port;
  log.info({ port }, 'listening');
  // Once: a second close (Ctrl-C signals every process of the group, then aio SIGTERMs its
  // children) would close the backend client again, and undici rejects that once it is destroyed.
  let closing: Promise<void> | undefined;
  return {
    port,
    close() {
      closing ??= (async () => {
        stopTrim();
        rings.stop();
        await app.close();
        await ctx.backend.close();
        ctx.putAgent.destroy();
        await ctx.hashing.close();
        await ctx.keystone?.close();
      })();
      return closing;
    },
  };
}
