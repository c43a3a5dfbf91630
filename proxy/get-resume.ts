import { Readable } from 'node:stream';
import type { BackendPath } from '../common/backend-path.js';
import { abortBody } from '../common/http-client.js';
import { H } from '../common/headers.js';
import type { RingDevice } from '../ring-builder/ring.js';
import { backendRequest, nodeKey, settleBody, type BackendResponse, type NodeTarget } from './backend.js';
import type { ProxyContext } from './context.js';
import { countsAgainstNode } from './error-limiter.js';
import type { MultipartPlan } from '../common/range.js';
import { boundaryOf, framingFrom, layoutOf, parseFirstHead, rangeHeader, remainingRanges, resumedBody, type FirstHead } from './multirange-resume.js';

/**
 * A GET whose node breaks off mid-body goes on from another replica (Swift's GetOrHeadHandler:
 * `_iter_bytes_from_response_part` → `fast_forward` → `_replace_source`): the next node of the
 * same node iterator is asked for the bytes the client has not had yet, `Range: bytes=<sent>-<end>`
 * with `If-Match: <etag>` so another version is never spliced in, and its answer must be a 206
 * of that very range with that ETag. Only when the nodes run out is the client's connection cut
 * (the error is the node's, so the edge answers 503 if nothing went out yet).
 */

/** Where the body's bytes sit in the object: `[start, end)`, and the ETag they belong to. */
export interface BodySpan {
  start: number;
  end: number;
  etag: string;
}

/**
 * The span a good object answer covers, when it can be resumed: a 200 with its Content-Length,
 * or a single-range 206 with its Content-Range. A multipart/byteranges answer (several ranges,
 * relayed as the node framed them), one without a length or an ETag: undefined (not resumable).
 */
export function resumableSpan(status: number, headers: Record<string, string>): BodySpan | undefined {
  const etag = headers['etag'];
  const length = Number(headers['content-length']);
  if (!etag || headers['content-length'] === undefined || !Number.isSafeInteger(length)) return undefined;
  if (status === 200) return { start: 0, end: length, etag };
  if (status !== 206) return undefined;
  const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(headers['content-range'] ?? '');
  if (!m) return undefined;
  const start = Number(m[1]);
  const end = Number(m[2]) + 1;
  return end - start === length ? { start, end, etag } : undefined;
}

/**
 * A body made of one source after another: bytes flow from the current source with backpressure
 * (the source is paused while this stream's buffer is full); when the source fails or ends short,
 * `next(offset)` (offset: bytes delivered so far) gives the rest from elsewhere, or undefined
 * when there is nowhere left, and the body fails with the source's error. Destroying the body
 * (the client went away) destroys the source.
 */
export class ResumingBody extends Readable {
  private source: Readable | undefined;
  private delivered = 0;
  /** Bumped per source: events of a source given up on are ignored. */
  private generation = 0;

  constructor(
    first: Readable,
    private readonly length: number,
    private readonly next: (offset: number, err: Error) => Promise<Readable | undefined>,
    /** Shown each chunk handed on (a multipart body's first part head is read from them). */
    private readonly observe?: (chunk: Buffer) => void,
  ) {
    super({ highWaterMark: 64 * 1024 });
    this.attach(first);
  }

  /** Bytes handed on so far. */
  get offset(): number {
    return this.delivered;
  }

  private attach(src: Readable): void {
    const gen = ++this.generation;
    this.source = src;
    src.on('data', (chunk: Buffer) => {
      if (gen !== this.generation) return;
      // A source never brings more than the span it was asked for (a node sending too much is cut).
      const room = this.length - this.delivered;
      if (chunk.length > room) return void this.failed(gen, src, new ShortReadError('a node sent more than its span'));
      this.delivered += chunk.length;
      this.observe?.(chunk);
      if (!this.push(chunk)) src.pause();
    });
    src.once('end', () => {
      if (gen !== this.generation) return;
      if (this.delivered === this.length) return void this.push(null);
      this.failed(gen, src, new ShortReadError(`a node's body ended after ${this.delivered} of ${this.length} bytes`));
    });
    src.once('error', (err) => this.failed(gen, src, err));
  }

  private failed(gen: number, src: Readable, err: Error): void {
    if (gen !== this.generation || this.destroyed) return;
    this.generation++;
    this.source = undefined;
    src.on('error', () => {});
    src.destroy();
    if (this.delivered === this.length) return void this.push(null);
    this.next(this.delivered, err).then(
      (more) => {
        if (this.destroyed) return void more?.destroy();
        if (!more) return void this.destroy(err);
        this.attach(more);
      },
      () => this.destroy(err),
    );
  }

  override _read(): void {
    const src = this.source;
    if (src && src.isPaused()) src.resume();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    this.generation++;
    const src = this.source;
    this.source = undefined;
    if (src) {
      src.on('error', () => {});
      src.destroy();
    }
    cb(err);
  }
}

/** A body that ended before its length (undici reports a closed socket first; this is the rest). */
export class ShortReadError extends Error {
  readonly code = 'UND_ERR_SOCKET';
}

/** What a resumed read needs besides the first answer: the rest of the node iterator and how to ask. */
export interface ResumeSource {
  ctx: ProxyContext;
  /** The same iterator the first read walked: the nodes after the one that served. */
  nodes: Iterator<NodeTarget>;
  pathFor: (dev: RingDevice) => BackendPath;
  /** The first read's backend headers. */
  headers: Record<string, string>;
  /** For the log. */
  what: string;
}

/**
 * `r`'s body, resumed from the next nodes if its node fails mid-body (see above). A multi-range
 * answer resumes too (proxy/multirange-resume.ts); one that cannot be located (no length, no
 * ETag, a layout other than swob's, or a break inside its first part's head) keeps its body as it is.
 */
export function resumingBody(r: BackendResponse, s: ResumeSource): Readable | undefined {
  const body = r.body;
  if (!body) return undefined;
  const span = resumableSpan(r.status, r.headers);
  if (!span) return multipartResuming(r, body, s) ?? body;
  if (span.end === span.start) return body;
  const resume = resumer(r, s, span.etag);
  return new ResumingBody(body, span.end - span.start, (offset, err) => {
    const want = { start: span.start + offset, end: span.end };
    return resume(offset, err, `bytes=${want.start}-${want.end - 1}`, (res) => {
      const got = resumableSpan(res.status, res.headers);
      return res.status === 206 && got && got.start === want.start && got.end === want.end ? res.body : undefined;
    });
  });
}

/** A multipart/byteranges answer's body, resumable once its first part's head has been seen. */
function multipartResuming(r: BackendResponse, body: Readable, s: ResumeSource): Readable | undefined {
  const boundary = boundaryOf(r.headers['content-type']);
  const etag = r.headers['etag'];
  const length = Number(r.headers['content-length']);
  if (r.status !== 206 || !boundary || !etag || r.headers['content-length'] === undefined || !Number.isSafeInteger(length)) return undefined;
  let prefix: Buffer | undefined = Buffer.alloc(0);
  let head: FirstHead | undefined;
  let plan: MultipartPlan | undefined;
  const observe = (chunk: Buffer): void => {
    if (!prefix) return;
    prefix = Buffer.concat([prefix, chunk]);
    head = parseFirstHead(prefix);
    if (head) plan = layoutOf(s.headers['range'], boundary, head, length);
    if (head || prefix.length > MAX_HEAD) prefix = undefined;
  };
  const resume = resumer(r, s, etag);
  return new ResumingBody(
    body,
    length,
    async (offset, err) => {
      if (!plan || !head) return undefined;
      const remaining = remainingRanges(plan, offset);
      if (remaining.length === 0) return framingFrom(plan, offset);
      const [ours, first] = [plan, head];
      return resume(offset, err, rangeHeader(remaining), (res) => (res.body ? resumedBody(ours, offset, remaining, first, { status: res.status, headers: res.headers, body: res.body }) : undefined));
    },
    observe,
  );
}

/** A first part's head longer than this is not one of ours: the body is not resumed. */
const MAX_HEAD = 4096;

/**
 * Asks the nodes after the one that served (the same iterator) for `range` of the same version
 * (If-Match its ETag) until one's answer gives the rest (`accept`); undefined when they run out.
 */
function resumer(r: BackendResponse, s: ResumeSource, etag: string) {
  let node = r.node;
  // The client's conditions held for this version; from here on only its ETag matters. Range is
  // ours, and a manifest's "ignore the range" would send the whole again (Swift pops it too).
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.headers)) if (!RESUME_DROPS.has(k)) headers[k] = v;
  return async (offset: number, err: Error, range: string, accept: (res: BackendResponse) => Readable | undefined): Promise<Readable | undefined> => {
    if (countsAgainstNode(err)) s.ctx.errorLimiter.recordError(nodeKey(node.dev));
    s.ctx.log.warn({ node: nodeKey(node.dev), what: s.what, offset, err: err.message }, 'Trying to read object during GET (retrying)');
    for (let n = s.nodes.next(); !n.done; n = s.nodes.next()) {
      const res = await backendRequest(s.ctx, n.value, 'GET', s.pathFor(n.value.dev), { ...headers, range, 'if-match': etag }, { keepBody: true });
      const rest = res.headers['etag'] === etag ? accept(res) : undefined;
      if (rest) {
        node = n.value;
        return rest;
      }
      if (res.status < 400) abortBody(res.body);
      else await settleBody(res);
      s.ctx.log.info({ node: nodeKey(n.value.dev), what: s.what, status: res.status }, 'GET resume: node cannot serve the rest');
    }
    return undefined;
  };
}

const RESUME_DROPS = new Set(['range', 'if-match', 'if-none-match', 'if-modified-since', 'if-unmodified-since', H.ignoreRangeIfMetadata]);
