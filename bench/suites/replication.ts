import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { request } from 'undici';
import { parseCount, parseSize, formatSize } from '../args.js';
import { agent, ensureContainer, encodePath, v1Auth } from '../endpoint.js';
import { machineInfo, machineMarkdown, resultsDir, writeResultFiles } from '../machine.js';
import { Progress } from '../progress.js';
import { fmt } from '../stats.js';
import { REPO_ROOT, startSwiftlet } from '../systems.js';
import type { SuiteContext, SuiteOutcome } from './objects.js';

const execFileP = promisify(execFile);

/**
 * Time to restore full replication after a device is wiped: fill Swiftlet's all-in-one with N
 * objects, stop it, empty one device (as a replaced disk would be), start it again, then run every
 * node's replicator (`swiftlet replicator --once`, all nodes at once) pass after pass until the
 * wiped device holds every object it is a primary for. Reported: the wall time of those passes,
 * how many were needed, and objects/s and MB/s restored.
 */
async function countDataFiles(deviceDir: string): Promise<number> {
  let n = 0;
  const objects = join(deviceDir, 'objects');
  for (const part of await readdir(objects).catch(() => [] as string[])) {
    for (const suffix of await readdir(join(objects, part)).catch(() => [] as string[])) {
      if (suffix.length !== 3) continue;
      for (const hash of await readdir(join(objects, part, suffix)).catch(() => [] as string[])) {
        const files = await readdir(join(objects, part, suffix, hash)).catch(() => [] as string[]);
        if (files.some((f) => f.endsWith('.data'))) n++;
      }
    }
  }
  return n;
}

export async function replicationSuite(ctx: SuiteContext): Promise<SuiteOutcome> {
  const o = ctx.options;
  const objects = parseCount(o.get('objects') ?? '2000', '--objects');
  const size = parseSize(o.get('size') ?? '64k');
  const concurrency = parseCount(o.get('fill-concurrency') ?? '16', '--fill-concurrency');
  const maxPasses = parseCount(o.get('max-passes') ?? '10', '--max-passes');
  const progress = new Progress();
  const workDir = o.get('work-dir') ?? mkdtempSync(join(tmpdir(), 'swiftlet-bench-repl-'));
  const bin = join(REPO_ROOT, 'dist', 'bin', 'swiftlet.js');
  let sys = await startSwiftlet({ workDir, xfs: false, daemons: false, progress });
  const data = join(workDir, 'swiftlet', 'data');
  try {
    const ep = await v1Auth('Swiftlet', sys.authUrl, sys.user, sys.key);
    await ensureContainer(ep, 'repl');
    const body = Buffer.alloc(size, 7);
    let next = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < objects) {
          const i = next++;
          const res = await request(`${ep.storageUrl}/repl/${encodePath(`obj-${i}`)}`, { method: 'PUT', headers: { 'x-auth-token': ep.token }, body, dispatcher: agent });
          await res.body.dump();
          if (res.statusCode !== 201) throw new Error(`fill PUT ${i}: ${res.statusCode}`);
          if (i % 200 === 0) progress.tick(`filled ${i}/${objects}`);
        }
      }),
    );
    progress.line(`filled ${objects} × ${formatSize(size)} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    await sys.stop();

    // The replaced disk: node1's device, emptied.
    const device = join(data, 'node1', 'd1');
    const expected = await countDataFiles(device);
    for (const entry of readdirSync(device)) rmSync(join(device, entry), { recursive: true, force: true });
    progress.line(`wiped ${device} (it held ${expected} objects)`);
    sys = await startSwiftlet({ workDir, xfs: false, daemons: false, progress });
    const nodeConfigs = readdirSync(join(data, 'etc'))
      .filter((f) => /^node\d+\.json$/.test(f))
      .map((f) => join(data, 'etc', f));

    const start = performance.now();
    const passes: Array<{ seconds: number; restored: number }> = [];
    let restored = 0;
    while (passes.length < maxPasses) {
      const p0 = performance.now();
      await Promise.all(nodeConfigs.map((cfg) => execFileP(process.execPath, [bin, 'replicator', '--config', cfg, '--once'], { maxBuffer: 64 * 1024 * 1024 }).catch(() => undefined)));
      restored = await countDataFiles(device);
      passes.push({ seconds: (performance.now() - p0) / 1000, restored });
      progress.line(`pass ${passes.length}: ${restored}/${expected} objects back on the wiped device`);
      if (restored >= expected) break;
    }
    const seconds = (performance.now() - start) / 1000;
    const full = restored >= expected;
    const m = machineInfo();
    const md = [
      `# Time to full replication after wiping one device`,
      ``,
      `Command: \`${ctx.command}\``,
      ``,
      `| objects in cluster | object size | on the wiped device | passes | time to full replication s | objects/s restored | MB/s restored | complete |`,
      `|---:|---:|---:|---:|---:|---:|---:|---|`,
      `| ${objects} | ${formatSize(size)} | ${expected} | ${passes.length} | ${fmt(seconds)} | ${fmt(restored / seconds)} | ${fmt((restored * size) / 1e6 / seconds)} | ${full ? 'yes' : `no (${restored})`} |`,
      ``,
      `Passes: ${passes.map((p, i) => `#${i + 1} ${fmt(p.seconds)} s → ${p.restored}`).join('; ')}. Each pass runs \`swiftlet replicator --once\` on all 4 nodes at once (process start included).`,
      ``,
      machineMarkdown(m),
    ].join('\n');
    const dir = resultsDir(ctx.outRoot, 'replication');
    writeResultFiles(dir, {
      'results.json': JSON.stringify({ suite: 'replication', command: ctx.command, machine: m, objects, size, expected, restored, seconds, passes }, null, 2),
      'results.md': md + '\n',
    });
    process.stdout.write(md + '\n');
    progress.line(`results in ${dir}`);
    return { code: full ? 0 : 1, dir };
  } finally {
    await sys.stop().catch(() => undefined);
    if (!o.get('work-dir')) rmSync(workDir, { recursive: true, force: true });
  }
}
