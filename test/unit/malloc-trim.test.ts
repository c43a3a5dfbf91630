import t from 'tap';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { native } from '../../common/native.js';

/**
 * common/malloc-trim.ts in a process of its own: a heap left at its high-water mark (64 KiB
 * buffers freed between small ones that stay, so the heap cannot shrink from the top) goes back
 * to the kernel within a few checks with the trim on, and stays resident with it off.
 */
const trimModule = fileURLToPath(new URL('../../common/malloc-trim.js', import.meta.url));

function rssAfterBurst(intervalMs: number): { before: number; after: number; freeMiB: number } {
  const script = `
    import { startMallocTrim } from ${JSON.stringify(trimModule)};
    import { native } from ${JSON.stringify(fileURLToPath(new URL('../../common/native.js', import.meta.url)))};
    const keep = [];
    let burst = [];
    for (let i = 0; i < 2000; i++) { burst.push(Buffer.alloc(65536, 1)); keep.push(Buffer.alloc(200, 2)); }
    burst = null;
    globalThis.gc();
    await new Promise((r) => setTimeout(r, 50));
    const before = process.memoryUsage().rss;
    const freeMiB = native.mallocInfo()[2] / 1048576;
    startMallocTrim({ intervalMs: ${intervalMs} });
    // the timer is unref'd: keep the process up while the checks run
    await new Promise((r) => setTimeout(r, 600));
    console.log(JSON.stringify({ before, after: process.memoryUsage().rss, freeMiB, kept: keep.length }));
  `;
  const out = execFileSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8' });
  return JSON.parse(out) as { before: number; after: number; freeMiB: number };
}

t.test('a heap left at its high-water mark goes back to the kernel', { skip: native.mallocTrim ? false : 'no native module or not glibc: nothing to trim with' }, async (t) => {
  const MiB = 1024 * 1024;
  const on = rssAfterBurst(50);
  t.ok(on.freeMiB > 100, `the burst left ${on.freeMiB.toFixed(0)} MiB free in the C heap`);
  t.ok(on.before - on.after > 80 * MiB, `trim on: RSS ${(on.before / MiB).toFixed(0)} → ${(on.after / MiB).toFixed(0)} MiB`);
  const off = rssAfterBurst(0);
  t.ok(off.before - off.after < 20 * MiB, `trim off: RSS ${(off.before / MiB).toFixed(0)} → ${(off.after / MiB).toFixed(0)} MiB, the free memory still resident`);
});

t.test('nothing to do without the native module or with the interval at 0', async (t) => {
  const { startMallocTrim } = await import('../../common/malloc-trim.js');
  const stop = startMallocTrim({ intervalMs: 0 });
  t.type(stop, 'function');
  stop();
});
