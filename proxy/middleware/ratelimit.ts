import { SwiftletError } from '../../common/errors.js';
import type { Clock } from '../../common/clock.js';
import type { ProxyConfig } from '../config.js';
import type { ProxyContext } from '../context.js';
import { accountInfo, containerInfo } from '../controllers/common.js';
import { respond, type Middleware, type ProxyRequest } from '../pipeline.js';
import { parseSwiftPath } from '../swift-request.js';
import { listFromCsv } from './cors/core.js';

/**
 * Rate limiting, as Swift's ratelimit middleware (swift/common/middleware/ratelimit.py), between
 * info and domain_remap as in Swift's pipeline. Per account: container PUT/DELETE at
 * `account_ratelimit` per second; per container, object PUT/DELETE/POST/COPY at the rate
 * `container_ratelimit` gives for its object count, and GET listings at `container_listing_ratelimit`'s;
 * per account, every write at its `X-Account-Sysmeta-Global-Write-Ratelimit` (a rate, or WHITELIST /
 * BLACKLIST). A request over its rate waits (the client sees a slower answer); one that would wait
 * `max_sleep_time_seconds` or more gets 498 "Slow down". Blacklisted accounts get 497 after a second.
 *
 * Swift keeps the counters in memcache, shared by every proxy; Swiftlet keeps them in this proxy's
 * memory, so each proxy allows the rate on its own (README "Differences from Swift").
 */

/** One line of a size → rate table (Swift's interpret_conf_limits): from `size` objects on, `rate(size)`. */
export interface SizeLimit {
  size: number;
  rate: number;
  at(size: number): number;
}

/**
 * Swift's interpret_conf_limits: `{"<container size>": <rate>}` sorted by size; between two sizes
 * the rate is interpolated linearly, past the last one it stays. CONFIG error for a size that is not
 * an integer or a rate that is not a number ≥ 0.
 */
export function interpretLimits(option: string, table: Record<string, unknown>): SizeLimit[] {
  const pairs = Object.entries(table).map(([k, v]) => {
    if (!/^\d+$/.test(k) || typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new SwiftletError('CONFIG', `${option}: "${k}": ${JSON.stringify(v)} must be a container size (an integer) and a rate (a number >= 0)`);
    }
    return [Number(k), v] as const;
  });
  pairs.sort((a, b) => a[0] - b[0]);
  return pairs.map(([size, rate], i) => {
    const next = pairs[i + 1];
    if (!next) return { size, rate, at: () => rate };
    const slope = (next[1] - rate) / (next[0] - size);
    return { size, rate, at: (x: number) => (x - size) * slope + rate };
  });
}

/** Swift's get_maxrate: the rate for a container of `size` objects; undefined below the first size (and for 0). */
export function maxRate(limits: SizeLimit[], size: number): number | undefined {
  if (!size) return undefined;
  let last: SizeLimit | undefined;
  for (const l of limits) {
    if (size < l.size) break;
    last = l;
  }
  return last?.at(size);
}

export interface RatelimitSettings {
  accountRatelimit: number;
  maxSleepS: number;
  logSleepS: number;
  rateBufferS: number;
  clockAccuracy: number;
  whitelist: string[];
  blacklist: string[];
  containerLimits: SizeLimit[];
  listingLimits: SizeLimit[];
}

export function ratelimitSettings(cfg: ProxyConfig): RatelimitSettings {
  return {
    accountRatelimit: cfg.account_ratelimit,
    maxSleepS: cfg.max_sleep_time_seconds,
    logSleepS: cfg.log_sleep_time_seconds,
    rateBufferS: cfg.rate_buffer_seconds,
    clockAccuracy: cfg.clock_accuracy,
    whitelist: listFromCsv(cfg.account_whitelist),
    blacklist: listFromCsv(cfg.account_blacklist),
    containerLimits: interpretLimits('container_ratelimit', cfg.container_ratelimit),
    listingLimits: interpretLimits('container_listing_ratelimit', cfg.container_listing_ratelimit),
  };
}

const WRITES = new Set(['PUT', 'DELETE', 'POST', 'COPY']);

/** What a request is limited by: counter keys and their rates, in Swift's order (get_ratelimitable_key_tuples). Pure. */
export function ratelimitKeys(
  s: RatelimitSettings,
  r: { method: string; account: string; container?: string; object?: string; containerSize?: number; globalWriteRate?: string },
): Array<{ key: string; rate: number }> {
  const keys: Array<{ key: string; rate: number }> = [];
  const { method, account, container, object } = r;
  if (s.accountRatelimit && container !== undefined && object === undefined && (method === 'PUT' || method === 'DELETE')) {
    keys.push({ key: `ratelimit/${account}`, rate: s.accountRatelimit });
  }
  if (container !== undefined && object !== undefined && WRITES.has(method)) {
    const rate = maxRate(s.containerLimits, r.containerSize ?? 0);
    if (rate) keys.push({ key: `ratelimit/${account}/${container}`, rate });
  }
  if (container !== undefined && object === undefined && method === 'GET') {
    const rate = maxRate(s.listingLimits, r.containerSize ?? 0);
    if (rate) keys.push({ key: `ratelimit_listing/${account}/${container}`, rate });
  }
  if (WRITES.has(method) && r.globalWriteRate !== undefined) {
    const rate = Number(r.globalWriteRate);
    if (r.globalWriteRate.trim() !== '' && Number.isFinite(rate) && rate > 0) keys.push({ key: `ratelimit/global-write/${account}`, rate });
  }
  return keys;
}

/** Which requests need the container's size to know their keys (a lookup, cached by the proxy). */
function needsContainerSize(s: RatelimitSettings, method: string, container: string | undefined, object: string | undefined): boolean {
  if (container === undefined) return false;
  if (object !== undefined) return WRITES.has(method) && s.containerLimits.length > 0;
  return method === 'GET' && s.listingLimits.length > 0;
}

/**
 * The counters (Swift's _get_sleep_time over memcache incr/set/decr, here a Map): each key holds
 * the time, in 1/clock_accuracy seconds, at which its next request is due. A request adds its
 * share (clock_accuracy / rate) and waits until its turn; a key that fell behind now by more than
 * rate_buffer_seconds starts again from now (unused rate is saved up to that much). A request that
 * would wait max_sleep_time_seconds or more is refused and takes its share back. `now` is injected
 * (tests use a fake clock).
 */
export class RateCounters {
  private readonly running = new Map<string, number>();

  constructor(
    private readonly s: Pick<RatelimitSettings, 'clockAccuracy' | 'rateBufferS' | 'maxSleepS'>,
    private readonly now: Clock,
  ) {}

  /** Seconds to wait before serving the request, or 'max' when it must be refused (498). */
  sleepFor(key: string, rate: number): number | 'max' {
    const acc = this.s.clockAccuracy;
    const nowM = Math.round((this.now() / 1000) * acc);
    const perRequestM = Math.round(acc / rate);
    const running = (this.running.get(key) ?? 0) + perRequestM;
    this.running.set(key, running);
    let needM = 0;
    if (nowM - running > this.s.rateBufferS * acc) this.running.set(key, nowM + perRequestM);
    else needM = Math.max(running - nowM - perRequestM, 0);
    if (this.s.maxSleepS * acc - needM <= acc * 0.01) {
      this.running.set(key, running - perRequestM);
      return 'max';
    }
    if (this.running.size > MAX_KEYS) this.prune(nowM);
    return needM / acc;
  }

  /** Drops keys that fell behind by more than the buffer: they would start again from now anyway. */
  private prune(nowM: number): void {
    for (const [k, v] of this.running) if (nowM - v > this.s.rateBufferS * this.s.clockAccuracy) this.running.delete(k);
  }

  get size(): number {
    return this.running.size;
  }
}

/** Counters kept before stale ones are dropped (each is a few dozen bytes). */
const MAX_KEYS = 10_000;

const BLACKLIST_SLEEP_MS = 1000;

export interface RatelimitDeps {
  /** Milliseconds since the epoch. */
  clock?: Clock;
  sleep?: (ms: number) => Promise<void>;
}

/** Whether the stage does anything: a limit or list configured, or `ratelimit_enabled` (for accounts' sysmeta alone). */
export function ratelimitActive(cfg: ProxyConfig, s: RatelimitSettings): boolean {
  return cfg.ratelimit_enabled || s.accountRatelimit > 0 || s.containerLimits.length > 0 || s.listingLimits.length > 0 || s.whitelist.length > 0 || s.blacklist.length > 0;
}

export function ratelimit(ctx: ProxyContext, deps: RatelimitDeps = {}): Middleware {
  const s = ratelimitSettings(ctx.config);
  // Swift's register_swift_info: not every option is shown (intentionally, as Swift).
  ctx.capabilities.register('ratelimit', {
    account_ratelimit: s.accountRatelimit,
    max_sleep_time_seconds: s.maxSleepS,
    container_ratelimits: s.containerLimits.map((l) => [l.size, l.rate]),
    container_listing_ratelimits: s.listingLimits.map((l) => [l.size, l.rate]),
  });
  if (!ratelimitActive(ctx.config, s)) return (next) => next;
  const clock = deps.clock ?? ctx.clock;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const counters = new RateCounters(s, clock);
  return (next) => async (req) => {
    const parsed = parseSwiftPath(req.path);
    if (!parsed.ok) return next(req);
    const { account, container, object } = parsed;
    const global = await globalWriteRatelimit(ctx, req, account);
    if (s.whitelist.includes(account) || global === 'WHITELIST') return next(req);
    if (s.blacklist.includes(account) || global === 'BLACKLIST') {
      req.log.error({ account }, 'ratelimit: returning 497 because of blacklisting');
      req.body.resume();
      await sleep(BLACKLIST_SLEEP_MS);
      return respond(497, {}, 'Your account has been blacklisted');
    }
    const containerSize = needsContainerSize(s, req.method, container, object) ? (await containerInfo(ctx, req, account, container as string)).objectCount : undefined;
    const keys = ratelimitKeys(s, {
      method: req.method,
      account,
      ...(container !== undefined ? { container } : {}),
      ...(object !== undefined ? { object } : {}),
      ...(containerSize !== undefined ? { containerSize } : {}),
      ...(global !== undefined ? { globalWriteRate: global } : {}),
    });
    for (const { key, rate } of keys) {
      const wait = counters.sleepFor(key, rate);
      if (wait === 'max') {
        req.log.error({ method: req.method, path: [account, container, object].filter((x) => x !== undefined).join('/'), key }, 'ratelimit: returning 498 (max sleep)');
        req.body.resume();
        return respond(498, {}, 'Slow down');
      }
      if (s.logSleepS && wait > s.logSleepS) req.log.warn({ sleep: wait, account, container, object }, 'ratelimit sleep log');
      if (wait > 0) await sleep(wait * 1000);
    }
    return next(req);
  };
}

/** The account's X-Account-Sysmeta-Global-Write-Ratelimit, if it has one (cached account info). */
async function globalWriteRatelimit(ctx: ProxyContext, req: ProxyRequest, account: string): Promise<string | undefined> {
  const info = await accountInfo(ctx, req, account);
  if (info.status < 200 || info.status >= 300) return undefined;
  return Object.entries(info.headers).find(([n]) => n.toLowerCase() === 'x-account-sysmeta-global-write-ratelimit')?.[1];
}
