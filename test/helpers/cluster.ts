import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { request, type Dispatcher } from 'undici';
import { backendKeyFrom } from '../../common/backend-auth.js';
import { signingDispatcher } from './signing.js';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createClusterRings } from '../../ring-builder/bootstrap.js';
import { RingBuilder } from '../../ring-builder/builder.js';
import { builderFile, objectRingName, ringFile, writeRingFile, type RingName } from '../../ring-builder/ring.js';
import { startTcpProxy, type TcpProxy } from './tcp-proxy.js';

/**
 * A real cluster for multi-process tests: N storage-node processes (one device each, own zone)
 * and a proxy, on free ports in a temp dir. Nodes can be killed (-9), paused and restarted on the
 * same port; nothing is shared between tests.
 */
export const SWIFTLET_BIN = resolve('dist/bin/swiftlet.js');

export interface NodeProc {
  name: string;
  device: string;
  devicesRoot: string;
  configFile: string;
  port: number;
  proc: ChildProcess | undefined;
  /** With `links: true`: the forwarder the ring points at, to cut this node off the network. */
  link?: TcpProxy;
}

export interface Cluster {
  dir: string;
  proxyUrl: string;
  authUrl: string;
  /** The proxy's process id (to read its memory in /proc). */
  proxyPid: number;
  /** Every line the proxy wrote to stdout so far (its log). */
  proxyLog: string[];
  nodes: NodeProc[];
  secret: { swift_hash_path_prefix: string; swift_hash_path_suffix: string };
  /** Signs requests made straight to the storage nodes with the cluster's backend key. */
  backendDispatcher: Dispatcher;
  ringDir: string;
  kill(node: NodeProc, signal?: NodeJS.Signals): Promise<void>;
  pause(node: NodeProc): void;
  resume(node: NodeProc): void;
  /** Runs `swiftlet <daemon> --once` for every node (or the given ones), one node at a time. */
  runDaemonsOnce(daemons?: string[], nodes?: NodeProc[]): Promise<void>;
  restart(node: NodeProc): Promise<void>;
  /** Starts one more storage node (not in the rings yet). */
  addNode(): Promise<NodeProc>;
  /** Adds the nodes' devices to every ring (every policy's too; zone = their number) and rebalances. */
  addToRings(nodes: NodeProc[], seed?: number): Promise<void>;
  token(user?: string, key?: string): Promise<{ token: string; storageUrl: string }>;
  stop(): Promise<void>;
}

function spawnService(args: string[], opts: { keepLines?: boolean } = {}): { proc: ChildProcess; port: Promise<number>; lines: string[] } {
  const lines: string[] = [];
  const proc = spawn(process.execPath, [SWIFTLET_BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  let stderr = '';
  proc.stderr?.on('data', (d: Buffer) => {
    stderr += d.toString();
    if (process.env.SWIFTLET_TEST_VERBOSE) process.stderr.write(d);
  });
  const port = new Promise<number>((resolvePort, rejectPort) => {
    const rl = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
    rl.on('line', (line) => {
      if (process.env.SWIFTLET_TEST_VERBOSE) process.stderr.write(`${line}\n`);
      if (opts.keepLines) lines.push(line);
      try {
        const rec = JSON.parse(line) as { msg?: string; port?: number };
        if (rec.msg === 'listening' && typeof rec.port === 'number') resolvePort(rec.port);
      } catch {
        /* not a log line */
      }
    });
    proc.once('exit', (code) => rejectPort(new Error(`${args.join(' ')} exited ${code}: ${stderr}`)));
  });
  return { proc, port, lines };
}

const execFileP = promisify(execFile);

/** A storage policy of a test cluster: its storage_policies entry and its object ring's replica count. */
export interface TestPolicy {
  index: number;
  name: string;
  replicas: number;
  default?: boolean;
  deprecated?: boolean;
  aliases?: string[];
}

export async function startCluster(
  opts: { nodes?: number; partPower?: number; proxyConfig?: Record<string, unknown>; nodeConfig?: Record<string, unknown>; links?: boolean; policies?: TestPolicy[] } = {},
): Promise<Cluster> {
  const n = opts.nodes ?? 4;
  const dir = await mkdtemp(join(tmpdir(), 'swiftlet-test-'));
  const ringDir = join(dir, 'etc');
  await mkdir(ringDir, { recursive: true });
  const secret = { swift_hash_path_prefix: randomBytes(4).toString('hex'), swift_hash_path_suffix: randomBytes(4).toString('hex') };
  // Storage policies go into every service's config, as the cluster secret does.
  const policyConfig = opts.policies ? { storage_policies: opts.policies.map(({ replicas: _r, ...p }) => p) } : {};
  const nodes: NodeProc[] = [];
  for (let i = 1; i <= n; i++) {
    const devicesRoot = join(dir, `node${i}`);
    await mkdir(join(devicesRoot, `d${i}`), { recursive: true });
    nodes.push({ name: `node${i}`, device: `d${i}`, devicesRoot, configFile: join(ringDir, `node${i}.json`), port: 0, proc: undefined });
  }
  // Nodes log at info so that they announce their port; a restart reuses the port in the file.
  const writeNodeConfig = (node: NodeProc): Promise<void> =>
    writeFile(
      node.configFile,
      JSON.stringify({
        ...secret,
        ring_dir: ringDir,
        bind_ip: '127.0.0.1',
        bind_port: node.port,
        ...(node.link ? { ring_port: node.link.port } : {}),
        devices: node.devicesRoot,
        log_level: 'info',
        ring_check_interval_s: 0.5,
        ...policyConfig,
        ...opts.nodeConfig,
      }),
    );
  const startNode = async (node: NodeProc): Promise<void> => {
    await writeNodeConfig(node);
    const s = spawnService(['storage-node', '--config', node.configFile]);
    node.proc = s.proc;
    node.port = await s.port;
  };
  for (const node of nodes) {
    await startNode(node);
    if (opts.links) node.link = await startTcpProxy(node.port);
    await writeNodeConfig(node);
  }
  await createClusterRings(
    ringDir,
    nodes.map((node, i) => ({ region: 1, zone: i + 1, ip: '127.0.0.1', port: node.link?.port ?? node.port, device: node.device, weight: 100 })),
    {
      partPower: opts.partPower ?? 8,
      replicas: opts.policies?.find((p) => p.index === 0)?.replicas ?? 3,
      minPartHours: 0,
      seed: 7,
      policyRings: (opts.policies ?? []).map((p) => ({ index: p.index, replicas: p.replicas })),
    },
  );
  const proxyConfigFile = join(ringDir, 'proxy.json');
  await writeFile(
    proxyConfigFile,
    JSON.stringify({
      ...secret,
      ring_dir: ringDir,
      bind_ip: '127.0.0.1',
      bind_port: 0,
      log_level: 'info',
      ring_check_interval_s: 0.5,
      node_timeout_ms: 3000,
      conn_timeout_ms: 500,
      ...policyConfig,
      ...opts.proxyConfig,
    }),
  );
  const proxy = spawnService(['proxy', '--config', proxyConfigFile], { keepLines: true });
  const proxyPort = await proxy.port;
  const proxyUrl = `http://127.0.0.1:${proxyPort}`;
  const cluster: Cluster = {
    dir,
    proxyUrl,
    authUrl: `${proxyUrl}/auth/v1.0`,
    proxyPid: proxy.proc.pid as number,
    proxyLog: proxy.lines,
    nodes,
    secret,
    backendDispatcher: signingDispatcher(backendKeyFrom(secret)),
    ringDir,
    async kill(node, signal = 'SIGKILL') {
      const p = node.proc;
      if (!p || p.exitCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill(signal);
      await exited;
      node.proc = undefined;
    },
    pause(node) {
      node.proc?.kill('SIGSTOP');
    },
    resume(node) {
      node.proc?.kill('SIGCONT');
    },
    async runDaemonsOnce(daemons = ['updater', 'replicator', 'replicator'], which = nodes) {
      for (const daemon of daemons) {
        for (const node of which) {
          await execFileP(process.execPath, [SWIFTLET_BIN, daemon, '--config', node.configFile, '--once'], { timeout: 120_000 });
        }
      }
    },
    async restart(node) {
      if (node.proc && node.proc.exitCode === null) await cluster.kill(node);
      await startNode(node);
    },
    async addNode() {
      const i = nodes.length + 1;
      const devicesRoot = join(dir, `node${i}`);
      await mkdir(join(devicesRoot, `d${i}`), { recursive: true });
      const node: NodeProc = { name: `node${i}`, device: `d${i}`, devicesRoot, configFile: join(ringDir, `node${i}.json`), port: 0, proc: undefined };
      nodes.push(node);
      await startNode(node);
      if (opts.links) node.link = await startTcpProxy(node.port);
      await writeNodeConfig(node);
      return node;
    },
    async addToRings(added, seed = 11) {
      for (const name of ['account', 'container', 'object', ...(opts.policies ?? []).filter((p) => p.index > 0).map((p) => objectRingName(p.index))] as RingName[]) {
        const b = RingBuilder.loadBuilder(builderFile(ringDir, name));
        for (const n of added) {
          b.addDevice({ region: 1, zone: Number(n.name.replace('node', '')), ip: '127.0.0.1', port: n.link?.port ?? n.port, device: n.device, weight: 100 });
        }
        b.pretendMinPartHoursPassed();
        b.rebalance({ seed, now: Date.now() });
        b.saveBuilder(builderFile(ringDir, name));
        writeRingFile(ringFile(ringDir, name), b.toRingData());
      }
    },
    async token(user = 'test:tester', key = 'testing') {
      const res = await request(cluster.authUrl, { headers: { 'x-auth-user': user, 'x-auth-key': key } });
      await res.body.dump();
      if (res.statusCode !== 200) throw new Error(`auth failed: ${res.statusCode}`);
      return { token: String(res.headers['x-auth-token']), storageUrl: String(res.headers['x-storage-url']) };
    },
    async stop() {
      for (const n of nodes) n.proc?.kill('SIGCONT');
      const procs = [proxy.proc, ...nodes.map((x) => x.proc)].filter((p): p is ChildProcess => !!p && p.exitCode === null);
      await Promise.all(
        procs.map(
          (p) =>
            new Promise((r) => {
              p.once('exit', r);
              p.kill('SIGKILL');
            }),
        ),
      );
      for (const n of nodes) await n.link?.close();
      await cluster.backendDispatcher.close();
      if (!process.env.SWIFTLET_KEEP_TEST_DIRS) await rm(dir, { recursive: true, force: true });
    },
  };
  return cluster;
}
