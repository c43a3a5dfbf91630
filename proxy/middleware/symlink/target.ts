import { accountName, headerName, isRefusal, pyQuote } from '../../copy-headers.js';

/**
 * The pure part of symlinks (Swift's swift/common/middleware/symlink.py): reading a symlink PUT's
 * headers, the sysmeta a symlink is stored with, and the container update's etag that carries its
 * target into listings. Names as in Swift.
 */

export const SYSMETA = {
  target: 'x-object-sysmeta-symlink-target',
  account: 'x-object-sysmeta-symlink-target-account',
  etag: 'x-object-sysmeta-symlink-target-etag',
  bytes: 'x-object-sysmeta-symlink-target-bytes',
  /** Set by versioning on its links: following one does not count against symloop_max. */
  loopExtend: 'x-object-sysmeta-symloop-extend',
  /** Set by versioning on its links: the target is a reserved name, followed as the system. */
  allowReserved: 'x-object-sysmeta-allow-reserved-names',
  /** Where the container update's etag is overridden (storage-node/object/container-update.ts). */
  overrideEtag: 'x-object-sysmeta-container-update-override-etag',
} as const;

/** The client's names of the sysmeta, as ?symlink=get shows them. */
export const CLIENT = {
  target: 'x-symlink-target',
  account: 'x-symlink-target-account',
  etag: 'x-symlink-target-etag',
  bytes: 'x-symlink-target-bytes',
} as const;

export const MD5_OF_EMPTY = 'd41d8cd98f00b204e9800998ecf8427e';

export interface Refusal {
  status: number;
  body: string;
}

export interface SymlinkPut {
  /** The target's names. */
  account: string;
  container: string;
  object: string;
  /** X-Symlink-Target as stored: quoted "<container>/<object>". */
  quotedTarget: string;
  /** X-Symlink-Target-Account as stored (quoted), when the client gave one. */
  quotedAccount?: string;
  /** The static link's etag (quotes removed), when X-Symlink-Target-Etag was given. */
  etag?: string;
}

const FORM = 'X-Symlink-Target header must be of the form <container name>/<object name>';

/**
 * _validate_and_prep_request_headers: X-Symlink-Target must be "<container>/<object>" (412), its
 * account a valid one (412), not the symlink itself (400), and X-Symlink-Target-Etag free of
 * `;`, `"` and `\` (400).
 */
export function readSymlinkPut(headers: Record<string, string>, account: string, container: string, object: string): SymlinkPut | Refusal {
  const raw = headers[CLIENT.target] ?? '';
  const name = headerName(raw);
  if (name === undefined) return { status: 412, body: 'Invalid UTF8 or contains NULL' };
  if (name.startsWith('/')) return { status: 412, body: FORM };
  const m = /^([^/]+)\/(.+)$/s.exec(name);
  if (!m) return { status: 412, body: FORM };
  const out: SymlinkPut = { account, container: m[1] as string, object: m[2] as string, quotedTarget: pyQuote(name) };
  const rawAccount = headers[CLIENT.account];
  if (rawAccount !== undefined) {
    const a = accountName(rawAccount);
    if (isRefusal(a)) return a;
    out.account = a;
    out.quotedAccount = pyQuote(a);
  }
  if (out.account === account && out.container === container && out.object === object) return { status: 400, body: 'Symlink cannot target itself' };
  const etag = normalizeEtag(headers[CLIENT.etag]);
  if (etag) {
    if (/[;"\\]/.test(etag)) return { status: 400, body: 'Bad X-Symlink-Target-Etag format' };
    out.etag = etag;
  }
  return out;
}

/** Swift's normalize_etag: the value without its surrounding quotes. */
export function normalizeEtag(etag: string | undefined): string | undefined {
  if (etag === undefined) return undefined;
  return etag.replace(/^"(.*)"$/s, '$1');
}

/**
 * The container update's etag for a symlink: the empty body's md5 (or an override a middleware
 * set before), then its target as parameters, which the container server lists as symlink_path,
 * symlink_etag and symlink_bytes (storage-node/db/listing-hash.ts).
 */
export function overrideEtag(link: { quotedTarget: string; quotedAccount?: string; etag?: string; bytes?: string }, base = MD5_OF_EMPTY): string {
  const parts = [base, `symlink_target=${link.quotedTarget}`];
  if (link.quotedAccount !== undefined) parts.push(`symlink_target_account=${link.quotedAccount}`);
  if (link.etag !== undefined) parts.push(`symlink_target_etag=${link.etag}`, `symlink_target_bytes=${link.bytes ?? '0'}`);
  return parts.join('; ');
}

/**
 * A container-update etag without a link's own parameters: what a link to a link (a static link
 * checked through another one) carries over from it, e.g. an SLO's slo_etag.
 */
export function overrideBase(override: string | undefined): string | undefined {
  if (override === undefined) return undefined;
  return override
    .split(';')
    .map((p) => p.trim())
    .filter((p, i) => i === 0 || !p.startsWith('symlink_target'))
    .join('; ');
}

/** Percent-decoded (as Swift's wsgi_unquote), for a stored quoted target or account. */
export function unquote(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Splits a stored "<container>/<object>" target; undefined when it is not one. */
export function splitTarget(quoted: string): { container: string; object: string } | undefined {
  const m = /^\/?([^/]+)\/(.+)$/s.exec(unquote(quoted));
  return m ? { container: m[1] as string, object: m[2] as string } : undefined;
}

