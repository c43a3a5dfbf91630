import { createHash } from 'node:crypto';
import { Agent, type Dispatcher } from 'undici';
import type { Clock } from '../../common/clock.js';
import type { KeystoneIdentity } from '../auth.js';
import { SwiftletError } from '../../common/errors.js';
import { discardBody, externalRequest } from '../../common/http-client.js';
import { ExpiringCache } from './token-cache.js';

/** What a validated Keystone v3 token says (keystonemiddleware's X-User-*, X-Project-*, X-Roles), and when it expires (ms since the epoch). */
export type KeystoneToken = Omit<KeystoneIdentity, 'serviceRoles'> & { expiresAt: number };

export interface KeystoneClientOptions {
  /** Keystone's identity API, e.g. http://keystone:5000/v3 (a missing /v3 is added). */
  url: string;
  /** The service user the proxy validates tokens as (keystonemiddleware's [keystone_authtoken]). */
  username: string;
  password: string;
  projectName: string;
  userDomainName: string;
  projectDomainName: string;
  timeoutMs: number;
  /** How long a validated (or refused) token is trusted without asking again; never past its expiry. */
  cacheTtlMs: number;
  cacheSize: number;
  clock: Clock;
  /** Tests pass a MockAgent; otherwise a keep-alive pool of its own. */
  dispatcher?: Dispatcher;
}

/** Renew the service user's token this long before it expires. */
const SERVICE_TOKEN_MARGIN_MS = 60_000;
/** Larger answers than this from Keystone are refused (a token with its roles is a few KiB). */
const MAX_BODY_BYTES = 1024 * 1024;

/**
 * keystonemiddleware's authtoken, the part that talks to Keystone: it logs the service user in
 * (POST /v3/auth/tokens, renewed before expiry or when Keystone refuses it), validates a client's
 * token with GET /v3/auth/tokens and X-Subject-Token, and caches the answer, good or bad, for at
 * most cacheTtlMs and never past the token's own expiry. Concurrent checks of one token share
 * one request. Keystone unreachable, slow or answering 5xx: an UNAVAILABLE error (503), never a
 * yes or a no.
 */
export class KeystoneClient {
  private readonly base: string;
  private readonly dispatcher: Dispatcher;
  private readonly ownsDispatcher: boolean;
  private readonly cache: ExpiringCache<KeystoneToken | 'invalid'>;
  private readonly inFlight = new Map<string, Promise<KeystoneToken | undefined>>();
  private service: { token: string; expiresAt: number } | undefined;
  private login: Promise<string> | undefined;
  /** How many times Keystone was asked (tests: a cached token asks nothing). */
  requests = 0;

  constructor(private readonly opts: KeystoneClientOptions) {
    this.base = keystoneV3Url(opts.url);
    this.ownsDispatcher = opts.dispatcher === undefined;
    this.dispatcher = opts.dispatcher ?? new Agent({ connect: { timeout: opts.timeoutMs }, headersTimeout: opts.timeoutMs, bodyTimeout: opts.timeoutMs, keepAliveTimeout: 30_000 });
    this.cache = new ExpiringCache(opts.cacheSize, opts.clock);
  }

  /** The token's identity, or undefined if Keystone does not know it (bad, expired, revoked). */
  validate(token: string): Promise<KeystoneToken | undefined> {
    const key = createHash('sha256').update(token).digest('hex');
    const cached = this.cache.get(key);
    if (cached !== undefined) return Promise.resolve(cached === 'invalid' ? undefined : cached);
    let p = this.inFlight.get(key);
    if (!p) {
      p = this.ask(token, key).finally(() => this.inFlight.delete(key));
      this.inFlight.set(key, p);
    }
    return p;
  }

  async close(): Promise<void> {
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  private async ask(token: string, key: string): Promise<KeystoneToken | undefined> {
    let res = await this.call('GET', '/auth/tokens?nocatalog', { 'X-Auth-Token': await this.serviceToken(), 'X-Subject-Token': token });
    if (res.statusCode === 401) {
      // Our own token was refused (revoked, or Keystone restarted with new keys): log in again, once.
      await discardBody(res.body);
      this.service = undefined;
      res = await this.call('GET', '/auth/tokens?nocatalog', { 'X-Auth-Token': await this.serviceToken(), 'X-Subject-Token': token });
    }
    const now = this.opts.clock();
    if (res.statusCode === 404) {
      await discardBody(res.body);
      this.cache.set(key, 'invalid', now + this.opts.cacheTtlMs);
      return undefined;
    }
    if (res.statusCode !== 200) {
      await discardBody(res.body);
      throw unavailable(`token validation answered ${res.statusCode}`);
    }
    const info = parseToken(await readJson(res));
    if (!info || !(info.expiresAt > now)) {
      this.cache.set(key, 'invalid', now + this.opts.cacheTtlMs);
      return undefined;
    }
    this.cache.set(key, info, Math.min(now + this.opts.cacheTtlMs, info.expiresAt));
    return info;
  }

  /** The service user's token: the one we hold while it has a minute left, else a new login (shared by concurrent callers). */
  private serviceToken(): Promise<string> {
    if (this.service && this.service.expiresAt - SERVICE_TOKEN_MARGIN_MS > this.opts.clock()) return Promise.resolve(this.service.token);
    this.login ??= this.logIn().finally(() => (this.login = undefined));
    return this.login;
  }

  private async logIn(): Promise<string> {
    const o = this.opts;
    const body = JSON.stringify({
      auth: {
        identity: { methods: ['password'], password: { user: { name: o.username, domain: { name: o.userDomainName }, password: o.password } } },
        scope: { project: { name: o.projectName, domain: { name: o.projectDomainName } } },
      },
    });
    const res = await this.call('POST', '/auth/tokens?nocatalog', { 'Content-Type': 'application/json' }, body);
    const subject = res.headers['x-subject-token'];
    if (res.statusCode !== 201 || typeof subject !== 'string') {
      await discardBody(res.body);
      throw unavailable(`the service user's login answered ${res.statusCode}`);
    }
    const info = parseToken(await readJson(res));
    this.service = { token: subject, expiresAt: info?.expiresAt ?? this.opts.clock() + SERVICE_TOKEN_MARGIN_MS * 2 };
    return subject;
  }

  private async call(method: string, path: string, headers: Record<string, string>, body?: string): Promise<Dispatcher.ResponseData> {
    // A kept-alive connection the server closed after its last answer (uwsgi's --http-socket
    // does) fails the next request at once: that one is tried again on a new connection.
    for (let attempt = 0; ; attempt++) {
      this.requests++;
      try {
        return await externalRequest(this.dispatcher, new URL(this.base + path), method, {
          headers: { Accept: 'application/json', ...headers },
          ...(body !== undefined ? { body } : {}),
        });
      } catch (err) {
        const code = (err as { code?: string }).code;
        if (attempt === 0 && (code === 'UND_ERR_SOCKET' || code === 'ECONNRESET')) continue;
        throw unavailable(`Keystone at ${this.base} unreachable: ${(err as Error).message}`, err);
      }
    }
  }
}

/** http://host:5000, http://host:5000/ and http://host:5000/v3 all mean the v3 API. */
export function keystoneV3Url(url: string): string {
  const trimmed = url.replace(/\/+$/, '');
  return /\/v3$/.test(trimmed) ? trimmed : `${trimmed}/v3`;
}

function unavailable(message: string, cause?: unknown): SwiftletError {
  return new SwiftletError('UNAVAILABLE', message, cause === undefined ? {} : { cause });
}

async function readJson(res: Dispatcher.ResponseData): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of res.body) {
      size += (chunk as Buffer).length;
      if (size > MAX_BODY_BYTES) {
        res.body.destroy();
        throw unavailable('Keystone answered more than 1 MiB');
      }
      chunks.push(chunk as Buffer);
    }
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch (err) {
    if (err instanceof SwiftletError) throw err;
    throw unavailable(`Keystone's answer did not read as JSON: ${(err as Error).message}`, err);
  }
}

/** The fields of a v3 token body ({"token": {...}}) that authorization uses. */
export function parseToken(data: unknown): KeystoneToken | undefined {
  const t = (data as { token?: Record<string, unknown> } | undefined)?.token;
  if (!t || typeof t !== 'object') return undefined;
  const user = t['user'] as { id?: unknown; name?: unknown; domain?: { id?: unknown } } | undefined;
  const project = t['project'] as { id?: unknown; name?: unknown; domain?: { id?: unknown } } | undefined;
  const expiresAt = Date.parse(String(t['expires_at'] ?? ''));
  if (typeof user?.id !== 'string' || !Number.isFinite(expiresAt)) return undefined;
  const roles = Array.isArray(t['roles']) ? (t['roles'] as Array<{ name?: unknown }>).map((r) => r?.name).filter((n): n is string => typeof n === 'string') : [];
  const out: KeystoneToken = { userId: user.id, userName: typeof user.name === 'string' ? user.name : '', roles, expiresAt };
  if (typeof user.domain?.id === 'string') out.userDomainId = user.domain.id;
  if (typeof project?.id === 'string') {
    out.projectId = project.id;
    if (typeof project.name === 'string') out.projectName = project.name;
    if (typeof project.domain?.id === 'string') out.projectDomainId = project.domain.id;
  }
  return out;
}
