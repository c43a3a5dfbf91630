import { Readable, Transform } from 'node:stream';
import { authorizeTarget } from '../../authz.js';
import { LIMITS, RESERVED } from '../../constraints.js';
import type { ProxyContext } from '../../context.js';
import { accountExists, containerInfo } from '../../controllers/common.js';
import type { SwiftRequest } from '../../swift-request.js';
import { pyQuote } from '../../copy-headers.js';
import { respond, type Handler, type Middleware, type Pipeline, type ProxyRequest, type ProxyResponse } from '../../pipeline.js';
import { callRouted, discard, hasBody, header, putRefusedUpFront, readAll, routed } from '../subrequest.js';
import { CLIENT, overrideBase, overrideEtag, SYSMETA as LINK, unquote } from '../symlink/target.js';
import { currentListing, versionsListing, type Item } from './listing.js';
import { SYSMETA_LOCATION } from './legacy.js';
import {
  DELETE_MARKER_CONTENT_TYPE,
  parseVersionId,
  splitVersionName,
  SYSMETA,
  trueValue,
  versionObjectName,
  versionHeaders,
  versionObjectPrefix,
  versionsContainerName,
} from './names.js';
import { Timestamp } from '../../../common/timestamp.js';

/**
 * Object versioning, as Swift's object_versioning middleware (swift/common/middleware/
 * versioned_writes/object_versioning.py), before the symlink stage: `X-Versions-Enabled: true` on
 * a container creates its hidden container (versions.ts names); each PUT writes its data as a
 * version there and the object itself as a static link to it; DELETE writes a delete marker;
 * `?version-id=` reads or deletes one version; `?versions` lists them all. Its own requests into
 * the hidden container run as the system (reserved names are nobody else's), after the user's
 * request was authorized for the container the user named.
 *
 * This HTTP surface is the versioning core the S3 API maps onto (docs/ARCHITECTURE.md).
 */
export function objectVersioning(ctx: ProxyContext): Middleware {
  if (!ctx.config.allow_object_versioning) return (next) => next;
  ctx.capabilities.register('object_versioning', {});
  return (next, pipeline) => async (req) => {
    if (req.account === undefined || req.system) return next(req);
    const v = new Versioning(ctx, next, pipeline);
    if (req.container === undefined) return req.method === 'GET' ? v.listAccount(req) : next(req);
    if (req.object === undefined) return v.container(req);
    return v.object(req);
  };
}

/**
 * The request's headers the current object's link does not get (Swift's not_for_symlink_headers):
 * the data's (its version has them) and a client's link target (the version is the link then).
 */
const NOT_FOR_LINK = [
  'etag',
  'x-if-delete-at',
  'x-symlink-target',
  'x-symlink-target-account',
  'x-symlink-target-etag',
  'x-symlink-target-bytes',
  'x-object-manifest',
  'x-static-large-object',
  'content-length',
  'transfer-encoding',
  'x-copy-from',
  'x-copy-from-account',
  'if-none-match',
];

const plain = (status: number, body: string, headers: Record<string, string> = {}): ProxyResponse =>
  respond(status, { 'Content-Type': 'text/plain', ...headers }, body);

class Versioning {
  constructor(
    private readonly ctx: ProxyContext,
    private readonly next: Handler,
    private readonly pipeline: Pipeline,
  ) {}

  private system(parent: ProxyRequest, init: Parameters<typeof routed>[2]): Promise<ProxyResponse> {
    return callRouted(this.next, this.pipeline, parent, init, { source: 'OV', as: 'system' });
  }

  /** A client's account listing never shows the hidden containers (they sort after every other name). */
  listAccount(req: ProxyRequest): Promise<ProxyResponse> {
    const reverse = trueValue(req.query.get('reverse') ?? undefined);
    const bound = reverse ? 'marker' : 'end_marker';
    const given = req.query.get(bound);
    if (given === null || given === '' || given > RESERVED) req.query.set(bound, RESERVED);
    return this.next(req);
  }

  // ---- containers ----

  /**
   * Container requests. GET and HEAD learn whether the container is versioned from its own
   * answer (its sysmeta), so they cost no lookup of their own.
   */
  async container(req: ProxyRequest): Promise<ProxyResponse> {
    if (req.method === 'PUT' || req.method === 'POST') return req.headers['x-versions-enabled'] !== undefined ? this.enable(req) : this.next(req);
    if (req.method === 'DELETE') return this.deleteContainer(req);
    if (req.method !== 'GET' && req.method !== 'HEAD') return this.next(req);
    if (req.method === 'GET' && req.query.has('versions')) return this.listVersions(req);
    const res = await this.next(req);
    const stored = header(res, SYSMETA.container);
    const enabled = header(res, SYSMETA.enabled);
    if (!stored || res.status < 200 || res.status >= 300) return withEnabled(res, enabled);
    const location = unquote(stored);
    if (req.method === 'GET') {
      if ((req.query.get('format') ?? '').toLowerCase() !== 'json') return withEnabled(res, enabled);
      const items = JSON.parse((await readAll(res)).toString('utf8')) as Item[];
      const body = JSON.stringify(currentListing(items, req.account as string, req.container as string, location));
      return withEnabled(respond(res.status, withoutLength(res.headers), body), enabled);
    }
    // HEAD: the bytes of the versions count as the container's, as Swift's.
    const h = await this.system(req, { method: 'HEAD', account: req.account as string, container: location });
    discard(h);
    const used = header(h, 'x-container-bytes-used');
    if (h.status < 300 && used) {
      for (const k of Object.keys(res.headers)) if (k.toLowerCase() === 'x-container-bytes-used') res.headers[k] = String(Number(res.headers[k]) + Number(used));
    }
    return withEnabled(res, enabled);
  }

  /** enable_versioning: the hidden container first (same policy), then the flag on the container. */
  private async enable(req: ProxyRequest): Promise<ProxyResponse> {
    const account = req.account as string;
    const container = req.container as string;
    const info = await containerInfo(this.ctx, req, account, container);
    if (infoHeader(info.headers, 'x-versions-location') || infoHeader(info.headers, 'x-history-location') || infoHeader(info.headers, SYSMETA_LOCATION)) {
      req.body.resume();
      return plain(400, 'Cannot enable object versioning on a container that is already using the legacy versioned writes feature.');
    }
    const enabled = trueValue(req.headers['x-versions-enabled']);
    delete req.headers['x-versions-enabled'];
    req.headers[SYSMETA.enabled] = enabled ? 'True' : 'False';
    let created: string | undefined;
    if (enabled) {
      // Authorize first: only who may change the container may create its versions.
      const allowed = await authorizeTarget(req, req.method, account, container);
      if (allowed !== 'allow') {
        req.body.resume();
        return respond(allowed);
      }
      const hidden = versionsContainerName(container);
      const headers: Record<string, string> = {};
      const policy = info.status < 300 ? this.ctx.policies.info().find((p) => (p as { index?: number }).index === info.storagePolicy) : undefined;
      void policy;
      if (info.status >= 300 && req.method === 'PUT' && req.headers['x-storage-policy']) headers['x-storage-policy'] = req.headers['x-storage-policy'];
      else if (info.status < 300 && info.headers['X-Storage-Policy']) headers['x-storage-policy'] = info.headers['X-Storage-Policy'] as string;
      const r = await this.system(req, { method: 'PUT', account, container: hidden, headers });
      discard(r);
      if (r.status >= 300 && r.status !== 409) return plain(500, 'Error enabling object versioning');
      req.headers[SYSMETA.container] = pyQuote(hidden);
      created = hidden;
    }
    const res = await this.next(req);
    if ((res.status < 200 || res.status >= 300) && created && infoHeader(info.headers, SYSMETA.container) === undefined) {
      discard(await this.system(req, { method: 'DELETE', account, container: created }));
    }
    return res;
  }

  /** A versioned container is deleted with its hidden one, once that holds no version (409). */
  private async deleteContainer(req: ProxyRequest): Promise<ProxyResponse> {
    const allowed = await authorizeTarget(req, 'DELETE', req.account as string, req.container);
    if (allowed !== 'allow') return respond(allowed);
    // The controller answers for an account that is not there (404), as Swift checks it first.
    if (!(await accountExists(this.ctx, req as SwiftRequest, req.account as string))) return this.next(req);
    const info = await containerInfo(this.ctx, req, req.account as string, req.container as string);
    // Nobody could say whether it is versioned: its DELETE would fail the same way.
    if (info.status >= 500) return respond(503);
    const versions = infoHeader(info.headers, SYSMETA.container);
    if (versions) {
      const location = unquote(versions);
      const h = await this.system(req, { method: 'HEAD', account: req.account as string, container: location });
      discard(h);
      if (h.status < 300 && Number(header(h, 'x-container-object-count') ?? 0) > 0) {
        return respond(409, { 'Content-Type': 'text/html; charset=UTF-8' }, 'Delete all versions before deleting container.');
      }
      if (h.status >= 300 && h.status !== 404) return respond(500, {}, 'Error deleting versioned container');
      const d = await this.system(req, { method: 'DELETE', account: req.account as string, container: location });
      discard(d);
      if (d.status >= 300 && d.status !== 404) return respond(500, {}, 'Error deleting versioned container');
    }
    return this.next(req);
  }

  /** ?versions: the container's listing and its hidden container's, merged (versions listing.ts). */
  private async listVersions(req: ProxyRequest): Promise<ProxyResponse> {
    const account = req.account as string;
    const container = req.container as string;
    const q = req.query;
    const delimiter = q.get('delimiter') ?? '';
    if (/[0-9.]/.test(delimiter) || delimiter.includes(RESERVED)) return plain(400, 'invalid delimiter param');
    const params = new URLSearchParams();
    for (const k of ['prefix', 'marker', 'limit', 'delimiter', 'reverse']) {
      const val = q.get(k);
      if (val !== null) params.set(k, val);
    }
    const marker = q.get('marker');
    const versionMarker = q.get('version_marker');
    if (marker !== null) {
      if (versionMarker === null) params.set('marker', `${versionObjectPrefix(marker)}:`);
      else if (versionMarker === 'null') params.set('marker', versionObjectPrefix(marker));
      else {
        const ts = parseVersionId(versionMarker);
        if (!ts || ts === 'null') return plain(400, 'invalid version_marker param');
        params.set('marker', versionObjectName(marker, ts));
      }
    } else if (versionMarker !== null) return plain(400, 'version_marker param requires marker');
    // The container's own listing, as JSON.
    req.query.delete('versions');
    req.query.delete('version_marker');
    req.query.set('format', 'json');
    const res = await this.next(req);
    if (res.status !== 200) return res;
    // A container never versioned still lists its objects as version "null" (Swift's).
    const stored = header(res, SYSMETA.container);
    const hidden = stored ? unquote(stored) : versionsContainerName(container);
    const primary = currentListing(JSON.parse((await readAll(res)).toString('utf8')) as Item[], account, container, hidden);
    let versions: Item[] | undefined;
    const prefix = params.get('prefix');
    if (prefix !== null) params.set('prefix', RESERVED + prefix);
    params.set('format', 'json');
    const vres = await this.system(req, { method: 'GET', account, container: hidden, query: params.toString() });
    if (vres.status === 200) versions = JSON.parse((await readAll(vres)).toString('utf8')) as Item[];
    else if (vres.status !== 404 && vres.status !== 204) {
      discard(vres);
      return respond(vres.status);
    } else discard(vres);
    const limitRaw = Number(q.get('limit') ?? LIMITS.containerListingLimit);
    const limit = Number.isSafeInteger(limitRaw) && limitRaw >= 0 ? Math.min(limitRaw, LIMITS.containerListingLimit) : LIMITS.containerListingLimit;
    const body = JSON.stringify(versionsListing(primary, versions, { limit, reverse: trueValue(q.get('reverse') ?? undefined) }));
    return respond(200, { ...withoutLength(res.headers), 'Content-Type': 'application/json; charset=utf-8' }, body);
  }

  // ---- objects ----

  async object(req: ProxyRequest): Promise<ProxyResponse> {
    const account = req.account as string;
    const container = req.container as string;
    // What the controllers would refuse before touching a node is refused without the lookup.
    if (putRefusedUpFront(req, this.ctx.config.max_file_size)) return this.next(req);
    const allowed = await authorizeTarget(req, req.method, account, container, req.object);
    if (allowed !== 'allow') return this.next(req);
    const info = await containerInfo(this.ctx, req, account, container);
    const stored = infoHeader(info.headers, SYSMETA.container);
    const location = stored ? unquote(stored).split('/')[0] : undefined;
    const enabled = trueValue(infoHeader(info.headers, SYSMETA.enabled));
    const versionId = req.query.get('version-id');
    if (versionId) return this.versionRequest(req, location, versionId);
    if (!location) return this.next(req);
    switch (req.method) {
      case 'PUT':
        return enabled ? this.put(req, location) : this.next(req);
      case 'DELETE':
        return enabled ? this.delete(req, location) : this.next(req);
      case 'POST':
        return this.post(req, location);
      case 'GET':
      case 'HEAD':
        return this.read(req, location);
      default:
        return this.next(req);
    }
  }

  /** GET/HEAD of the current object: which version it is. */
  private async read(req: ProxyRequest, location: string): Promise<ProxyResponse> {
    const res = await this.next(req);
    res.headers['X-Object-Version-Id'] = 'null';
    const loc = header(res, 'content-location');
    if (loc) {
      const m = /^\/v1\/([^/]+)\/([^/]+)\/(.+)$/s.exec(loc);
      if (m && unquote(m[1] as string) === req.account && unquote(m[2] as string) === location) {
        const v = splitVersionName(unquote(m[3] as string));
        if (v) {
          res.headers['X-Object-Version-Id'] = v.ts.internal;
          for (const k of Object.keys(res.headers)) if (k.toLowerCase() === 'content-location') delete res.headers[k];
          res.headers['Content-Location'] = `${pyQuote(`/v1/${req.account as string}/${req.container as string}/${req.object as string}`)}?version-id=${v.ts.internal}`;
        }
      }
    }
    const target = header(res, 'x-symlink-target');
    if (target) {
      const t = unquote(target);
      const slash = t.indexOf('/');
      if (slash > 0 && t.slice(0, slash) === location) {
        const v = splitVersionName(t.slice(slash + 1));
        if (v) {
          res.headers['X-Object-Version-Id'] = v.ts.internal;
          for (const k of Object.keys(res.headers)) if (k.toLowerCase() === 'x-symlink-target') delete res.headers[k];
          res.headers['X-Symlink-Target'] = `${pyQuote(`${req.container as string}/${req.object as string}`)}?version-id=${v.ts.internal}`;
        }
      }
    }
    return res;
  }

  /**
   * _copy_current: an object written before versioning was enabled (no versioning link) is
   * copied into the hidden container first, so overwriting it keeps it.
   */
  private async copyCurrent(req: ProxyRequest, location: string): Promise<ProxyResponse | undefined> {
    const allowed = await authorizeTarget(req, 'PUT', req.account as string, req.container, req.object);
    if (allowed !== 'allow') return respond(allowed);
    const account = req.account as string;
    const src = await this.system(req, { method: 'GET', account, container: req.container as string, object: req.object as string, query: 'symlink=get', headers: { 'x-newest': 'true' } });
    if (src.status === 404) {
      discard(src);
      return undefined;
    }
    if (src.status < 200 || src.status >= 300) {
      discard(src);
      return src.status < 500 ? respond(src.status === 404 ? 412 : src.status) : respond(503);
    }
    if ((header(src, SYSMETA.versionsSymlink) ?? '') === 'true') {
      discard(src);
      return undefined;
    }
    const ts = Timestamp.tryParse(header(src, 'x-timestamp')) ?? req.stamp();
    const headers = versionHeaders(src, false);
    const body = toReadable(src);
    const put = await this.system(req, { method: 'PUT', account, container: location, object: versionObjectName(req.object as string, ts), headers, body });
    discard(put);
    if (put.status === 404) return plain(500, 'The versions container does not exist. You may want to re-enable object versioning.');
    if (put.status >= 300) return put.status < 500 ? respond(put.status) : respond(503);
    return undefined;
  }

  /** PUT: the data as a new version in the hidden container, the object as a static link to it. */
  private async put(req: ProxyRequest, location: string): Promise<ProxyResponse> {
    const refused = await this.copyCurrent(req, location);
    if (refused) {
      req.body.resume();
      return refused;
    }
    const account = req.account as string;
    const ts = req.stamp();
    const versionName = versionObjectName(req.object as string, ts);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (k !== 'x-delete-at' && k !== 'x-delete-after') headers[k] = v;
    let bytes = 0;
    // Counted on the way (a chunked body has no length to read): Swift's ByteCountingReader.
    const counted = new Transform({
      transform(chunk: Buffer, _enc, done) {
        bytes += chunk.length;
        done(null, chunk);
      },
    });
    req.body.on('error', (e) => counted.destroy(e));
    req.body.pipe(counted);
    const sub = routed(this.pipeline, req, { method: 'PUT', account, container: location, object: versionName, headers, body: counted }, { source: 'OV', as: 'system' });
    const put = await this.pipeline.run(sub, this.next);
    discard(put);
    if (put.status === 404) return plain(500, 'The versions container does not exist. You may want to re-enable object versioning.');
    if (put.status < 200 || put.status >= 300) return put;
    // The version's headers as the stages below wrote it (Swift reads put_req.headers after the
    // call): the symlink stage gave a link without a Content-Type its target's.
    const written = sub.headers;
    const contentType = (written['content-type'] ?? 'application/octet-stream').split(';')[0] as string;
    const staticLink = written[LINK.etag];
    if (staticLink !== undefined && req.headers[CLIENT.etag] !== undefined) {
      // A static link PUT: Swift's symlink stage checks the client's X-Symlink-Target-Etag again
      // on the current object's link (it follows through the version to the same target), so the
      // link keeps the target's etag and size, and the target's listing parameters (slo_etag).
      const base = overrideBase(written[LINK.overrideEtag]);
      return this.putLink(req, location, versionName, staticLink, written[LINK.bytes] ?? '0', contentType, ts, base);
    }
    const etag = (header(put, 'etag') ?? '').replace(/"/g, '');
    // An SLO manifest's link counts the large object's bytes, not the manifest's (Swift's slo_size).
    return this.putLink(req, location, versionName, etag, headers['x-object-sysmeta-slo-size'] ?? String(bytes), contentType, ts);
  }

  /**
   * _put_symlink_to_version: the current object becomes a static link to `versionName`. Its
   * listing entry starts from `base`, or from what a stage above set for the object (SLO's
   * `<md5>; slo_etag=…`), so a manifest's version lists its slo_etag, as Swift's.
   */
  private async putLink(req: ProxyRequest, location: string, versionName: string, etag: string, bytes: string, contentType: string, ts: Timestamp, base?: string): Promise<ProxyResponse> {
    const quotedTarget = pyQuote(`${location}/${versionName}`);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) {
      if (NOT_FOR_LINK.includes(k)) continue;
      headers[k] = v;
    }
    Object.assign(headers, {
      'content-type': contentType,
      'content-length': '0',
      [LINK.target]: quotedTarget,
      [LINK.etag]: etag,
      [LINK.bytes]: bytes,
      [LINK.loopExtend]: 'true',
      [LINK.allowReserved]: 'true',
      [SYSMETA.versionsSymlink]: 'true',
      [LINK.overrideEtag]: overrideEtag({ quotedTarget, etag, bytes }, base ?? req.headers[LINK.overrideEtag]),
    });
    const res = await callRouted(
      this.next,
      this.pipeline,
      req,
      { method: 'PUT', account: req.account as string, container: req.container as string, object: req.object as string, headers, body: Readable.from([]) },
      { source: 'OV', as: 'user' },
    );
    if (res.status >= 200 && res.status < 300) {
      res.headers['ETag'] = etag;
      res.headers['X-Object-Version-Id'] = ts.internal;
    }
    return res;
  }

  /** DELETE: a delete marker in the hidden container, then the current link goes. */
  private async delete(req: ProxyRequest, location: string): Promise<ProxyResponse> {
    const refused = await this.copyCurrent(req, location);
    if (refused) return refused;
    const ts = req.stamp();
    const marker = versionObjectName(req.object as string, ts);
    const m = await this.system(req, {
      method: 'PUT',
      account: req.account as string,
      container: location,
      object: marker,
      headers: { 'content-type': DELETE_MARKER_CONTENT_TYPE, 'content-length': '0' },
      body: Readable.from([]),
    });
    discard(m);
    if (m.status === 404) return respond(412);
    if (m.status >= 300) return m.status < 500 ? respond(m.status) : respond(503);
    const res = await this.next(req);
    if ((res.status >= 200 && res.status < 300) || res.status === 404) res.headers['X-Object-Version-Id'] = ts.internal;
    return res;
  }

  /** POST: applied to the version the current link points at (Swift follows its own 307). */
  private async post(req: ProxyRequest, location: string): Promise<ProxyResponse> {
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (k !== 'x-delete-at' && k !== 'x-delete-after') headers[k] = v;
    const res = await this.next(req);
    if (res.status !== 307 || header(res, SYSMETA.versionsSymlink) !== 'true') return res;
    const loc = unquote(header(res, 'location') ?? '');
    const m = /^\/v1\/([^/]+)\/([^/]+)\/(.+)$/s.exec(loc);
    if (!m || m[1] !== req.account || m[2] !== location) return res;
    discard(res);
    return this.system(req, { method: 'POST', account: req.account as string, container: location, object: m[3] as string, headers });
  }

  /**
   * ?version-id=: GET/HEAD/DELETE of one version, PUT makes it the current one again (Swift
   * 2.30's handle_put_version); POST is refused.
   */
  private async versionRequest(req: ProxyRequest, location: string | undefined, raw: string): Promise<ProxyResponse> {
    const bodyGiven = req.method === 'PUT' ? await hasBody(req) : (req.body.resume(), false);
    if (req.method === 'POST') return plain(400, `${req.method} to a specific version is not allowed`);
    const version = parseVersionId(raw);
    if (!location && raw !== 'null') return plain(400, 'version-aware operations require that the container is versioned');
    if (!version) return plain(400, 'Invalid version parameter');
    req.query.delete('version-id');
    const allowed = await authorizeTarget(req, req.method, req.account as string, req.container, req.object);
    if (allowed !== 'allow') return respond(allowed);
    if (req.method === 'DELETE') return this.deleteVersion(req, location as string, version);
    if (req.method === 'PUT') {
      if (bodyGiven) return plain(400, 'PUT version-id requests require a zero byte body');
      // A version id of "null" names no version in the hidden container.
      if (version === 'null') return plain(404, 'The specified version does not exist');
      return this.restoreVersion(req, location as string, version);
    }
    if (version === 'null') {
      const res = await this.next(req);
      if (res.status >= 200 && res.status < 300) {
        if ((header(res, 'content-location') ?? '').includes(pyQuote(`${RESERVED}versions`)) || unquote(header(res, 'content-location') ?? '').includes(`${RESERVED}versions`)) {
          discard(res);
          return respond(404);
        }
        res.headers['X-Object-Version-Id'] = 'null';
      }
      return res;
    }
    const res = await this.system(req, {
      method: req.method,
      account: req.account as string,
      container: location as string,
      object: versionObjectName(req.object as string, version),
      headers: { ...req.headers },
      query: req.query.toString(),
    });
    if (res.status >= 200 && res.status < 300) res.headers['X-Object-Version-Id'] = version.internal;
    if ((header(res, 'content-type') ?? '') === DELETE_MARKER_CONTENT_TYPE) {
      discard(res);
      return respond(404, { 'X-Object-Version-Id': version.internal, 'Content-Type': DELETE_MARKER_CONTENT_TYPE });
    }
    return res;
  }

  /** PUT ?version-id= (handle_put_version): the current object becomes a link to that version. */
  private async restoreVersion(req: ProxyRequest, location: string, version: Timestamp): Promise<ProxyResponse> {
    const account = req.account as string;
    const versionName = versionObjectName(req.object as string, version);
    const head = await this.system(req, { method: 'HEAD', account, container: location, object: versionName, query: 'symlink=get' });
    discard(head);
    if (head.status === 404) {
      const hidden = await this.system(req, { method: 'HEAD', account, container: location });
      discard(hidden);
      return hidden.status >= 200 && hidden.status < 300
        ? plain(404, 'The specified version does not exist')
        : plain(500, 'The versions container does not exist. You may want to re-enable object versioning.');
    }
    if (head.status < 200 || head.status >= 300) return respond(head.status < 500 ? head.status : 503);
    const etag = (header(head, 'etag') ?? '').replace(/"/g, '');
    const bytes = header(head, 'content-length') ?? '0';
    const contentType = header(head, 'content-type') ?? 'application/octet-stream';
    return this.putLink(req, location, versionName, etag, bytes, contentType, version);
  }

  /** DELETE ?version-id=: that version; if it is the current one, the link too. */
  private async deleteVersion(req: ProxyRequest, location: string, version: 'null' | Timestamp): Promise<ProxyResponse> {
    if (version === 'null') return this.next(req);
    const account = req.account as string;
    const head = await this.system(req, { method: 'HEAD', account, container: req.container as string, object: req.object as string, query: 'symlink=get', headers: { 'x-newest': 'true' } });
    discard(head);
    let currentTarget: string | undefined;
    if (head.status !== 404) {
      if (head.status >= 300) return respond(head.status < 500 ? head.status : 503);
      if (header(head, SYSMETA.versionsSymlink) === 'true') currentTarget = header(head, 'x-symlink-target');
    }
    const versionName = versionObjectName(req.object as string, version);
    let currentId = 'null';
    if (currentTarget !== undefined && unquote(currentTarget) === `${location}/${versionName}`) {
      const link = await this.next(req);
      discard(link);
      if (link.status >= 300 && link.status !== 404) return respond(link.status < 500 ? link.status : 503);
    } else if (currentTarget !== undefined) {
      const v = splitVersionName(unquote(currentTarget).split('/').slice(1).join('/'));
      if (v) currentId = v.ts.internal;
    }
    const res = await this.system(req, { method: 'DELETE', account, container: location, object: versionName });
    res.headers['X-Object-Version-Id'] = version.internal;
    res.headers['X-Object-Current-Version-Id'] = currentId;
    return res;
  }
}

/** A container header from the info cache (Title-Case names), by its lower-case name. */
function infoHeader(headers: Record<string, string>, name: string): string | undefined {
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === name) return v;
  return undefined;
}

function withEnabled(res: ProxyResponse, enabled: string | undefined): ProxyResponse {
  if (enabled !== undefined) res.headers['X-Versions-Enabled'] = enabled;
  return res;
}

function withoutLength(headers: Record<string, string>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() !== 'content-length') out[k] = v;
  return out;
}

/** A sub-request response's body as a stream for another sub-request. */
function toReadable(res: ProxyResponse): Readable {
  const b = res.body;
  if (b === undefined) return Readable.from([]);
  if (typeof b === 'string' || Buffer.isBuffer(b)) return Readable.from([Buffer.from(b)]);
  return b instanceof Readable ? b : Readable.from(b);
}

