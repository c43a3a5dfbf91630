/**
 * The LevelDB key schema of a device's database. Keys are UTF-8 Buffers: a one-letter type, then
 * `\0`-separated names (names never contain NUL), so LevelDB's byte order is Swift's name order
 * (sqlite's binary collation) and every container's rows are one contiguous range.
 *
 *   C\0<account>\0<container>           container record + its stats      (StoredContainer JSON)
 *   O\0<account>\0<container>\0<name>   live object row                   (row codec, store.ts)
 *   T\0<account>\0<container>\0<name>   object tombstone (kept apart so listings never read them,
 *                                       like Swift's index on (deleted, name))
 *   U\0<account>\0<container>           container stats not yet acknowledged by the account
 *                                       server, with where to send them   (PendingUpdate JSON)
 *   A\0<account>                        account record + its stats        (StoredAccount JSON)
 *   K\0<account>\0<container>           container row of the account      (ContainerRow JSON)
 *
 * Replication (changes.ts, replica-ops.ts): each row's value ends with the sequence number of its
 * last change, and a change log indexes the rows by it; sync points say how far a peer has merged.
 *
 *   Q\0<account>\0<container>\0<seq>    object row changed at seq         (object name)
 *   R\0<account>\0<seq>                  container row changed at seq      (container name)
 *   Y\0<account>\0<container>\0<id>     sync point: rows of replica <id> merged up to seq (number)
 *   Z\0<account>\0<id>                   the same for an account
 *
 * Reclaim (reclaim-index.ts): the deleted rows by the timestamp that decides when they may go.
 *
 *   X\0<account>\0<container>\0<ts>\0<name>   object tombstone with timestamp ts      (empty)
 *   W\0<account>\0<ts>\0<name>                container row deleted at ts            (empty)
 */

export type KeyType = 'C' | 'O' | 'T' | 'U' | 'A' | 'K' | 'Q' | 'R' | 'Y' | 'Z' | 'X' | 'W';

const SEP = '\0';

export function key(type: KeyType, ...names: string[]): Buffer {
  return Buffer.from(type + SEP + names.join(SEP), 'utf8');
}

/** The key prefix of everything of `type` under the given names, ending with the separator. */
export function keyPrefix(type: KeyType, ...names: string[]): Buffer {
  return Buffer.from(type + SEP + names.map((n) => n + SEP).join(''), 'utf8');
}

/** Exclusive upper bound of a prefix range (the trailing separator \0 becomes \x01). */
export function prefixUpperBound(prefix: Buffer): Buffer {
  const out = Buffer.from(prefix);
  out[out.length - 1] = (out[out.length - 1] as number) + 1;
  return out;
}

/** Splits a key back into its names (after the type letter). */
export function keyNames(k: Buffer): string[] {
  return k.toString('utf8', 2).split(SEP);
}

/** Names must not contain the separator; the router has percent-decoded them already. */
export function validName(name: string): boolean {
  return name.length > 0 && !name.includes(SEP);
}
