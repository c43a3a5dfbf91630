import { IncomingMessage } from 'node:http';
import { pino } from 'pino';

/**
 * The proxy's access log: one line per client request and one per sub-request, in the format of
 * Swift's proxy_logging middleware (its default log_msg_template), fields separated by spaces,
 * each quoted as Swift quotes them (`quote(value, ':/{}')`, '-' when empty):
 *
 *   client_ip remote_addr end_time.datetime method path protocol status_int referer user_agent
 *   auth_token bytes_recvd bytes_sent client_etag transaction_id headers request_time source
 *   log_info start_time end_time policy_index user account
 *
 * (Swift's 21 fields, then the user and account the auth stage found.) Secrets are never
 * written: X-Auth-Token (or X-Storage-Token) is cut to its first `reveal_sensitive_prefix`
 * characters and "...", and so are the values of the query parameters that carry signatures
 * (temp_url_sig, signature, Signature, X-Amz-Signature, X-Amz-Credential, X-Amz-Security-Token),
 * as Swift's reveal_sensitive_prefix and register_sensitive_param do. Request headers are not
 * logged (Swift's log_headers off: '-'), nor the policy index ('-').
 */

export interface AccessEntry {
  method: string;
  /** The path as received, percent-encoded, without the query. */
  path: string;
  /** The raw query string, '' when none. */
  query: string;
  protocol: string;
  status: number;
  headers: Record<string, string>;
  remoteAddr: string | undefined;
  bytesIn: number | undefined;
  bytesOut: number | undefined;
  transId: string;
  /** Epoch milliseconds (fractional). */
  start: number;
  end: number;
  /** A sub-request's source (Swift's swift.source: "SLO", "COPY"...). */
  source?: string;
  user?: string;
  account?: string;
}

/** Query parameters whose values are secrets (Swift's registered sensitive params, and s3api's). */
const SENSITIVE_PARAMS = new Set(['temp_url_sig', 'signature', 'x-amz-signature', 'x-amz-credential', 'x-amz-security-token']);

const PLAIN = /^[A-Za-z0-9_.~\-:/{}]*$/;

/** Python's urllib quote(s, safe): UTF-8 bytes, unreserved and `safe` characters kept. */
function pyQuote(s: string, safe: string): string {
  if (PLAIN.test(s) && safe === ':/{}') return s;
  let out = '';
  for (const b of Buffer.from(s, 'utf8')) {
    const c = String.fromCharCode(b);
    out += (b < 0x80 && /[A-Za-z0-9_.~-]/.test(c)) || (b < 0x80 && safe.includes(c)) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** Swift's LogStringFormatter(default='-', quote=True): '-' for nothing (0 included), else quoted. */
function field(v: string | number | undefined): string {
  if (v === undefined || v === '' || v === 0) return '-';
  return pyQuote(String(v), ':/{}');
}

/** A secret cut to its first `prefix` characters (Swift's reveal_sensitive_prefix). */
export function redact(value: string, prefix: number): string {
  return value.length > prefix ? `${value.slice(0, prefix)}...` : value;
}

function unquote(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** path + '?' + query as Swift logs it: the path re-quoted, sensitive parameters' values cut. */
function loggedPath(path: string, query: string, prefix: number): string {
  let p = pyQuote(unquote(path), '/');
  if (query) {
    const parts = query.split('&').map((kv) => {
      const eq = kv.indexOf('=');
      if (eq === -1) return kv;
      const name = unquote(kv.slice(0, eq).replace(/\+/g, ' '));
      return SENSITIVE_PARAMS.has(name.toLowerCase()) ? `${kv.slice(0, eq)}=${redact(unquote(kv.slice(eq + 1)), prefix)}` : kv;
    });
    p += `?${parts.join('&')}`;
  }
  return p;
}

/** Swift's get_remote_client: the first X-Forwarded-For hop, else X-Cluster-Client-Ip, else the peer. */
function clientIp(h: Record<string, string>, remote: string | undefined): string | undefined {
  const xff = h['x-forwarded-for'];
  if (xff) return xff.split(',')[0]?.trim();
  return h['x-cluster-client-ip'] || remote;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const two = (n: number): string => String(n).padStart(2, '0');

/** '%d/%b/%Y/%H/%M/%S' in UTC, as Swift's end_time.datetime. */
function logDate(ms: number): string {
  const d = new Date(ms);
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}/${two(d.getUTCHours())}/${two(d.getUTCMinutes())}/${two(d.getUTCSeconds())}`;
}

/** Epoch milliseconds as seconds with nine decimals (Swift's '%.9f'), without float noise. */
function epochSeconds(ms: number): string {
  const s = Math.floor(ms / 1000);
  const ns = Math.min(999_999_999, Math.round((ms - s * 1000) * 1e6));
  return `${s}.${String(ns).padStart(9, '0')}`;
}

/** One access log line (without the newline). Pure. */
export function formatAccessLine(e: AccessEntry, revealPrefix: number): string {
  const h = e.headers;
  const token = h['x-auth-token'] ?? h['x-storage-token'];
  return [
    field(clientIp(h, e.remoteAddr)),
    field(e.remoteAddr),
    logDate(e.end),
    field(e.method),
    field(loggedPath(e.path, e.query, revealPrefix)),
    field(e.protocol),
    String(e.status),
    field(h['referer']),
    field(h['user-agent']),
    field(token === undefined ? undefined : redact(token, revealPrefix)),
    field(e.bytesIn),
    field(e.bytesOut),
    field(h['etag']),
    field(e.transId),
    '-',
    ((e.end - e.start) / 1000).toFixed(4),
    field(e.source),
    '-',
    epochSeconds(e.start),
    epochSeconds(e.end),
    '-',
    field(e.user),
    field(e.account),
  ].join(' ');
}

/**
 * Where lines go: stdout or a file (appended), through pino's buffered, non-blocking writer
 * (sonic-boom). Lines are written in batches of 8 KiB, and at least once a second: one write
 * call per batch, not per request.
 */
export class AccessLog {
  private readonly dest: ReturnType<typeof pino.destination>;
  private readonly timer: NodeJS.Timeout;

  constructor(
    target: string,
    readonly revealPrefix: number,
  ) {
    this.dest = pino.destination({ dest: target === 'stdout' ? 1 : target, sync: false, mkdir: true, minLength: 8 * 1024 });
    this.timer = setInterval(() => this.dest.flush(), 1000);
    this.timer.unref();
  }

  write(e: AccessEntry): void {
    this.dest.write(`${formatAccessLine(e, this.revealPrefix)}\n`);
  }

  flush(): void {
    clearInterval(this.timer);
    try {
      this.dest.flushSync();
    } catch {
      /* not ready yet, or closed: nothing buffered to lose */
    }
  }
}

/** The proxy's IncomingMessage: counts the body bytes the client sent (the access log's bytes_recvd). */
export class CountingRequest extends IncomingMessage {
  bodyBytes = 0;

  override push(chunk: unknown, encoding?: BufferEncoding): boolean {
    if (chunk !== null && chunk !== undefined) this.bodyBytes += (chunk as Buffer).length;
    return super.push(chunk, encoding);
  }
}
