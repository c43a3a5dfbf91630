import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, closeSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { formatSize } from '../args.js';
import { SWIFT_PYTHON } from '../direct-fill.js';
import { encodePath, ensureContainer, simple, v1Auth, type Endpoint } from '../endpoint.js';
import { clockTicks, findProcesses, summarizeCpu, swiftLabel, swiftletLabel, TreeSampler, type CpuSample, type CpuSummary } from '../idle-cpu.js';
import { fillSwiftletIdle, writePlanFiles } from '../idle-fill.js';
import { containerName, defaultPlan, planTotals, type IdlePlanOptions, type PlanTotals } from '../idle-plan.js';
import { idleMarkdown, idleOptions, sideBySideTable, type IdleOptions, type IdleRun } from '../idle-report.js';
import { machineAtEnd, machineInfo, machineMarkdown, resultsDir, writeResultFiles } from '../machine.js';
import { Progress } from '../progress.js';
import { fmt } from '../stats.js';
import { isRoot, mountXfs, REPO_ROOT, startSwift, startSwiftlet, type RunningSystem } from '../systems.js';
import { authRetry, type SuiteContext, type SuiteOutcome } from './objects.js';

/**
 * `idle`: what each system's background daemons cost when nothing changes. Each all-in-one in
 * turn (1 proxy + 4 storage nodes, 3 replicas, part power 10, its own sparse XFS image) gets the
 * same N objects written straight to disk the way PUTs (and DELETEs) leave them
 * (bench/idle-plan.ts; Swiftlet bench/idle-fill.ts, Swift bench/scripts/swift-fill-objects.py),
 * then its daemons start; once each has finished its first pass (the auditor aside: it is rate
 * limited by design), the CPU of every daemon process of every node is sampled from /proc for M
 * minutes with no client traffic (bench/idle-cpu.ts).
 */

const SCRIPTS = join(REPO_ROOT, 'bench', 'scripts');
/** Swiftlet's daemons whose first pass is waited for (the auditor's runs at its configured rate). */
const SWIFTLET_FIRST_PASS = ['object-replicator', 'db-replicator', 'updater', 'expirer'];
const SWIFT_NODE_DAEMONS: Array<{ daemon: string; kind: 'object' | 'container' | 'account' }> = [
  { daemon: 'object-replicator', kind: 'object' },
  { daemon: 'object-updater', kind: 'object' },
  { daemon: 'object-auditor', kind: 'object' },
  { daemon: 'container-replicator', kind: 'container' },
  { daemon: 'container-updater', kind: 'container' },
  { daemon: 'account-replicator', kind: 'account' },
];
/** Swift's recon keys written at the end of each daemon's pass: file → keys. */
const SWIFT_FIRST_PASS: Record<string, string[]> = {
  'object.recon': ['replication_last', 'object_updater_sweep'],
  'container.recon': ['replication_last', 'container_updater_sweep'],
  'account.recon': ['replication_last'],
};

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function accountOf(ep: Endpoint): string {
  return decodeURIComponent(new URL(ep.storageUrl).pathname.split('/').pop() ?? '');
}

/** Through the API: the account holds the plan's live objects and bytes. */
async function verifyAccount(ep: Endpoint, t: PlanTotals): Promise<string> {
  const want = t.live + t.expiring;
  let got = '';
  for (let i = 0; i < 30; i++) {
    const h = await simple(ep, 'HEAD', '');
    const count = Number(h.headers['x-account-object-count']);
    const bytes = Number(h.headers['x-account-bytes-used']);
    got = `${count} objects, ${bytes} bytes`;
    if (count === want && bytes === t.bytes) {
      const c0 = await simple(ep, 'GET', `/${encodePath(containerName(0))}?format=json&limit=2`);
      if (c0.status !== 200) throw new Error(`${ep.name}: listing ${containerName(0)} → ${c0.status}`);
      return got;
    }
    await sleep(1000);
  }
  throw new Error(`${ep.name}: after the fill the account reports ${got}; want ${want} objects, ${t.bytes} bytes`);
}

interface Measured {
  firstPass: IdleRun['firstPass'];
  steady: CpuSummary;
  samples: CpuSample[];
}

/**
 * Samples the daemon trees from their start: until `firstPassDone()` (or the cap), then for
 * `minutes` more. The first pass and the steady state are summarized apart.
 */
async function measure(
  name: string,
  roots: () => number[],
  labeler: (argv: string[]) => { node: string; daemon: string } | undefined,
  firstPassDone: () => { done: boolean; note: string },
  o: IdleOptions,
  progress: Progress,
): Promise<Measured> {
  const clk = clockTicks();
  const sampler = new TreeSampler(roots, labeler, o.windowMs);
  const t0 = performance.now();
  let fp = firstPassDone();
  while (!fp.done && performance.now() - t0 < o.firstPassMaxMs) {
    await sleep(2000);
    fp = firstPassDone();
    progress.tick(`${name}: first pass ${((performance.now() - t0) / 1000).toFixed(0)} s: ${fp.note}`);
  }
  const firstSeconds = (performance.now() - t0) / 1000;
  sampler.sample(); // the boundary
  const cut = sampler.samples.length - 1;
  const first = summarizeCpu(sampler.samples.slice(0, cut + 1), clk);
  progress.line(`${name}: first pass ${fp.done ? 'done' : 'cut short'} after ${fmt(firstSeconds)} s, daemons' CPU ${fmt(first.total.cpuSeconds)} s (${fp.note}); sampling ${o.minutes} min`);
  const end = performance.now() + o.minutes * 60_000;
  while (performance.now() < end) {
    await sleep(Math.min(5000, end - performance.now()));
    const s = summarizeCpu(sampler.samples.slice(cut), clk);
    progress.tick(`${name}: steady ${fmt(s.spanSeconds)} s, daemons ${fmt(s.total.meanPct)} % of a core`);
  }
  const samples = sampler.stop();
  const steady = summarizeCpu(samples.slice(cut), clk);
  progress.line(`${name}: steady state ${fmt(steady.spanSeconds)} s: daemons ${fmt(steady.total.meanPct)} % of a core (${[...steady.perNode].map(([n, f]) => `${n} ${fmt(f.meanPct)}`).join(', ')})`);
  return { firstPass: { seconds: firstSeconds, complete: fp.done, cpu: first, note: fp.note }, steady, samples };
}

// ---- Swiftlet ----

/** `swiftlet expirer --requeue` on every node of the aio in `data`: how many rows each put. */
async function requeueExpiring(data: string): Promise<string> {
  const etc = join(data, 'etc');
  const configs = readdirSync(etc).filter((f) => /^node\d+\.json$/.test(f)).sort();
  const counts = await Promise.all(
    configs.map(
      (f) =>
        new Promise<string>((res, rej) => {
          execFile(process.execPath, [join(REPO_ROOT, 'dist', 'bin', 'swiftlet.js'), 'expirer', '--requeue', '--config', join(etc, f)], { maxBuffer: 1 << 20 }, (err, stdout) => {
            if (err) return rej(new Error(`expirer --requeue (${f}): ${err.message}`));
            const report = JSON.parse(stdout.trim().split('\n').pop() as string) as { counts: Record<string, number> };
            res(`${f.replace('.json', '')} ${report.counts.requeued ?? 0}`);
          });
        }),
    ),
  );
  return counts.join(', ');
}

/** Fills a fresh Swiftlet aio on the XFS image mounted at `data`, puts the queue rows, stops it (unmounted). */
async function fillSwiftlet(workDir: string, data: string, plan: IdlePlanOptions, totals: PlanTotals, progress: Progress): Promise<IdleRun['fill']> {
  const sys = await startSwiftlet({ workDir, xfs: true, daemons: false, progress });
  let fill: IdleRun['fill'] | undefined;
  try {
    const ep = await authRetry(sys, 60);
    for (let k = 0; k < plan.containers; k++) await ensureContainer(ep, containerName(k));
    progress.line(`Swiftlet: writing ${plan.n} objects on their primaries (storage node's disk writer, in process)`);
    const t0 = performance.now();
    const r = await fillSwiftletIdle({
      dataDir: data,
      account: accountOf(ep),
      plan,
      afterRows: async () => {
        for (let k = 0; k < plan.containers; k++) await ensureContainer(ep, containerName(k));
      },
      onProgress: (done) => progress.tick(`Swiftlet fill ${done} / ${plan.n} objects, ${((performance.now() - t0) / 1000).toFixed(0)} s`) });
    const got = await verifyAccount(ep, totals);
    // The fill writes objects, not the expiring-objects queue rows a PUT with X-Delete-At leaves
    // (Swift's fill writes them): the supported upgrade path puts them there, outside the timing.
    const requeued = await requeueExpiring(data);
    progress.line(`Swiftlet: expirer queue rows put by \`swiftlet expirer --requeue\` on each node: ${requeued}`);
    fill = {
      seconds: r.seconds,
      files: r.files,
      detail: `${r.files} replica files in ${fmt(r.objectSeconds)} s (${fmt(r.files / r.objectSeconds)} files/s; DataFileWriter/writeTombstone + finishWrite, fsync off, one syncfs: ${fmt(r.syncSeconds)} s), listing rows by \`merge\` (${fmt(r.rowSeconds)} s of merge calls, overlapping), account stats by a container PUT through the API (${fmt(r.accountSeconds)} s); account then reports ${got}`,
    };
    progress.line(`Swiftlet fill: ${fill.detail}`);
  } finally {
    await sys.stop(); // unmounts: the daemons start on a cold page cache, as after a reboot
  }
  if (!fill) throw new Error('Swiftlet fill did not finish');
  return fill;
}

function readFillMarker(path: string, objects: number): IdleRun['fill'] | undefined {
  if (!existsSync(path)) return undefined;
  const m = JSON.parse(readFileSync(path, 'utf8')) as { objects: number; fill: IdleRun['fill'] };
  return m.objects === objects ? m.fill : undefined;
}

async function runSwiftlet(o: IdleOptions, plan: IdlePlanOptions, totals: PlanTotals, workDir: string, progress: Progress): Promise<IdleRun> {
  const base = join(workDir, 'swiftlet');
  const data = join(base, 'data');
  mkdirSync(base, { recursive: true });
  await mountXfs(join(base, 'xfs.img'), data, o.imageSize); // startSwiftlet finds it mounted
  // A kept work dir (--work-dir) holds a filled image and its marker: reuse it (a 1,000,000-object
  // fill and requeue take most of an hour on a loaded machine).
  const marker = join(base, 'fill.json');
  let fill = readFillMarker(marker, plan.n);
  if (fill) progress.line(`Swiftlet: reusing the fill in ${data} (${fill.detail})`);
  else fill = await fillSwiftlet(workDir, data, plan, totals, progress);
  // Once the daemons have run on it, a reused image is no longer "as the fill left it": say so.
  const ran = ' (reused: the daemons had run on it)';
  writeFileSync(marker, JSON.stringify({ objects: plan.n, fill: { ...fill, detail: fill.detail.endsWith(ran) ? fill.detail : fill.detail + ran } }) + '\n');
  // aio starts the daemons before it prints that it is ready: their first reports start before it
  const started = Date.now();
  const sys = await startSwiftlet({ workDir, xfs: true, daemons: true, progress });
  try {
    const etc = join(data, 'etc');
    const nodeRoots = readdirSync(etc)
      .filter((f) => /^node\d+\.json$/.test(f))
      .map((f) => ({ node: f.replace(/\.json$/, ''), cfg: JSON.parse(readFileSync(join(etc, f), 'utf8')) as { devices: string; auditor_bytes_per_s?: number; auditor_files_per_s?: number } }));
    const reportsOf = (devices: string): Array<{ daemon: string; startedAt: number; durationMs: number; counts: Record<string, number> }> => {
      const dir = join(devices, '.swiftlet-status');
      if (!existsSync(dir)) return [];
      return readdirSync(dir)
        .filter((f) => f.endsWith('.json') && !f.startsWith('.'))
        .flatMap((f) => {
          try {
            return [JSON.parse(readFileSync(join(dir, f), 'utf8')) as { daemon: string; startedAt: number; durationMs: number; counts: Record<string, number> }];
          } catch {
            return [];
          }
        })
        .filter((r) => r.startedAt >= started - 1000);
    };
    const firstPassDone = (): { done: boolean; note: string } => {
      const missing: string[] = [];
      for (const n of nodeRoots) {
        const have = new Set(reportsOf(n.cfg.devices).map((r) => r.daemon));
        for (const d of SWIFTLET_FIRST_PASS) if (!have.has(d)) missing.push(`${n.node}/${d}`);
      }
      return { done: missing.length === 0, note: missing.length ? `waiting for ${missing.length}: ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? '…' : ''}` : `${SWIFTLET_FIRST_PASS.join(', ')} passed on every node` };
    };
    const roots = (): number[] => findProcesses((argv) => argv.some((a) => a.startsWith(etc)) && swiftletLabel(argv) !== undefined && !argv.includes('storage-node') && !argv.includes('proxy'));
    progress.line(`Swiftlet: daemons started (${roots().length} processes); waiting for their first pass`);
    const m = await measure('Swiftlet', roots, swiftletLabel, firstPassDone, o, progress);
    const rate = nodeRoots[0]?.cfg.auditor_bytes_per_s ?? 10_485_760;
    const files = nodeRoots[0]?.cfg.auditor_files_per_s ?? 20;
    const observed = nodeRoots.flatMap((n) =>
      reportsOf(n.cfg.devices)
        .filter((r) => r.daemon === 'auditor')
        .map((r) => `${n.node}: a pass of ${r.counts.objectsChecked ?? 0} files, ${formatSize(r.counts.bytesChecked ?? 0)} in ${fmt(r.durationMs / 1000)} s (${fmt((r.counts.objectsChecked ?? 0) / (r.durationMs / 1000))} files/s)`),
    );
    const passes = nodeRoots.map((n) => `${n.node}: ${reportsOf(n.cfg.devices).filter((r) => r.daemon !== 'auditor').map((r) => `${r.daemon} ${fmt(r.durationMs / 1000)} s`).join(', ')}`);
    return {
      system: 'Swiftlet',
      fill,
      firstPass: { ...m.firstPass, note: `${m.firstPass.note}; last passes: ${passes.join('; ')}` },
      steady: m.steady,
      auditor: { configured: `${formatSize(rate)}/s (auditor_bytes_per_s), ${files} files/s (auditor_files_per_s)`, observed },
      daemons: '`swiftlet aio` defaults: per node one `swiftlet daemons` supervisor and a child process per daemon (replicator: object then db pass every 30 s; updater 30 s; expirer 60 s; auditor every 1800 s at auditor_bytes_per_s and auditor_files_per_s). Counted: the daemon processes only, not the storage nodes answering them (nor, for Swift, the object servers answering REPLICATE)',
    };
  } finally {
    await sys.stop();
  }
}

// ---- Swift ----

function swiftDaemonConfs(dir: string): Array<{ daemon: string; conf: string; node: string }> {
  const etc = join(dir, 'etc');
  const idle = join(etc, 'idle');
  const cache = join(dir, 'cache');
  mkdirSync(idle, { recursive: true });
  const out: Array<{ daemon: string; conf: string; node: string }> = [];
  const port = Number(readFileSync(join(dir, 'port'), 'utf8').trim());
  for (const f of readdirSync(etc)) {
    const m = /^(object|container|account)-server-(\d+)\.conf$/.exec(f);
    if (!m) continue;
    const [, kind, i] = m as unknown as [string, string, string];
    const node = `node${i}`;
    mkdirSync(join(cache, `idle-${node}`), { recursive: true });
    // The server's own config (devices, rsync module), each node's recon cache apart, and the
    // daemons' sections with Swift's defaults.
    let text = readFileSync(join(etc, f), 'utf8').replace(/^recon_cache_path = .*$/m, `recon_cache_path = ${join(cache, `idle-${node}`)}`);
    // swift-aio.sh writes these sections itself (its --daemons mode): add only the missing ones,
    // as configparser refuses a section twice and the daemon would not start.
    const sections = kind === 'object' ? ['object-updater', 'object-auditor'] : kind === 'container' ? ['container-updater'] : [];
    for (const section of sections) if (!text.includes(`\n[${section}]`)) text += `\n[${section}]\n`;
    const conf = join(idle, `${kind}-${i}.conf`);
    writeFileSync(conf, text);
    for (const d of SWIFT_NODE_DAEMONS) if (d.kind === kind) out.push({ daemon: d.daemon, conf, node });
  }
  // One expirer for the cluster (as Swift's docs advise), with its own internal client
  // (object-expirer.conf: the legacy queue the object servers write).
  mkdirSync(join(cache, 'idle-cluster'), { recursive: true });
  const expirer = join(idle, 'object-expirer.conf');
  writeFileSync(
    expirer,
    `[DEFAULT]\nswift_dir = ${etc}\nuser = root\nrecon_cache_path = ${join(cache, 'idle-cluster')}\nlog_name = object-expirer\n\n[object-expirer]\n\n[pipeline:main]\npipeline = catch_errors cache proxy-server\n\n[app:proxy-server]\nuse = egg:swift#proxy\n\n[filter:cache]\nuse = egg:swift#memcache\nmemcache_servers = 127.0.0.1:${port + 1}\n\n[filter:catch_errors]\nuse = egg:swift#catch_errors\n`,
  );
  out.push({ daemon: 'object-expirer', conf: expirer, node: 'cluster' });
  return out;
}

function readRecon(file: string): Record<string, unknown> {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return {};
  }
}

async function fillSwift(ep: Endpoint, dir: string, planPath: string, blockPath: string, totals: PlanTotals, progress: Progress): Promise<IdleRun['fill']> {
  for (let k = 0; k < 4; k++) await ensureContainer(ep, containerName(k));
  progress.line(`Swift: writing the same objects with DiskFile, ContainerBroker and AccountBroker (swift-fill-objects.py)`);
  const t0 = performance.now();
  const out = await new Promise<string>((res, rej) => {
    const c = spawn(SWIFT_PYTHON, [join(SCRIPTS, 'swift-fill-objects.py'), dir, accountOf(ep), planPath, blockPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    let s = '';
    c.stdout.setEncoding('utf8').on('data', (d: string) => (s += d));
    const kill = (): void => void c.kill();
    process.once('exit', kill);
    c.once('error', rej);
    c.once('close', (code) => {
      process.off('exit', kill);
      if (code === 0) res(s);
      else rej(new Error(`swift-fill-objects.py exited ${code}`));
    });
  });
  const r = JSON.parse(out.trim().split('\n').pop() ?? '{}') as { files: number; object_seconds: number; row_seconds: number; sync_seconds: number; seconds: number; expiring_containers: number };
  const got = await verifyAccount(ep, totals);
  const fill: IdleRun['fill'] = {
    seconds: (performance.now() - t0) / 1000,
    files: r.files,
    detail: `${r.files} replica files in ${fmt(r.object_seconds)} s (${fmt(r.files / r.object_seconds)} files/s; DiskFileWriter put/commit and DiskFile.delete, one process per node, fsync off, one syncfs: ${fmt(r.sync_seconds)} s), listing rows, ${r.expiring_containers} expirer queue containers and account stats by ContainerBroker/AccountBroker in ${fmt(r.row_seconds)} s; account then reports ${got}`,
  };
  progress.line(`Swift fill: ${fill.detail}`);
  return fill;
}

async function runSwift(o: IdleOptions, n: number, planPath: string, blockPath: string, totals: PlanTotals, workDir: string, progress: Progress): Promise<IdleRun> {
  process.env.SWIFT_AIO_IMAGE_SIZE ??= o.imageSize;
  // As for Swiftlet, a kept work dir reuses a filled image: its rings name the ports it was filled
  // on, so it starts on the same ones.
  const marker = join(workDir, 'swift', 'fill.json');
  let fill = o.workDir ? readFillMarker(marker, n) : undefined;
  const port = fill ? Number(readFileSync(join(workDir, 'swift', 'port'), 'utf8').trim()) : undefined;
  const sys = await startSwift({ workDir, keep: false, keepImage: o.workDir !== undefined, ...(port ? { port } : {}), progress });
  const dir = sys.dir as string;
  const children: ChildProcess[] = [];
  try {
    const ep = await authRetry(sys, 60);
    if (fill) progress.line(`Swift: reusing the fill in ${dir} (${fill.detail})`);
    else fill = await fillSwift(ep, dir, planPath, blockPath, totals, progress);
    const ran = ' (reused: the daemons had run on it)';
    if (o.workDir) writeFileSync(marker, JSON.stringify({ objects: n, fill: { ...fill, detail: fill.detail.endsWith(ran) ? fill.detail : fill.detail + ran } }) + '\n');
    // Drop the page cache as Swiftlet's remount does: both first passes start cold.
    await new Promise((res) => spawn('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches'], { stdio: 'ignore' }).once('close', res));
    const confs = swiftDaemonConfs(dir);
    const logFd = openSync(join(dir, 'log', 'idle-daemons.log'), 'a');
    for (const c of confs) {
      // its own process group: the auditor's forks and the replicator's rsyncs stop with it
      children.push(spawn(SWIFT_PYTHON, [join(SCRIPTS, 'swift-run.py'), join(dir, 'etc'), c.daemon, c.conf, 'forever'], { detached: true, stdio: ['ignore', logFd, logFd] }));
    }
    closeSync(logFd);
    const nodes = [...new Set(confs.map((c) => c.node))].filter((n) => n !== 'cluster');
    const firstPassDone = (): { done: boolean; note: string } => {
      // A daemon that cannot start (a bad config) would keep the first pass waiting until the cap.
      const dead = children.findIndex((c) => c.exitCode !== null || c.signalCode !== null);
      if (dead >= 0) throw new Error(`Swift's ${confs[dead]!.daemon} (${confs[dead]!.conf}) exited (${children[dead]!.exitCode ?? children[dead]!.signalCode}): see ${join(dir, 'log', 'idle-daemons.log')}`);
      const missing: string[] = [];
      for (const n of nodes)
        for (const [file, keys] of Object.entries(SWIFT_FIRST_PASS)) {
          const rec = readRecon(join(dir, 'cache', `idle-${n}`, file));
          for (const k of keys) if (rec[k] === undefined) missing.push(`${n}/${file.replace('.recon', '')}:${k}`);
        }
      if (readRecon(join(dir, 'cache', 'idle-cluster', 'object.recon')).object_expiration_pass === undefined) missing.push('cluster/object-expirer');
      return { done: missing.length === 0, note: missing.length ? `waiting for ${missing.length}: ${missing.slice(0, 4).join(', ')}${missing.length > 4 ? '…' : ''}` : 'every replicator, updater and the expirer passed' };
    };
    const pids = children.map((c) => c.pid as number);
    progress.line(`Swift: ${children.length} daemons started; waiting for their first pass`);
    const m = await measure('Swift', () => pids, swiftLabel, firstPassDone, o, progress);
    return {
      system: 'Swift',
      fill,
      firstPass: m.firstPass,
      steady: m.steady,
      auditor: { configured: '20 files/s and 10,000,000 bytes/s (files_per_second, bytes_per_second), plus a zero-byte-file pass at 50 files/s (its recon stats are written hourly: none within a run)', observed: [] },
      daemons: "Swift 2.30's defaults, each daemon its own process per node: object-replicator (interval 30 s, rsync), object-updater (300 s), object-auditor (30 s between passes), container-replicator (30 s), container-updater (300 s), account-replicator (30 s); one object-expirer for the cluster (300 s), as Swift's docs advise",
    };
  } finally {
    for (const c of children) {
      try {
        process.kill(-(c.pid as number), 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    await sleep(3000);
    for (const c of children) {
      try {
        process.kill(-(c.pid as number), 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    await sys.stop();
  }
}

export async function idleSuite(ctx: SuiteContext): Promise<SuiteOutcome> {
  const o = idleOptions(ctx.options);
  if (!isRoot()) throw new Error('the idle suite needs root: each system\'s data goes on a loop-mounted XFS image');
  const progress = new Progress();
  const m0 = machineInfo();
  const workDir = o.workDir ?? mkdtempSync(join(tmpdir(), 'swiftlet-bench-idle-'));
  mkdirSync(workDir, { recursive: true });
  const plan = defaultPlan(o.objects);
  const totals = planTotals(plan);
  const runs: IdleRun[] = [];
  let failure: string | undefined;
  progress.line(`idle: ${plan.n} objects (${totals.live} live, ${totals.expiring} with X-Delete-At, ${totals.deleted} deleted; ${formatSize(totals.bytes)} of bodies) in ${plan.containers} containers; ${o.minutes} min of sampling per system; images ${o.imageSize} (sparse) in ${workDir}`);
  try {
    for (const s of o.systems) {
      if (s === 'swiftlet') runs.push(await runSwiftlet(o, plan, totals, workDir, progress));
      else {
        const planPath = join(workDir, 'plan.tsv');
        const blockPath = join(workDir, 'block.bin');
        await writePlanFiles(plan, planPath, blockPath);
        runs.push(await runSwift(o, plan.n, planPath, blockPath, totals, workDir, progress));
      }
      // each system's image goes before the next one's is filled; a --work-dir keeps it for reuse
      if (!o.workDir) removeUnmounted(join(workDir, s));
    }
  } catch (err) {
    failure = err instanceof Error ? err.message : String(err);
    progress.line(`run stopped: ${failure}`);
  } finally {
    if (!o.workDir) removeUnmounted(workDir);
  }
  const m = machineAtEnd(m0);
  const md = idleMarkdown({
    title: `Idle daemons: ${plan.n} objects, ${o.minutes} min without client traffic`,
    machine: machineMarkdown(m),
    command: ctx.command,
    setup: [
      `each system alone, one after the other: 1 proxy + 4 storage nodes, 3 replicas, part power 10, its own sparse XFS image (${o.imageSize}, loop device)`,
      `objects: ${plan.n} in ${plan.containers} containers, 0–${formatSize(plan.maxSize)} bodies (${formatSize(totals.bytes)} in all, one replica), ${totals.expiring} with an X-Delete-At a year ahead, ${totals.deleted} deleted (tombstones); written on every primary as a PUT (DELETE) leaves them, fsync off and one syncfs, the listing rows and account stats with them; checked through the API`,
      `after the fill each system's page cache is dropped (Swiftlet: its image remounted; Swift: drop_caches), the daemons start; "first pass": until every replicator, updater and expirer has finished a pass (the auditor is rate limited and not waited for); then ${o.minutes} min of /proc/<pid>/stat samples every ${o.windowMs / 1000} s of every daemon process and its children; % of one core`,
    ],
    runs,
    ...(failure ? { failure } : {}),
  });
  const dir = resultsDir(ctx.outRoot, 'idle');
  const toJson = (s: CpuSummary): unknown => ({ ...s, perDaemon: Object.fromEntries(s.perDaemon), perNode: Object.fromEntries(s.perNode) });
  writeResultFiles(dir, {
    'results.json': JSON.stringify({ suite: 'idle', command: ctx.command, failure: failure ?? null, machine: m, options: o, plan, runs: runs.map((r) => ({ ...r, firstPass: { ...r.firstPass, cpu: toJson(r.firstPass.cpu) }, steady: toJson(r.steady) })) }, null, 2) + '\n',
    'results.md': md,
  });
  process.stdout.write(`\n${sideBySideTable(runs)}\n\nwrote ${dir}/{results.json,results.md}\n`);
  return { code: failure || runs.length !== o.systems.length ? 1 : 0, dir };
}

/** rm -r that never descends into a mounted filesystem (a stop that failed to unmount leaves one). */
function removeUnmounted(dir: string): void {
  const mounted = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1] ?? '').filter((m) => m === dir || m.startsWith(dir + '/'));
  if (mounted.length) {
    process.stderr.write(`left in place (still mounted): ${mounted.join(', ')}\n`);
    return;
  }
  rmSync(dir, { recursive: true, force: true });
}
