/**
 * The pure side of the quotas (Swift's container_quotas.py and account_quotas.py): which quota
 * values are valid, and how much room a container or an account has left.
 */

/** Swift's body for a write a quota refuses (413). */
export const QUOTA_EXCEEDED = 'Upload exceeds quota.';

/** A quota value as Swift accepts it (str.isdigit): digits only. Empty means "remove". */
export function isQuotaValue(v: string): boolean {
  return /^[0-9]+$/.test(v);
}

/** A header by name, whatever its case (info headers are kept Title-Case). */
export function header(headers: Record<string, string>, name: string): string | undefined {
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** A stored quota: a number when set and valid; a malformed one is no quota (Swift ignores it). */
export function storedQuota(headers: Record<string, string>, name: string): number | undefined {
  const v = header(headers, name);
  return v !== undefined && isQuotaValue(v) ? Number(v) : undefined;
}

/** What a target can still take: bytes and objects (Infinity without a quota). */
export interface Room {
  bytes: number;
  objects: number;
}

export const UNLIMITED: Room = { bytes: Infinity, objects: Infinity };

/** The room a container's quotas (X-Container-Meta-Quota-Bytes / -Count) leave, from its usage. */
export function containerRoom(meta: Record<string, string>, bytesUsed: number, objectCount: number): Room {
  const qb = storedQuota(meta, 'x-container-meta-quota-bytes');
  const qc = storedQuota(meta, 'x-container-meta-quota-count');
  return { bytes: qb === undefined ? Infinity : qb - bytesUsed, objects: qc === undefined ? Infinity : qc - objectCount };
}

/** The room an account's quota (X-Account-Meta-Quota-Bytes) leaves, from X-Account-Bytes-Used. */
export function accountRoom(headers: Record<string, string>): Room {
  const q = storedQuota(headers, 'x-account-meta-quota-bytes');
  if (q === undefined) return UNLIMITED;
  const used = Number(header(headers, 'x-account-bytes-used') ?? 0);
  return { bytes: q - (Number.isFinite(used) ? used : 0), objects: Infinity };
}

/** The smaller room of two. */
export function minRoom(a: Room, b: Room): Room {
  return { bytes: Math.min(a.bytes, b.bytes), objects: Math.min(a.objects, b.objects) };
}

/** Whether one more object of `bytes` fits (Swift: quota < used + size refuses; count < objects + 1 refuses). */
export function fits(room: Room, bytes: number): boolean {
  return bytes <= room.bytes && room.objects >= 1;
}
