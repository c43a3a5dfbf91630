import type { RawHttpClient, RawRequest, RawResponse } from './verbatim-http.js';

/**
 * Path-escape attacks, independent of the API they are aimed at: the spellings of "one level up",
 * the victim's secrets, and attack(), which sends one request without normalizing its path and
 * reports every secret found in the answer. An API (Swift v1 in test/probe/security.test.ts; S3
 * and the NBD gateway's HTTP API later) brings its own shapes (where in its URL an escape may
 * start, how many levels it must climb) and its own request builders (signing, for S3), and reuses
 * these tables unchanged.
 */

export interface EscapeSpelling {
  name: string;
  /** `levels` steps up from where it is placed, then down into `target` ("a[/c[/o]]"). */
  climb(levels: number, target: string): string;
}

const up = (step: string) => (levels: number, target: string) => step.repeat(levels) + target;

export const ESCAPE_SPELLINGS: readonly EscapeSpelling[] = [
  { name: 'raw ..', climb: up('../') },
  { name: '%2e%2e', climb: up('%2e%2e/') },
  { name: '%2E%2e', climb: up('%2E%2e/') },
  { name: '.%2e', climb: up('.%2e/') },
  { name: '%2e.', climb: up('%2e./') },
  // Decoded once it is the literal name "%2e%2e"; only a server that decodes twice climbs.
  { name: 'double-encoded %252e%252e', climb: up('%252e%252e/') },
  // An empty segment first: a resolver that drops "//" before applying ".." climbs one level more.
  { name: 'empty segment //', climb: (levels, target) => '/' + '../'.repeat(levels + 1) + target },
  { name: 'trailing /.', climb: (levels, target) => '../'.repeat(levels) + target + '/.' },
  { name: 'trailing /..', climb: (levels, target) => '../'.repeat(levels) + target + '/..' },
  // WHATWG URL parsing turns "\" into "/" for http URLs.
  { name: 'backslash ..\\', climb: up('..\\') },
  { name: '%5c', climb: up('..%5c') },
  { name: '%5C', climb: up('..%5C') },
  { name: 'NUL %00', climb: up('..%00/') },
  { name: 'overlong UTF-8 %c0%ae%c0%ae', climb: up('%c0%ae%c0%ae/') },
];

/** Something only the victim may see; `label` says what it is in a failure message. */
export interface Secret {
  label: string;
  value: string;
}

/** The secrets that appear in a response's body or in any of its header values. */
export function secretsIn(res: RawResponse, secrets: readonly Secret[]): Secret[] {
  const text = `${res.body.toString('utf8')}\n${Object.values(res.headers).join('\n')}`;
  return secrets.filter((s) => text.includes(s.value));
}

export interface AttackResult extends RawResponse {
  request: RawRequest;
  leaked: Secret[];
}

/** Sends `req` verbatim and says which of `secrets` came back. */
export async function attack(client: RawHttpClient, req: RawRequest, secrets: readonly Secret[]): Promise<AttackResult> {
  const res = await client.send(req);
  return { ...res, request: req, leaked: secretsIn(res, secrets) };
}

/**
 * The name a path (or an X-Copy-From / Destination value) stands for once percent-decoded one
 * time, as Swift's WSGI layer does; undefined when that is not valid UTF-8 or holds a NUL (Swift
 * answers 412 and stores nothing).
 */
export function literalName(raw: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === '%' && /^[0-9a-fA-F]{2}$/.test(raw.slice(i + 1, i + 3))) {
      bytes.push(parseInt(raw.slice(i + 1, i + 3), 16));
      i += 2;
    } else {
      bytes.push(...Buffer.from(raw[i] as string));
    }
  }
  try {
    const name = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(bytes));
    return name.includes('\u0000') ? undefined : name;
  } catch {
    return undefined;
  }
}

/** Percent-encodes every byte but letters, digits and "-_~" (dots too, so nothing reads as a dot segment). */
export function pctEncode(name: string, keepSlashes = false): string {
  let out = '';
  for (const b of Buffer.from(name)) {
    const c = String.fromCharCode(b);
    out += /[A-Za-z0-9\-_~]/.test(c) || (keepSlashes && c === '/') ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}
