import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Agent, fetch } from 'undici';

const run = promisify(execFile);
// uwsgi's --http-socket closes each connection after its answer: no keep-alive (pipelining 0).
const once = new Agent({ pipelining: 0 });

/**
 * A real OpenStack Keystone (Debian's keystone package) for interop tests: sqlite and fernet keys
 * in a temp dir, `keystone-manage db_sync` and `bootstrap`, served by uwsgi on a free port.
 * uwsgi reloads on SIGTERM: it is stopped with SIGINT (SIGKILL to its group if it lingers).
 */
export interface Keystone {
  url: string;
  dir: string;
  /** A request to the identity API as the bootstrap admin; the body parsed as JSON when there is one. */
  api(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; json: any }>; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** A project-scoped token for a user (name, password, project name; domain Default). */
  token(user: string, password: string, project: string): Promise<string>;
  stop(): Promise<void>;
}

export const ADMIN_PASSWORD = 'keystone-admin-pw';

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** A fernet key as keystone-manage fernet_setup writes one: 32 random bytes, URL-safe base64. */
function fernetKey(): string {
  return randomBytes(32).toString('base64').replace(/\+/g, '-').replace(/\//g, '_');
}

export async function startKeystone(): Promise<Keystone> {
  const dir = await mkdtemp(join(tmpdir(), 'keystone-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/v3`;
  for (const sub of ['fernet', 'credential', 'receipts']) {
    await mkdir(join(dir, sub), { mode: 0o700 });
    // Keys 0 (staged) and 1 (primary), as fernet_setup and credential_setup make them.
    for (const n of ['0', '1']) await writeFile(join(dir, sub, n), fernetKey(), { mode: 0o600 });
  }
  const conf = join(dir, 'keystone.conf');
  await writeFile(
    conf,
    [
      '[DEFAULT]',
      `log_file = ${join(dir, 'keystone.log')}`,
      '[database]',
      `connection = sqlite:///${join(dir, 'keystone.db')}`,
      '[fernet_tokens]',
      `key_repository = ${join(dir, 'fernet')}`,
      '[fernet_receipts]',
      `key_repository = ${join(dir, 'receipts')}`,
      '[credential]',
      `key_repository = ${join(dir, 'credential')}`,
      // bcrypt's fewest rounds: every login hashes the password (12 rounds take a CPU-second under load).
      '[identity]',
      'password_hash_rounds = 4',
      '[token]',
      'expiration = 3600',
      '',
    ].join('\n'),
  );
  const manage = (...args: string[]) => run('/usr/bin/keystone-manage', ['--config-file', conf, ...args], { cwd: dir, env: { ...process.env, PATH: `/usr/bin:${process.env.PATH ?? ''}` } });
  await manage('db_sync');
  await manage('bootstrap', '--bootstrap-password', ADMIN_PASSWORD, '--bootstrap-public-url', url, '--bootstrap-region-id', 'RegionOne');
  // Write-ahead logging: a reader Keystone leaves open does not fail the next write's commit
  // ("database is locked", a 500) as it does with sqlite's default rollback journal.
  await run('/usr/bin/python3', ['-c', 'import sqlite3,sys; sqlite3.connect(sys.argv[1]).execute("PRAGMA journal_mode=WAL")', join(dir, 'keystone.db')]);
  const log = createWriteStream(join(dir, 'uwsgi.log'));
  const proc: ChildProcess = spawn(
    '/usr/bin/uwsgi',
    ['--plugin', 'python3', '--http-socket', `127.0.0.1:${port}`, '--wsgi-file', '/usr/bin/keystone-wsgi-public', '--master', '--processes', '1', '--threads', '1', '--die-on-term'],
    { cwd: dir, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OS_KEYSTONE_CONFIG_FILES: conf } },
  );
  proc.stdout?.pipe(log);
  proc.stderr?.pipe(log);
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  const stop = async (): Promise<void> => {
    if (proc.exitCode === null && proc.signalCode === null) {
      try {
        process.kill(-(proc.pid as number), 'SIGINT');
      } catch {
        /* gone */
      }
      const timer = setTimeout(() => {
        try {
          process.kill(-(proc.pid as number), 'SIGKILL');
        } catch {
          /* gone */
        }
      }, 10_000);
      await exited;
      clearTimeout(timer);
    }
    if (!process.env.KEYSTONE_TEST_KEEP) await rm(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; ; i++) {
      if (proc.exitCode !== null) throw new Error(`uwsgi exited ${proc.exitCode}: ${await readFile(join(dir, 'uwsgi.log'), 'utf8')}`);
      try {
        if ((await fetch(url, { dispatcher: once })).status === 200) break;
      } catch {
        /* not listening yet */
      }
      if (i > 600) throw new Error('Keystone did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const token = async (user: string, password: string, project: string): Promise<string> => {
    const res = await fetch(`${url}/auth/tokens?nocatalog`, {
      dispatcher: once,
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        auth: {
          identity: { methods: ['password'], password: { user: { name: user, domain: { name: 'Default' }, password } } },
          scope: { project: { name: project, domain: { name: 'Default' } } },
        },
      }),
    });
    await res.arrayBuffer();
    const t = res.headers.get('x-subject-token');
    if (res.status !== 201 || !t) throw new Error(`login of ${user} answered ${res.status}`);
    return t;
  };
  const adminToken = await token('admin', ADMIN_PASSWORD, 'admin');
  const api: Keystone['api'] = async (method, path, body, headers = {}) => {
    const res = await fetch(url + path, {
      dispatcher: once,
      method,
      headers: { 'X-Auth-Token': adminToken, ...(body !== undefined ? { 'Content-Type': 'application/json' } : {}), ...headers },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? JSON.parse(text) : undefined };
  };
  return { url, dir, api, token, stop };
}
