import { spawn, type ChildProcess } from 'node:child_process';
import { childExited, stillRunning } from '../common/child-exit.js';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createClusterRings } from '../ring-builder/bootstrap.js';
import { objectRingName, Ring, ringFile } from '../ring-builder/ring.js';
import { parseStoragePolicies } from '../common/storage-policy.js';

/**
 * The all-in-one cluster: one proxy and N storage nodes (one device each, one zone each) on this
 * machine, as child processes. The first run writes configs, the cluster secret and the rings
 * under <data>/etc; later runs reuse them, so data written before a restart is found again.
 */
export interface AioOptions {
  data: string;
  port: number;
  bind: string;
  nodes: number;
  nodePortBase: number;
  partPower: number;
  verbose: boolean;
  /** Run each node's background daemons (replicator, updater, auditor, expirer). */
  daemons: boolean;
}

export interface AioLayout {
  etc: string;
  proxyConfig: string;
  nodeConfigs: string[];
}

/**
 * The all-in-one's storage policies (written into every config on the first run): `gold`, the
 * default, keeps 3 replicas; `scratch` keeps 2 (`X-Storage-Policy: scratch` on a container PUT),
 * for data that can be made again. Each has its own object ring (object.ring.gz, object-1.ring.gz).
 */
export const AIO_POLICIES = [
  { index: 0, name: 'gold', default: true, replicas: 3 },
  { index: 1, name: 'scratch', replicas: 2 },
] as const;

const here = fileURLToPath(new URL('.', import.meta.url));
const SWIFTLET_BIN = join(here, 'swiftlet.js');

async function freePort(host: string): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, host, () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => res(port));
    });
  });
}

/** Writes configs and rings on the first run; returns the layout either way. */
export async function prepareAio(opts: AioOptions): Promise<AioLayout> {
  const data = resolve(opts.data);
  const etc = join(data, 'etc');
  const clusterFile = join(etc, 'cluster.json');
  await mkdir(etc, { recursive: true });
  const nodeConfigs = Array.from({ length: opts.nodes }, (_, i) => join(etc, `node${i + 1}.json`));
  const proxyConfig = join(etc, 'proxy.json');
  if (!existsSync(ringFile(etc, 'object'))) {
    // What every service of the cluster shares: the secret and the storage policies.
    const secret = {
      swift_hash_path_prefix: randomBytes(8).toString('hex'),
      swift_hash_path_suffix: randomBytes(8).toString('hex'),
      storage_policies: AIO_POLICIES.map(({ replicas: _r, ...p }) => p),
    };
    await writeFile(clusterFile, JSON.stringify(secret, null, 2) + '\n');
    const devices = [];
    for (let i = 0; i < opts.nodes; i++) {
      const port = opts.nodePortBase === 0 ? await freePort(opts.bind) : opts.nodePortBase + i + 1;
      const devicesRoot = join(data, `node${i + 1}`);
      await mkdir(join(devicesRoot, `d${i + 1}`), { recursive: true });
      const cfg = {
        ...secret,
        ring_dir: etc,
        bind_ip: opts.bind,
        bind_port: port,
        devices: devicesRoot,
        log_level: 'info',
      };
      await writeFile(nodeConfigs[i] as string, JSON.stringify(cfg, null, 2) + '\n');
      devices.push({ region: 1, zone: i + 1, ip: opts.bind, port, device: `d${i + 1}`, weight: 100 });
    }
    await createClusterRings(etc, devices, {
      partPower: opts.partPower,
      replicas: 3,
      minPartHours: 1,
      seed: 1,
      policyRings: AIO_POLICIES.map((p) => ({ index: p.index, replicas: p.replicas })),
    });
    await writeFile(
      proxyConfig,
      JSON.stringify({ ...secret, ring_dir: etc, bind_ip: opts.bind, bind_port: opts.port, log_level: 'info' }, null, 2) + '\n',
    );
  } else {
    // Later runs: the proxy port may be changed on the command line.
    const cfg = JSON.parse(await readFile(proxyConfig, 'utf8')) as Record<string, unknown>;
    if (cfg.bind_port !== opts.port) {
      cfg.bind_port = opts.port;
      await writeFile(proxyConfig, JSON.stringify(cfg, null, 2) + '\n');
    }
  }
  return { etc, proxyConfig, nodeConfigs };
}

interface Child {
  name: string;
  proc: ChildProcess;
  port: Promise<number>;
}

/**
 * Threads for a storage node's disk calls (libuv's threadpool). Every fsync holds one until the
 * disk answers; with libuv's default of 4, a few syncs in flight stall every other disk call of
 * the node. libuv reads UV_THREADPOOL_SIZE once, before any JavaScript can set it, so it is given
 * to the child process here (a standalone `swiftlet storage-node` needs it in its environment).
 */
export const STORAGE_NODE_IO_THREADS = 16;

/**
 * At most two C heaps (glibc malloc arenas) per server process instead of up to eight per core:
 * every thread that allocates (16 libuv threads, LevelDB's compaction, V8's helpers) would
 * otherwise get an arena of its own, each keeping some freed memory resident. In the bench's
 * 10-minute memory soak the storage nodes' memory outside V8 and outside what the C heap had in
 * use grew by up to 23 MiB with the default and by at most 3.5 MiB with two (bench/RESULTS.md).
 * glibc reads it at start, so it is given to the child processes here (a standalone server needs it
 * in its environment; the Dockerfile sets it).
 */
export const MALLOC_ARENAS = 2;

/** The environment of every server process `aio` starts: the C heap's arenas, unless set already. */
function serverEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return { ...process.env, MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX ?? String(MALLOC_ARENAS), ...extra };
}

/**
 * A young generation of 64 MB per semi-space (V8's default here: at most 16). Every request
 * leaves short-lived garbage (headers, buffers, promises); with the default, V8 scavenges several
 * times a second under load. Measured on 4 KiB PUTs at c=16 (seven alternated rounds,
 * bench/RESULTS.md): 256 → 286 ops/s, the cluster's CPU per PUT 5.84 → 5.41 ms. 64 MiB PUTs spent
 * no more CPU with it, so the old-generation floor below still keeps full GCs away.
 * The minimum is the maximum: with only a maximum, V8 starts small and grows the semi-spaces a
 * little at a time, and the busiest storage node's RSS climbed ~7 MiB/min for the whole 10-minute
 * memory soak (its young generation's committed pages 57 → 114 MiB, everything else flat;
 * bench/RESULTS.md). Full-size from the start, the young generation reaches its ~128 MiB within
 * seconds of load and RSS levels off there.
 * V8 still scavenges before a semi-space is full (a task at 80 %, and Buffer pressure), so the
 * servers touch all of it once as they start (common/young-generation.ts): otherwise the pages it
 * had not reached yet became resident a few MiB at a time over many minutes of load.
 * And no page promotion (V8 moving a semi-space page whose objects mostly survived a scavenge to
 * the old generation whole): with it, under the soak, the proxy's young generation's resident
 * pages fell from 128 to ~51 MiB over two minutes, jumped back and fell again, swinging its RSS
 * by tens of MiB on a scale of minutes; without it every server's stayed at 128 MiB
 * (bench/RESULTS.md). The survivors are copied instead, as they are from any page less full.
 */
export const YOUNG_GENERATION_FLAGS = ['--min-semi-space-size=64', '--max-semi-space-size=64', '--no-page-promotion'];

/**
 * V8 options for the server processes. A server streaming bodies allocates a buffer per socket
 * read; V8 recomputes the old generation's limit after each mark-compact as the live heap + 8 MB
 * + the young generation's capacity, and starts the next full mark-compact as soon as less than
 * one young generation is left below that limit: with a small live heap (~14 MB) that is after
 * every 8 MB of promoted objects and buffers, every few hundred ms while large bodies stream, a
 * third of a storage node's CPU during large PUTs, and bursts of a full GC every 100–200 ms in the
 * proxy relaying large GETs. A floor on the limit stops that: 64 MB sufficed with V8's 16 MB young
 * generation (64 MiB PUTs: ~250 full GCs per GB across the four nodes down to none); with the 64 MB
 * one below it no longer did (the floor sat under live + 8 + 64 MB), and the proxy relaying 64 MiB
 * GETs ran up to 17 full GCs per 2 GiB, 1.2 s of GC, worst after an idle spell (V8's memory
 * reducer shrinks the limit). 128 MB leaves ~50 MB of room above the young generation (measured:
 * 0 full GCs per 2 GiB of GETs in each run, bench/RESULTS.md). Node does not take this one from
 * NODE_OPTIONS, nor the young generation's minimum; a standalone server gets them all on its
 * command line (`node --initial-old-space-size=128 --min-semi-space-size=64
 * --max-semi-space-size=64 --no-page-promotion swiftlet.js …`, as the Dockerfile does).
 */
export const SERVER_NODE_FLAGS = ['--initial-old-space-size=128', ...YOUNG_GENERATION_FLAGS];

function startChild(name: string, args: string[], verbose: boolean, env: NodeJS.ProcessEnv = serverEnv(), nodeFlags: string[] = SERVER_NODE_FLAGS): Child {
  const proc = spawn(process.execPath, [...nodeFlags, SWIFTLET_BIN, ...args], { stdio: ['ignore', 'pipe', 'inherit'], env });
  let resolvePort!: (p: number) => void;
  let rejectPort!: (e: Error) => void;
  const port = new Promise<number>((res, rej) => {
    resolvePort = res;
    rejectPort = rej;
  });
  const rl = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
  rl.on('line', (line) => {
    let rec: { level?: number; msg?: string; port?: number } | undefined;
    // Only pino's lines are JSON: the proxy's access log lines (one per request) skip the parse.
    if (line.startsWith('{')) {
      try {
        rec = JSON.parse(line) as { level?: number; msg?: string; port?: number };
      } catch {
        rec = undefined;
      }
    }
    if (rec?.msg === 'listening' && typeof rec.port === 'number') resolvePort(rec.port);
    if (verbose || !rec || (rec.level ?? 30) >= 40) process.stdout.write(`[${name}] ${line}\n`);
  });
  proc.on('exit', (code, signal) => {
    rejectPort(new Error(`${name} exited (${signal ?? code}) before listening`));
    console.error(`[aio] ${name} exited (${signal ?? code})`);
  });
  return { name, proc, port };
}

/** How long Ctrl-C waits for the children's clean exit before it kills them. */
export const AIO_STOP_TIMEOUT_MS = 15_000;

/**
 * SIGTERMs every child and resolves once all have exited, with the names of those that had to be
 * SIGKILLed after timeoutMs. The deadline timer is ref'd and the kill is awaited too: aio never
 * exits while a child it started still runs (an orphaned storage node keeps its port and its data
 * directory busy).
 */
async function stopChildren(children: readonly Child[], timeoutMs: number): Promise<string[]> {
  const gone = (c: Child): Promise<unknown> => childExited(c.proc);
  for (const c of children) c.proc.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'late'>((r) => (timer = setTimeout(() => r('late'), timeoutMs)));
  const outcome = await Promise.race([Promise.all(children.map(gone)).then(() => 'done' as const), deadline]);
  clearTimeout(timer);
  if (outcome === 'done') return [];
  const late = children.filter((c) => stillRunning(c.proc));
  for (const c of late) c.proc.kill('SIGKILL');
  await Promise.all(late.map(gone));
  return late.map((c) => c.name);
}

/** "gold (3 replicas, default), scratch (2 replicas)", from the proxy's config and the rings. */
async function describePolicies(layout: AioLayout): Promise<string> {
  const cfg = JSON.parse(await readFile(layout.proxyConfig, 'utf8')) as { swift_hash_path_prefix?: string; swift_hash_path_suffix?: string; storage_policies?: unknown };
  const secret = { prefix: cfg.swift_hash_path_prefix ?? '', suffix: cfg.swift_hash_path_suffix ?? '' };
  return parseStoragePolicies(cfg.storage_policies)
    .all()
    .map((p) => `${p.name} (${Ring.loadSync(ringFile(layout.etc, objectRingName(p.index)), secret).replicaCount} replicas${p.isDefault ? ', default' : ''})`)
    .join(', ');
}

export async function runAio(opts: AioOptions): Promise<void> {
  const layout = await prepareAio(opts);
  const nodeEnv = serverEnv({ UV_THREADPOOL_SIZE: process.env.UV_THREADPOOL_SIZE ?? String(STORAGE_NODE_IO_THREADS) });
  const children: Child[] = layout.nodeConfigs.map((cfg, i) => startChild(`node${i + 1}`, ['storage-node', '--config', cfg], opts.verbose, nodeEnv));
  const nodePorts = await Promise.all(children.map((c) => c.port));
  const proxy = startChild('proxy', ['proxy', '--config', layout.proxyConfig], opts.verbose);
  children.push(proxy);
  if (opts.daemons) {
    layout.nodeConfigs.forEach((cfg, i) => {
      // A supervisor of one process per daemon (replicator/supervisor.ts): no server flags, its heap is tiny.
      const d = startChild(`daemons${i + 1}`, ['daemons', '--config', cfg], opts.verbose, serverEnv(), []);
      d.port.catch(() => undefined); // daemons listen on nothing
      children.push(d);
    });
  }
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    console.log('[aio] stopping');
    void stopChildren(children, AIO_STOP_TIMEOUT_MS).then((killed) => {
      for (const name of killed) console.error(`[aio] ${name} did not stop within ${AIO_STOP_TIMEOUT_MS / 1000} s: killed (SIGKILL)`);
      process.exit(killed.length === 0 ? 0 : 1);
    });
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  const port = await proxy.port;
  const host = opts.bind === '0.0.0.0' ? '127.0.0.1' : opts.bind;
  console.log(
    JSON.stringify({
      msg: 'aio ready',
      auth_url: `http://${host}:${port}/auth/v1.0`,
      proxy_port: port,
      storage_node_ports: nodePorts,
      pids: Object.fromEntries(children.map((c) => [c.name, c.proc.pid])),
      data: resolve(opts.data),
    }),
  );
  console.log(`Swiftlet all-in-one is up: ${opts.nodes} storage nodes, data in ${resolve(opts.data)}`);
  console.log(`  policies:  ${await describePolicies(layout)}`);
  console.log(`  auth URL:  http://${host}:${port}/auth/v1.0`);
  console.log(`  user/key:  test:tester / testing   (also test2:tester2 / testing2, admin:admin / admin)`);
  console.log(`  try:       swift -A http://${host}:${port}/auth/v1.0 -U test:tester -K testing stat`);
  console.log('Press Ctrl-C to stop.');
}
