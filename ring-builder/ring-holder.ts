import { statSync } from 'node:fs';
import type { HashSecret } from '../common/hash-path.js';
import type { Logger } from '../common/log.js';
import { Ring } from './ring.js';

export interface RingHolderOptions {
  checkIntervalMs?: number;
  log?: Pick<Logger, 'info' | 'error'>;
}

interface FileStamp {
  mtimeMs: number;
  size: number;
  ino: number;
}

/**
 * Keeps a service's current ring and swaps in a new one when the file changes, but only if the
 * new file validates: a bad ring push must not take a running cluster down.
 */
export class RingHolder {
  private current: Ring;
  /** The stamp of the file we last looked at (good or bad), so a bad file is reported once. */
  private seen: FileStamp;
  private timer: NodeJS.Timeout | undefined;
  private readonly checkIntervalMs: number;
  private readonly log: Pick<Logger, 'info' | 'error'> | undefined;

  /** Loads the ring now; throws RING_INVALID if the file is bad (a service must not start without a ring). */
  constructor(
    readonly file: string,
    private readonly secret: HashSecret,
    opts: RingHolderOptions = {},
  ) {
    this.checkIntervalMs = opts.checkIntervalMs ?? 15000;
    this.log = opts.log;
    this.seen = stamp(file) ?? { mtimeMs: -1, size: -1, ino: -1 };
    this.current = Ring.loadSync(file, secret);
  }

  get ring(): Ring {
    return this.current;
  }

  /** Reloads when the file's mtime, size or inode changed and the new file validates. */
  reloadIfChanged(): boolean {
    const now = stamp(this.file);
    if (!now || sameStamp(now, this.seen)) return false;
    this.seen = now;
    try {
      this.current = Ring.loadSync(this.file, this.secret);
    } catch (e) {
      this.log?.error({ err: e, file: this.file }, 'new ring file is invalid; keeping the old ring');
      return false;
    }
    this.log?.info({ file: this.file, partPower: this.current.partPower, devices: this.current.allDevices().length }, 'ring reloaded');
    return true;
  }

  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => this.reloadIfChanged(), this.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

function stamp(file: string): FileStamp | undefined {
  try {
    const s = statSync(file);
    return { mtimeMs: s.mtimeMs, size: s.size, ino: s.ino };
  } catch {
    return undefined; // a missing file (mid-deploy) keeps the current ring
  }
}

function sameStamp(a: FileStamp, b: FileStamp): boolean {
  return a.mtimeMs === b.mtimeMs && a.size === b.size && a.ino === b.ino;
}
