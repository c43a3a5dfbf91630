import { closeSync, openSync } from 'node:fs';
import { release } from 'node:os';
import { native } from '../common/native.js';

/** syncfs calls made and sync() calls answered by them, in this process (for tests and benchmarks). */
export const groupSyncStats = { syncs: 0, waits: 0 };

/**
 * Group commit for a device's small durable writes: instead of one fdatasync (and directory
 * fsync) per file, every write waiting at the time shares one syncfs(2) of the device's
 * filesystem. On this machine's disk 12 concurrent durable 4 KiB creates made 1.8 disk flushes
 * each with per-file syncs and 0.55 with the shared syncfs, at 2–4x the rate and half the CPU.
 *
 * A write's sync() resolves once a syncfs that started after the call has completed: the one in
 * flight when it is called may have started before its write, so it waits for the next, which
 * covers everyone who asked meanwhile. syncfs flushes the whole filesystem (the file's data, its
 * directory entries, the parents just made), so it is at least what fdatasync + fsync(dir) give.
 *
 * Errors: syncfs reports a writeback error of the filesystem once per open descriptor, for errors
 * after that descriptor was opened (Linux 5.8 on; older kernels report none, so group commit is
 * off there). A writer therefore enters before its first write and leaves after its last sync:
 * the device's descriptor is open from before any write it covers, and closed when no writer is
 * left (a held descriptor would keep the disk from being unmounted).
 */
export class GroupSync {
  private fd: number | undefined;
  private writers = 0;
  private inFlight: Promise<void> | undefined;
  private next: Promise<void> | undefined;

  constructor(
    private readonly devicePath: string,
    private readonly syncfs: (fd: number) => Promise<void>,
  ) {}

  /** Before a writer's first write. Throws if the device folder cannot be opened. */
  enter(): void {
    if (this.fd === undefined) this.fd = openSync(this.devicePath, 'r');
    this.writers++;
  }

  /** After a writer's last sync (or its failure). */
  leave(): void {
    this.writers--;
    this.closeIfIdle();
  }

  /** Resolves once everything written before the call is on stable storage. Only between enter() and leave(). */
  sync(): Promise<void> {
    groupSyncStats.waits++;
    if (!this.inFlight) return this.start();
    this.next ??= this.inFlight.then(
      () => this.afterInFlight(),
      () => this.afterInFlight(),
    );
    return this.next;
  }

  /** The next syncfs, for everyone who asked while the previous one ran. */
  private afterInFlight(): Promise<void> {
    this.next = undefined;
    return this.start();
  }

  private start(): Promise<void> {
    groupSyncStats.syncs++;
    const p = this.syncfs(this.fd as number).finally(() => {
      if (this.inFlight === p) this.inFlight = undefined;
      this.closeIfIdle();
    });
    this.inFlight = p;
    return p;
  }

  private closeIfIdle(): void {
    if (this.writers > 0 || this.inFlight || this.next || this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Whether this kernel's syncfs reports writeback errors (Linux 5.8 and later). */
export function syncfsReportsErrors(kernelRelease: string): boolean {
  const m = /^(\d+)\.(\d+)/.exec(kernelRelease);
  if (!m) return false;
  const major = Number(m[1]);
  return major > 5 || (major === 5 && Number(m[2]) >= 8);
}

const byDevice = new Map<string, GroupSync>();
const available = native.syncfs !== undefined && process.env.SWIFTLET_GROUP_SYNC !== 'off' && process.platform === 'linux' && syncfsReportsErrors(release());

/** The device's group commit, or undefined where it is off (no native module, old kernel, SWIFTLET_GROUP_SYNC=off). */
export function groupSyncOf(devicePath: string): GroupSync | undefined {
  if (!available) return undefined;
  let g = byDevice.get(devicePath);
  if (!g) byDevice.set(devicePath, (g = new GroupSync(devicePath, native.syncfs as (fd: number) => Promise<void>)));
  return g;
}
