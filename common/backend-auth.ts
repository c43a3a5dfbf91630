import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * Backend request signatures. Swift trusts whoever can reach its storage nodes; Swiftlet's nodes
 * answer only requests signed with the cluster's backend key, which the proxies, the daemons and
 * the nodes share. The signature covers the method and the exact path and query the sender built
 * (common/backend-path.ts), so a request that any hop rewrote (a normalized "..", a changed
 * query) is refused too, and a time, so a captured request is good for a few minutes only.
 *
 *   X-Backend-Signature: <unix seconds>:<hex HMAC-SHA256(key, "<METHOD>\n<path?query>\n<seconds>")>
 *
 * Bodies are not signed (they are checked by their MD5/CRC32C); the backend network should still
 * be private, as in Swift. A few microseconds per request.
 */
export const BACKEND_SIGNATURE_HEADER = 'x-backend-signature';

/** How far a signature's time may be from the node's clock, either way (clocks run NTP, as Swift's timestamps already need). */
export const BACKEND_SIGNATURE_MAX_SKEW_S = 900;

export type BackendKey = Buffer;

/**
 * The key: `backend_key` when a config sets one, else derived from the cluster secret (which
 * every host has already), so a default cluster signs without any new setting.
 */
export function backendKeyFrom(cfg: { backend_key?: string; swift_hash_path_prefix: string; swift_hash_path_suffix: string }): BackendKey {
  if (cfg.backend_key) return Buffer.from(cfg.backend_key, 'utf8');
  return createHmac('sha256', `${cfg.swift_hash_path_prefix}\0${cfg.swift_hash_path_suffix}`).update('swiftlet backend request signing v1').digest();
}

function mac(key: BackendKey, method: string, url: string, seconds: number): string {
  return createHmac('sha256', key).update(`${method.toUpperCase()}\n${url}\n${seconds}`).digest('hex');
}

/** The header value for a request: `url` is the path and query exactly as sent. */
export function signBackendRequest(key: BackendKey, method: string, url: string, nowMs: number): string {
  const seconds = Math.floor(nowMs / 1000);
  return `${seconds}:${mac(key, method, url, seconds)}`;
}

export type SignatureCheck = 'ok' | 'missing' | 'malformed' | 'expired' | 'mismatch';

export function verifyBackendRequest(key: BackendKey, method: string, url: string, header: string | string[] | undefined, nowMs: number): SignatureCheck {
  if (header === undefined) return 'missing';
  if (Array.isArray(header)) return 'malformed';
  const m = /^(\d{1,12}):([0-9a-f]{64})$/.exec(header);
  if (!m) return 'malformed';
  const seconds = Number(m[1]);
  if (Math.abs(nowMs / 1000 - seconds) > BACKEND_SIGNATURE_MAX_SKEW_S) return 'expired';
  const want = Buffer.from(mac(key, method, url, seconds), 'hex');
  const got = Buffer.from(m[2] as string, 'hex');
  return timingSafeEqual(want, got) ? 'ok' : 'mismatch';
}
