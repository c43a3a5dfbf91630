import { getHeapSpaceStatistics } from 'node:v8';

/**
 * Makes every page of V8's young generation resident once, as a server starts, so its RSS is at
 * its working size from the first request instead of creeping up to it.
 *
 * The servers run with a fixed 64 MiB per semi-space (bin/aio.ts), but V8 scavenges well before a
 * semi-space is full (a task at 80 %, and pressure from the Buffers that request bodies are), so
 * under load a fifth or so of its pages stayed untouched for minutes, until some busy moment
 * filled further; each such moment raised RSS by a few MiB for good, and the memory soak saw
 * storage nodes "grow" by up to ~20 MiB over ten minutes (bench/RESULTS.md). Short-lived objects
 * allocated in a loop, with nothing else running, fill the active semi-space before each
 * scavenge: three scavenges have filled both (~170 ms at 2 × 64 MiB). They stay resident while the
 * minimum size equals the maximum and page promotion is off (bin/aio.ts says why).
 *
 * Returns the number of scavenges seen.
 */
export function touchYoungGeneration(maxScavenges = 3): number {
  const used = (): number => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_used_size ?? 0;
  // stored into a ring that outlives the loop, so the compiler cannot drop the allocations
  const ring: unknown[] = new Array(1024);
  let scavenges = 0;
  let last = used();
  // at most ~2 GiB of objects, whatever happens
  for (let round = 0; round < 4096 && scavenges < maxScavenges; round++) {
    for (let i = 0; i < 16384; i++) ring[i & 1023] = { i };
    const now = used();
    if (now < last) scavenges++;
    last = now;
  }
  return scavenges;
}
