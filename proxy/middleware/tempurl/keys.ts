import type { ProxyContext } from '../../context.js';
import { accountInfo, containerInfo } from '../../controllers/common.js';
import type { ProxyRequest } from '../../pipeline.js';
import type { ScopedKey } from './signature.js';

const KEY_NAMES = ['temp-url-key', 'temp-url-key-2'];

/**
 * The X-<kind>-Meta-Temp-URL-Key[-2] values among an info lookup's headers (any case), empty ones
 * skipped, as the bytes that were set: header values arrive as latin-1 text of those bytes, and a
 * UTF-8 key must sign as its UTF-8 bytes, as in Swift.
 */
export function tempUrlKeys(headers: Record<string, string>, kind: 'account' | 'container'): Buffer[] {
  const prefix = `x-${kind}-meta-`;
  const out: Buffer[] = [];
  for (const [name, value] of Object.entries(headers)) {
    const n = name.toLowerCase();
    if (value && n.startsWith(prefix) && KEY_NAMES.includes(n.slice(prefix.length))) out.push(Buffer.from(value, 'latin1'));
  }
  return out;
}

/**
 * The keys that may sign for `account`/`container` (Swift's _get_keys): the account's, then the
 * container's, through the proxy's info cache (the same lookups the controllers make; a POST
 * through this proxy invalidates them). A lookup that fails yields no keys (401).
 */
export async function signingKeys(ctx: ProxyContext, req: ProxyRequest, account: string, container: string): Promise<ScopedKey[]> {
  const [a, c] = await Promise.all([accountInfo(ctx, req, account), containerInfo(ctx, req, account, container)]);
  const keys: ScopedKey[] = [];
  if (a.status >= 200 && a.status < 300) for (const key of tempUrlKeys(a.headers, 'account')) keys.push({ key, scope: 'account' });
  if (c.status >= 200 && c.status < 300) for (const key of tempUrlKeys(c.headers, 'container')) keys.push({ key, scope: 'container' });
  return keys;
}
