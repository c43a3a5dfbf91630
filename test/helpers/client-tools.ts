import { execFile, spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { SeededRandom } from '../../common/random.js';
import type { Cluster } from './cluster.js';

const run = promisify(execFile);
/** Debian's swift CLI must run under the system Python (its modules live there). */
export const PYTHON = '/usr/bin/python3';
export const SWIFT = '/usr/bin/swift';
export const CURL = '/usr/bin/curl';

/** Seeded bytes: the same file every run. */
export function seededBytes(n: number, seed: number): Buffer {
  const rnd = new SeededRandom(seed);
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i += 4) b.writeUInt32LE(Math.floor(rnd.next() * 2 ** 32), Math.min(i, n - 4));
  return b;
}

export interface CurlAnswer {
  status: number;
  /** The final answer's headers, names lower-cased. */
  headers: Record<string, string>;
  body: string;
}

/** curl against a URL (extra arguments before it: -X, -T, -F, -H...): the final answer, its body as latin-1 text. */
export async function curl(url: string, ...args: string[]): Promise<CurlAnswer> {
  const { stdout } = await run(CURL, ['-s', '-S', '-D', '-', '--path-as-is', ...args, url], { encoding: 'latin1', maxBuffer: 16 << 20 });
  let rest = stdout;
  // Interim answers (100 Continue for curl -T and -F) come first, each with its own blank line.
  while (/^HTTP\/1\.1 1\d\d /.test(rest)) rest = rest.slice(rest.indexOf('\r\n\r\n') + 4);
  const split = rest.indexOf('\r\n\r\n');
  const head = rest.slice(0, split).split('\r\n');
  const headers: Record<string, string> = {};
  for (const line of head.slice(1)) {
    const c = line.indexOf(':');
    headers[line.slice(0, c).toLowerCase()] = line.slice(c + 1).trim();
  }
  return { status: Number((head[0] ?? '').split(' ')[1]), headers, body: rest.slice(split + 4) };
}

/** The swift CLI as one tempauth user of the cluster, run in `cwd`: its stdout (a failure rejects). */
export function swiftAs(cluster: Cluster, cwd: string, user: string, key: string): (...args: string[]) => Promise<string> {
  return async (...args) => (await run(PYTHON, [SWIFT, '-A', cluster.authUrl, '-U', user, '-K', key, ...args], { cwd })).stdout;
}

/** A CLI run's stderr when it fails, 'ok' when it succeeds. */
export function outcome(p: Promise<unknown>): Promise<string> {
  return p.then(
    () => 'ok',
    (e: { stderr?: string }) => e.stderr ?? String(e),
  );
}

/** A command of a swift CLI session that failed: its exit status, stdout and stderr (like execFile's error). */
export class SwiftCliError extends Error {
  constructor(readonly code: number, readonly stdout: string, readonly stderr: string) {
    super(`swift exited ${code}: ${stderr}`);
  }
}

export interface SwiftSession {
  /** The swift CLI as one tempauth user: its stdout (a failure rejects with a SwiftCliError). */
  as(user: string, key: string): (...args: string[]) => Promise<string>;
  close(): void;
}

/**
 * The swift CLI's own main (what /usr/bin/swift runs) in one python process run in `cwd`, one command
 * after another: each command as the CLI runs it, without a second of imports each time
 * (test/helpers/swift-cli-session.py).
 */
export function swiftSession(cluster: Cluster, cwd: string): SwiftSession {
  const py = pythonSession(resolve('test/helpers/swift-cli-session.py'), [], cwd);
  let queue: Promise<unknown> = Promise.resolve();
  const command = async (argv: string[]): Promise<string> => {
    const a = JSON.parse(await py.ask(['swift', ...argv])) as { code: number; stdout: string; stderr: string };
    const out = Buffer.from(a.stdout, 'base64').toString();
    if (a.code !== 0) throw new SwiftCliError(a.code, out, Buffer.from(a.stderr, 'base64').toString());
    return out;
  };
  return {
    as: (user, key) => (...args) => {
      const next = queue.then(() => command(['-A', cluster.authUrl, '-U', user, '-K', key, ...args]));
      queue = next.catch(() => undefined);
      return next;
    },
    close: py.close,
  };
}

/**
 * A python script (under the system Python) that answers each JSON line on its stdin with one line:
 * `ask` sends one and waits for its answer (one question at a time).
 */
export function pythonSession(script: string, args: string[], cwd: string): { ask(question: unknown): Promise<string>; close(): void } {
  const py = spawn(PYTHON, [script, ...args], { cwd, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  py.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const answers = createInterface({ input: py.stdout })[Symbol.asyncIterator]();
  return {
    async ask(question) {
      py.stdin.write(`${JSON.stringify(question)}\n`);
      const line = await answers.next();
      if (line.done) throw new Error(`${script} exited: ${stderr}`);
      return line.value;
    },
    close: () => void py.kill(),
  };
}
