/**
 * Backend request paths: how a name the proxy authorized reaches a storage node byte for byte.
 *
 * Every segment is percent-encoded to one canonical form: RFC 3986's unreserved characters
 * (A-Z a-z 0-9 - . _ ~) stay as they are, every other UTF-8 byte becomes %XX (upper-case hex),
 * and a segment that is exactly "." or ".." is written %2E / %2E%2E, so no URL normalizer on the
 * way (RFC 3986 remove_dot_segments, a proxy, a load balancer) sees a dot segment. A storage node
 * accepts a path only if it is in this form (`splitCanonicalPath`), so an escape spelled any
 * other way (a raw "..", "%2e%2e", ".%2e", "//" in an account or container) is refused instead of
 * being read as a different name. A client may still resolve "%2E%2E" itself (the WHATWG URL
 * parser does): backend requests are therefore never made from URL strings, only from an origin
 * and a `BackendPath` (common/backend-client.ts), and they are signed over the exact path.
 *
 * Names are otherwise opaque: an object named "x/../y" is that literal name everywhere.
 */

/** A path built by this module's encoders, the only kind backend clients accept. */
export type BackendPath = string & { readonly __backendPath: unique symbol };

const HEX = '0123456789ABCDEF';

function isUnreserved(b: number): boolean {
  return (
    (b >= 0x41 && b <= 0x5a) || // A-Z
    (b >= 0x61 && b <= 0x7a) || // a-z
    (b >= 0x30 && b <= 0x39) || // 0-9
    b === 0x2d || // -
    b === 0x2e || // .
    b === 0x5f || // _
    b === 0x7e // ~
  );
}

/** One path segment (no "/" is special here: it is encoded as %2F) in canonical form. */
export function encodeSegment(segment: string): string {
  if (segment === '.') return '%2E';
  if (segment === '..') return '%2E%2E';
  let plain = true;
  for (let i = 0; i < segment.length; i++) {
    const c = segment.charCodeAt(i);
    if (c >= 0x80 || !isUnreserved(c)) {
      plain = false;
      break;
    }
  }
  if (plain) return segment;
  let out = '';
  for (const b of Buffer.from(segment, 'utf8')) {
    out += isUnreserved(b) ? String.fromCharCode(b) : `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}

/** An object name keeps its slashes; each piece between them is a segment (empty ones included). */
function encodeObjectName(name: string): string {
  return name.split('/').map(encodeSegment).join('/');
}

/** `/<device>/<partition>/<account>[/<container>[/<object...>]]`: the object, container and account servers' paths. */
export function backendPath(device: string, partition: number, account: string, container?: string, object?: string): BackendPath {
  let p = `/${encodeSegment(device)}/${partition}/${encodeSegment(account)}`;
  if (container !== undefined) p += `/${encodeSegment(container)}`;
  if (object !== undefined) p += `/${encodeObjectName(object)}`;
  return p as BackendPath;
}

/**
 * Any other node path, one segment each (replication: `/<dev>/<part>/<suffixes>`,
 * `/<dev>/<part>/<hash>/<file>`; status: `/recon/...`). No segment may contain "/".
 */
export function nodePath(...segments: Array<string | number>): BackendPath {
  let p = '';
  for (const s of segments) p += `/${encodeSegment(String(s))}`;
  return (p || '/') as BackendPath;
}

/** The path with a query string (`op=sync&...`, listing parameters), which is signed with it. */
export function withQuery(path: BackendPath, query: URLSearchParams | Record<string, string> | string): BackendPath {
  const qs = typeof query === 'string' ? query : new URLSearchParams(query).toString();
  return (qs ? `${path}?${qs}` : path) as BackendPath;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Strict percent-decoding of one segment: malformed escapes and bytes that are not UTF-8 fail. */
function decodeSegment(raw: string): string | undefined {
  if (!raw.includes('%')) return raw;
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const c = raw.charCodeAt(i);
    if (c === 0x25) {
      const hex = raw.slice(i + 1, i + 3);
      if (!/^[0-9A-F]{2}$/.test(hex)) return undefined;
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else {
      if (c >= 0x80) return undefined;
      bytes.push(c);
    }
  }
  try {
    return utf8.decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

/**
 * The decoded segments of a raw request path, or undefined unless the path is exactly what the
 * encoders above produce for those segments: a storage node serves only what was asked for.
 * The leading "/" gives no segment; empty segments are kept (only object names may have them,
 * which the callers check).
 */
export function splitCanonicalPath(rawPath: string): string[] | undefined {
  if (rawPath[0] !== '/') return undefined;
  const raw = rawPath.slice(1).split('/');
  const out: string[] = [];
  for (const r of raw) {
    const s = decodeSegment(r);
    // "%2F" inside a segment would give a second spelling of a name with a slash in it.
    if (s === undefined || s.includes('/') || encodeSegment(s) !== r) return undefined;
    out.push(s);
  }
  return out;
}
