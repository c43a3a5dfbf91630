import type { Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import type { BackendPath } from '../common/backend-path.js';
import { discardBody, originOf } from '../common/http-client.js';
import type { Ring, RingDevice } from '../ring-builder/ring.js';
import type { ProxyContext } from './context.js';
import { countsAgainstNode } from './error-limiter.js';

/** A node as the proxy addresses it. */
export interface NodeTarget {
  dev: RingDevice;
  /** Position among the primaries, or -1 for a handoff. */
  index: number;
  handoff: boolean;
}

export function nodeKey(dev: RingDevice): string {
  return `${dev.ip}:${dev.port}/${dev.device}`;
}

/**
 * Primaries (skipping error-limited ones), then handoffs, at most `maxNodes` in all: the order in
 * which reads try nodes and writes replace unreachable primaries (Swift's NodeIter).
 */
export function* nodeIter(ctx: ProxyContext, ring: Ring, part: number, maxNodes = ring.replicaCount * 2): Generator<NodeTarget> {
  let yielded = 0;
  const primaries = ring.primaries(part);
  for (let i = 0; i < primaries.length && yielded < maxNodes; i++) {
    const dev = primaries[i] as RingDevice;
    if (ctx.errorLimiter.isLimited(nodeKey(dev))) continue;
    yielded++;
    yield { dev, index: i, handoff: false };
  }
  for (const dev of ring.handoffs(part)) {
    if (yielded >= maxNodes) return;
    if (ctx.errorLimiter.isLimited(nodeKey(dev))) continue;
    yielded++;
    yield { dev, index: -1, handoff: true };
  }
}

export interface BackendResponse {
  node: NodeTarget;
  status: number;
  headers: Record<string, string>;
  /** Present for answers with a body the caller wants; the caller must consume or destroy it. */
  body?: Dispatcher.ResponseData['body'];
  /** Set when the node could not be reached or did not answer in time (status is then 503). */
  error?: Error;
  /** A refusal's (4xx) body, read instead of kept: what Swift relays ("Total metadata too large; max 4096"). */
  text?: string;
}

/** At most 1 KiB of a (small, error) body as text; the rest is dropped. */
async function shortText(body: Dispatcher.ResponseData['body']): Promise<string> {
  let text = '';
  try {
    for await (const chunk of body) {
      text += (chunk as Buffer).toString('utf8');
      if (text.length >= 1024) {
        body.destroy();
        break;
      }
    }
  } catch {
    /* cut short: what came is enough */
  }
  return text.slice(0, 1024);
}

/**
 * A kept body that will not be streamed (an error answer): read into `text` (at most 1 KiB, as
 * Swift reads a refusal's body to relay it), so nothing is left to relay that was destroyed.
 */
export async function settleBody(r: BackendResponse): Promise<BackendResponse> {
  if (!r.body) return r;
  const body = r.body;
  delete r.body;
  r.text = await shortText(body);
  return r;
}

function flatHeaders(h: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(', ') : v;
  return out;
}

/**
 * One backend request. Network failures and timeouts become a 503 response (and count against the
 * node); 507 error-limits the node at once. With keepBody false the body is drained here.
 */
export async function backendRequest(
  ctx: ProxyContext,
  node: NodeTarget,
  method: string,
  path: BackendPath,
  headers: Record<string, string>,
  opts: { keepBody?: boolean; body?: Readable | Buffer | string; signal?: AbortSignal } = {},
): Promise<BackendResponse> {
  const key = nodeKey(node.dev);
  try {
    const res = await ctx.backend.request(originOf(node.dev), method, path, {
      headers,
      ...(opts.body !== undefined ? { body: opts.body } : {}),
      ...(opts.signal ? { signal: opts.signal } : {}),
    });
    if (res.statusCode >= 500) {
      if (res.statusCode === 507) ctx.errorLimiter.limitNow(key);
      else ctx.errorLimiter.recordError(key);
    }
    const out: BackendResponse = { node, status: res.statusCode, headers: flatHeaders(res.headers) };
    if (opts.keepBody && method !== 'HEAD') out.body = res.body;
    else if (res.statusCode >= 400 && res.statusCode < 500 && method !== 'HEAD') out.text = await shortText(res.body);
    else await discardBody(res.body);
    return out;
  } catch (err) {
    if (countsAgainstNode(err, opts.signal)) ctx.errorLimiter.recordError(key);
    ctx.log.warn({ node: key, method, path, err: (err as Error).message }, 'backend request failed');
    return { node, status: 503, headers: {}, error: err as Error };
  }
}
