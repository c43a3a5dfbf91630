import { randomBytes } from 'node:crypto';
import { closeSync, fstatSync, futimesSync, linkSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';

/**
 * An exclusive lock on a path, between processes and within one (Swift's `lock_path`, which is an
 * flock on a `.lock` file). Node has no flock, and the native module that could provide one is
 * optional (no gcc, no module), so this is a lock file made with O_EXCL that names its holder:
 * `{pid, host, token}`. It is held while the file exists; the holder refreshes its mtime every
 * `refreshMs` and removes it on release.
 *
 * A holder that died without releasing (kill -9) leaves the file behind: it is stale when its pid
 * is gone (same host) or when it was not refreshed for `staleAfterMs` (a reused pid, a hung or
 * stopped holder, another host sharing the disk). A stale lock is broken by renaming it aside,
 * which only one breaker can do to a given file, then checking that the file moved is the one
 * judged stale (if it is a lock just taken by someone else, it is put back).
 *
 * All calls are synchronous: a few metadata syscalls, and no await between looking and taking, so
 * two tries in one process never interleave. Whatever a lock guards must still tolerate the rare
 * double holder (two breakers of one stale lock at the same instant): it saves duplicate work and
 * errors, it is not what keeps data correct.
 */
export interface LockFileOptions {
  /** Not refreshed for this long: presumed dead, whatever its pid says. Default 10 min. */
  staleAfterMs?: number;
  /** How often a holder touches its lock. Default 60 s. */
  refreshMs?: number;
  /** Milliseconds since the epoch (tests). */
  now?: () => number;
}

export interface HeldLock {
  readonly path: string;
  /** Removes the lock (unless it was broken and taken by someone else meanwhile). Idempotent. */
  release(): void;
}

interface Holder {
  pid: number;
  host: string;
  token: string;
}

const DEFAULT_STALE_AFTER_MS = 10 * 60_000;
const DEFAULT_REFRESH_MS = 60_000;
const HOST = hostname();

function errnoOf(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Takes the lock at `path` if it is free or stale; undefined while someone else holds it. Throws on I/O errors (a missing folder included). */
export function tryLockFile(path: string, opts: LockFileOptions = {}): HeldLock | undefined {
  const now = opts.now ?? Date.now;
  const staleAfterMs = opts.staleAfterMs ?? DEFAULT_STALE_AFTER_MS;
  const me: Holder = { pid: process.pid, host: HOST, token: randomBytes(8).toString('hex') };
  // Two rounds: the second after breaking a stale lock or seeing one released between looks.
  for (let round = 0; round < 2; round++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (e) {
      if (errnoOf(e) !== 'EEXIST') throw e;
      const seen = readHolder(path);
      if (seen === undefined) continue; // released meanwhile
      if (!isStale(seen, now(), staleAfterMs)) return undefined;
      breakLock(path, seen.raw, me.token);
      continue;
    }
    try {
      writeSync(fd, JSON.stringify(me));
    } catch (e) {
      closeSync(fd);
      unlinkSync(path);
      throw e;
    }
    return hold(path, fd, opts.refreshMs ?? DEFAULT_REFRESH_MS, now);
  }
  return undefined;
}

/** The lock file's content and mtime; undefined when it is gone. */
function readHolder(path: string): { raw: string; holder: Holder | undefined; mtimeMs: number } | undefined {
  try {
    const raw = readFileSync(path, 'utf8');
    const mtimeMs = statSync(path).mtimeMs;
    let holder: Holder | undefined;
    try {
      const v = JSON.parse(raw) as Partial<Holder>;
      if (typeof v.pid === 'number' && typeof v.host === 'string' && typeof v.token === 'string') holder = v as Holder;
    } catch {
      /* being written right now (between open and write), or foreign: judged by its age only */
    }
    return { raw, holder, mtimeMs };
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return undefined;
    throw e;
  }
}

function isStale(seen: { holder: Holder | undefined; mtimeMs: number }, nowMs: number, staleAfterMs: number): boolean {
  if (nowMs - seen.mtimeMs > staleAfterMs) return true;
  const h = seen.holder;
  return h !== undefined && h.host === HOST && !pidAlive(h.pid);
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return errnoOf(e) === 'EPERM'; // alive, someone else's
  }
}

/** Moves the stale lock aside and deletes it; puts back a lock that turned out to be a fresh one. */
function breakLock(path: string, staleRaw: string, token: string): void {
  const aside = `${path}.broken-${token}`;
  try {
    renameSync(path, aside);
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return; // released, or broken by someone else
    throw e;
  }
  try {
    if (readFileSync(aside, 'utf8') !== staleRaw) {
      try {
        linkSync(aside, path); // taken between our look and the rename: give it back
      } catch {
        /* a third party took the path meanwhile: nothing better to do */
      }
    }
  } finally {
    unlinkSync(aside);
  }
}

function hold(path: string, fd: number, refreshMs: number, now: () => number): HeldLock {
  const ino = fstatSync(fd).ino;
  const timer = setInterval(() => {
    const s = now() / 1000;
    try {
      futimesSync(fd, s, s); // our inode, wherever it is
    } catch {
      /* the disk is failing: the lock goes stale, which is what it should do */
    }
  }, refreshMs);
  timer.unref();
  let released = false;
  return {
    path,
    release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      try {
        if (statSync(path).ino === ino) unlinkSync(path); // still ours (not broken and retaken)
      } catch (e) {
        if (errnoOf(e) !== 'ENOENT') throw e;
      } finally {
        closeSync(fd);
      }
    },
  };
}
