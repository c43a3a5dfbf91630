/**
 * A listing row's hash with parameters (Swift's container update override etag,
 * `<etag>; symlink_target=c/o; symlink_target_account=a; symlink_target_etag=e;
 * symlink_target_bytes=n`), as Swift's symlink middleware turns it into listing fields
 * (SymlinkContainerContext._extract_symlink_path_json): the symlink_* parameters become
 * `symlink_path` ("/v1/<account>/<target>"), `symlink_etag` and `symlink_bytes`, and SLO's
 * `slo_etag` its own field (slo.py's listing rewrite); any other parameter stays in the hash. Pure.
 */
export interface HashFields {
  /** The hash as listed: the etag and any parameter that is not a symlink's. */
  hash: string;
  symlinkPath?: string;
  symlinkEtag?: string;
  symlinkBytes?: number;
  /** An SLO manifest's etag (`slo_etag`), listed quoted as Swift's slo middleware does. */
  sloEtag?: string;
}

/** Python's cgi/utils parse_header: "value; k=v; k2="v2"" into the value and its parameters in order. */
export function parseHeaderParams(value: string): { value: string; params: Array<[string, string]> } {
  const parts = value.split(';');
  const params: Array<[string, string]> = [];
  for (const p of parts.slice(1)) {
    const eq = p.indexOf('=');
    if (eq < 0) continue;
    const k = p.slice(0, eq).trim().toLowerCase();
    let v = p.slice(eq + 1).trim();
    if (v.length >= 2 && v.startsWith('"') && v.endsWith('"')) v = v.slice(1, -1).replace(/\\(.)/g, '$1');
    params.push([k, v]);
  }
  return { value: (parts[0] as string).trim(), params };
}

export function hashFields(etag: string, account: string): HashFields {
  if (!etag.includes(';')) return { hash: etag };
  const { value, params } = parseHeaderParams(etag);
  let hash = value;
  let target: string | undefined;
  let targetAccount = account;
  const out: HashFields = { hash };
  for (const [k, v] of params) {
    if (k === 'symlink_target') target = v;
    else if (k === 'symlink_target_account') targetAccount = v;
    else if (k === 'symlink_target_etag') out.symlinkEtag = v;
    else if (k === 'symlink_target_bytes') out.symlinkBytes = Number(v);
    else if (k === 'slo_etag') out.sloEtag = v;
    else hash += `; ${k}=${v}`;
  }
  out.hash = hash;
  if (target) out.symlinkPath = `/v1/${targetAccount}/${target.replace(/^\/+/, '')}`;
  return out;
}
