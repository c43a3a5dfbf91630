import { isSwiftletError } from '../common/errors.js';

/** Where a CLI command writes and what it reads from its surroundings; tests pass their own. */
export interface CliIo {
  out(s: string): void;
  err(s: string): void;
  env: Record<string, string | undefined>;
  now(): number;
}

export const processIo: CliIo = {
  out: (s) => void process.stdout.write(s),
  err: (s) => void process.stderr.write(s),
  env: process.env,
  now: () => Date.now(),
};

export const EXIT_OK = 0;
/** Like swift-ring-builder's EXIT_WARNING: nothing done, e.g. no partition could be reassigned. */
export const EXIT_WARNING = 1;
/** Usage errors and failures. */
export const EXIT_ERROR = 2;

/** A bad command line: the message goes to stderr with the usage, exit 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Splits `--name value` / `--name=value` / `--flag` options from positional arguments. */
export function parseArgs(argv: string[], withValue: readonly string[], bare: readonly string[] = []): { pos: string[]; opts: Map<string, string> } {
  const pos: string[] = [];
  const opts = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--') || a === '--') {
      pos.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const name = a.slice(2, eq < 0 ? undefined : eq);
    if (bare.includes(name)) {
      opts.set(name, 'true');
    } else if (withValue.includes(name)) {
      const v = eq >= 0 ? a.slice(eq + 1) : argv[++i];
      if (v === undefined) throw new UsageError(`option --${name} needs a value`);
      opts.set(name, v);
    } else {
      throw new UsageError(`unknown option --${name}`);
    }
  }
  return { pos, opts };
}

export function parseNumber(s: string | undefined, what: string, integer = false): number {
  const n = s === undefined || s.trim() === '' ? NaN : Number(s);
  if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) throw new UsageError(`${what} must be ${integer ? 'an integer' : 'a number'}, got ${JSON.stringify(s)}`);
  return n;
}

/** Runs a command body, turning thrown errors into a message and an exit code. */
export async function runCli(io: CliIo, usage: string, body: () => Promise<number> | number): Promise<number> {
  try {
    return await body();
  } catch (e) {
    if (e instanceof UsageError) {
      io.err(`error: ${e.message}\n\n${usage}`);
      return EXIT_ERROR;
    }
    if (isSwiftletError(e)) {
      io.err(`error: ${e.message}\n`);
      return EXIT_ERROR;
    }
    io.err(`error: ${(e as Error)?.message ?? String(e)}\n`);
    return EXIT_ERROR;
  }
}
