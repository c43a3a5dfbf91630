import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { encodeSegment } from '../../../common/backend-path.js';
import type { ProxyContext } from '../../context.js';
import { respond, type Middleware, type Pipeline, type ProxyRequest, type ProxyResponse } from '../../pipeline.js';
import { reasonPhrase } from '../../responses.js';
import { decodeSwiftPath } from '../../swift-request.js';
import { allowedDigests, SignedAuth, signingKeys } from '../tempurl/index.js';
import { constantTimeEqual, DEPRECATED_DIGESTS, extractDigest, formPostHmac, pyInt, pyQuote, type DigestName, type HmacKey } from '../tempurl/signature.js';
import { FormReadError, formParts, parseContentDisposition, readValue, type FormPart } from './form.js';
import { titleCase } from '../../../common/headers.js';

/** Swift's MAX_VALUE_LENGTH: a form field's value is cut after this many bytes. */
const MAX_VALUE_LENGTH = 4096;

/**
 * The form fields Swift's formpost reads (any others it keeps and never uses; keeping only these
 * bounds a form's memory whatever its number of fields).
 */
const FIELDS = new Set(['redirect', 'max_file_size', 'max_file_count', 'expires', 'signature', 'x_delete_at', 'x_delete_after', 'content-type', 'content-encoding']);

/** A refusal of the whole form, with Swift's status and message. */
class FormRefusal extends Error {
  constructor(
    readonly status: 400 | 401,
    message: string,
  ) {
    super(message);
  }
}
const invalid = (m: string) => new FormRefusal(400, m);
const unauthorized = (m: string) => new FormRefusal(401, m);

/**
 * Swift's FormPost middleware (swift/common/middleware/formpost.py): a POST of
 * multipart/form-data is a browser form upload. Its fields (before the files) give redirect,
 * max_file_size, max_file_count, expires and the signature over
 * "path\nredirect\nmax_file_size\nmax_file_count\nexpires" with a temp URL key of the account or
 * container; each file is streamed into an object PUT sub-request named path + filename,
 * authorized for objects under the signed path only (SignedAuth). Answers as Swift: the last
 * status as text, or a 303 to `redirect` with status and message in its query.
 */
export function formpost(ctx: ProxyContext): Middleware {
  const digests = allowedDigests(ctx.config);
  const deprecated = digests.filter((d) => DEPRECATED_DIGESTS.includes(d));
  ctx.capabilities.register('formpost', { allowed_digests: digests, ...(deprecated.length ? { deprecated_digests: deprecated } : {}) });
  return (next, pipeline) => async (req) => {
    if (req.method !== 'POST') return next(req);
    const [type, attrs] = parseContentDisposition(req.headers['content-type'] ?? '');
    if (type !== 'multipart/form-data' || attrs['boundary'] === undefined) return next(req);
    req.headers['user-agent'] = `${req.headers['user-agent'] ?? ''} FormPost`.trim();
    try {
      return await translateForm(ctx, pipeline, req, attrs['boundary'], digests);
    } catch (err) {
      if (!(err instanceof FormRefusal)) throw err;
      req.body.resume();
      if (err.status === 401) return respond(401, {}, `FormPost: ${titleCase(err.message)}`);
      return respond(400, { 'Content-Type': 'text/plain' }, `FormPost: ${err.message}`);
    }
  };
}

/** The decoded path's pieces as Swift's _get_keys takes them: /<version>/<account>/<container>[/...]. */
function formTarget(path: string | undefined): { account: string; container: string } | undefined {
  const parts = path?.split('/') ?? [];
  if (parts.length < 4 || parts[0] || (parts[1] !== 'v1' && parts[1] !== 'v1.0') || !parts[2] || !parts[3]) return undefined;
  return { account: parts[2], container: parts[3] };
}

async function translateForm(ctx: ProxyContext, pipeline: Pipeline, req: ProxyRequest, boundary: string, digests: string[]): Promise<ProxyResponse> {
  const path = decodeSwiftPath(req.path);
  const target = formTarget(path);
  const keys = target ? (await signingKeys(ctx, req, target.account, target.container)).map((k) => k.key) : [];
  const attributes: Record<string, string> = {};
  let status = 0;
  let message = '';
  let subheaders: Record<string, string> = {};
  let fileCount = 0;
  try {
    for await (const part of formParts(req.body, boundary)) {
      if (part.disposition === 'form-data' && part.attrs['filename']) {
        fileCount++;
        const maxCount = pyInt(attributes['max_file_count'] || '0');
        if (maxCount === undefined) throw invalid('max_file_count not an integer');
        if (fileCount > maxCount) {
          status = 400;
          message = 'max file count exceeded';
          part.body.resume();
          break;
        }
        const fileAttributes: Record<string, string> = { ...attributes, filename: part.attrs['filename'] };
        if (!('content-type' in attributes) && 'content-type' in part.headers) fileAttributes['content-type'] = part.headers['content-type'] || 'application/octet-stream';
        if (!('content-encoding' in attributes) && 'content-encoding' in part.headers) fileAttributes['content-encoding'] = part.headers['content-encoding'] as string;
        const sub = await storeFile(ctx, pipeline, req, { path: path as string, target, keys, digests }, fileAttributes, part);
        status = sub.status;
        subheaders = sub.headers;
        if (status < 200 || status >= 300) break;
      } else {
        const value = await readValue(part.body, MAX_VALUE_LENGTH);
        const name = part.attrs['name']?.toLowerCase();
        if (name !== undefined && FIELDS.has(name)) attributes[name] = value.replace(/[\r\n-]+$/, '');
      }
    }
  } catch (err) {
    if (err instanceof FormReadError) throw invalid(err.kind === 'boundary' ? 'invalid starting boundary' : `invalid multipart body: ${err.message}`);
    throw err;
  }
  req.body.resume();
  if (!status) {
    status = 400;
    message = 'no files to process';
  }
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(subheaders)) if (k.toLowerCase().startsWith('access-control')) headers[k] = v;
  const statusLine = `${status} ${reasonPhrase(status)}`;
  let redirect = attributes['redirect'];
  if (!redirect) {
    const body = message ? `${statusLine}\r\nFormPost: ${titleCase(message)}` : statusLine;
    return respond(status, { ...headers, 'Content-Type': 'text/plain' }, body);
  }
  redirect += redirect.includes('?') ? '&' : '?';
  redirect += `status=${pyQuote(String(status))}&message=${pyQuote(message)}`;
  // A header carries bytes: the redirect's UTF-8, with control characters (a CR LF would split the
  // header) percent-encoded; the page gets it as text.
  const location = Buffer.from(redirect.replace(/[\x00-\x1f\x7f]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`), 'utf8').toString('latin1');
  return respond(303, { ...headers, Location: location }, `<html><body><p><a href="${redirect}">Click to continue...</a></p></body></html>`);
}

interface FormContext {
  /** The form's decoded path (Swift's PATH_INFO): what was signed, and where files go. */
  path: string;
  target: { account: string; container: string } | undefined;
  keys: HmacKey[];
  digests: string[];
}

/**
 * One file: Swift's _perform_subrequest checks (in its order), then a PUT sub-request of
 * path + filename whose body is the part, cut off (and the PUT failed: nothing stored) past
 * max_file_size. Returns the PUT's status and headers.
 */
async function storeFile(ctx: ProxyContext, pipeline: Pipeline, req: ProxyRequest, form: FormContext, attributes: Record<string, string>, part: FormPart): Promise<{ status: number; headers: Record<string, string> }> {
  if (form.keys.length === 0 || !form.target) throw unauthorized('invalid signature');
  const maxFileSize = pyInt(attributes['max_file_size'] || '0');
  if (maxFileSize === undefined) throw invalid('max_file_size not an integer');
  const base = !form.path.endsWith('/') && form.path.split('/').length - 1 < 4 ? `${form.path}/` : form.path;
  const objectPath = base + (attributes['filename'] || 'filename');
  const headers: Record<string, string> = { 'transfer-encoding': 'chunked' };
  if (req.headers['user-agent']) headers['user-agent'] = req.headers['user-agent'];
  if ('x_delete_at' in attributes) {
    const at = pyInt(attributes['x_delete_at'] as string);
    if (at === undefined) throw invalid('x_delete_at not an integer: Unix timestamp required.');
    headers['x-delete-at'] = String(at);
  }
  if ('x_delete_after' in attributes) {
    const after = pyInt(attributes['x_delete_after'] as string);
    if (after === undefined) throw invalid('x_delete_after not an integer: Number of seconds required.');
    headers['x-delete-after'] = String(after);
  }
  if ('content-type' in attributes) headers['content-type'] = attributes['content-type'] || 'application/octet-stream';
  if ('content-encoding' in attributes) headers['content-encoding'] = attributes['content-encoding'] as string;
  const expires = pyInt(attributes['expires'] || '0');
  if (expires === undefined) throw invalid('expired not an integer');
  if (expires * 1000 < ctx.clock()) throw unauthorized('form expired');
  const signed = {
    path: form.path,
    redirect: attributes['redirect'] || '',
    maxFileSize: attributes['max_file_size'] || '0',
    maxFileCount: attributes['max_file_count'] || '0',
    expires: attributes['expires'] || '0',
  };
  const sig = extractDigest(attributes['signature'] ?? '');
  if (!sig || !form.digests.includes(sig.algorithm)) throw unauthorized('invalid signature');
  // Every key is tried (no early exit), as Swift.
  let valid = false;
  for (const key of form.keys) if (constantTimeEqual(formPostHmac(sig.algorithm as DigestName, key, signed), sig.hex)) valid = true;
  if (!valid) throw unauthorized('invalid signature');

  // A part that broke off (its 'error' may come before it was even handed over) fails the PUT's
  // body at its end, so the PUT stores nothing; stream.pipeline misses an error emitted this way.
  const capped = new SizeCap(maxFileSize, part.broken);
  part.body.on('error', (err) => capped.destroy(err));
  // Its failure may come before the PUT listens (exceeded, or broken, while buffered): the PUT
  // then finds it destroyed; what failed is read from `exceeded` and `broken` below.
  capped.on('error', () => undefined);
  part.body.pipe(capped);
  // The sub-request may write objects under the signed path only, and nothing else.
  req.auth = new SignedAuth({ methods: ['PUT'], account: form.target.account, container: form.target.container, object: base.split('/').slice(4).join('/'), prefix: true });
  delete req.identity;
  const res = await pipeline.subrequest(req, { method: 'PUT', path: encodePath(objectPath), headers, body: capped }, { source: 'FP' });
  discard(res.body);
  if (capped.exceeded) throw invalid('max_file_size exceeded');
  if (part.broken()) throw invalid('invalid multipart body: the file part broke off');
  return { status: res.status, headers: res.headers };
}

/** A decoded /v1/a/c/o path percent-encoded again, segment by segment (the router decodes it back). */
function encodePath(path: string): string {
  return path.split('/').map(encodeSegment).join('/');
}

function discard(body: ProxyResponse['body']): void {
  if (body && typeof body === 'object' && 'destroy' in body && typeof (body as Readable).destroy === 'function') (body as Readable).destroy();
}

/**
 * Passes bytes through until more than `max` went by, or to an end that `broken` says was no end;
 * then fails, so the PUT it feeds stores nothing.
 */
class SizeCap extends Transform {
  private seen = 0;
  exceeded = false;
  constructor(
    private readonly max: number,
    private readonly broken: () => boolean,
  ) {
    super();
  }
  override _flush(cb: TransformCallback): void {
    cb(this.broken() ? new Error('the part broke off') : null);
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.max) {
      this.exceeded = true;
      return cb(new Error('max_file_size exceeded'));
    }
    cb(null, chunk);
  }
}
