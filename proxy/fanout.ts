import type { BackendPath } from '../common/backend-path.js';
import { abortBody } from '../common/http-client.js';
import { bestResponse, gatherUntilQuorum } from '../common/quorum.js';
import type { Ring, RingDevice } from '../ring-builder/ring.js';
import { backendRequest, nodeIter, settleBody, type BackendResponse, type NodeTarget } from './backend.js';
import type { ProxyContext } from './context.js';

/** A request goes to a node again elsewhere only for these answers (the node, not the request, failed). */
export function nodeFailed(r: BackendResponse): boolean {
  return r.error !== undefined || r.status >= 500;
}

/**
 * Writes to every replica (Swift's make_requests): each of the `replicas` slots starts on its
 * primary and moves down a shared iterator of handoffs while its node fails. The answer is the
 * status class that reached quorum, else 503, given once a quorum agrees and the others had
 * post_quorum_timeout_ms more. `headersFor(i)` adds per-replica headers (which container or
 * account node to update). `chosen` is the answer the status came from.
 */
export async function makeRequests(
  ctx: ProxyContext,
  ring: Ring,
  part: number,
  method: string,
  pathFor: (dev: RingDevice) => BackendPath,
  baseHeaders: Record<string, string>,
  headersFor: (replicaIndex: number) => Record<string, string> = () => ({}),
  opts: { overrides?: Record<number, number> } = {},
): Promise<{ status: number; responses: BackendResponse[]; chosen?: BackendResponse }> {
  const primaries = ring.primaries(part);
  const handoffs = handoffIterator(ctx, ring, part);
  const slots = primaries.map(async (dev, i) => {
    let node: NodeTarget | undefined = { dev, index: i, handoff: false };
    let last: BackendResponse | undefined;
    // An error-limited primary goes straight to a handoff.
    if (ctx.errorLimiter.isLimited(`${dev.ip}:${dev.port}/${dev.device}`)) node = handoffs.next().value ?? undefined;
    while (node) {
      last = await backendRequest(ctx, node, method, pathFor(node.dev), { ...baseHeaders, ...headersFor(i) });
      if (!nodeFailed(last)) return last;
      node = handoffs.next().value ?? undefined;
    }
    return last ?? ({ node: { dev, index: i, handoff: false }, status: 503, headers: {} } as BackendResponse);
  });
  // Once a quorum agrees, the rest get post_quorum_timeout_ms (Swift's post_quorum_timeout), not
  // node_timeout: one hung node must not hold every write for 10 s. A slot still out is counted
  // as 503 like Swift does; its request goes on (to a handoff if it fails) and only adds a replica.
  const answered = await gatherUntilQuorum(slots, (r) => r.status, ring.replicaCount, ctx.config.post_quorum_timeout_ms);
  const responses = answered.map((r, i) => r ?? ({ node: { dev: primaries[i] as RingDevice, index: i, handoff: false }, status: 503, headers: {} } as BackendResponse));
  const statuses = responses.map((r) => r.status);
  let best = bestResponse(statuses, ring.replicaCount);
  // Swift's overrides: without a quorum, try again reading some statuses as others (a DELETE's
  // 404 as 204); the answer still comes from a node that said it.
  const overrides = opts.overrides;
  if (!best.quorum && overrides) {
    const avoid = new Set<number>();
    const read = statuses.map((s, i) => (overrides[s] === undefined ? s : (avoid.add(i), overrides[s] as number)));
    best = bestResponse(read, ring.replicaCount, avoid);
  }
  if (best.status === 503) {
    ctx.log.warn({ method, path: pathFor(primaries[0] as RingDevice), statuses: responses.map((r) => `${r.node.dev.ip}:${r.node.dev.port}/${r.node.dev.device}=${r.status}`) }, 'no quorum');
  }
  // The answer the status came from: a refusal's body and headers are relayed, as Swift does.
  const chosen = responses[best.index];
  return chosen ? { status: best.status, responses, chosen } : { status: best.status, responses };
}

function* handoffIterator(ctx: ProxyContext, ring: Ring, part: number): Generator<NodeTarget> {
  let n = 0;
  for (const node of nodeIter(ctx, ring, part, ring.replicaCount * 2 + ring.replicaCount)) {
    if (!node.handoff) continue;
    if (n++ >= ring.replicaCount) return;
    yield node;
  }
}

/**
 * Reads (Swift's GETorHEAD_base): try nodes in order until one has what was asked for (2xx,
 * 3xx), or a conditional's verdict (412, 416: every replica would give the same). Otherwise the
 * answers so far decide, as Swift's best_response does over them: the highest status of the
 * class (2xx, 3xx, 4xx) a quorum of them reached, else 503. Failed connections are no answer,
 * nor a handoff's 5xx or 404 without a timestamp (it just never had the thing). Error answers
 * come back with their body read into `text`, never a body that was dropped.
 */
export async function readFromNodes(
  ctx: ProxyContext,
  ring: Ring,
  part: number,
  method: string,
  pathFor: (dev: RingDevice) => BackendPath,
  headers: Record<string, string>,
  opts: { keepBody?: boolean; maxNodes?: number; nodes?: Iterator<NodeTarget> } = {},
): Promise<{ response: BackendResponse | undefined; status: number; statuses: number[] }> {
  const statuses: number[] = [];
  const answers: BackendResponse[] = [];
  // A caller that passes its own iterator keeps the nodes not asked yet (a GET resumes from them).
  const nodes = opts.nodes ?? nodeIter(ctx, ring, part, opts.maxNodes ?? ring.replicaCount * 2);
  for (let n = nodes.next(); !n.done; n = nodes.next()) {
    const node = n.value;
    const r = await backendRequest(ctx, node, method, pathFor(node.dev), headers, { keepBody: opts.keepBody === true });
    statuses.push(r.status);
    if (r.status >= 200 && r.status < 400) return { response: r, status: r.status, statuses };
    await settleBody(r);
    if (r.status === 412 || r.status === 416) return { response: r, status: r.status, statuses };
    if (r.error) continue;
    if (node.handoff && (r.status >= 500 || (r.status === 404 && !r.headers['x-backend-timestamp']))) continue;
    answers.push(r);
    // Every primary saying 404 is enough: handoffs rarely hold what no primary has.
    if (answers.filter((a) => a.status === 404).length >= ring.replicaCount) break;
  }
  const best = bestResponse(
    answers.map((a) => a.status),
    answers.length,
  );
  const response = answers[best.index];
  if (!response) return { response: undefined, status: 503, statuses };
  return { response, status: response.status, statuses };
}

/** X-Newest: ask every primary (and handoffs for failures), answer with the newest X-Timestamp. */
export async function readNewest(
  ctx: ProxyContext,
  ring: Ring,
  part: number,
  method: string,
  pathFor: (dev: RingDevice) => BackendPath,
  headers: Record<string, string>,
): Promise<{ response: BackendResponse | undefined; status: number }> {
  const nodes = [...nodeIter(ctx, ring, part, ring.replicaCount * 2)].slice(0, ring.replicaCount);
  const all = await Promise.all(nodes.map((n) => backendRequest(ctx, n, method, pathFor(n.dev), headers, { keepBody: true })));
  let best: BackendResponse | undefined;
  const ts = (r: BackendResponse): string => r.headers['x-backend-timestamp'] ?? r.headers['x-timestamp'] ?? '';
  for (const r of all) {
    if (r.status >= 500) continue;
    if (!best || ts(r) > ts(best) || (ts(r) === ts(best) && r.status < best.status)) best = r;
  }
  for (const r of all) if (r !== best) abortBody(r.body);
  if (!best) return { response: undefined, status: 503 };
  if (best.status >= 400) await settleBody(best);
  return { response: best, status: best.status };
}
