import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, existsSync, readdirSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { prepareAio } from '../../bin/aio.js';
import { proxySpec } from '../../proxy/config.js';
import { parseJunit, type TestResult } from './junit.js';

/**
 * Runs OpenStack Swift's own functional tests (test/functional of Swift 2.30.1, Debian's source
 * package, unpacked by scripts/swift-functional/install.sh) against a fresh `swiftlet aio` in a
 * temp folder, with Debian's python3 and pytest, and returns every test's outcome.
 */
export const SWIFT_SRC = process.env.SWIFTLET_SWIFT_SRC ?? '/var/cache/swiftlet/swift-src';
export const PYTHON = '/usr/bin/python3';
export const BASELINE_FILE = resolve('test/interop/swift-functional-baseline.json');
const PLUGIN_DIR = resolve('scripts/swift-functional');
const SWIFTLET_BIN = resolve('dist/bin/swiftlet.js');
/** Ids in the junit report start with the package path; ids here start at the module. */
const ID_PREFIX = 'test.functional.';

/**
 * The tempauth users of Swift's functional test config (test/sample.conf) beyond the aio's
 * defaults (test:tester, test2:tester2, test:tester3, admin:admin): a reseller admin on its own
 * account (user 6). The service-token user (5) needs a second reseller prefix, which Swiftlet's
 * tempauth does not have, so its tests skip (README "Differences from Swift").
 */
export const EXTRA_USERS = { 'test6:tester6': { key: 'testing6', roles: ['.reseller_admin'] } };

export function testConf(authUrl: string): string {
  return [
    '[func_test]',
    `auth_uri = ${authUrl}`,
    'account = test',
    'username = tester',
    'password = testing',
    'account2 = test2',
    'username2 = tester2',
    'password2 = testing2',
    'username3 = tester3',
    'password3 = testing3',
    'account6 = test6',
    'username6 = tester6',
    'password6 = testing6',
    'collate = C',
    'insecure = no',
    'storage_domain =',
    '',
  ].join('\n');
}

/** What a machine needs before a run; undefined when it has it all. */
export function missingPrerequisite(src = SWIFT_SRC): string | undefined {
  if (!existsSync(PYTHON)) return `${PYTHON} not found`;
  if (!existsSync(join(src, '.swiftlet-ready'))) return `Swift's test sources not in ${src} (run scripts/swift-functional/install.sh; .ci/run does)`;
  if (!existsSync('/usr/lib/python3/dist-packages/pytest_timeout.py')) return 'python3-pytest-timeout not installed (scripts/swift-functional/install.sh)';
  return undefined;
}

/** Every suite of Swift's test/functional (tests.py does not match pytest's test_*.py pattern). */
export function defaultTestFiles(src = SWIFT_SRC): string[] {
  const names = readdirSync(join(src, 'test/functional')).filter((n) => n === 'tests.py' || (n.startsWith('test_') && n.endsWith('.py')));
  return names.sort().map((n) => `test/functional/${n}`);
}

export interface RunOptions {
  src?: string;
  /** Test files relative to the Swift source (default: every suite but s3api). */
  files?: string[];
  /** More pytest arguments (e.g. ["-k", "testCopy"]). */
  pytestArgs?: string[];
  /** Keep the folder (cluster data and logs, test.conf, junit.xml) instead of removing it. */
  keep?: boolean;
  /** The whole pytest run is killed after this long (a hang must not hold up npm test). */
  timeoutMs?: number;
}

export interface FunctionalRun {
  results: Map<string, TestResult>;
  seconds: number;
  dir: string;
  swiftVersion: string;
  pytestExit: number | null;
}

interface Aio {
  proc: ChildProcess;
  authUrl: string;
  stop(): Promise<void>;
}

async function startAio(dir: string): Promise<Aio> {
  const data = join(dir, 'data');
  const layout = await prepareAio({ data, port: 0, bind: '127.0.0.1', nodes: 4, nodePortBase: 0, partPower: 10, verbose: false, daemons: true });
  const cfg = JSON.parse(await readFile(layout.proxyConfig, 'utf8')) as Record<string, unknown>;
  cfg.tempauth_users = { ...proxySpec.tempauth_users.default, ...EXTRA_USERS };
  await writeFile(layout.proxyConfig, JSON.stringify(cfg, null, 2) + '\n');

  const log = createWriteStream(join(dir, 'aio.log'));
  const proc = spawn(process.execPath, [SWIFTLET_BIN, 'aio', '--data', data, '--port', '0', '--bind', '127.0.0.1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stderr?.pipe(log, { end: false });
  const exited = new Promise<void>((res) => proc.once('exit', () => res()));
  const authUrl = await new Promise<string>((res, rej) => {
    const rl = createInterface({ input: proc.stdout as NodeJS.ReadableStream });
    rl.on('line', (line) => {
      log.write(line + '\n');
      if (!line.startsWith('{')) return;
      try {
        const rec = JSON.parse(line) as { msg?: string; auth_url?: string };
        if (rec.msg === 'aio ready' && rec.auth_url) res(rec.auth_url);
      } catch {
        /* a child's log line */
      }
    });
    void exited.then(() => rej(new Error(`swiftlet aio exited before it was ready (see ${join(dir, 'aio.log')})`)));
  });
  return {
    proc,
    authUrl,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
      await exited; // aio stops its children (SIGKILL after 5 s) before it exits
      log.end();
    },
  };
}

function runPytest(src: string, dir: string, args: string[], timeoutMs: number): Promise<number | null> {
  const log = createWriteStream(join(dir, 'pytest.log'));
  const proc = spawn(PYTHON, ['-m', 'pytest', ...args], {
    cwd: src,
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true, // its own process group, so a timeout ends everything it started
    env: {
      ...process.env,
      SWIFT_TEST_CONFIG_FILE: join(dir, 'test.conf'),
      PYTHONPATH: PLUGIN_DIR,
      PYTHONDONTWRITEBYTECODE: '1',
    },
  });
  proc.stdout?.pipe(log, { end: false });
  proc.stderr?.pipe(log, { end: false });
  const timer = setTimeout(() => {
    log.write(`\nswiftlet: pytest still running after ${timeoutMs} ms: killed\n`);
    if (proc.pid !== undefined) process.kill(-proc.pid, 'SIGKILL');
  }, timeoutMs);
  return new Promise((res, rej) => {
    proc.once('error', rej);
    proc.once('close', (code) => {
      clearTimeout(timer);
      log.end();
      res(code);
    });
  });
}

export async function runSwiftFunctional(opts: RunOptions = {}): Promise<FunctionalRun> {
  const src = opts.src ?? SWIFT_SRC;
  const dir = await mkdtemp(join(tmpdir(), 'swiftlet-swift-func-'));
  const started = performance.now();
  const aio = await startAio(dir);
  let pytestExit: number | null;
  try {
    await writeFile(join(dir, 'test.conf'), testConf(aio.authUrl));
    const args = [
      '-q',
      '-p', 'no:cacheprovider',
      // Caps Swift's retry backoffs (scripts/swift-functional/swiftlet_pytest_plugin.py).
      '-p', 'swiftlet_pytest_plugin',
      // A test that hangs fails on its own instead of stopping the rest.
      '--timeout', '120',
      `--junitxml=${join(dir, 'junit.xml')}`,
      ...(opts.pytestArgs ?? []),
      ...(opts.files ?? defaultTestFiles(src)),
    ];
    pytestExit = await runPytest(src, dir, args, opts.timeoutMs ?? 15 * 60_000);
  } finally {
    await aio.stop();
  }
  const junit = join(dir, 'junit.xml');
  if (!existsSync(junit)) throw new Error(`pytest wrote no report (exit ${pytestExit}); see ${join(dir, 'pytest.log')}`);
  const results = parseJunit(await readFile(junit, 'utf8'), ID_PREFIX);
  const swiftVersion = (await readFile(join(src, '.swiftlet-ready'), 'utf8')).trim();
  if (!opts.keep) await rm(dir, { recursive: true, force: true });
  return { results, seconds: (performance.now() - started) / 1000, dir, swiftVersion, pytestExit };
}
