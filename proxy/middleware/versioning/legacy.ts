import { Readable } from 'node:stream';
import { Timestamp } from '../../../common/timestamp.js';
import { authorizeTarget } from '../../authz.js';
import type { ProxyContext } from '../../context.js';
import { containerInfo } from '../../controllers/common.js';
import { headerName } from '../../copy-headers.js';
import { respond, type Handler, type Middleware, type Pipeline, type ProxyRequest, type ProxyResponse } from '../../pipeline.js';
import { callRouted, discard, header, putRefusedUpFront, readAll, type RoutedInit } from '../subrequest.js';
import { DELETE_MARKER_CONTENT_TYPE, versionHeaders } from './names.js';

/**
 * Legacy versioning, as Swift's versioned_writes (swift/common/middleware/versioned_writes/
 * legacy.py), after object versioning: a container's X-Versions-Location (stack mode: a DELETE
 * brings the previous version back) or X-History-Location (history mode: a DELETE keeps the last
 * version and writes a delete marker) names a container of the user's own where each overwritten
 * version is copied, as `<name length, 3 hex digits><name>/<timestamp>`.
 */

export const SYSMETA_LOCATION = 'x-container-sysmeta-versions-location';
export const SYSMETA_MODE = 'x-container-sysmeta-versions-mode';

/** Swift's _build_versions_object_prefix: "%03x<name>/", the length in UTF-8 bytes (a WSGI string's). */
export function archivePrefix(object: string): string {
  return `${Buffer.byteLength(object, 'utf8').toString(16).padStart(3, '0')}${object}/`;
}

export function archiveName(object: string, ts: Timestamp): string {
  return archivePrefix(object) + ts.internal;
}

const plain = (status: number, body: string): ProxyResponse => respond(status, { 'Content-Type': 'text/plain' }, body);

/**
 * A container PUT/POST's versioning headers into sysmeta (Swift's container_request): 400 for
 * both modes at once, 412 when the feature is off or the location is no container name; an empty
 * value removes it. Returns a refusal, or undefined with `headers` rewritten.
 */
export function legacyContainerHeaders(headers: Record<string, string>, enabled: boolean): { status: number; body: string } | undefined {
  const V = 'x-versions-location';
  const Hh = 'x-history-location';
  if (headers[V] !== undefined && headers[Hh] !== undefined) {
    if (!headers[Hh]) delete headers[Hh];
    else if (headers[V]) return { status: 400, body: `Only one of ${V} or ${Hh} may be specified` };
    else delete headers[V];
  }
  if (headers[V] !== undefined || headers[Hh] !== undefined) {
    const stack = headers[V] !== undefined;
    const val = (stack ? headers[V] : headers[Hh]) as string;
    if (!val) headers['x-remove-versions-location'] = 'x';
    else if (!enabled) return { status: 412, body: 'Versioned Writes is disabled' };
    else {
      const name = headerName(val);
      if (name === undefined) return { status: 412, body: 'Invalid UTF8 or contains NULL' };
      if (val.includes('/')) return { status: 412, body: 'Container name cannot contain slashes' };
      // Stored as sent (quoted or raw UTF-8 bytes), as Swift's check_container_format leaves it;
      // read back, it is unquoted (headerName) before use.
      headers[SYSMETA_LOCATION] = val;
      headers[SYSMETA_MODE] = stack ? 'stack' : 'history';
      headers[V] = '';
      delete headers[Hh];
      delete headers['x-remove-versions-location'];
      delete headers['x-remove-history-location'];
    }
  }
  if (headers['x-remove-versions-location'] || headers['x-remove-history-location']) {
    headers[V] = '';
    headers[Hh] = '';
    headers[SYSMETA_LOCATION] = '';
    headers[SYSMETA_MODE] = '';
    delete headers['x-remove-versions-location'];
    delete headers['x-remove-history-location'];
  }
  return undefined;
}

export function versionedWrites(ctx: ProxyContext): Middleware {
  const enabled = ctx.config.allow_versioned_writes;
  ctx.capabilities.register('versioned_writes', { allowed_flags: ['x-versions-location', 'x-history-location'] });
  return (next, pipeline) => async (req) => {
    if (req.account === undefined || req.container === undefined || req.system) return next(req);
    if (req.object === undefined) {
      if (req.method === 'PUT' || req.method === 'POST') {
        const refused = legacyContainerHeaders(req.headers, enabled);
        if (refused) {
          req.body.resume();
          return plain(refused.status, refused.body);
        }
      }
      const res = await next(req);
      const location = header(res, SYSMETA_LOCATION);
      if (location) res.headers[header(res, SYSMETA_MODE) === 'history' ? 'X-History-Location' : 'X-Versions-Location'] = location;
      return res;
    }
    if ((req.method !== 'PUT' && req.method !== 'DELETE') || req.query.has('version-id')) return next(req);
    // Only what the controllers would let through costs a container lookup.
    if (putRefusedUpFront(req, ctx.config.max_file_size)) return next(req);
    if ((await authorizeTarget(req, req.method, req.account, req.container, req.object)) !== 'allow') return next(req);
    const info = await containerInfo(ctx, req, req.account, req.container);
    let location: string | undefined;
    let mode = 'stack';
    for (const [k, v] of Object.entries(info.headers)) {
      const lk = k.toLowerCase();
      if (lk === SYSMETA_LOCATION && v) location = v;
      else if (lk === SYSMETA_MODE && v) mode = v;
    }
    // A location stored before this stage existed (the plain header) counts, as in Swift.
    location ??= info.headers['X-Versions-Location'] || undefined;
    if (!enabled || !location) return next(req);
    const vw = new Legacy(next, pipeline, req, (headerName(location) ?? location).split('/')[0] as string);
    if (req.method === 'PUT') return vw.put();
    return mode === 'history' ? vw.deleteHistory() : vw.deleteStack();
  };
}

class Legacy {
  private readonly account: string;
  private readonly container: string;
  private readonly object: string;

  constructor(
    private readonly next: Handler,
    private readonly pipeline: Pipeline,
    private readonly req: ProxyRequest,
    private readonly versions: string,
  ) {
    this.account = req.account as string;
    this.container = req.container as string;
    this.object = req.object as string;
  }

  private system(init: RoutedInit): Promise<ProxyResponse> {
    return callRouted(this.next, this.pipeline, this.req, init, { source: 'VW', as: 'system' });
  }

  /** Swift's _check_response_error: 412 for a client error (a missing container), 503 otherwise. */
  private static failed(res: ProxyResponse): ProxyResponse | undefined {
    if (res.status >= 200 && res.status < 300) return undefined;
    discard(res);
    return respond(res.status >= 400 && res.status < 500 ? 412 : 503);
  }

  /** _get_source_object then _put_versioned_obj: copies `from` (an object) to `to`, as the system. */
  private async copy(from: { container: string; object: string }, to: { container: string; object: (ts: Timestamp) => string }): Promise<ProxyResponse | 'missing' | undefined> {
    const src = await this.system({ method: 'GET', account: this.account, container: from.container, object: from.object, query: 'symlink=get', headers: { 'x-newest': 'true' } });
    if (src.status === 404) {
      discard(src);
      return 'missing';
    }
    const bad = Legacy.failed(src);
    if (bad) return bad;
    const ts = Timestamp.tryParse(header(src, 'x-timestamp')) ?? this.req.stamp();
    const headers = versionHeaders(src, true);
    const body = src.body instanceof Readable ? src.body : Readable.from(src.body === undefined ? [] : [Buffer.from(src.body as string)]);
    const put = await this.system({ method: 'PUT', account: this.account, container: to.container, object: to.object(ts), headers, body });
    return Legacy.failed(put) ?? (discard(put), undefined);
  }

  private copyCurrent(): Promise<ProxyResponse | 'missing' | undefined> {
    return this.copy({ container: this.container, object: this.object }, { container: this.versions, object: (ts) => archiveName(this.object, ts) });
  }

  async put(): Promise<ProxyResponse> {
    const r = await this.copyCurrent();
    if (r !== undefined && r !== 'missing') {
      this.req.body.resume();
      return r;
    }
    return this.next(this.req);
  }

  /** History mode: keep the current version, write a delete marker, then delete. */
  async deleteHistory(): Promise<ProxyResponse> {
    const r = await this.copyCurrent();
    if (r !== undefined && r !== 'missing') return r;
    const marker = await this.system({
      method: 'PUT',
      account: this.account,
      container: this.versions,
      object: archiveName(this.object, this.req.stamp()),
      headers: { 'content-type': DELETE_MARKER_CONTENT_TYPE, 'content-length': '0' },
      body: Readable.from([]),
    });
    const bad = Legacy.failed(marker);
    if (bad) return bad;
    discard(marker);
    return this.next(this.req);
  }

  /** Stack mode (handle_obj_versions_delete_pop): the newest archived version comes back. */
  async deleteStack(): Promise<ProxyResponse> {
    const items = await this.archived();
    if ('status' in items) return items;
    let target: RoutedInit | undefined;
    for (let i = 0; i < items.length; i++) {
      const item = items[i] as { name: string; content_type: string };
      if (item.content_type === DELETE_MARKER_CONTENT_TYPE) {
        const head = await this.system({ method: 'HEAD', account: this.account, container: this.container, object: this.object, headers: { 'x-newest': 'true' } });
        discard(head);
        if (head.status !== 404) {
          const bad = Legacy.failed(head);
          if (bad) return bad;
          break; // the object exists: delete it, back to the marker's state
        }
        // The marker is current: restore the version before it, if there is one.
        for (const older of items.slice(i + 1)) {
          if (older.content_type === DELETE_MARKER_CONTENT_TYPE) break;
          const restored = await this.restore(older.name);
          if (restored === 'missing') continue;
          if (restored) return restored;
          const del = await this.system({ method: 'DELETE', account: this.account, container: this.versions, object: older.name });
          if (del.status !== 404) {
            const bad = Legacy.failed(del);
            if (bad) return bad;
          }
          discard(del);
          break;
        }
        target = { method: 'DELETE', account: this.account, container: this.versions, object: item.name };
      } else {
        const restored = await this.restore(item.name);
        if (restored === 'missing') continue;
        if (restored) return restored;
        target = { method: 'DELETE', account: this.account, container: this.versions, object: item.name };
      }
      break;
    }
    if (!target) return this.next(this.req);
    return this.system(target);
  }

  private restore(archived: string): Promise<ProxyResponse | 'missing' | undefined> {
    return this.copy({ container: this.versions, object: archived }, { container: this.container, object: () => this.object });
  }

  /** The archive's versions of this object, newest first (all pages). */
  private async archived(): Promise<Array<{ name: string; content_type: string }> | ProxyResponse> {
    const out: Array<{ name: string; content_type: string }> = [];
    let marker = '';
    for (;;) {
      const q = new URLSearchParams({ prefix: archivePrefix(this.object), format: 'json', reverse: 'on' });
      if (marker) q.set('marker', marker);
      const res = await this.system({ method: 'GET', account: this.account, container: this.versions, query: q.toString() });
      if (res.status === 404) {
        discard(res);
        return out;
      }
      if (res.status === 204) {
        discard(res);
        return out;
      }
      if (res.status < 200 || res.status >= 300) {
        discard(res);
        return respond(res.status < 500 ? 412 : 500);
      }
      const page = JSON.parse((await readAll(res)).toString('utf8')) as Array<{ name: string; content_type: string }>;
      if (page.length === 0) return out;
      out.push(...page);
      marker = (page[page.length - 1] as { name: string }).name;
    }
  }
}

