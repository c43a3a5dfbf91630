import { isIP } from 'node:net';
import { Agent, request } from 'undici';

/**
 * A Swift endpoint reached through v1 auth (tempauth / swauth style): GET the auth URL with
 * X-Auth-User and X-Auth-Key, get back X-Auth-Token and X-Storage-Url.
 * Bench traffic goes to this machine only: every URL is checked to be on the loopback.
 */
export interface Endpoint {
  name: string;
  authUrl: string;
  user: string;
  key: string;
  token: string;
  /** e.g. http://127.0.0.1:8080/v1/AUTH_test (no trailing slash) */
  storageUrl: string;
  /** The block device holding the system's data ("loop3"), when known: runs then count its flushes. */
  device?: string;
}

export class NotLoopbackError extends Error {
  readonly code = 'BENCH_NOT_LOOPBACK';
  override readonly name = 'NotLoopbackError';
}

/** Throws unless the URL's host is 127.0.0.0/8, ::1 or localhost. */
export function assertLoopback(url: string): URL {
  const u = new URL(url);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const ok = host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
  if (!ok) throw new NotLoopbackError(`bench targets only this machine (127.0.0.1), not ${u.host}`);
  return u;
}

/** One keep-alive agent for the Node-driven workloads; big enough for the highest concurrency. */
export const agent = new Agent({ connections: 512, keepAliveTimeout: 30_000, headersTimeout: 120_000, bodyTimeout: 120_000 });

export async function v1Auth(name: string, authUrl: string, user: string, key: string): Promise<Endpoint> {
  assertLoopback(authUrl);
  const res = await request(authUrl, { method: 'GET', headers: { 'x-auth-user': user, 'x-auth-key': key }, dispatcher: agent });
  await res.body.dump();
  const token = res.headers['x-auth-token'] ?? res.headers['x-storage-token'];
  const storageUrl = res.headers['x-storage-url'];
  if (res.statusCode >= 300 || typeof token !== 'string' || typeof storageUrl !== 'string') {
    throw new Error(`${name}: v1 auth at ${authUrl} as ${user} answered ${res.statusCode} without a token and storage URL`);
  }
  assertLoopback(storageUrl);
  return { name, authUrl, user, key, token, storageUrl: storageUrl.replace(/\/+$/, '') };
}

/** Percent-encodes each path segment of an object or container name. */
export function encodePath(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

/**
 * One request with the endpoint's token. A 401 gets one fresh token and one retry: Swift's
 * tempauth keeps tokens in memcached and answers 401 when memcached is too slow to answer under
 * load, which must not end a whole bench run (the measured workloads still count those 401s).
 */
export async function simple(ep: Endpoint, method: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  for (let attempt = 0; ; attempt++) {
    const res = await request(`${ep.storageUrl}${path}`, { method: method as 'GET', headers: { 'x-auth-token': ep.token, ...headers }, dispatcher: agent });
    const body = await res.body.text();
    if (res.statusCode === 401 && attempt === 0) {
      await reauth(ep);
      continue;
    }
    return { status: res.statusCode, headers: res.headers, body };
  }
}

/**
 * Gets a fresh token for the endpoint (in place), retrying for up to ~2 minutes: Swift's memcache
 * client stops using a memcached that timed out 10 times in a minute, for a minute, and tempauth
 * answers 503 to auth requests meanwhile.
 */
export async function reauth(ep: Endpoint): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      const fresh = await v1Auth(ep.name, ep.authUrl, ep.user, ep.key);
      ep.token = fresh.token;
      return;
    } catch (err) {
      if (attempt >= 24) throw err;
      await new Promise((r) => setTimeout(r, 5000));
    }
  }
}

/** PUT a container; 201 or 202 are fine. */
export async function ensureContainer(ep: Endpoint, container: string): Promise<void> {
  const r = await simple(ep, 'PUT', `/${encodePath(container)}`, { 'content-length': '0' });
  if (r.status !== 201 && r.status !== 202) throw new Error(`${ep.name}: PUT container ${container} → ${r.status} ${r.body.slice(0, 200)}`);
}

/** Object count of a container from HEAD, or undefined if it does not exist. */
export async function containerObjectCount(ep: Endpoint, container: string): Promise<number | undefined> {
  const r = await simple(ep, 'HEAD', `/${encodePath(container)}`);
  if (r.status === 404) return undefined;
  if (r.status >= 300) throw new Error(`${ep.name}: HEAD container ${container} → ${r.status}`);
  return Number(r.headers['x-container-object-count']);
}

/** Every object name in a container with this prefix, paging with marker (10,000 per page). */
export async function listAll(ep: Endpoint, container: string, prefix = ''): Promise<string[]> {
  const out: string[] = [];
  let marker = '';
  for (;;) {
    const q = new URLSearchParams({ format: 'json', limit: '10000', prefix, marker });
    const r = await simple(ep, 'GET', `/${encodePath(container)}?${q}`);
    if (r.status === 204 || r.status === 404) break;
    if (r.status !== 200) throw new Error(`${ep.name}: listing ${container} → ${r.status}`);
    const page = JSON.parse(r.body) as Array<{ name?: string; subdir?: string }>;
    if (page.length === 0) break;
    for (const e of page) if (e.name !== undefined) out.push(e.name);
    marker = page[page.length - 1].name ?? page[page.length - 1].subdir ?? '';
    if (page.length < 10000) break;
  }
  return out;
}
