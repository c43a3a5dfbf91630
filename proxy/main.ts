import type { AddressInfo } from 'node:net';
import { requireHashSecret } from '../common/config.js';
import { systemClock } from '../common/clock.js';
import type { Logger } from '../common/log.js';
import { RingHolder } from '../ring-builder/ring-holder.js';
import { ringFile } from '../ring-builder/ring.js';
import { buildProxy } from './app.js';
import type { ProxyConfig } from './config.js';

export interface RunningProxy {
  port: number;
  close(): Promise<void>;
}

/** Loads the three rings (reloaded when they change and validate) and starts the proxy. */
export async function startProxy(config: ProxyConfig, log: Logger): Promise<RunningProxy> {
  const secret = requireHashSecret(config);
  const holders = {
    account: new RingHolder(ringFile(config.ring_dir, 'account'), secret, { log, checkIntervalMs: config.ring_check_interval_s * 1000 }),
    container: new RingHolder(ringFile(config.ring_dir, 'container'), secret, { log, checkIntervalMs: config.ring_check_interval_s * 1000 }),
    object: new RingHolder(ringFile(config.ring_dir, 'object'), secret, { log, checkIntervalMs: config.ring_check_interval_s * 1000 }),
  };
  for (const h of Object.values(holders)) h.start();
  const { app, ctx } = buildProxy({
    config,
    rings: { account: () => holders.account.ring, container: () => holders.container.ring, object: () => holders.object.ring },
    log,
    clock: systemClock,
  });
  await app.listen({ port: config.bind_port, host: config.bind_ip });
  const port = (app.server.address() as AddressInfo).port;
  log.info({ port }, 'listening');
  return {
    port,
    async close() {
      for (const h of Object.values(holders)) h.stop();
      await app.close();
      await ctx.agent.close();
      ctx.putAgent.destroy();
    },
  };
}
