import type { ProxyConfig } from '../config.js';
import type { InfoRegistry } from '../info.js';
import { respond, type Middleware } from '../pipeline.js';
import { listFromCsv } from './cors/core.js';

/**
 * Domain remap (Swift's domain_remap.py): a request to `container.AUTH-account.<storage_domain>`
 * (or `AUTH-account.<storage_domain>`) is the request for `/v1/AUTH_account/container/<path>`,
 * so a container can be a web site under its own host name. Off until `storage_domain` is set.
 */
export interface DomainRemapSettings {
  /** Suffixes, each starting with ".". */
  domains: string[];
  /** "v1/" */
  pathRoot: string;
  resellerPrefixes: string[];
  defaultResellerPrefix: string;
  mangleClientPaths: boolean;
}

export function domainRemapSettings(cfg: Pick<ProxyConfig, 'storage_domain' | 'path_root' | 'domain_remap_reseller_prefixes' | 'default_reseller_prefix' | 'mangle_client_paths'>): DomainRemapSettings {
  const given = listFromCsv(cfg.storage_domain);
  return {
    domains: [...given.filter((d) => !d.startsWith('.')).map((d) => `.${d}`), ...given.filter((d) => d.startsWith('.'))],
    pathRoot: `${cfg.path_root.replace(/^\/+|\/+$/g, '')}/`,
    resellerPrefixes: listFromCsv(cfg.domain_remap_reseller_prefixes),
    defaultResellerPrefix: cfg.default_reseller_prefix,
    mangleClientPaths: cfg.mangle_client_paths,
  };
}

/** The path a host name stands for: the new path, 'bad' for a host with too many labels, undefined when it is not remapped. */
export function remapPath(s: DomainRemapSettings, hostHeader: string, path: string): string | 'bad' | undefined {
  let host = hostHeader;
  const colon = host.lastIndexOf(':');
  if (colon !== -1) host = host.slice(0, colon);
  const domain = s.domains.find((d) => host.endsWith(d));
  if (!domain) return undefined;
  const parts = host.slice(0, host.length - domain.length).replace(/^\.+|\.+$/g, '').split('.');
  if (parts.length > 2) return 'bad';
  let [container, account] = parts.length === 2 ? [parts[0] as string, parts[1] as string] : [undefined, parts[0] as string];
  if (s.resellerPrefixes.length > 0) {
    if (!account.includes('_') && account.includes('-')) account = account.replace('-', '_');
    const prefix = (account.split('_', 1)[0] as string).toLowerCase();
    const i = s.resellerPrefixes.findIndex((p) => p.toLowerCase() === prefix);
    if (i !== -1) {
      const real = s.resellerPrefixes[i] as string;
      if (!account.startsWith(real)) account = real + account.slice(real.length);
    } else if (s.defaultResellerPrefix) account = `${s.defaultResellerPrefix}_${account}`;
    else return undefined;
  }
  let rest = path.slice(1);
  if (s.mangleClientPaths && `${rest}/`.startsWith(s.pathRoot)) rest = rest.slice(s.pathRoot.length);
  return ['', s.pathRoot.slice(0, -1), account, ...(container ? [container] : []), rest].join('/');
}

export function domainRemap(config: ProxyConfig, capabilities: InfoRegistry): Middleware {
  const s = domainRemapSettings(config);
  if (s.domains.length === 0) return (next) => next;
  capabilities.register('domain_remap', { default_reseller_prefix: s.defaultResellerPrefix || null });
  return (next) => async (req) => {
    const host = req.headers['host'];
    const remapped = host === undefined ? undefined : remapPath(s, host, req.path);
    if (remapped === undefined) return next(req);
    if (remapped === 'bad') {
      req.body.resume();
      return respond(400, { 'Content-Type': 'text/plain' }, 'Bad domain in host header');
    }
    const requested = req.path;
    req.path = remapped;
    const res = await next(req);
    // A redirect to the remapped path names the path the client asked for (Swift's RewriteContext).
    const key = Object.keys(res.headers).find((k) => k.toLowerCase() === 'location');
    if (key) {
      const m = /^(https?:\/\/[^/]+)(.*)$/.exec(res.headers[key] as string);
      if (m && (m[2] as string).startsWith(remapped)) res.headers[key] = `${m[1]}${requested}${(m[2] as string).slice(remapped.length)}`;
    }
    return res;
  };
}
