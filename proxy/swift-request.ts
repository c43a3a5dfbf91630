import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Logger } from '../common/log.js';
import type { Timestamp } from '../common/timestamp.js';
import type { Identity } from './tempauth.js';

/** One client request to /v1/..., parsed and authenticated; controllers answer it. */
export interface SwiftRequest {
  req: FastifyRequest;
  reply: FastifyReply;
  method: string;
  account: string;
  container?: string;
  object?: string;
  query: URLSearchParams;
  /** Request headers, lower-cased, internal ones already removed by the gatekeeper. */
  headers: Record<string, string>;
  transId: string;
  identity?: Identity;
  log: Logger;
  /** The proxy's stamper: one timestamp per write, strictly increasing in this process. */
  stamp: () => Timestamp;
}

export type ParsedSwiftPath =
  | { ok: true; version: string; account: string; container?: string; object?: string }
  | { ok: false; status: number; body: string };

/** Percent-decodes to bytes (decodeURIComponent would throw on bad UTF-8 before we can answer Swift's way). */
function percentDecode(s: string): Buffer {
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

/**
 * /v1/<account>[/<container>[/<object>]]: Swift's split_path with its answers for bad input
 * (412 for names that are not valid UTF-8 or contain NUL).
 */
export function parseSwiftPath(rawPath: string): ParsedSwiftPath {
  const bytes = percentDecode(rawPath);
  let path: string;
  try {
    path = utf8.decode(bytes);
  } catch {
    return { ok: false, status: 412, body: 'Invalid UTF8 or contains NULL' };
  }
  if (path.includes('\u0000')) return { ok: false, status: 412, body: 'Invalid UTF8 or contains NULL' };
  const m = /^\/([^/]+)\/([^/]+)(?:\/([^/]*)(?:\/(.*))?)?$/s.exec(path);
  if (!m) return { ok: false, status: 412, body: 'Invalid path' };
  const out: ParsedSwiftPath = { ok: true, version: m[1] as string, account: m[2] as string };
  if (m[3]) out.container = m[3];
  else if (m[4]) return { ok: false, status: 412, body: 'Invalid path' };
  if (m[4]) out.object = m[4];
  return out;
}
