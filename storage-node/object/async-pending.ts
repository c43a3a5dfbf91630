import { readdir, readFile, rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { SwiftletError } from '../../common/errors.js';
import type { Timestamp } from '../../common/timestamp.js';
import { errnoOf, writeFileDurable } from './fs-durable.js';
import { ASYNC_PENDING_DIR, suffixOf } from './layout.js';

/**
 * Container updates that could not be delivered, kept on the object's device until the updater
 * sends them: `<device>/async_pending/<suffix>/<hash>-<timestamp>`, JSON (docs/BACKEND.md).
 */
export interface ContainerUpdate {
  op: 'PUT' | 'DELETE';
  account: string;
  container: string;
  obj: string;
  /** Exactly the headers to send (X-Timestamp, X-Size, ..., X-Backend-Source, X-Account-*). */
  headers: Record<string, string>;
  /** host:port of the container server. */
  host: string;
  device: string;
  partition: number;
}

export interface AsyncPendingEntry {
  path: string;
  suffix: string;
  hash: string;
  /** The update's timestamp in internal form, as in the file name. */
  timestamp: string;
}

export function asyncPendingPath(devicePath: string, hash: string, timestamp: Timestamp): string {
  return join(devicePath, ASYNC_PENDING_DIR, suffixOf(hash), `${hash}-${timestamp.internal}`);
}

/** Saves an update durably (temp + fsync + rename + fsync dir). A later save for the same object and timestamp replaces it. */
export async function saveAsyncPending(devicePath: string, hash: string, timestamp: Timestamp, update: ContainerUpdate, fsync: boolean): Promise<string> {
  const dir = join(devicePath, ASYNC_PENDING_DIR, suffixOf(hash));
  const name = `${hash}-${timestamp.internal}`;
  await writeFileDurable(devicePath, dir, name, Buffer.from(JSON.stringify(update)), fsync);
  return join(dir, name);
}

const SUFFIX_RE = /^[0-9a-f]{3}$/;
const ENTRY_RE = /^([0-9a-f]{32})-(.+)$/;

/** Every pending update on a device, oldest suffix first; temp leftovers and foreign files are skipped. */
export async function listAsyncPendings(devicePath: string): Promise<AsyncPendingEntry[]> {
  const root = join(devicePath, ASYNC_PENDING_DIR);
  let suffixes: string[];
  try {
    suffixes = (await readdir(root)).filter((s) => SUFFIX_RE.test(s)).sort();
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return [];
    throw e;
  }
  const out: AsyncPendingEntry[] = [];
  for (const suffix of suffixes) {
    let names: string[];
    try {
      names = await readdir(join(root, suffix));
    } catch (e) {
      if (errnoOf(e) === 'ENOENT' || errnoOf(e) === 'ENOTDIR') continue;
      throw e;
    }
    for (const name of names.sort()) {
      const m = ENTRY_RE.exec(name);
      if (m) out.push({ path: join(root, suffix, name), suffix, hash: m[1] as string, timestamp: m[2] as string });
    }
  }
  return out;
}

/** Reads one pending update; throws CORRUPT when it is not one (the updater should quarantine or drop it). */
export async function loadAsyncPending(path: string): Promise<ContainerUpdate> {
  const raw = await readFile(path, 'utf8');
  let v: Partial<ContainerUpdate>;
  try {
    v = JSON.parse(raw) as Partial<ContainerUpdate>;
  } catch (e) {
    throw new SwiftletError('CORRUPT', `async pending ${path} is not JSON`, { cause: e });
  }
  if (
    (v.op !== 'PUT' && v.op !== 'DELETE') ||
    typeof v.account !== 'string' ||
    typeof v.container !== 'string' ||
    typeof v.obj !== 'string' ||
    typeof v.host !== 'string' ||
    typeof v.device !== 'string' ||
    typeof v.partition !== 'number' ||
    typeof v.headers !== 'object' ||
    v.headers === null
  ) {
    throw new SwiftletError('CORRUPT', `async pending ${path} is malformed`);
  }
  return v as ContainerUpdate;
}

/** Removes a delivered update, and its suffix folder once empty. */
export async function removeAsyncPending(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (e) {
    if (errnoOf(e) !== 'ENOENT') throw e;
  }
  await rmdir(join(path, '..')).catch(() => undefined); // fails while not empty: fine
}
