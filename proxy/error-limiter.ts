import type { Clock } from '../common/clock.js';

/**
 * Nodes that keep failing are skipped for a while (Swift's error_limiter): after `limit` errors
 * within `intervalMs`, or at once for an answer like 507 that will not fix itself soon.
 */
export class ErrorLimiter {
  private readonly state = new Map<string, { errors: number; lastError: number; limitedUntil: number }>();

  constructor(
    private readonly limit: number,
    private readonly intervalMs: number,
    private readonly clock: Clock,
  ) {}

  isLimited(nodeKey: string): boolean {
    const s = this.state.get(nodeKey);
    if (!s) return false;
    const now = this.clock();
    if (s.limitedUntil > now) return true;
    if (now - s.lastError > this.intervalMs) this.state.delete(nodeKey);
    return false;
  }

  /** One more error from this node. */
  recordError(nodeKey: string): void {
    const now = this.clock();
    let s = this.state.get(nodeKey);
    if (!s || now - s.lastError > this.intervalMs) s = { errors: 0, lastError: now, limitedUntil: 0 };
    s.errors++;
    s.lastError = now;
    if (s.errors >= this.limit) s.limitedUntil = now + this.intervalMs;
    this.state.set(nodeKey, s);
  }

  /** Skip this node for the whole interval now (e.g. it answered 507). */
  limitNow(nodeKey: string): void {
    const now = this.clock();
    this.state.set(nodeKey, { errors: this.limit, lastError: now, limitedUntil: now + this.intervalMs });
  }

  limitedNodes(): string[] {
    return [...this.state.keys()].filter((k) => this.isLimited(k));
  }
}

/**
 * Failures that say something about the node's health: it could not be reached, reset or dropped
 * the connection, or was too slow (undici's codes and the socket's errno).
 */
const NODE_HEALTH_CODES = new Set([
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
  'UND_ERR_SOCKET',
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

function errorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; cause?: { code?: unknown }; errors?: Array<{ code?: unknown }> } | undefined;
  const code = e?.code ?? e?.cause?.code ?? e?.errors?.[0]?.code;
  return typeof code === 'string' ? code : undefined;
}

const isTimeout = (e: unknown): boolean => (e as { name?: unknown } | undefined)?.name === 'TimeoutError';

/**
 * Whether a failed backend request counts against the node (pure). Error limiting is for node
 * health: timeouts, refused or reset connections (5xx answers are counted where they arrive). An
 * answer the proxy could not take (headers over undici's limit, a malformed response, a body
 * longer than announced), an abort we asked for through `signal` (the client went away), or our
 * own client being closed says nothing about the node, and may come from one tenant's data or
 * one client's request: counting it would let one tenant make a node skip every tenant's
 * requests. Anything not known to be the node's fault does not count.
 */
export function countsAgainstNode(err: unknown, signal?: AbortSignal): boolean {
  // Our abort: the node's fault only if it was a deadline for the node (AbortSignal.timeout).
  if (signal?.aborted) return isTimeout(signal.reason);
  if (isTimeout(err)) return true;
  const code = errorCode(err);
  return code !== undefined && NODE_HEALTH_CODES.has(code);
}
