import type { ProxyRequest } from './pipeline.js';

/** A request to /v1/..., routed (its account known) and authenticated; controllers answer it. */
export type SwiftRequest = ProxyRequest & { account: string };

export type ParsedSwiftPath =
  | { ok: true; version: string; account: string; container?: string; object?: string }
  | { ok: false; status: number; body?: string };

/** Percent-decodes to bytes (decodeURIComponent would throw on bad UTF-8 before we can answer Swift's way). */
export function percentDecode(s: string): Buffer {
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 0x25 && i + 2 < s.length + 0 && /^[0-9a-fA-F]{2}$/.test(s.slice(i + 1, i + 3))) {
      bytes.push(parseInt(s.slice(i + 1, i + 3), 16));
      i += 2;
    } else if (c < 0x80) {
      bytes.push(c);
    } else {
      for (const b of Buffer.from(s[i] as string)) bytes.push(b);
    }
  }
  return Buffer.from(bytes);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** Python's str.split(sep, max): at most max + 1 pieces, the last one keeping the rest. */
function splitN(s: string, max: number): string[] {
  const out: string[] = [];
  let from = 0;
  while (out.length < max) {
    const i = s.indexOf('/', from);
    if (i === -1) break;
    out.push(s.slice(from, i));
    from = i + 1;
  }
  out.push(s.slice(from));
  return out;
}

const API_VERSIONS = new Set(['v1', 'v1.0']);

/** The path percent-decoded to text (Swift's PATH_INFO as a str), or undefined if it is not UTF-8 or holds a NUL. */
export function decodeSwiftPath(rawPath: string): string | undefined {
  let path: string;
  try {
    path = utf8.decode(percentDecode(rawPath));
  } catch {
    return undefined;
  }
  // NUL, and the reserved character that stands for it (constraints.ts RESERVED), are not a client's.
  return path.includes('\u0000') || path.includes('\u{10FFFF}') ? undefined : path;
}

/**
 * /v1/<account>[/<container>[/<object>]] as Swift's proxy reads it (split_path(path, 1, 4, True),
 * then get_controller), with its answers for the rest: 412 for a name that is not valid UTF-8 or
 * holds a NUL, 404 for a path without a first segment ("/"), 400 for an account under an unknown
 * API version, 412 "Bad URL" for a path that names no account, container or object ("/v1",
 * "/v1/a//o").
 */
export function parseSwiftPath(rawPath: string): ParsedSwiftPath {
  const path = decodeSwiftPath(rawPath);
  if (path === undefined) return { ok: false, status: 412, body: 'Invalid UTF8 or contains NULL' };
  const [first, version, account, container, object] = splitN(path, 4);
  if (first !== '' || !version) return { ok: false, status: 404 };
  if (account && !API_VERSIONS.has(version)) return { ok: false, status: 400 };
  if (account && container) return { ok: true, version, account, container, ...(object ? { object } : {}) };
  if (account && !object) return { ok: true, version, account };
  return { ok: false, status: 412, body: 'Bad URL' };
}
