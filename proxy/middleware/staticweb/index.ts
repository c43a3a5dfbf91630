import { Readable } from 'node:stream';
import { authorizeTarget } from '../../authz.js';
import type { ProxyContext } from '../../context.js';
import { containerInfo } from '../../controllers/common.js';
import { pyQuote } from '../../copy-headers.js';
import { respond, type Body, type Handler, type Middleware, type Pipeline, type ProxyRequest, type ProxyResponse } from '../../pipeline.js';
import { isTrue, listingDisabledPage, listingLabel, listingPage, webSettings, type ListingItem, type WebSettings } from './core.js';

/**
 * Static web sites from containers (Swift's staticweb.py), as the stage after cors: a GET or
 * HEAD of a container or object by an anonymous user (or an authenticated one with X-Web-Mode:
 * true) serves X-Container-Meta-Web-Index for a folder, an HTML listing when
 * X-Container-Meta-Web-Listings is on, `<status><Web-Error>` pages for errors, and redirects a
 * folder without its trailing slash. Objects are read with requests to the stages after this
 * one (Swift's staticweb calls the rest of its pipeline), as the user, so the container's read
 * ACL (".r:*" for anonymous readers, ".rlistings" for the root and listings) decides.
 */
export function staticweb(ctx: ProxyContext): Middleware {
  ctx.capabilities.register('staticweb', {});
  return (next, pipeline) => (req) => {
    // Sub-requests (the other stages', and this one's own) are never web requests.
    if (req.source !== undefined || !req.auth || (req.method !== 'GET' && req.method !== 'HEAD')) return next(req);
    if (req.account === undefined || req.container === undefined) return next(req);
    const webMode = isTrue(req.headers['x-web-mode']);
    if (req.identity && !webMode) return next(req);
    const site = new WebRequest(ctx, next, pipeline, req, webMode);
    return req.object !== undefined ? site.object() : site.container();
  };
}

/** swob's page for a 301. */
const MOVED = '<html><h1>Moved Permanently</h1><p>The resource has moved permanently.</p></html>';

const NONE: WebSettings = { index: '', error: '', listings: '', listingsCss: '', listingsLabel: '', directoryType: '' };

function header(res: ProxyResponse, name: string): string | undefined {
  for (const [k, v] of Object.entries(res.headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

const ok = (s: number): boolean => s >= 200 && s < 300;
const okOrRedirect = (s: number): boolean => s >= 200 && s < 400;

/** Drops a response not sent (its stream's backend connection is released). */
function discard(res: ProxyResponse): void {
  if (res.body instanceof Readable) {
    res.body.on('error', () => undefined);
    res.body.destroy();
  }
}

async function readBody(body: Body | undefined): Promise<string> {
  if (body === undefined) return '';
  if (typeof body === 'string') return body;
  if (Buffer.isBuffer(body)) return body.toString('utf8');
  const chunks: Buffer[] = [];
  for await (const c of body as AsyncIterable<Buffer>) chunks.push(Buffer.from(c));
  return Buffer.concat(chunks).toString('utf8');
}

function safeDecode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** One web request: the container's settings, and the sub-requests Swift's _StaticWebContext makes. */
class WebRequest {
  private web: WebSettings = NONE;
  private readonly account: string;
  private readonly cont: string;
  /** The path as Swift's PATH_INFO: percent-decoded. */
  private readonly path: string;
  private readonly version: string;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly next: Handler,
    private readonly pipeline: Pipeline,
    private readonly req: ProxyRequest,
    private readonly webMode: boolean,
  ) {
    this.account = req.account as string;
    this.cont = req.container as string;
    this.path = safeDecode(req.path);
    this.version = req.path.split('/')[1] ?? 'v1';
  }

  private async loadSettings(): Promise<void> {
    const info = await containerInfo(this.ctx, this.req, this.account, this.cont);
    this.web = ok(info.status) ? webSettings(info.headers) : NONE;
  }

  /** A request for `object` (or the container, undefined) to the stages after this one, as the user. */
  private call(method: string, object: string | undefined, query = '', withClientHeaders = false): Promise<ProxyResponse> {
    const path = `/${this.version}/${pyQuote(this.account)}/${pyQuote(this.cont)}${object === undefined ? '' : `/${pyQuote(object)}`}`;
    const headers = withClientHeaders ? { ...this.req.headers } : {};
    const sub = this.pipeline.makeSubrequest(this.req, { method, path, query, headers }, { source: 'staticweb' });
    sub.account = this.account;
    sub.container = this.cont;
    if (object !== undefined) sub.object = object;
    return this.next(sub);
  }

  /** Swift's _error_response: the container's `<status><Web-Error>` page with the error's status, if there is one. */
  private async errorPage(res: ProxyResponse): Promise<ProxyResponse> {
    if (!this.web.error) return res;
    const page = await this.call('GET', `${res.status}${this.web.error}`);
    if (!ok(page.status)) {
      discard(page);
      return res;
    }
    discard(res);
    return { ...page, status: res.status };
  }

  /** 301 to the same path with a slash, absolute as swob makes it. */
  private redirectWithSlash(): ProxyResponse {
    const host = this.req.headers['host'] ?? `${this.ctx.config.bind_ip}:${this.ctx.config.bind_port}`;
    return respond(301, { Location: `${this.req.scheme}://${host}${pyQuote(`${this.path}/`)}`, 'Content-Type': 'text/html; charset=UTF-8' }, MOVED);
  }

  /** Swift's _listing: the HTML listing of the folder `prefix`, or the "listing disabled" page (404). */
  private async listing(prefix: string): Promise<ProxyResponse> {
    const label = listingLabel(this.path, this.web.listingsLabel);
    if (!isTrue(this.web.listings)) {
      return this.errorPage(respond(404, { 'Content-Type': 'text/html; charset=UTF-8' }, listingDisabledPage(label, this.web, prefix)));
    }
    const query = new URLSearchParams({ format: 'json', delimiter: '/' });
    if (prefix) query.set('prefix', prefix);
    const res = await this.call('GET', undefined, query.toString());
    if (!ok(res.status)) return this.errorPage(res);
    const text = await readBody(res.body);
    const items = (text ? JSON.parse(text) : []) as ListingItem[];
    if (prefix && items.length === 0) return this.errorPage(respond(404));
    return respond(200, { 'Content-Type': 'text/html; charset=UTF-8' }, listingPage(label, this.web, prefix, items));
  }

  /** Swift's handle_container. */
  async container(): Promise<ProxyResponse> {
    await this.loadSettings();
    // Listing the container is the user's read of it (its read ACL: ".rlistings").
    const decision = await authorizeTarget(this.req, 'GET', this.account, this.cont);
    if (decision !== 'allow') return this.errorPage(respond(decision));
    if (!this.web.listings && !this.web.index) {
      if (this.webMode) return respond(404);
      return this.next(this.req);
    }
    this.req.body.resume();
    if (!this.path.endsWith('/')) return this.redirectWithSlash();
    if (!this.web.index) return this.listing('');
    const index = await this.call(this.req.method, this.web.index, this.req.query.toString(), true);
    if (index.status === 404) {
      discard(index);
      return this.listing('');
    }
    if (!okOrRedirect(index.status)) return this.errorPage(index);
    return index;
  }

  /** Swift's handle_object: the object itself, else its folder's index, listing or redirect. */
  async object(): Promise<ProxyResponse> {
    this.req.body.resume();
    const object = this.req.object as string;
    const res = await this.call(this.req.method, object, this.req.query.toString(), true);
    // Only a 404 gets the container's error page (Swift keeps other errors as they are): a
    // refusal needs no look at the container.
    if (!okOrRedirect(res.status) && res.status !== 404) return res;
    await this.loadSettings();
    let status = res.status;
    if (okOrRedirect(status)) {
      // A directory marker (an empty object of the directory type) is no page: as if not found.
      const dirType = this.web.directoryType || 'application/directory';
      const length = Number(header(res, 'content-length') ?? 0);
      if (header(res, 'content-type') === dirType && length <= 1) status = 404;
      else return res;
    }
    if (!this.web.listings && !this.web.index) return res;
    discard(res);
    if (this.web.index) {
      const folder = object.endsWith('/') ? object : `${object}/`;
      const index = await this.call(this.req.method, folder + this.web.index, this.req.query.toString(), true);
      if (okOrRedirect(index.status)) {
        if (object.endsWith('/')) return index;
        discard(index);
        return this.redirectWithSlash();
      }
      if (index.status !== 404) return index;
      discard(index);
    }
    if (object.endsWith('/')) return this.listing(object);
    // A folder named without its slash: redirect if anything is in it.
    const query = new URLSearchParams({ format: 'json', limit: '1', delimiter: '/', prefix: `${object}/` });
    const probe = await this.call('GET', undefined, query.toString());
    const text = ok(probe.status) ? await readBody(probe.body) : (discard(probe), '');
    if (!text || (JSON.parse(text) as unknown[]).length === 0) return this.errorPage(respond(404));
    return this.redirectWithSlash();
  }
}
