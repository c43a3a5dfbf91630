import { parseEtagList } from '../../common/conditional.js';
import { readHashDirSync } from './ondisk.js';

/**
 * Conditional creates (PUT with If-None-Match: *) on this node: one at a time per object.
 *
 * Swift's object server checks If-None-Match before the body and nothing more, so two creates
 * racing on one name can both be stored and both answered 201. Here a create holds its object
 * from that check to its end: a second create arriving meanwhile is refused at once (412,
 * before its body), and the winner checks again right before its rename (stillAbsent) in case
 * an unconditional PUT landed meanwhile. With the proxy failing a create on any 412 before the
 * body, two creates that reach the same nodes never both succeed, and the refused one stores
 * nothing (docs/ARCHITECTURE.md, conditional creates).
 */
const creating = new Set<string>();

/** Whether the request is a create (If-None-Match lists `*`). */
export function isCreate(ifNoneMatch: string | undefined): boolean {
  return ifNoneMatch !== undefined && parseEtagList(ifNoneMatch) === '*';
}

/** Holds `hashDir` for a create: the release, or undefined when another create holds it. */
export function holdForCreate(hashDir: string): (() => void) | undefined {
  if (creating.has(hashDir)) return undefined;
  creating.add(hashDir);
  let held = true;
  return () => {
    if (held) creating.delete(hashDir);
    held = false;
  };
}

/**
 * For the rename of a create: true while the hash dir holds no live object other than `seen` (the
 * .data found before the body, expired or superseded since). Synchronous, so no other request
 * of this process writes between its answer and the rename that follows it.
 */
export function stillAbsent(hashDir: string, seen: string | undefined): () => boolean {
  return () => {
    const now = readHashDirSync(hashDir).data;
    return now === undefined || now.name === seen;
  };
}
