import { createHash } from 'node:crypto';

/** The cluster secret that salts every path hash. Services refuse to start without one. */
export interface HashSecret {
  prefix: string;
  suffix: string;
}

/**
 * md5(prefix + "/" + account[/container[/object]] + suffix) as hex, like Swift's hash_path.
 * The top bits pick the partition; the whole hash names the object's directory.
 */
export function hashPath(secret: HashSecret, account: string, container?: string, object?: string): string {
  let path = `/${account}`;
  if (container !== undefined) path += `/${container}`;
  if (object !== undefined) path += `/${object}`;
  return createHash('md5').update(secret.prefix).update(path).update(secret.suffix).digest('hex');
}

/** Partition for a path hash: its top `partPower` bits. */
export function partitionOfHash(hexHash: string, partPower: number): number {
  const top32 = parseInt(hexHash.slice(0, 8), 16) >>> 0;
  return partPower === 0 ? 0 : top32 >>> (32 - partPower);
}
