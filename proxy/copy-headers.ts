import { headerBytes } from './constraints.js';

/**
 * The headers of a server-side copy, read as Swift's copy middleware reads them
 * (swift/common/middleware/copy.py, request_helpers.check_path_header, constraints
 * check_account_format). Pure.
 *
 * A header value reaches us as the bytes the client sent (Node decodes them latin1, a char per
 * byte). Swift unquotes it as those bytes, so a name may come percent-encoded or as raw UTF-8,
 * or mixed; the result must be UTF-8 without NUL, as any name in a path.
 */

export interface CopyRefusal {
  status: number;
  body: string;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const BAD_UTF8: CopyRefusal = { status: 412, body: 'Invalid UTF8 or contains NULL' };

/** The name a header value stands for: %XX and raw bytes alike, then UTF-8. Undefined when invalid. */
export function headerName(value: string): string | undefined {
  const raw = headerBytes(value);
  const out: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    const b = raw[i] as number;
    const hex = b === 0x25 && i + 2 < raw.length ? raw.subarray(i + 1, i + 3).toString('latin1') : '';
    if (/^[0-9a-fA-F]{2}$/.test(hex)) {
      out.push(parseInt(hex, 16));
      i += 2;
    } else {
      out.push(b);
    }
  }
  try {
    const name = utf8.decode(Buffer.from(out));
    return name.includes('\u0000') || name.includes('\u{10FFFF}') ? undefined : name;
  } catch {
    return undefined;
  }
}

/** Destination / X-Copy-From: "[/]<container>/<object>", the object may hold slashes. */
export function containerAndObject(value: string, header: 'Destination' | 'X-Copy-From'): { container: string; object: string } | CopyRefusal {
  const name = headerName(value);
  if (name === undefined) return BAD_UTF8;
  const m = /^\/?([^/]+)\/(.+)$/s.exec(name);
  if (!m) return { status: 412, body: `${header} header must be of the form <container name>/<object name>` };
  return { container: m[1] as string, object: m[2] as string };
}

/** Destination-Account / X-Copy-From-Account (check_account_format). */
export function accountName(value: string): string | CopyRefusal {
  const name = headerName(value);
  if (name === undefined) return BAD_UTF8;
  if (!name) return { status: 412, body: 'Account name cannot be empty' };
  if (name.includes('/')) return { status: 412, body: 'Account name cannot contain slashes' };
  return name;
}

/** Python's urllib quote (safe "/"), as Swift writes X-Copied-From and X-Copied-From-Account. */
export function pyQuote(name: string): string {
  let out = '';
  for (const b of Buffer.from(name, 'utf8')) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9_.~/-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

export function isRefusal<T>(v: T | CopyRefusal): v is CopyRefusal {
  return typeof v === 'object' && v !== null && 'status' in v && 'body' in v;
}
