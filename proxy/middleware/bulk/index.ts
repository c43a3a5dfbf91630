import type { Readable } from 'node:stream';
import type { ProxyContext } from '../../context.js';
import { respond, type Body, type Middleware, type Pipeline, type ProxyRequest, type ProxyResponse } from '../../pipeline.js';
import { statusLine } from '../../responses.js';
import { percentDecode } from '../../swift-request.js';
import { archiveCompression, archiveMembers, ArchiveError, type Compression } from './archive.js';
import { BulkRefusal, DeleteList, extractBase, isContainerName, memberPath, MAX_PATH_LENGTH, quoteBytes, utf8Name } from './names.js';
import { bestFormat, reportBody, type Failure, type ReportFields, type ReportFormat } from '../../bulk-report.js';

/**
 * Bulk operations (Swift's bulk middleware, swift/common/middleware/bulk.py):
 *
 * - PUT /v1/<account>[/<container>[/<prefix>]]?extract-archive=tar|tar.gz|tar.bz2: each regular
 *   member of the streamed archive becomes an object PUT sub-request (source "EA") with the
 *   member's data as its body; at account level the first path component is the container,
 *   created (HEAD, then PUT) when missing.
 * - POST|DELETE /v1/<account>?bulk-delete: a newline list of URL-encoded names, each deleted by a
 *   sub-request (source "BD"): objects first, then containers.
 *
 * Every sub-request goes through the rest of the pipeline as the user (the request's identity and
 * the auth stage's authorize hook), so each object and container is authorized on its own. The
 * answer is always 200, its body streamed: whitespace every yield_frequency seconds while the
 * work goes on (so proxies and clients do not time out), then the report.
 */

export interface BulkLimits {
  maxContainersPerExtraction: number;
  maxFailedExtractions: number;
  maxDeletesPerRequest: number;
  maxFailedDeletes: number;
  /** Seconds between keep-alive whitespace. */
  yieldFrequency: number;
  deleteConcurrency: number;
  /** Swift's MAX_FILE_SIZE: a bigger member is reported 413 and not sent. */
  maxFileSize: number;
}

export function bulkLimits(ctx: ProxyContext): BulkLimits {
  const c = ctx.config;
  return {
    maxContainersPerExtraction: c.max_containers_per_extraction,
    maxFailedExtractions: c.max_failed_extractions,
    maxDeletesPerRequest: c.max_deletes_per_request,
    maxFailedDeletes: c.max_failed_deletes,
    yieldFrequency: c.bulk_yield_frequency_s,
    deleteConcurrency: Math.min(1000, Math.max(1, c.bulk_delete_concurrency)),
    maxFileSize: c.max_file_size,
  };
}

/** The bulk stage (after auth: its sub-requests act as the request's user). */
export function bulk(ctx: ProxyContext): Middleware {
  const limits = bulkLimits(ctx);
  ctx.capabilities.register('bulk_upload', {
    max_containers_per_extraction: limits.maxContainersPerExtraction,
    max_failed_extractions: limits.maxFailedExtractions,
  });
  ctx.capabilities.register('bulk_delete', {
    max_deletes_per_request: limits.maxDeletesPerRequest,
    max_failed_deletes: limits.maxFailedDeletes,
  });
  return (next, pipeline) => (req) => {
    const extractType = req.query.get('extract-archive');
    let answer: ProxyResponse | undefined;
    if (extractType !== null && req.method === 'PUT') {
      const compression = archiveCompression(extractType);
      if (compression === undefined) {
        answer = respond(400, { 'Content-Type': 'text/plain' }, 'Unsupported archive format');
      } else {
        const format = bestFormat(req.headers['accept']);
        answer = report(format, new Extraction(ctx, pipeline, limits, req, compression, format).run());
      }
    }
    if (req.query.has('bulk-delete') && (req.method === 'POST' || req.method === 'DELETE')) {
      const format = bestFormat(req.headers['accept']);
      answer = report(format, new BulkDelete(pipeline, limits, req, format, ctx.clock).run());
    }
    return answer ? Promise.resolve(answer) : next(req);
  };
}

/** The 200 whose body is the streamed work (swob's default type when no format was acceptable). */
function report(format: ReportFormat | undefined, body: AsyncIterable<Buffer>): ProxyResponse {
  return respond(200, { 'Content-Type': format ?? 'text/html; charset=UTF-8' }, body as Body);
}

/** The request's path as Swift's split_path(2, 3, True) sees it: version, account, and the rest (bytes). */
function splitBulkPath(req: ProxyRequest): { version: Buffer; account: Buffer; rest: Buffer } {
  const path = percentDecode(req.path);
  const s = path.toString('latin1');
  const parts = s.split('/');
  if (parts[0] !== '' || parts.length < 3 || !parts[1] || !parts[2]) throw new BulkRefusal(404);
  const rest = parts.length > 3 ? parts.slice(3).join('/') : '';
  return { version: Buffer.from(parts[1], 'latin1'), account: Buffer.from(parts[2], 'latin1'), rest: Buffer.from(rest, 'latin1') };
}

/** Swift's keep-alive: whitespace when yield_frequency seconds passed since the last (the XML declaration first for XML). */
class KeepAlive {
  private last: number;
  private toYield: string;
  /** What goes before the report once something was sent: a blank line. */
  separator = '';

  constructor(
    private readonly clock: () => number,
    private readonly frequencyS: number,
    format: ReportFormat | undefined,
  ) {
    this.last = clock();
    this.toYield = format === 'application/xml' || format === 'text/xml' ? '<?xml version="1.0" encoding="UTF-8"?>\n' : ' ';
  }

  /** What to send now, if anything. */
  tick(): Buffer | undefined {
    const now = this.clock();
    // 0: before every step (Swift's check would almost always pass then; here it always does).
    if (this.frequencyS > 0 && this.last + this.frequencyS * 1000 >= now) return undefined;
    this.last = now;
    const out = Buffer.from(this.toYield);
    this.toYield = ' ';
    this.separator = '\r\n\r\n';
    return out;
  }
}

/** Reads and drops the rest of a response body. */
async function consume(res: ProxyResponse): Promise<void> {
  const b = res.body;
  if (b === undefined || typeof b === 'string' || Buffer.isBuffer(b)) return;
  try {
    for await (const _ of b as AsyncIterable<Buffer>) void _;
  } catch {
    /* a broken body is as good as read */
  }
}

/** What ended a bulk request early goes into its report: a refusal as it says, anything else as a 500 (and logged). */
function outcome(fields: ReportFields, e: unknown, req: ProxyRequest, what: string): void {
  if (e instanceof BulkRefusal) {
    fields['Response Status'] = statusLine(e.status);
    fields['Response Body'] = e.body;
  } else {
    req.log.error({ err: e }, what);
    fields['Response Status'] = statusLine(500);
  }
}

/** Lets the client's body go: read and dropped (the request is answered without it). */
function release(body: Readable): void {
  if (!body.readableEnded && !body.destroyed) body.resume();
}

class Extraction {
  private readonly fields: ReportFields = { 'Response Status': statusLine(201), 'Response Body': '', 'Number Files Created': 0 };
  private readonly failed: Failure[] = [];

  constructor(
    private readonly ctx: ProxyContext,
    private readonly pipeline: Pipeline,
    private readonly limits: BulkLimits,
    private readonly req: ProxyRequest,
    private readonly compression: Compression,
    private readonly format: ReportFormat | undefined,
  ) {}

  async *run(): AsyncGenerator<Buffer> {
    const keepAlive = new KeepAlive(this.ctx.clock, this.limits.yieldFrequency, this.format);
    const req = this.req;
    try {
      try {
        if (!this.format) throw new BulkRefusal(406);
        if (req.headers['content-length'] === undefined && (req.headers['transfer-encoding'] ?? '').toLowerCase() !== 'chunked') throw new BulkRefusal(411);
        const { version, account, rest } = splitBulkPath(req);
        const base = extractBase(rest);
        let failedResponse = 400;
        let containersCreated = 0;
        const containersAccessed = new Set<string>();
        const members = archiveMembers(req.body, this.compression);
        try {
          for (;;) {
            const ka = keepAlive.tick();
            if (ka) yield ka;
            const step = await members.next();
            if (step.done || this.failed.length >= this.limits.maxFailedExtractions) break;
            const m = step.value;
            if (!m.isFile) continue;
            const objPath = memberPath(m.name, base);
            if (!objPath) continue;
            const reportName = quoteBytes(objPath.subarray(0, MAX_PATH_LENGTH));
            const destination = Buffer.concat([Buffer.from('/'), version, Buffer.from('/'), account, Buffer.from('/'), objPath]);
            if (utf8Name(destination) === undefined) {
              this.failed.push([reportName, statusLine(412)]);
              continue;
            }
            if (m.size > this.limits.maxFileSize) {
              this.failed.push([reportName, statusLine(413)]);
              continue;
            }
            const containerBytes = objPath.subarray(0, objPath.indexOf(0x2f));
            const container = containerBytes.toString('latin1');
            let containerFailure: Failure | undefined;
            if (!containersAccessed.has(container)) {
              const contPath = Buffer.concat([Buffer.from('/'), version, Buffer.from('/'), account, Buffer.from('/'), containerBytes]);
              const created = await this.createContainer(quoteBytes(contPath));
              if (created === true) {
                containersCreated++;
                if (containersCreated > this.limits.maxContainersPerExtraction) {
                  throw new BulkRefusal(400, `More than ${this.limits.maxContainersPerExtraction} containers to create from tar.`);
                }
              } else if (created !== false) {
                // The object PUT may still succeed (an ACL may let the user write there).
                containerFailure = [quoteBytes(contPath.subarray(0, MAX_PATH_LENGTH)), statusLine(created)];
                if (created === 401) throw new BulkRefusal(401);
              }
            }
            const headers: Record<string, string> = { 'content-length': String(m.size) };
            for (const [k, v] of Object.entries(req.headers)) {
              if (k === 'x-delete-at' || k === 'x-delete-after' || k.startsWith('x-object-meta-')) headers[k] = v;
            }
            Object.assign(headers, m.headers);
            headers['user-agent'] = `${req.headers['user-agent'] ?? ''} BulkExpand`;
            const res = await this.pipeline.subrequest(req, { method: 'PUT', path: quoteBytes(destination), headers, body: m.body }, { source: 'EA' });
            await consume(res);
            containersAccessed.add(container);
            if (res.status >= 200 && res.status < 300) {
              (this.fields['Number Files Created'] as number)++;
            } else {
              if (containerFailure) this.failed.push(containerFailure);
              if (res.status === 401) {
                this.failed.push([reportName, statusLine(401)]);
                throw new BulkRefusal(401);
              }
              if (res.status >= 500) failedResponse = 502;
              this.failed.push([reportName, statusLine(res.status)]);
            }
          }
        } finally {
          await members.return(undefined);
        }
        if (this.failed.length) this.fields['Response Status'] = statusLine(failedResponse);
        else if (!this.fields['Number Files Created']) {
          this.fields['Response Status'] = statusLine(400);
          this.fields['Response Body'] = 'Invalid Tar File: No Valid Files';
        }
      } catch (e) {
        outcome(this.fields, e instanceof ArchiveError ? new BulkRefusal(400, `Invalid Tar File: ${e.message}`) : e, req, 'Error in extract archive.');
      }
      yield Buffer.from(keepAlive.separator + reportBody(this.format, this.fields, this.failed, 'extract'));
    } finally {
      release(req.body);
    }
  }

  /**
   * Swift's create_container: HEAD it; when missing, PUT it. true: created; false: it existed;
   * a number: the status it failed with.
   */
  private async createContainer(path: string): Promise<boolean | number> {
    const headers = { 'user-agent': `${this.req.headers['user-agent'] ?? ''} BulkExpand` };
    const head = await this.pipeline.subrequest(this.req, { method: 'HEAD', path, headers }, { source: 'EA' });
    await consume(head);
    if (head.status >= 200 && head.status < 300) return false;
    if (head.status !== 404) return head.status;
    const put = await this.pipeline.subrequest(this.req, { method: 'PUT', path, headers: { ...headers, 'content-length': '0' } }, { source: 'EA' });
    await consume(put);
    return put.status >= 200 && put.status < 300 ? true : put.status;
  }
}

interface Deletion {
  /** The name as listed (decoded bytes). */
  name: Buffer;
  /** The sub-request's path, percent-encoded. */
  path: string;
}

class BulkDelete {
  private readonly fields: ReportFields = { 'Response Status': statusLine(200), 'Response Body': '', 'Number Deleted': 0, 'Number Not Found': 0 };
  private readonly failed: Failure[] = [];
  private failedResponse = 400;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly limits: BulkLimits,
    private readonly req: ProxyRequest,
    private readonly format: ReportFormat | undefined,
    private readonly clock: () => number,
  ) {}

  async *run(): AsyncGenerator<Buffer> {
    const keepAlive = new KeepAlive(this.clock, this.limits.yieldFrequency, this.format);
    const req = this.req;
    try {
      try {
        if (!this.format) throw new BulkRefusal(406);
        const { version, account } = splitBulkPath(req);
        const incoming = req.headers['content-type'];
        if (incoming && !incoming.startsWith('text/plain')) throw new BulkRefusal(406);
        if (req.headers['content-length'] === undefined && (req.headers['transfer-encoding'] ?? '').toLowerCase() !== 'chunked') throw new BulkRefusal(411);
        const list = new DeleteList(this.limits.maxDeletesPerRequest);
        for await (const chunk of req.body) list.push(chunk as Buffer);
        const names = list.end();
        // Objects first, then the containers (which must be empty by then).
        const ordered = [...names.filter((n) => !isContainerName(n)), ...names.filter((n) => isContainerName(n))];
        const todo: Deletion[] = [];
        for (const name of ordered) {
          let i = 0;
          while (name[i] === 0x2f) i++;
          const path = Buffer.concat([Buffer.from('/'), version, Buffer.from('/'), account, Buffer.from('/'), name.subarray(i)]);
          if (utf8Name(path) === undefined) {
            this.failed.push([quoteBytes(name), statusLine(412)]);
            continue;
          }
          todo.push({ name, path: quoteBytes(path) });
        }
        // delete_concurrency deletes in flight; answers taken in the list's order.
        const inflight: Promise<[Deletion, number]>[] = [];
        let next = 0;
        const start = (): void => {
          const d = todo[next++] as Deletion;
          inflight.push(this.deleteOne(d).then((status) => [d, status]));
        };
        while (next < todo.length && inflight.length < this.limits.deleteConcurrency) start();
        while (inflight.length) {
          const [d, status] = await (inflight.shift() as Promise<[Deletion, number]>);
          const ka = keepAlive.tick();
          if (ka) yield ka;
          this.process(d, status);
          if (this.failed.length >= this.limits.maxFailedDeletes) {
            // Abort, but take the answers of the deletes already under way.
            for (const p of inflight.splice(0)) {
              const [d2, s2] = await p;
              this.process(d2, s2);
            }
            throw new BulkRefusal(400, 'Max delete failures exceeded');
          }
          if (next < todo.length) start();
        }
        if (this.failed.length) this.fields['Response Status'] = statusLine(this.failedResponse);
        else if (!(this.fields['Number Deleted'] || this.fields['Number Not Found'])) {
          this.fields['Response Status'] = statusLine(400);
          this.fields['Response Body'] = 'Invalid bulk delete.';
        }
      } catch (e) {
        outcome(this.fields, e, req, 'Error in bulk delete.');
      }
      yield Buffer.from(keepAlive.separator + reportBody(this.format, this.fields, this.failed, 'delete'));
    } finally {
      release(req.body);
    }
  }

  private async deleteOne(d: Deletion): Promise<number> {
    const headers = { 'user-agent': `${this.req.headers['user-agent'] ?? ''} BulkDelete`, 'content-length': '0' };
    try {
      const res = await this.pipeline.subrequest(this.req, { method: 'DELETE', path: d.path, headers }, { source: 'BD' });
      await consume(res);
      return res.status;
    } catch (e) {
      this.req.log.error({ err: e }, 'bulk delete sub-request failed');
      return 500;
    }
  }

  private process(d: Deletion, status: number): void {
    if (status >= 200 && status < 300) (this.fields['Number Deleted'] as number)++;
    else if (status === 404) (this.fields['Number Not Found'] as number)++;
    else {
      if (status >= 500) this.failedResponse = 502;
      this.failed.push([quoteBytes(d.name), statusLine(status)]);
    }
  }
}
