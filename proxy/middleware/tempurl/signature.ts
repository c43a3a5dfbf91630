import { createHmac, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';

/**
 * The signature rules of Swift's TempURL and FormPost (swift/common/digest.py, tempurl.py,
 * formpost.py), as a pure core: no clock, no I/O. Everything here parses client input, so each
 * parser answers `undefined` (Swift's ValueError) instead of throwing.
 */

export const SUPPORTED_DIGESTS = ['sha1', 'sha256', 'sha512'] as const;
export type DigestName = (typeof SUPPORTED_DIGESTS)[number];
/** Swift 2.30 allows all three by default and reports sha1 as deprecated in /info. */
export const DEPRECATED_DIGESTS: readonly string[] = ['sha1'];

const HEX_LENGTHS: Record<number, DigestName> = { 40: 'sha1', 64: 'sha256', 128: 'sha512' };
const B64_CHARS = /^[A-Za-z0-9+/]*$/;

/**
 * Swift's extract_digest_and_algorithm: `<hex>` (its length names the digest: 40 sha1, 64 sha256,
 * 128 sha512) or `<algo>:<base64>` (standard or url-safe base64, padding optional). Returns the
 * algorithm as given and the digest as lower-case hex, or undefined when it does not parse.
 */
export function extractDigest(value: string): { algorithm: string; hex: string } | undefined {
  const colon = value.indexOf(':');
  if (colon !== -1) {
    const algorithm = value.slice(0, colon);
    let b64 = value.slice(colon + 1);
    if ((b64.includes('-') || b64.includes('_')) && !(b64.includes('+') || b64.includes('/'))) b64 = b64.replace(/-/g, '+').replace(/_/g, '/');
    const bytes = strictB64decode(`${b64}==`);
    return bytes === undefined ? undefined : { algorithm, hex: bytes.toString('hex') };
  }
  // binascii.unhexlify: even length, hex digits only (either case); the digest stays as given.
  if (value.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(value)) return undefined;
  const algorithm = HEX_LENGTHS[value.length];
  return algorithm ? { algorithm, hex: value } : undefined;
}

/** Swift's strict_b64decode: only base64 characters between any '=' at the ends; Python's padding rules. */
function strictB64decode(value: string): Buffer | undefined {
  const inner = value.replace(/^=+|=+$/g, '');
  if (!B64_CHARS.test(inner)) return undefined;
  // Python's b64decode refuses one lone character in the last quantum (no whole byte in it).
  if (inner.length % 4 === 1) return undefined;
  return Buffer.from(inner, 'base64');
}

/** A key: its bytes (a metadata header's value as sent), or text (UTF-8 encoded, as Swift encodes a str key). */
export type HmacKey = Buffer | string;

function keyBytes(key: HmacKey): Buffer {
  return typeof key === 'string' ? Buffer.from(key, 'utf8') : key;
}

/**
 * Swift's get_hmac: HMAC(key, "METHOD\nEXPIRES\nPATH"), with "ip=RANGE\n" first when the URL
 * is bound to an address range (first, so a newline in the path cannot forge it). Lower-case hex.
 */
export function tempUrlHmac(algorithm: DigestName, key: HmacKey, method: string, expires: number, path: string, ipRange?: string): string {
  const parts = [method, String(expires), path];
  if (ipRange) parts.unshift(`ip=${ipRange}`);
  return createHmac(algorithm, keyBytes(key)).update(Buffer.from(parts.join('\n'), 'utf8')).digest('hex');
}

/** FormPost's HMAC over "path\nredirect\nmax_file_size\nmax_file_count\nexpires" (lower-case hex). */
export function formPostHmac(algorithm: DigestName, key: HmacKey, fields: { path: string; redirect: string; maxFileSize: string; maxFileCount: string; expires: string }): string {
  const body = [fields.path, fields.redirect, fields.maxFileSize, fields.maxFileCount, fields.expires].join('\n');
  return createHmac(algorithm, keyBytes(key)).update(Buffer.from(body, 'utf8')).digest('hex');
}

/** Swift's streq_const_time: equal strings, compared in time that does not depend on where they differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const ba = Buffer.from(a, 'utf8');
  const bb = Buffer.from(b, 'utf8');
  if (ba.length !== bb.length) return false;
  return timingSafeEqual(ba, bb);
}

/** Python's int(str): optional sign, digits with single underscores between them, surrounding whitespace. */
export function pyInt(value: string): number | undefined {
  const m = /^\s*([+-]?)(\d+(?:_\d+)*)\s*$/.exec(value);
  if (!m) return undefined;
  const n = Number((m[2] as string).replace(/_/g, ''));
  return m[1] === '-' ? -n : n;
}

const DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/**
 * temp_url_expires as Swift reads it: an integer (unix seconds) or ISO 8601 UTC in strptime's
 * "%Y-%m-%dT%H:%M:%SZ" (which also takes one-digit fields, and any case). Undefined when it is neither.
 */
export function parseExpires(value: string): number | undefined {
  const n = pyInt(value);
  if (n !== undefined) return n;
  const m = /^(\d{4})-(1[0-2]|0[1-9]|[1-9])-(3[01]|[12]\d|0[1-9]|[1-9]| [1-9])T(2[0-3]|[01]\d|\d):([0-5]\d|\d):(6[01]|[0-5]\d|\d)Z$/i.exec(value);
  if (!m) return undefined;
  const [y, mo, d, h, mi, s] = m.slice(1).map((x) => Number((x as string).trim())) as [number, number, number, number, number, number];
  const leap = (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
  const monthDays = mo === 2 && leap ? 29 : (DAYS[mo - 1] as number);
  if (d > monthDays) return undefined;
  return Date.UTC(y, mo - 1, d, h, mi, 0) / 1000 + s;
}

/** The query parameters of a temporary URL (Swift's _get_temp_url_info; first value of each). */
export interface TempUrlParams {
  sig?: string;
  /** Unix seconds; 0 when malformed or already past (Swift's "invalid" marker). */
  expires?: number;
  prefix?: string;
  filename?: string;
  inline: boolean;
  ipRange?: string;
}

/** Reads the temp URL parameters of a query; `nowMs` decides expiry (an expired URL reads as expires 0). */
export function readTempUrlParams(query: URLSearchParams, nowMs: number): TempUrlParams {
  const out: TempUrlParams = { inline: query.has('inline') };
  const sig = query.get('temp_url_sig');
  if (sig !== null) out.sig = sig;
  const expires = query.get('temp_url_expires');
  if (expires !== null) {
    const e = parseExpires(expires) ?? 0;
    out.expires = e * 1000 < nowMs ? 0 : e;
  }
  const prefix = query.get('temp_url_prefix');
  if (prefix !== null) out.prefix = prefix;
  const filename = query.get('filename');
  if (filename !== null) out.filename = filename;
  const ipRange = query.get('temp_url_ip_range');
  if (ipRange !== null) out.ipRange = ipRange;
  return out;
}

/** Which key signed: an account key lets sub-requests read in the account, a container key in the container. */
export type KeyScope = 'account' | 'container';
export interface ScopedKey {
  key: HmacKey;
  scope: KeyScope;
}

/** What a temporary URL is checked against: the request's method, its decoded names and the client's address. */
export interface TempUrlTarget {
  method: string;
  account: string;
  container: string;
  object: string;
  remoteAddr?: string;
}

/** What a well-formed, unexpired temp URL claims: checked against the keys by matchTempUrl. */
export interface TempUrlClaim {
  algorithm: DigestName;
  /** The signature as lower-case hex (base64 forms converted). */
  hex: string;
  expires: number;
  /** What was signed: "/v1/a/c/o", or "prefix:/v1/a/c/<prefix>". */
  path: string;
  /** The methods whose signature the request may carry (HEAD: HEAD, GET, POST or PUT, as Swift). */
  methods: string[];
  ipRange?: string;
}

/**
 * The checks of Swift's TempURL.__call__ that need no key, in its order: both parameters, the
 * digest form and the allowed digests, a method temp URLs may use on an object path, the address
 * range, the prefix. Undefined: 401 without looking up any key. `methods` are the ones temp URLs
 * may use (Swift's `methods` option).
 */
export function tempUrlClaim(params: TempUrlParams, target: TempUrlTarget, opts: { allowedDigests: readonly string[]; methods: readonly string[] }): TempUrlClaim | undefined {
  if (!params.sig || !params.expires) return undefined;
  const digest = extractDigest(params.sig);
  if (!digest || !opts.allowedDigests.includes(digest.algorithm)) return undefined;
  if (!(SUPPORTED_DIGESTS as readonly string[]).includes(digest.algorithm)) return undefined;
  if (!opts.methods.includes(target.method) || !target.object.replace(/^\/+|\/+$/g, '')) return undefined;
  if (params.ipRange) {
    if (target.remoteAddr === undefined || ipInRange(params.ipRange, clientAddress(target.remoteAddr)) !== true) return undefined;
  }
  let path: string;
  if (params.prefix === undefined) path = `/v1/${target.account}/${target.container}/${target.object}`;
  else {
    if (!target.object.startsWith(params.prefix)) return undefined;
    path = `prefix:/v1/${target.account}/${target.container}/${params.prefix}`;
  }
  const methods = target.method === 'HEAD' ? ['HEAD', 'GET', 'POST', 'PUT'] : [target.method];
  return { algorithm: digest.algorithm as DigestName, hex: digest.hex, expires: params.expires, path, methods, ...(params.ipRange ? { ipRange: params.ipRange } : {}) };
}

/** The scope of the key whose HMAC equals the claim's signature (compared in constant time), or undefined (401). */
export function matchTempUrl(claim: TempUrlClaim, keys: readonly ScopedKey[]): KeyScope | undefined {
  for (const method of claim.methods) {
    for (const { key, scope } of keys) {
      if (constantTimeEqual(claim.hex, tempUrlHmac(claim.algorithm, key, method, claim.expires, claim.path, claim.ipRange))) return scope;
    }
  }
  return undefined;
}

/** The whole check: tempUrlClaim, then matchTempUrl. */
export function checkTempUrl(params: TempUrlParams, target: TempUrlTarget, keys: readonly ScopedKey[], opts: { allowedDigests: readonly string[]; methods: readonly string[] }): KeyScope | undefined {
  const claim = tempUrlClaim(params, target, opts);
  return claim ? matchTempUrl(claim, keys) : undefined;
}

/**
 * A client's address as Swift would see it: an IPv4-mapped IPv6 address ("::ffff:1.2.3.4", how
 * Node reports IPv4 clients of a dual-stack socket) is its IPv4 address, as it would reach
 * Swift's IPv4 listener.
 */
export function clientAddress(address: string): string {
  return address.toLowerCase().startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

/**
 * Whether `address` lies in `range` (Python's ip_address(a) in ip_network(r), strict: a network
 * with host bits set is malformed). Undefined when either does not parse (Swift's ValueError:
 * 401). Netmask forms ("1.2.3.0/255.255.255.0"), which Python also reads, are refused.
 */
export function ipInRange(range: string, address: string): boolean | undefined {
  const addr = parseIp(address);
  const slash = range.indexOf('/');
  const net = parseIp(slash === -1 ? range : range.slice(0, slash));
  if (!addr || !net) return undefined;
  const bits = net.length * 8;
  let prefix = bits;
  if (slash !== -1) {
    const p = range.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) return undefined;
    prefix = Number(p);
  }
  // Strict: no host bits set in the network address.
  for (let i = prefix; i < bits; i++) if (bit(net, i)) return undefined;
  if (addr.length !== net.length) return false;
  for (let i = 0; i < prefix; i++) if (bit(addr, i) !== bit(net, i)) return false;
  return true;
}

function bit(bytes: number[], i: number): number {
  return ((bytes[i >> 3] as number) >> (7 - (i & 7))) & 1;
}

/** An IPv4 (4 bytes) or IPv6 (16 bytes) address as Python's ip_address takes it (no zone, no leading zeros in IPv4). */
function parseIp(s: string): number[] | undefined {
  const kind = isIP(s);
  if (kind === 4) return s.split('.').map(Number);
  if (kind !== 6 || s.includes('%')) return undefined;
  let tail: number[] = [];
  let text = s;
  const lastColon = s.lastIndexOf(':');
  if (s.slice(lastColon + 1).includes('.')) {
    tail = s.slice(lastColon + 1).split('.').map(Number);
    text = `${s.slice(0, lastColon + 1)}0:0`;
  }
  const [head, rest] = text.includes('::') ? (text.split('::') as [string, string]) : [text, undefined];
  const words = (x: string): number[] => (x ? x.split(':').map((w) => parseInt(w, 16)) : []);
  const h = words(head);
  const r = rest === undefined ? [] : words(rest);
  const all = rest === undefined ? h : [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r];
  const bytes = all.flatMap((w) => [w >> 8, w & 255]);
  if (tail.length) bytes.splice(12, 4, ...tail);
  return bytes;
}

/** Python's urllib quote with `safe` kept as is (letters, digits and "_.-~" always are). */
export function pyQuote(s: string, safe = '/'): string {
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_.~-]/.test(c) || (b < 0x80 && safe.includes(c)) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Swift's disposition_format: `type; filename="<quoted>"; filename*=UTF-8''<quoted>` (RFC 6266). */
export function dispositionFormat(type: string, filename: string): string {
  return `${type}; filename="${pyQuote(filename, ' /')}"; filename*=UTF-8''${pyQuote(filename)}`;
}

/**
 * The Content-Disposition of a temp URL GET/HEAD answer (Swift's order): `inline` (with the
 * filename if given), else an attachment named by `filename`, else the object's own, else an
 * attachment named after the last piece of the object's path. Newlines are escaped.
 */
export function tempUrlDisposition(params: Pick<TempUrlParams, 'inline' | 'filename'>, existing: string | undefined, objectPath: string): string {
  let value: string;
  if (params.inline) value = params.filename ? dispositionFormat('inline', params.filename) : 'inline';
  else if (params.filename) value = dispositionFormat('attachment', params.filename);
  else if (existing) value = existing;
  else {
    const trimmed = objectPath.replace(/\/+$/, '');
    value = dispositionFormat('attachment', trimmed.slice(trimmed.lastIndexOf('/') + 1));
  }
  return value.replace(/\n/g, '%0A');
}

/**
 * A header name filter from Swift's remove/allow lists: names (any case) or prefixes ending in
 * "*". A name is removed when it matches the remove list and not the allow list.
 */
export function headerRemover(remove: readonly string[], allow: readonly string[]): (name: string) => boolean {
  const matcher = (list: readonly string[]) => {
    const exact = new Set(list.filter((h) => !h.endsWith('*')).map((h) => h.toLowerCase()));
    const prefixes = list.filter((h) => h.endsWith('*')).map((h) => h.slice(0, -1).toLowerCase());
    return (name: string) => {
      const n = name.toLowerCase();
      return exact.has(n) || prefixes.some((p) => n.startsWith(p));
    };
  };
  const removed = matcher(remove);
  const allowed = matcher(allow);
  return (name) => !allowed(name) && removed(name);
}
