/**
 * X-Delete-At / X-Delete-After on an object PUT or POST, as Swift's proxy checks and rewrites them
 * (swift/common/constraints.py check_delete_headers, swift/common/utils
 * normalize_delete_at_timestamp). Pure.
 *
 * - Both must be integers as Python's int() reads them (sign, digits, `_` between digits).
 * - X-Delete-After becomes X-Delete-At = now + after.
 * - The value is clamped to 0…9999999999 and written with ten digits, so an X-Delete-At far in
 *   the future (many digits) is stored as 9999999999 rather than refused.
 * - It must then lie after the request's time ("in past" otherwise, the same second included).
 */

/** Swift's upper bound for a delete-at time (normalize_delete_at_timestamp). */
const MAX_DELETE_AT = 9_999_999_999n;

/** Python's int() of a header value, or undefined where it raises ValueError. */
export function pythonInt(value: string): bigint | undefined {
  const m = /^\s*([+-]?)(\d+(?:_\d+)*)\s*$/.exec(value);
  if (!m) return undefined;
  const n = BigInt((m[2] as string).replace(/_/g, ''));
  return m[1] === '-' ? -n : n;
}

/** normalize_delete_at_timestamp: clamped to 0…9999999999, ten digits. */
function normalized(seconds: bigint): string {
  const clamped = seconds < 0n ? 0n : seconds > MAX_DELETE_AT ? MAX_DELETE_AT : seconds;
  return clamped.toString().padStart(10, '0');
}

export type DeleteAtHeader = { value?: string; error?: string };

/**
 * The X-Delete-At to store for a request stamped at `nowS` (seconds, with a fraction): `value`
 * (none when the request has neither header), or Swift's 400 message in `error`.
 */
export function deleteAtHeader(headers: Record<string, string>, nowS: number): DeleteAtHeader {
  const after = headers['x-delete-after'];
  if (after !== undefined) {
    const n = pythonInt(after);
    if (n === undefined) return { error: 'Non-integer X-Delete-After' };
    // now + after, truncated to a whole second (Python's "%010d" of a float).
    const value = normalized(BigInt(Math.floor(nowS)) + n);
    if (Number(value) <= nowS) return { error: 'X-Delete-After in past' };
    return { value };
  }
  const at = headers['x-delete-at'];
  if (at !== undefined) {
    const n = pythonInt(at);
    if (n === undefined) return { error: 'Non-integer X-Delete-At' };
    const value = normalized(n);
    if (Number(value) <= nowS) return { error: 'X-Delete-At in past' };
    return { value };
  }
  return {};
}
