import t from 'tap';
import { SwiftletError } from '../../common/errors.js';
import { parseConfig } from '../../common/config.js';
import { proxySpec } from '../../proxy/config.js';
import { interpretLimits, maxRate, RateCounters, ratelimitKeys, ratelimitSettings } from '../../proxy/middleware/ratelimit.js';
import { loginToken, mockProxy } from '../helpers/mock-proxy.js';

/** Swift's ratelimit middleware (proxy/middleware/ratelimit.ts): limits tables, keys, counters on a fake clock, and the stage. */

const settings = (cfg: Record<string, unknown>) => ratelimitSettings(parseConfig(proxySpec, { swift_hash_path_prefix: 'p', ...cfg }));

t.test("container limits interpolate between sizes (Swift's get_maxrate)", async (t) => {
  const limits = interpretLimits('container_ratelimit', { '10': 200, '50': 100, '75': 30 });
  t.same([0, 5, 10, 30, 50, 60, 75, 160].map((n) => maxRate(limits, n)), [undefined, undefined, 200, 150, 100, 72, 30, 30]);
  t.same(maxRate([], 1000), undefined, 'none configured');
  t.throws(() => interpretLimits('container_ratelimit', { big: 5 }), SwiftletError);
  t.throws(() => interpretLimits('container_ratelimit', { '10': -1 }), SwiftletError);
});

t.test('which requests count against which key', async (t) => {
  const s = settings({ account_ratelimit: 2, container_ratelimit: { '100': 10 }, container_listing_ratelimit: { '100': 5 } });
  const keys = (r: Parameters<typeof ratelimitKeys>[1]) => ratelimitKeys(s, r).map((k) => `${k.key}@${k.rate}`);
  t.same(keys({ method: 'PUT', account: 'a', container: 'c' }), ['ratelimit/a@2'], 'container PUT: the account');
  t.same(keys({ method: 'DELETE', account: 'a', container: 'c' }), ['ratelimit/a@2'], 'container DELETE: the account');
  t.same(keys({ method: 'POST', account: 'a', container: 'c' }), [], 'container POST: nothing');
  t.same(keys({ method: 'PUT', account: 'a' }), [], 'account PUT: nothing');
  t.same(keys({ method: 'PUT', account: 'a', container: 'c', object: 'o', containerSize: 50 }), [], 'a small container: none');
  for (const m of ['PUT', 'DELETE', 'POST', 'COPY']) t.same(keys({ method: m, account: 'a', container: 'c', object: 'o', containerSize: 500 }), ['ratelimit/a/c@10'], `object ${m}`);
  t.same(keys({ method: 'GET', account: 'a', container: 'c', object: 'o', containerSize: 500 }), [], 'object GET: none');
  t.same(keys({ method: 'GET', account: 'a', container: 'c', containerSize: 500 }), ['ratelimit_listing/a/c@5'], 'a listing');
  t.same(keys({ method: 'HEAD', account: 'a', container: 'c', containerSize: 500 }), [], 'a container HEAD: none');
  t.same(keys({ method: 'POST', account: 'a', globalWriteRate: '3' }), ['ratelimit/global-write/a@3'], 'global write rate: any write');
  t.same(keys({ method: 'GET', account: 'a', globalWriteRate: '3' }), [], 'not a read');
  t.same(keys({ method: 'PUT', account: 'a', container: 'c', globalWriteRate: 'x' }), ['ratelimit/a@2'], 'a rate that is no number is ignored');
  t.same(ratelimitKeys(settings({}), { method: 'PUT', account: 'a', container: 'c', object: 'o', containerSize: 1e6 }), [], "Swift's defaults: nothing limited");
});

t.test('the counters on a fake clock: waits grow by 1/rate, max sleep refuses, the buffer resets', async (t) => {
  let now = 1_700_000_000_000;
  const c = new RateCounters({ clockAccuracy: 1000, rateBufferS: 5, maxSleepS: 1 }, () => now);
  t.same([1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map(() => c.sleepFor('k', 10)), [0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], '10/s: each request waits 0.1 s more');
  t.equal(c.sleepFor('k', 10), 'max', 'the next would wait 1 s: refused');
  t.equal(c.sleepFor('k', 10), 'max', 'and the refusal took nothing');
  now += 500;
  t.equal(c.sleepFor('k', 10), 0.5, 'half a second later: its turn is half a second off');
  t.equal(c.sleepFor('other', 10), 0, 'keys are independent');
  now += 1000;
  t.equal(c.sleepFor('k', 10), 0, 'caught up: no wait');
  now += 5001;
  t.equal(c.sleepFor('k', 10), 0, 'idle past the buffer: from now again');
  t.equal(c.sleepFor('k', 10), 0.1);
  const burst = new RateCounters({ clockAccuracy: 1000, rateBufferS: 5, maxSleepS: 60 }, () => now);
  burst.sleepFor('b', 1);
  now += 4000;
  t.same([1, 2, 3, 4].map(() => burst.sleepFor('b', 1)), [0, 0, 0, 0], 'a key quiet for 4 s at 1/s saves its rate up (within the buffer): 4 at once');
  t.equal(burst.sleepFor('b', 1), 1, 'then it is spent');
});

t.test('the stage: 498 Slow down, 497 for the blacklist and by sysmeta, /info', async (t) => {
  const p = mockProxy({ account_ratelimit: 0.1, max_sleep_time_seconds: 1, account_blacklist: 'AUTH_bad', container_ratelimit: { '10': 0.1 } });
  t.teardown(() => p.close());
  let sysmeta = '';
  for (let i = 0; i < 5; i++) {
    p.mock
      .get(p.origin(i))
      .intercept({ path: () => true, method: () => true })
      .reply((opts) => {
        const path = String(opts.path).split('?')[0] as string;
        if (opts.method === 'HEAD' && /\/AUTH_\w+$/.test(path)) return { statusCode: 204, data: '', responseOptions: { headers: sysmeta ? { 'x-account-sysmeta-global-write-ratelimit': sysmeta } : {} } };
        if (opts.method === 'HEAD') return { statusCode: 204, data: '', responseOptions: { headers: { 'x-container-object-count': '20', 'x-backend-storage-policy-index': '0' } } };
        return { statusCode: opts.method === 'PUT' ? 201 : 204, data: '' };
      })
      .persist();
  }
  const token = await loginToken(p.app, 'test:tester', 'testing');
  const info = JSON.parse((await p.app.inject({ method: 'GET', url: '/info' })).body) as { ratelimit: unknown };
  t.same(info.ratelimit, { account_ratelimit: 0.1, max_sleep_time_seconds: 1, container_ratelimits: [[10, 0.1]], container_listing_ratelimits: [] }, '/info shows the limits');

  const put = () => p.app.inject({ method: 'PUT', url: '/v1/AUTH_test/c', headers: { 'x-auth-token': token } });
  t.equal((await put()).statusCode, 201, 'the first container PUT goes through');
  const slow = await put();
  t.same([slow.statusCode, slow.body], [498, 'Slow down'], 'the next would wait 10 s: 498');
  t.equal(slow.raw.res.statusMessage, 'Rate Limited', "swob's reason phrase");
  t.equal((await p.app.inject({ method: 'DELETE', url: '/v1/AUTH_test/c/o', headers: { 'x-auth-token': token } })).statusCode, 204, 'an object write in a container of 20: its own key');
  t.equal((await p.app.inject({ method: 'DELETE', url: '/v1/AUTH_test/c/o', headers: { 'x-auth-token': token } })).statusCode, 498, 'and the next is limited');
  t.equal((await p.app.inject({ method: 'GET', url: '/v1/AUTH_test/c/o', headers: { 'x-auth-token': token } })).statusCode < 400, true, 'reads are not');

  const bad = await p.app.inject({ method: 'GET', url: '/v1/AUTH_bad/c' });
  t.same([bad.statusCode, bad.body], [497, 'Your account has been blacklisted'], 'a blacklisted account');
  sysmeta = 'BLACKLIST';
  p.ctx.info.invalidateAccount('AUTH_other');
  t.equal((await p.app.inject({ method: 'GET', url: '/v1/AUTH_other/c' })).statusCode, 497, 'blacklisted by its sysmeta');
  sysmeta = 'WHITELIST';
  p.ctx.info.invalidateAccount('AUTH_test');
  t.equal((await put()).statusCode, 201, 'whitelisted by its sysmeta: no limit');
});

t.test("off by default: Swift's zeros", async (t) => {
  const p = mockProxy();
  t.teardown(() => p.close());
  for (let i = 0; i < 5; i++) p.mock.get(p.origin(i)).intercept({ path: () => true, method: () => true }).reply(() => ({ statusCode: 201, data: '' })).persist();
  const info = JSON.parse((await p.app.inject({ method: 'GET', url: '/info' })).body) as { ratelimit: unknown };
  t.same(info.ratelimit, { account_ratelimit: 0, max_sleep_time_seconds: 60, container_ratelimits: [], container_listing_ratelimits: [] });
  const token = await loginToken(p.app, 'test:tester', 'testing');
  for (let i = 0; i < 3; i++) t.equal((await p.app.inject({ method: 'PUT', url: '/v1/AUTH_test/c', headers: { 'x-auth-token': token } })).statusCode, 201);
});
