import type { ProxyContext } from '../../context.js';
import { respond, type Handler, type Middleware, type Pipeline, type ProxyRequest, type ProxyResponse } from '../../pipeline.js';
import { discard, hasBody, header, ignoreRangeIfMetadata, routed } from '../subrequest.js';
import { pyQuote } from '../../copy-headers.js';
import { pyRepr } from '../../py-json.js';
import { CLIENT, MD5_OF_EMPTY, normalizeEtag, overrideEtag, readSymlinkPut, splitTarget, SYSMETA, unquote, type SymlinkPut } from './target.js';

/**
 * Symlinks, as Swift's symlink middleware (swift/common/middleware/symlink.py), just before the
 * controllers: a zero-byte object whose sysmeta names its target; GET/HEAD follow it as
 * sub-requests authorized as the user (so a link never reads what its user could not read
 * directly), up to symloop_max links; ?symlink=get reads the link itself; a static link
 * (X-Symlink-Target-Etag) is checked at PUT and at every read; POST to a link answers 307.
 * Listings show symlink_path from the container update's etag (storage-node/db/listing-hash.ts).
 */
export function symlink(ctx: ProxyContext): Middleware {
  const symloopMax = ctx.config.symloop_max;
  ctx.capabilities.register('symlink', { symloop_max: symloopMax, static_links: true });
  return (next, pipeline) => (req) => {
    if (req.object === undefined || req.account === undefined) return next(req);
    const s = new SymlinkRequest(next, pipeline, symloopMax);
    switch (req.method) {
      case 'GET':
      case 'HEAD':
        return req.query.get('symlink') === 'get' ? s.getLink(req) : s.follow(req);
      case 'PUT':
        return req.headers[CLIENT.target] !== undefined ? s.put(req) : next(req);
      case 'POST':
        return s.post(req);
      default:
        return next(req);
    }
  };
}

const plain = (status: number, body: string, headers: Record<string, string> = {}): ProxyResponse =>
  respond(status, { 'Content-Type': 'text/plain', ...headers }, body);

class LoopError extends Error {}

/** What a static link's PUT takes from its target (_validate_etag_and_update_sysmeta). */
interface StaticTarget {
  bytes: string;
  contentType?: string;
  /** The link's container-update etag before its symlink parameters: the empty md5 + the target's. */
  overrideBase?: string;
}

class SymlinkRequest {
  private loops = 0;
  private lastTargetPath: string | undefined;

  constructor(
    private readonly next: Handler,
    private readonly pipeline: Pipeline,
    private readonly symloopMax: number,
  ) {}

  /** ?symlink=get: the link itself, its sysmeta shown under the client's names. */
  async getLink(req: ProxyRequest): Promise<ProxyResponse> {
    const res = await this.next(req);
    return sysmetaToClient(res);
  }

  async follow(req: ProxyRequest): Promise<ProxyResponse> {
    // A link is read whole: Range and If-* apply to its target (update_ignore_range_header).
    ignoreRangeIfMetadata(req, SYSMETA.target);
    try {
      return await this.recurse(req, req, undefined, true);
    } catch (e) {
      if (!(e instanceof LoopError)) throw e;
      return plain(409, `Too many levels of symbolic links, maximum allowed is ${this.symloopMax}`);
    }
  }

  /** Swift's _recursive_get_head. */
  private async recurse(orig: ProxyRequest, req: ProxyRequest, targetEtag: string | undefined, followSoft: boolean): Promise<ProxyResponse> {
    const res = await this.next(req);
    const target = header(res, SYSMETA.target);
    const linkEtag = header(res, SYSMETA.etag);
    if (target && res.status >= 200 && res.status < 300 && (linkEtag || followSoft)) {
      discard(res);
      const found = linkEtag ?? normalizeEtag(header(res, 'etag'));
      if (targetEtag && targetEtag !== found) {
        return plain(409, 'X-Symlink-Target-Etag headers do not match', this.location());
      }
      if (this.loops >= this.symloopMax) throw new LoopError();
      const where = splitTarget(target);
      if (!where) return respond(503);
      const quotedAccount = header(res, SYSMETA.account);
      const account = quotedAccount ? unquote(quotedAccount) : (req.account as string);
      this.lastTargetPath = `/v1/${quotedAccount ?? pyQuote(account)}/${target.replace(/^\/+/, '')}`;
      // A versioning link names a reserved (hidden) object: only the system may follow it, as
      // Swift's make_pre_authed_request; the versioning stage authorized the request already.
      const reserved = (header(res, SYSMETA.allowReserved) ?? '').toLowerCase() === 'true';
      const headers = { ...req.headers };
      const sub = routed(
        this.pipeline,
        orig,
        { method: req.method, account, container: where.container, object: where.object, headers },
        { source: 'SYM', as: reserved ? 'system' : 'user' },
      );
      if ((header(res, SYSMETA.loopExtend) ?? '').toLowerCase() !== 'true') this.loops++;
      return this.recurse(orig, sub, linkEtag, true);
    }
    // Any status that carries the target's ETag counts, as in Swift: a 412 (If-Match) or 304 of
    // a target that changed answers 409, the static link's check comes before the client's.
    const finalEtag = normalizeEtag(header(res, 'etag'));
    if (finalEtag && targetEtag && targetEtag !== finalEtag) {
      discard(res);
      return plain(409, `Object Etag ${pyRepr(finalEtag)} does not match X-Symlink-Target-Etag header ${pyRepr(targetEtag)}`, this.location());
    }
    if (this.lastTargetPath) res.headers['Content-Location'] = this.lastTargetPath;
    return res;
  }

  private location(): Record<string, string> {
    return this.lastTargetPath ? { 'Content-Location': this.lastTargetPath } : {};
  }

  /** A symlink PUT: a zero-byte body, checked target headers, then the link as sysmeta. */
  async put(req: ProxyRequest): Promise<ProxyResponse> {
    if (await hasBody(req)) return plain(400, 'Symlink requests require a zero byte body');
    const link = readSymlinkPut(req.headers, req.account as string, req.container as string, req.object as string);
    if ('status' in link) return plain(link.status, link.body);
    let bytes: string | undefined;
    if (link.etag !== undefined) {
      const checked = await this.checkStaticTarget(req, link);
      if ('status' in checked) return checked;
      bytes = checked.bytes;
      if (!req.headers['content-type'] && checked.contentType) req.headers['content-type'] = checked.contentType;
      if (checked.overrideBase !== undefined && req.headers[SYSMETA.overrideEtag] === undefined) req.headers[SYSMETA.overrideEtag] = checked.overrideBase;
    } else if (!req.headers['content-type']) {
      req.headers['content-type'] = 'application/symlink';
    }
    for (const h of Object.values(CLIENT)) delete req.headers[h];
    req.headers[SYSMETA.target] = link.quotedTarget;
    if (link.quotedAccount !== undefined) req.headers[SYSMETA.account] = link.quotedAccount;
    if (link.etag !== undefined) {
      req.headers[SYSMETA.etag] = link.etag;
      req.headers[SYSMETA.bytes] = bytes ?? '0';
    }
    const base = req.headers[SYSMETA.overrideEtag];
    req.headers[SYSMETA.overrideEtag] = overrideEtag({ ...link, ...(bytes !== undefined ? { bytes } : {}) }, base);
    req.headers['content-length'] = '0';
    delete req.headers['transfer-encoding'];
    return this.next(req);
  }

  /**
   * _validate_etag_and_update_sysmeta: a HEAD of the target as the user (a link to another
   * symlink is not followed), whose ETag must be the one given: 409 when it is missing or differs.
   */
  private async checkStaticTarget(req: ProxyRequest, link: SymlinkPut): Promise<StaticTarget | ProxyResponse> {
    this.lastTargetPath = `/v1/${link.quotedAccount ?? pyQuote(link.account)}/${link.quotedTarget}`;
    // A request the proxy makes itself (a version written by versioning) checks as the system, as
    // Swift's sub-request of a pre-authorized one.
    const head = routed(this.pipeline, req, { method: 'HEAD', account: link.account, container: link.container, object: link.object }, { source: 'SYM', as: req.system ? 'system' : 'user' });
    let res: ProxyResponse;
    try {
      res = await this.recurse(req, head, link.etag, false);
    } catch (e) {
      if (!(e instanceof LoopError)) throw e;
      return plain(409, `Too many levels of symbolic links, maximum allowed is ${this.symloopMax}`);
    }
    discard(res);
    if (res.status === 404) return plain(409, 'X-Symlink-Target does not exist', this.location());
    if (res.status < 200 || res.status >= 300) return res.status === 409 ? res : respond(res.status);
    const out: StaticTarget = { bytes: header(res, 'x-object-sysmeta-slo-size') ?? header(res, 'content-length') ?? '0' };
    const contentType = header(res, 'content-type');
    if (contentType) out.contentType = contentType;
    // The target's listing parameters (an SLO's slo_etag) carry over to the link's listing entry.
    const targetOverride = header(res, SYSMETA.overrideEtag);
    const sloEtag = header(res, 'x-object-sysmeta-slo-etag');
    if (targetOverride !== undefined) {
      const semi = targetOverride.indexOf(';');
      out.overrideBase = semi < 0 ? MD5_OF_EMPTY : MD5_OF_EMPTY + targetOverride.slice(semi);
    } else if (sloEtag !== undefined) {
      out.overrideBase = `${MD5_OF_EMPTY}; slo_etag=${sloEtag}`;
    }
    return out;
  }

  /** POST: never sets a target (400); one that reached a symlink answers 307 to its target. */
  async post(req: ProxyRequest): Promise<ProxyResponse> {
    if (req.headers[CLIENT.target] !== undefined) {
      req.body.resume();
      return plain(400, 'A PUT request is required to set a symlink target');
    }
    const res = await this.next(req);
    if (res.status < 200 || res.status >= 300) return res;
    const target = header(res, SYSMETA.target);
    if (!target) return res;
    discard(res);
    const account = header(res, SYSMETA.account) ?? pyQuote(req.account as string);
    const headers: Record<string, string> = { Location: `/v1/${account}/${target}`, 'Content-Type': 'text/plain' };
    const etag = header(res, SYSMETA.etag);
    if (etag) headers['X-Symlink-Target-Etag'] = etag;
    // Sysmeta goes along for the stages before this one (versioning); the gatekeeper drops it.
    for (const [k, v] of Object.entries(res.headers)) if (k.toLowerCase().startsWith('x-object-sysmeta-')) headers[k] = v;
    return respond(307, headers, 'The requested POST was applied to a symlink. POST directly to the target to apply requested metadata.');
  }
}

/** symlink_sysmeta_to_usermeta on a response. */
function sysmetaToClient(res: ProxyResponse): ProxyResponse {
  const names: Array<[string, string]> = [
    [SYSMETA.target, 'X-Symlink-Target'],
    [SYSMETA.account, 'X-Symlink-Target-Account'],
    [SYSMETA.etag, 'X-Symlink-Target-Etag'],
    [SYSMETA.bytes, 'X-Symlink-Target-Bytes'],
  ];
  for (const k of Object.keys(res.headers)) {
    const hit = names.find(([sys]) => sys === k.toLowerCase());
    if (hit) {
      res.headers[hit[1]] = res.headers[k] as string;
      delete res.headers[k];
    }
  }
  return res;
}
