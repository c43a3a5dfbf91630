import { basename } from 'node:path';
import { getHeapSpaceStatistics } from 'node:v8';
import { native } from '../common/native.js';

/**
 * `GET /recon/memory`: where a storage node's memory is, so an operator (and the bench's memory
 * soak) can tell a leak from a cache or heap filling up to its bound. RSS alone cannot: V8's
 * young generation, LevelDB's block cache and memtables all grow for minutes before they level off.
 */
export interface MemoryReport {
  /** process.memoryUsage(), bytes. */
  rss: number;
  heapTotal: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  /** V8's heap spaces (new_space, old_space, …): bytes backed by memory, bytes in use. */
  v8Spaces: Record<string, { physical: number; used: number }>;
  /** LevelDB memtables + block cache, bytes, per device with an open database (part of the C heap). */
  levelDb: Record<string, number>;
  /**
   * glibc's view of the C heap (mallinfo2), bytes: its size, what is allocated (Buffers, LevelDB,
   * V8's own bookkeeping, …), what is free and kept for reuse, and big blocks mapped on their own.
   * Null without the native module or off glibc.
   */
  malloc: { heapBytes: number; inUseBytes: number; freeBytes: number; mmappedBytes: number } | null;
}

export async function memoryReport(levelDbByPath: () => Promise<Record<string, number>>): Promise<MemoryReport> {
  const { rss, heapTotal, heapUsed, external, arrayBuffers } = process.memoryUsage();
  const v8Spaces: MemoryReport['v8Spaces'] = {};
  for (const s of getHeapSpaceStatistics()) v8Spaces[s.space_name] = { physical: s.physical_space_size, used: s.space_used_size };
  const levelDb: Record<string, number> = {};
  for (const [path, bytes] of Object.entries(await levelDbByPath())) levelDb[basename(path)] = bytes;
  const m = native.mallocInfo?.();
  const malloc = m ? { heapBytes: m[0], inUseBytes: m[1], freeBytes: m[2], mmappedBytes: m[3] } : null;
  return { rss, heapTotal, heapUsed, external, arrayBuffers, v8Spaces, levelDb, malloc };
}
