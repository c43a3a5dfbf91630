/**
 * Domain errors. Code below the HTTP edge throws these; the edge maps `code` to a status.
 * Tests assert on `code`, never on the message.
 */
export type ErrorCode =
  | 'NOT_FOUND'
  | 'DELETED'
  | 'CONFLICT'
  | 'BAD_REQUEST'
  | 'INSUFFICIENT_STORAGE'
  | 'DISK_FULL'
  | 'CLIENT_TIMEOUT'
  | 'CLIENT_DISCONNECT'
  | 'UNPROCESSABLE'
  | 'CORRUPT'
  | 'QUORUM_FAILED'
  | 'CONFIG'
  | 'RING_INVALID'
  | 'PRECONDITION_FAILED'
  | 'TOO_LARGE'
  | 'UNAVAILABLE'
  | 'INTERNAL';

export class SwiftletError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown>;
  constructor(code: ErrorCode, message: string, opts: { cause?: unknown; details?: Record<string, unknown> } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'SwiftletError';
    this.code = code;
    this.details = opts.details ?? {};
  }
}

export function isSwiftletError(e: unknown, code?: ErrorCode): e is SwiftletError {
  return e instanceof SwiftletError && (code === undefined || e.code === code);
}

/** The HTTP status Swift gives for each domain error. */
export function statusForCode(code: ErrorCode): number {
  switch (code) {
    case 'NOT_FOUND':
    case 'DELETED':
      return 404;
    case 'CONFLICT':
      return 409;
    case 'BAD_REQUEST':
      return 400;
    case 'INSUFFICIENT_STORAGE':
    case 'DISK_FULL':
      return 507;
    case 'CLIENT_TIMEOUT':
      return 408;
    case 'CLIENT_DISCONNECT':
      return 499;
    case 'UNPROCESSABLE':
    case 'CORRUPT':
      return 422;
    case 'QUORUM_FAILED':
    case 'UNAVAILABLE':
      return 503;
    case 'PRECONDITION_FAILED':
      return 412;
    case 'TOO_LARGE':
      return 413;
    default:
      return 500;
  }
}

/** Filesystem errno that mean "this disk cannot take the write": answer 507 so the proxy uses a handoff. */
export function isDiskFullErrno(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}
