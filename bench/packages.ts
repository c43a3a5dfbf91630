import { execFileSync, spawnSync } from 'node:child_process';

/**
 * Debian packages the harness drives (wrk; Swift's packages are swift-aio.sh's, xfsprogs
 * xfs-dir.sh's): installed with apt-get on first use when the command is missing and we are root,
 * so a fresh machine needs nothing but `npm run bench -- <suite>`.
 */
const checked = new Set<string>();

function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

export function ensureCommand(cmd: string, pkg = cmd): void {
  if (checked.has(cmd)) return;
  if (!onPath(cmd)) {
    if (typeof process.getuid !== 'function' || process.getuid() !== 0) throw new Error(`${cmd} is not installed (apt-get install ${pkg})`);
    process.stderr.write(`installing ${pkg} (apt-get)…\n`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-q'], { stdio: ['ignore', 'ignore', 'inherit'], env });
    execFileSync('apt-get', ['install', '-y', '-q', pkg], { stdio: ['ignore', 'ignore', 'inherit'], env });
    if (!onPath(cmd)) throw new Error(`${cmd} still missing after apt-get install ${pkg}`);
  }
  checked.add(cmd);
}
