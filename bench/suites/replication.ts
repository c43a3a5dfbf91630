import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { request } from 'undici';
import { BenchUsageError, formatSize, parseCount, parseList, parseSize } from '../args.js';
import { agent, encodePath, ensureContainer, v1Auth, type Endpoint } from '../endpoint.js';
import { machineAtEnd, machineInfo, machineMarkdown, resultsDir, writeResultFiles } from '../machine.js';
import { Progress } from '../progress.js';
import { svgBarChart } from '../report.js';
import { fmt, ratio } from '../stats.js';
import { isRoot, mountXfs, REPO_ROOT, startSwift, startSwiftlet, type RunningSystem } from '../systems.js';
import type { SuiteContext, SuiteOutcome } from './objects.js';

const execFileP = promisify(execFile);

/**
 * Time to restore full replication after a device is wiped, Swiftlet next to Swift. Each
 * all-in-one in turn (1 proxy + 4 nodes, 3 replicas, data on its own loop-mounted XFS image) gets
 * the same N objects through the API; then node 1's device is emptied while the servers are down
 * (a replaced disk) and they start again; then every node's replicators run pass after pass, all
 * nodes at once, until the wiped device holds every object it held before:
 *   Swiftlet  `swiftlet replicator --config nodeN.json --once` (objects, containers, accounts)
 *   Swift     its object, container and account replicators' `once` (bench/scripts/swift-aio.sh
 *             replicate), syncing with rsync as Swift ships (an rsync daemon with a module per server)
 * Timed: those passes, wall clock, process starts included. Counted: the .data files on the
 * wiped device (both systems lay objects out as objects/<part>/<suffix>/<hash>/<timestamp>.data).
 */
export async function countDataFiles(deviceDir: string): Promise<number> {
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

/** One system as this suite drives it. */
interface Subject {
  system: RunningSystem;
  /** The device that is wiped: node 1's. */
  deviceDir: string;
  wipe(): Promise<void>;
  /** One pass of every node's replicators, all at once. */
  pass(): Promise<void>;
  stop(): Promise<void>;
}

async function swiftletSubject(workDir: string, progress: Progress): Promise<Subject> {
  const bin = join(REPO_ROOT, 'dist', 'bin', 'swiftlet.js');
  const data = join(workDir, 'swiftlet', 'data');
  let system = await startSwiftlet({ workDir, xfs: true, daemons: false, progress });
  const deviceDir = join(data, 'node1', 'd1');
  return {
    get system() {
      return system;
    },
    deviceDir,
    async wipe() {
      await system.stop(); // unmounts the image: mount it again to empty the device
      await mountXfs(join(workDir, 'swiftlet', 'xfs.img'), data);
      for (const entry of readdirSync(deviceDir)) rmSync(join(deviceDir, entry), { recursive: true, force: true });
      system = await startSwiftlet({ workDir, xfs: true, daemons: false, progress });
    },
    async pass() {
      const configs = readdirSync(join(data, 'etc'))
        .filter((f) => /^node\d+\.json$/.test(f))
        .map((f) => join(data, 'etc', f));
      // a pass with failures exits non-zero; the count on the device says whether it got there
      await Promise.all(configs.map((cfg) => execFileP(process.execPath, [bin, 'replicator', '--config', cfg, '--once'], { maxBuffer: 64 * 1024 * 1024 }).catch(() => undefined)));
    },
    stop: () => system.stop(),
  };
}

async function swiftSubject(workDir: string, progress: Progress): Promise<Subject> {
  const system = await startSwift({ workDir, keep: false, progress });
  const script = join(REPO_ROOT, 'bench', 'scripts', 'swift-aio.sh');
  const dir = system.dir as string;
  return {
    system,
    deviceDir: join(dir, 'mnt', 'node1', 'd1'),
    async wipe() {
      await execFileP('bash', [script, 'wipe', dir, '1']);
    },
    async pass() {
      await execFileP('bash', [script, 'replicate', dir], { maxBuffer: 64 * 1024 * 1024 }).catch(() => undefined);
    },
    stop: () => system.stop(),
  };
}

async function fill(ep: Endpoint, container: string, objects: number, size: number, concurrency: number, progress: Progress): Promise<number> {
  await ensureContainer(ep, container);
  const body = Buffer.alloc(size, 7);
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < objects) {
        const i = next++;
        const res = await request(`${ep.storageUrl}/${container}/${encodePath(`obj-${i}`)}`, { method: 'PUT', headers: { 'x-auth-token': ep.token }, body, dispatcher: agent });
        await res.body.dump();
        if (res.statusCode !== 201) throw new Error(`${ep.name}: fill PUT ${i}: ${res.statusCode}`);
        if (i % 200 === 0) progress.tick(`${ep.name}: filled ${i}/${objects}`);
      }
    }),
  );
  return (performance.now() - t0) / 1000;
}

export interface RestoreResult {
  system: string;
  fillSeconds: number;
  /** Objects on the wiped device before the wipe: what has to come back. */
  expected: number;
  restored: number;
  seconds: number;
  passes: Array<{ seconds: number; restored: number }>;
}

async function measure(subject: Subject, objects: number, size: number, concurrency: number, maxPasses: number, progress: Progress): Promise<RestoreResult> {
  const name = subject.system.name;
  const ep = await v1Auth(name, subject.system.authUrl, subject.system.user, subject.system.key);
  const fillSeconds = await fill(ep, 'repl', objects, size, concurrency, progress);
  progress.line(`${name}: filled ${objects} × ${formatSize(size)} in ${fmt(fillSeconds)} s`);
  const expected = await countDataFiles(subject.deviceDir);
  await subject.wipe();
  progress.line(`${name}: wiped ${subject.deviceDir} (it held ${expected} objects); servers up again`);
  const passes: RestoreResult['passes'] = [];
  let restored = 0;
  const start = performance.now();
  while (passes.length < maxPasses) {
    const p0 = performance.now();
    await subject.pass();
    restored = await countDataFiles(subject.deviceDir);
    passes.push({ seconds: (performance.now() - p0) / 1000, restored });
    progress.line(`${name}: pass ${passes.length} (${fmt(passes[passes.length - 1].seconds)} s): ${restored}/${expected} objects back on the wiped device`);
    if (restored >= expected) break;
  }
  return { system: name, fillSeconds, expected, restored, seconds: (performance.now() - start) / 1000, passes };
}

const SYSTEMS = ['swiftlet', 'swift'] as const;

export async function replicationSuite(ctx: SuiteContext): Promise<SuiteOutcome> {
  const o = ctx.options;
  const objects = parseCount(o.get('objects') ?? '2000', '--objects');
  const size = parseSize(o.get('size') ?? '64k');
  const concurrency = parseCount(o.get('fill-concurrency') ?? '16', '--fill-concurrency');
  const maxPasses = parseCount(o.get('max-passes') ?? '10', '--max-passes');
  const systems = parseList(o.get('systems') ?? SYSTEMS.join(','), (s) => s.toLowerCase());
  for (const s of systems) if (!(SYSTEMS as readonly string[]).includes(s)) throw new BenchUsageError(`--systems: ${JSON.stringify(s)} is not one of ${SYSTEMS.join(', ')}`);
  if (!isRoot()) throw new Error('the replication suite needs root: each system\'s data goes on a loop-mounted XFS image');
  const progress = new Progress();
  const m0 = machineInfo();
  const workDir = o.get('work-dir') ?? mkdtempSync(join(tmpdir(), 'swiftlet-bench-repl-'));
  const results: RestoreResult[] = [];
  let failure: string | undefined;
  try {
    for (const s of systems) {
      const subject = s === 'swiftlet' ? await swiftletSubject(workDir, progress) : await swiftSubject(workDir, progress);
      try {
        results.push(await measure(subject, objects, size, concurrency, maxPasses, progress));
      } finally {
        await subject.stop().catch((e) => progress.line(`stopping ${subject.system.name}: ${String(e)}`));
      }
    }
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
    progress.line(`run stopped: ${failure}`);
  } finally {
    if (!o.get('work-dir')) rmSync(workDir, { recursive: true, force: true });
  }
  const m = machineAtEnd(m0);
  const row = (r: RestoreResult): string =>
    `| ${r.system} | ${objects} | ${formatSize(size)} | ${r.expected} | ${r.passes.length} | ${fmt(r.seconds)} | ${fmt(r.restored / r.seconds)} | ${fmt((r.restored * size) / 1e6 / r.seconds)} | ${r.restored >= r.expected ? 'yes' : `**no** (${r.restored})`} |`;
  const a = results.find((r) => r.system === 'Swiftlet');
  const b = results.find((r) => r.system === 'Swift');
  const ratioRow = a && b ? `| Swiftlet/Swift | | | | | **${fmt(ratio(a.seconds, b.seconds))}×** | **${fmt(ratio(a.restored / a.seconds, b.restored / b.seconds))}×** | | |` : '';
  const table = [
    '| system | objects in cluster | object size | on the wiped device | passes | time to full replication s | objects/s restored | MB/s restored | complete |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---|',
    ...results.map(row),
    ...(ratioRow ? [ratioRow] : []),
  ].join('\n');
  const passLines = results.map((r) => `- ${r.system}: filled in ${fmt(r.fillSeconds)} s; passes ${r.passes.map((p, i) => `#${i + 1} ${fmt(p.seconds)} s → ${p.restored}`).join('; ')}`).join('\n');
  const md = [
    '# Time to full replication after wiping one device',
    '',
    machineMarkdown(m),
    '- each system alone, one after the other: 1 proxy + 4 storage nodes, 3 replicas, part power 10, data on its own loop-mounted XFS image; the same objects PUT through the API; node 1\'s device emptied while the servers are down, then the servers started again',
    '- a pass: every node\'s replicators at once, process start included (Swiftlet: `swiftlet replicator --once`, objects, containers and accounts; Swift: `swift-object-replicator`, `swift-container-replicator` and `swift-account-replicator` with `once`, rsync through an rsync daemon); passes until the wiped device holds every object it held before',
    `- command: \`${ctx.command}\``,
    '',
    failure ? `**The run stopped early:** ${failure}.\n` : '',
    'Below 1 for the time means Swiftlet restores faster.',
    '',
    table,
    '',
    passLines,
    '',
  ].join('\n');
  const dir = resultsDir(ctx.outRoot, 'replication');
  writeResultFiles(dir, {
    'results.json': JSON.stringify({ suite: 'replication', command: ctx.command, failure: failure ?? null, machine: m, objects, size, results }, null, 2) + '\n',
    'results.md': md,
    'chart.svg': svgBarChart(
      `Time to full replication after wiping one device (${objects} × ${formatSize(size)}; lower is better)`,
      results.map((r) => r.system),
      [{ title: 'restore', unit: 's', rows: [{ label: 'wiped device', values: results.map((r) => r.seconds), note: a && b ? `${fmt(ratio(a.seconds, b.seconds))}×` : '' }] }],
      a && b ? 'Swiftlet/Swift' : '',
    ),
  });
  process.stdout.write(`\n${table}\n\n${passLines}\n\nwrote ${dir}/{results.json,results.md,chart.svg}\n`);
  const complete = results.length === systems.length && results.every((r) => r.restored >= r.expected);
  return { code: failure || !complete ? 1 : 0, dir };
}
