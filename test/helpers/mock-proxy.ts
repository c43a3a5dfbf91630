import { MockAgent, type Dispatcher } from 'undici';
import { backendKeyFrom } from '../../common/backend-auth.js';
import { backendClientOver } from '../../common/http-client.js';
import { parseConfig } from '../../common/config.js';
import { silentLogger } from '../../common/log.js';
import { buildProxy } from '../../proxy/app.js';
import { proxySpec } from '../../proxy/config.js';
import type { ProxyContext } from '../../proxy/context.js';
import { Ring, type RingDevice } from '../../ring-builder/ring.js';
import type { FastifyInstance } from 'fastify';

/**
 * A proxy whose storage nodes are undici MockAgent origins: five devices (three primaries, two
 * handoffs) in one partition, no network (disableNetConnect). Object PUTs go over node:http, not
 * undici: they reach nothing here (ports 1-5 refuse).
 */
export interface MockProxy {
  app: FastifyInstance;
  ctx: ProxyContext;
  mock: MockAgent;
  ring: Ring;
  devices: RingDevice[];
  origin(i: number): string;
  close(): Promise<void>;
}

/** `objectRings`: the object ring of each storage policy (default: the one ring for every policy). */
export function mockProxy(config: Record<string, unknown> = {}, objectRings: Record<number, Ring> = {}, opts: { keystoneDispatcher?: Dispatcher } = {}): MockProxy {
  const devices: RingDevice[] = [0, 1, 2, 3, 4].map((i) => ({ id: i, region: 1, zone: i + 1, ip: '127.0.0.1', port: i + 1, device: `d${i}`, weight: 1, meta: '' }));
  const ring = Ring.fromData({ partPower: 0, replicas: 3, devices, replica2part2dev: [Uint16Array.of(0), Uint16Array.of(1), Uint16Array.of(2)] }, { prefix: 'p', suffix: 's' });
  const parsed = parseConfig(proxySpec, { swift_hash_path_prefix: 'p', swift_hash_path_suffix: 's', error_suppression_limit: 1000, access_log: 'off', ...config });
  const { app, ctx } = buildProxy({ config: parsed, rings: { account: () => ring, container: () => ring, object: (policy = 0) => objectRings[policy] ?? ring }, log: silentLogger, clock: Date.now, ...opts });
  const real = ctx.backend;
  const mock = new MockAgent();
  mock.disableNetConnect();
  ctx.backend = backendClientOver(mock, backendKeyFrom(parsed));
  return {
    app,
    ctx,
    mock,
    ring,
    devices,
    origin: (i) => `http://127.0.0.1:${i + 1}`,
    async close() {
      await app.close();
      await mock.close();
      await real.close();
      ctx.putAgent.destroy();
      await ctx.hashing.close();
    },
  };
}

/** A token for `user` from the proxy's own login. */
export async function loginToken(app: FastifyInstance, user: string, key: string): Promise<string> {
  const res = await app.inject({ method: 'GET', url: '/auth/v1.0', headers: { 'x-auth-user': user, 'x-auth-key': key } });
  return String(res.headers['x-auth-token']);
}

/** Every storage node answers yes (201 to a PUT, 204 otherwise); returns the requests they got, as "METHOD path". */
export function nodesSayYes(p: MockProxy): string[] {
  const asked: string[] = [];
  for (let i = 0; i < p.devices.length; i++) {
    p.mock
      .get(p.origin(i))
      .intercept({ path: () => true, method: () => true })
      .reply((opts) => {
        asked.push(`${opts.method} ${opts.path}`);
        return { statusCode: opts.method === 'PUT' ? 201 : 204, data: '' };
      })
      .persist();
  }
  return asked;
}
