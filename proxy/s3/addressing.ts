/**
 * Which bucket and key an S3 request names (S3 user guide, "Virtual hosting of buckets"):
 * virtual-hosted style, `Host: <bucket>.<s3_domain>` with the key as the path, when the host ends
 * with one of the configured domains; otherwise path style, `/<bucket>/<key>`. Pure.
 */
export interface S3Address {
  bucket?: string;
  key?: string;
  /** The resource S3's error documents name: /<bucket>/<key> in either style. */
  resource: string;
}

/** The configured domains (s3_domain: comma-separated), lower-cased, without leading dots. */
export function parseDomains(value: string): string[] {
  return value
    .split(',')
    .map((d) => d.trim().toLowerCase().replace(/^\.+/, '').replace(/\.+$/, ''))
    .filter((d) => d !== '');
}

/** The Host header's name without its port (an IPv6 literal is no bucket's host). */
function hostName(host: string | undefined): string | undefined {
  if (host === undefined || host.startsWith('[')) return undefined;
  const colon = host.lastIndexOf(':');
  return (colon < 0 ? host : host.slice(0, colon)).toLowerCase().replace(/\.$/, '');
}

/** The bucket a virtual-hosted request's Host names, or undefined for path style. */
export function virtualHostBucket(host: string | undefined, domains: readonly string[]): string | undefined {
  const name = hostName(host);
  if (name === undefined) return undefined;
  for (const d of domains) {
    if (name.length > d.length + 1 && name.endsWith(`.${d}`)) return name.slice(0, -(d.length + 1));
  }
  return undefined;
}

export function s3Address(rawPath: string, host: string | undefined, domains: readonly string[]): S3Address {
  const bucket = virtualHostBucket(host, domains);
  if (bucket !== undefined) {
    const key = decode(rawPath.slice(1));
    return key === '' ? { bucket, resource: `/${bucket}` } : { bucket, key, resource: `/${bucket}/${key}` };
  }
  const rest = rawPath.slice(1);
  if (rest === '') return { resource: rawPath };
  const slash = rest.indexOf('/');
  const b = decode(slash < 0 ? rest : rest.slice(0, slash));
  const key = slash < 0 ? '' : decode(rest.slice(slash + 1));
  return key === '' ? { bucket: b, resource: rawPath } : { bucket: b, key, resource: rawPath };
}

function decode(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** The path SigV2's CanonicalizedResource starts with: /<bucket> and the path as sent, in either style. */
export function v2ResourcePath(rawPath: string, host: string | undefined, domains: readonly string[]): string {
  const bucket = virtualHostBucket(host, domains);
  return bucket === undefined ? rawPath : `/${bucket}${rawPath}`;
}
