import { execFile, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { Progress } from './progress.js';

/**
 * The two systems a side-by-side run starts on this machine: Swiftlet's all-in-one
 * (`swiftlet aio`) and OpenStack Swift's (bench/scripts/swift-aio.sh), both with one proxy,
 * 4 storage nodes, 3 replicas, fsync on, on loop-mounted XFS.
 */
export interface RunningSystem {
  name: string;
  authUrl: string;
  user: string;
  key: string;
  /** Where this run keeps the system's files: Swiftlet's aio --data dir, Swift's swift-aio.sh dir. */
  dir?: string;
  /** A path on the filesystem that holds the data (its disk's flushes are counted). */
  dataPath?: string;
  stop(): Promise<void>;
}

const execFileP = promisify(execFile);
const here = fileURLToPath(new URL('.', import.meta.url));
/** The repository root (this file runs from dist/bench/). */
export const REPO_ROOT = resolve(here, '..', '..');
const SCRIPTS = join(REPO_ROOT, 'bench', 'scripts');

async function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

/** A base port P with P, P+1, P+5 and P+10…P+42 free (the Swift all-in-one's ports). */
export async function findSwiftPort(from = 18090): Promise<number> {
  for (let p = from; p < 60000; p += 100) {
    const ports = [p, p + 1, p + 5];
    for (let i = 1; i <= 4; i++) ports.push(p + 10 * i, p + 10 * i + 1, p + 10 * i + 2);
    let ok = true;
    for (const q of ports) if (!(await portFree(q))) ok = false;
    if (ok) return p;
  }
  throw new Error('no free port range for the Swift all-in-one');
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

export async function mountXfs(image: string, dir: string, size = '16G'): Promise<void> {
  await execFileP('bash', [join(SCRIPTS, 'xfs-dir.sh'), 'mount', image, dir, size]);
}

export async function umountXfs(dir: string): Promise<void> {
  await execFileP('bash', [join(SCRIPTS, 'xfs-dir.sh'), 'umount', dir]);
}

/** Whether `swiftlet`'s usage text mentions an option. */
function aioSupports(bin: string, option: string): boolean {
  const r = spawnSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
  return `${r.stdout}${r.stderr}`.includes(option);
}

export interface SwiftletOptions {
  workDir: string;
  /** Put the data on its own loop-mounted XFS image (root only). */
  xfs: boolean;
  /** Run Swiftlet's background daemons (replicator, updater, …); off by default: Swift's are not started either. */
  daemons: boolean;
  progress: Progress;
}

/** `node dist/bin/swiftlet.js aio` on free ports; resolves when it prints {"msg":"aio ready"}. */
export async function startSwiftlet(o: SwiftletOptions): Promise<RunningSystem> {
  const base = join(o.workDir, 'swiftlet');
  mkdirSync(base, { recursive: true });
  const data = join(base, 'data');
  if (o.xfs) await mountXfs(join(base, 'xfs.img'), data);
  const bin = join(REPO_ROOT, 'dist', 'bin', 'swiftlet.js');
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run npm run build`);
  const log = createWriteStream(join(base, 'aio.log'));
  const args = [bin, 'aio', '--data', data, '--port', '0', '--node-port-base', '0', '--bind', '127.0.0.1'];
  // aio starts each node's daemons unless told not to (older builds have neither daemons nor the flag)
  if (!o.daemons && aioSupports(bin, '--no-daemons')) args.push('--no-daemons');
  const child: ChildProcess = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stderr?.pipe(log, { end: false });
  const ready = new Promise<{ auth_url: string }>((res, rej) => {
    const timer = setTimeout(() => rej(new Error(`swiftlet aio did not get ready in 60 s (see ${join(base, 'aio.log')})`)), 60_000);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      log.write(line + '\n'); // keep draining: a full pipe would stall the cluster
      if (!line.startsWith('{')) return;
      try {
        const rec = JSON.parse(line) as { msg?: string; auth_url?: string };
        if (rec.msg === 'aio ready' && rec.auth_url) {
          clearTimeout(timer);
          res({ auth_url: rec.auth_url });
        }
      } catch {
        /* not ours */
      }
    });
    child.once('exit', (code, sig) => {
      clearTimeout(timer);
      rej(new Error(`swiftlet aio exited (${sig ?? code}) before it was ready (see ${join(base, 'aio.log')})`));
    });
  });
  let rec: { auth_url: string };
  try {
    rec = await ready;
  } catch (err) {
    child.kill('SIGTERM');
    if (o.xfs) await umountXfs(data).catch(() => undefined);
    throw err;
  }
  o.progress.line(`swiftlet aio ready: ${rec.auth_url} (pid ${child.pid}, data ${data}${o.xfs ? ' on XFS' : ''}, ${args.includes('--no-daemons') ? 'daemons off' : 'daemons on'})`);
  return {
    name: 'Swiftlet',
    authUrl: rec.auth_url,
    user: 'test:tester',
    key: 'testing',
    dir: data,
    dataPath: data,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
        await exited;
        clearTimeout(t);
      }
      log.end();
      if (o.xfs) await umountXfs(data);
    },
  };
}

export interface SwiftOptions {
  workDir: string;
  port?: number;
  /** Leave the servers and the image in place (stop them later with swift-aio.sh stop/purge). */
  keep: boolean;
  /** stop() stops the servers and unmounts, keeping the image (a later start reuses its data). */
  keepImage?: boolean;
  /** Start Swift's background daemons too, running continuously (swift-aio.sh daemons). */
  daemons?: boolean;
  progress: Progress;
}

/** bench/scripts/swift-aio.sh start; stop() runs purge (stop with keepImage, nothing with keep). */
export async function startSwift(o: SwiftOptions): Promise<RunningSystem> {
  if (!isRoot()) throw new Error('the Swift all-in-one needs root (apt-get, loop-mounted XFS)');
  const dir = join(o.workDir, 'swift');
  const port = o.port ?? (await findSwiftPort());
  o.progress.line(`starting OpenStack Swift all-in-one in ${dir} on port ${port} (first start installs Debian packages)…`);
  const script = join(SCRIPTS, 'swift-aio.sh');
  let stdout: string;
  try {
    ({ stdout } = await execFileP('bash', [script, 'start', dir, String(port)], { maxBuffer: 16 * 1024 * 1024, timeout: 900_000 }));
  } catch (err) {
    const e = err as { stderr?: string };
    await execFileP('bash', [script, 'stop', dir]).catch(() => undefined);
    throw new Error(`swift-aio.sh start failed: ${(e.stderr ?? String(err)).slice(-2000)}`);
  }
  const line = stdout
    .trim()
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  const rec = JSON.parse(line ?? '{}') as { auth_url?: string; user?: string; key?: string };
  if (!rec.auth_url) throw new Error(`swift-aio.sh printed no ready line: ${stdout.slice(-500)}`);
  if (o.daemons) {
    try {
      await execFileP('bash', [script, 'daemons', dir], { timeout: 120_000 });
    } catch (err) {
      const e = err as { stderr?: string };
      await execFileP('bash', [script, o.keep ? 'stop' : 'purge', dir]).catch(() => undefined);
      throw new Error(`swift-aio.sh daemons failed: ${(e.stderr ?? String(err)).slice(-2000)}`);
    }
  }
  o.progress.line(`swift aio ready: ${rec.auth_url}${o.daemons ? ' (daemons on)' : ''}`);
  return {
    name: 'Swift',
    authUrl: rec.auth_url,
    user: rec.user ?? 'test:tester',
    key: rec.key ?? 'testing',
    dir,
    dataPath: join(dir, 'mnt'),
    async stop() {
      if (o.keep) return;
      await execFileP('bash', [script, o.keepImage ? 'stop' : 'purge', dir]);
    },
  };
}
