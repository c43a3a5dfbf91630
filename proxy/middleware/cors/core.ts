/**
 * CORS as Swift's proxy does it (proxy/controllers/base.py: cors_validation, is_origin_allowed,
 * OPTIONS), as pure functions over a container's CORS metadata and the operator's settings.
 */

/** A container's CORS settings (Swift's container_info['cors']), from its metadata. */
export interface ContainerCors {
  /** X-Container-Meta-Access-Control-Allow-Origin: origins separated by spaces, or "*". */
  allowOrigin?: string;
  /** X-Container-Meta-Access-Control-Max-Age, passed on as given. */
  maxAge?: string;
  /** X-Container-Meta-Access-Control-Expose-Headers: names separated by spaces. */
  exposeHeaders?: string;
}

/** The operator's settings (proxy config: cors_allow_origin, cors_expose_headers, strict_cors_mode). */
export interface CorsSettings {
  allowOrigin: string[];
  exposeHeaders: string[];
  strict: boolean;
}

/** Splits a comma-separated option (Swift's list_from_csv): trimmed, empties dropped. */
export function listFromCsv(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function corsSettings(cfg: { cors_allow_origin: string; cors_expose_headers: string; strict_cors_mode: boolean }): CorsSettings {
  return { allowOrigin: listFromCsv(cfg.cors_allow_origin), exposeHeaders: listFromCsv(cfg.cors_expose_headers).map((h) => h.toLowerCase()), strict: cfg.strict_cors_mode };
}

/** A container's CORS settings from its metadata headers (any case). */
export function containerCors(headers: Record<string, string>): ContainerCors {
  const out: ContainerCors = {};
  for (const [k, v] of Object.entries(headers)) {
    const lk = k.toLowerCase();
    if (lk === 'x-container-meta-access-control-allow-origin') out.allowOrigin = v;
    else if (lk === 'x-container-meta-access-control-max-age') out.maxAge = v;
    else if (lk === 'x-container-meta-access-control-expose-headers') out.exposeHeaders = v;
  }
  return out;
}

/** Swift's is_origin_allowed: the container's origins and the operator's, or "*" among them. */
export function isOriginAllowed(cors: ContainerCors, settings: CorsSettings, origin: string): boolean {
  const allowed = new Set(settings.allowOrigin);
  for (const a of (cors.allowOrigin ?? '').split(' ')) if (a.trim()) allowed.add(a.trim());
  return allowed.has(origin) || allowed.has('*');
}

function hasHeader(headers: Record<string, string>, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const k of Object.keys(headers)) if (k.toLowerCase() === lower) return k;
  return undefined;
}

/** Appends `value` to the Vary header (creating it). */
function addVary(headers: Record<string, string>, value: string): void {
  const k = hasHeader(headers, 'vary');
  if (k) headers[k] = `${headers[k]}, ${value}`;
  else headers['Vary'] = value;
}

/** The simple response headers, and Swift's own a client script may read. */
const DEFAULT_EXPOSED = ['cache-control', 'content-language', 'content-type', 'expires', 'last-modified', 'pragma', 'etag', 'x-timestamp', 'x-trans-id', 'x-openstack-request-id'];

/**
 * The CORS headers of an actual (not preflight) answer to a request with an Origin (Swift's
 * cors_validation): none in strict mode for an origin not allowed; otherwise
 * Access-Control-Expose-Headers (Swift's defaults, the operator's, the answer's metadata headers
 * and the container's list) and Access-Control-Allow-Origin ("*" when the container says "*",
 * else the origin, with Vary: Origin). Returns the answer's headers with them added.
 */
export function actualHeaders(cors: ContainerCors, settings: CorsSettings, origin: string, headers: Record<string, string>): Record<string, string> {
  if (settings.strict && !isOriginAllowed(cors, settings, origin)) return headers;
  const out = { ...headers };
  if (!hasHeader(out, 'access-control-expose-headers')) {
    const expose = new Set([...DEFAULT_EXPOSED, ...settings.exposeHeaders]);
    for (const k of Object.keys(out)) {
      const lk = k.toLowerCase();
      if (lk.startsWith('x-container-meta') || lk.startsWith('x-object-meta')) expose.add(lk);
    }
    for (const h of (cors.exposeHeaders ?? '').split(' ')) if (h.trim()) expose.add(h.trim().toLowerCase());
    out['Access-Control-Expose-Headers'] = [...expose].join(', ');
  }
  if (!hasHeader(out, 'access-control-allow-origin')) {
    if (cors.allowOrigin !== undefined && cors.allowOrigin.trim() === '*') out['Access-Control-Allow-Origin'] = '*';
    else {
      out['Access-Control-Allow-Origin'] = origin;
      addVary(out, 'Origin');
    }
  }
  return out;
}

export interface PreflightRequest {
  origin: string;
  /** Access-Control-Request-Method */
  method: string | undefined;
  /** Access-Control-Request-Headers */
  headers: string | undefined;
}

/**
 * Swift's answer to a CORS preflight (OPTIONS with an Origin) of a container or object whose
 * controller has `methods`: 401 (with Allow) when the origin is not allowed or the requested
 * method is not one of them (strict or not: a preflight is always checked), else 200 with the
 * Access-Control-* headers: the origin (or "*"), Max-Age when the container sets one, the
 * methods, and every requested header.
 */
export function preflight(cors: ContainerCors, settings: CorsSettings, req: PreflightRequest, methods: string[]): { status: number; headers: Record<string, string> } {
  const headers: Record<string, string> = { Allow: methods.join(', ') };
  if (!isOriginAllowed(cors, settings, req.origin) || req.method === undefined || !methods.includes(req.method)) return { status: 401, headers };
  if (cors.allowOrigin !== undefined && cors.allowOrigin.trim() === '*') headers['Access-Control-Allow-Origin'] = '*';
  else {
    headers['Access-Control-Allow-Origin'] = req.origin;
    addVary(headers, 'Origin');
  }
  if (cors.maxAge !== undefined) headers['Access-Control-Max-Age'] = cors.maxAge;
  headers['Access-Control-Allow-Methods'] = methods.join(', ');
  const asked = [...new Set(listFromCsv(req.headers))];
  if (asked.length > 0) {
    headers['Access-Control-Allow-Headers'] = asked.join(', ');
    addVary(headers, 'Access-Control-Request-Headers');
  }
  return { status: 200, headers };
}
