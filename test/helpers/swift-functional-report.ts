import type { Outcome, TestResult } from './junit.js';

/**
 * What a run of Swift's functional tests says, as numbers and text: counts per test module,
 * the failing tests grouped by module, and the comparison with the committed baseline (the tests
 * known to pass). Pure functions over parsed results, so the interop test and the by-hand CLI
 * print the same thing.
 */
export interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

/** The committed baseline: which tests passed against Swiftlet when it was last raised. */
export interface Baseline {
  about: string;
  swift: string;
  /** The commit the run was made on (the tree may have had changes on top). */
  made_from?: string;
  counts: Counts;
  not_run: Record<string, string>;
  pass: string[];
}

/** "tests.TestFile.testCopy" → "test/functional/tests.py::TestFile::testCopy", pytest's name for it. */
export function pytestNodeId(id: string): string {
  const [module, ...rest] = id.split('.');
  return `test/functional/${module}.py::${rest.join('::')}`;
}

/** "tests.TestFile.testCopy" → "tests" (the file under Swift's test/functional, without .py). */
export function moduleOf(id: string): string {
  return id.split('.')[0] as string;
}

function bucket(outcome: Outcome): keyof Counts {
  return outcome === 'passed' ? 'passed' : outcome === 'skipped' ? 'skipped' : 'failed';
}

export function countAll(results: Iterable<TestResult>): Counts {
  const c: Counts = { passed: 0, failed: 0, skipped: 0 };
  for (const r of results) c[bucket(r.outcome)]++;
  return c;
}

export function countByModule(results: Iterable<TestResult>): Map<string, Counts> {
  const out = new Map<string, Counts>();
  for (const r of results) {
    const m = moduleOf(r.id);
    const c = out.get(m) ?? { passed: 0, failed: 0, skipped: 0 };
    c[bucket(r.outcome)]++;
    out.set(m, c);
  }
  return new Map([...out].sort(([a], [b]) => a.localeCompare(b)));
}

export interface Comparison {
  /** Baseline passes that did not pass this time (failed, errored, skipped or not run). */
  regressions: { id: string; outcome: Outcome | 'not run'; message: string }[];
  /** Passes the baseline does not list yet: raise it. */
  newlyPassing: string[];
}

export function compareWithBaseline(baselinePass: readonly string[], results: ReadonlyMap<string, TestResult>): Comparison {
  const known = new Set(baselinePass);
  const regressions: Comparison['regressions'] = [];
  for (const id of baselinePass) {
    const r = results.get(id);
    if (r?.outcome !== 'passed') regressions.push({ id, outcome: r?.outcome ?? 'not run', message: r?.message ?? '' });
  }
  const newlyPassing = [...results.values()].filter((r) => r.outcome === 'passed' && !known.has(r.id)).map((r) => r.id);
  return { regressions, newlyPassing: newlyPassing.sort() };
}

/** The baseline a run would set: its passes, sorted, with the given notes kept. */
export function baselineFrom(results: ReadonlyMap<string, TestResult>, keep: Omit<Baseline, 'counts' | 'pass'>): Baseline {
  const pass = [...results.values()].filter((r) => r.outcome === 'passed').map((r) => r.id);
  return { ...keep, counts: countAll(results.values()), pass: pass.sort() };
}

function firstLine(s: string, max = 200): string {
  const line = s.split('\n')[0] ?? '';
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** The summary per module, then every test that failed or errored, grouped by module. */
export function formatReport(results: ReadonlyMap<string, TestResult>): string {
  const lines: string[] = [];
  const total = countAll(results.values());
  lines.push(`${total.passed} passed, ${total.failed} failed, ${total.skipped} skipped`);
  lines.push('');
  lines.push(`${'module'.padEnd(24)} ${'passed'.padStart(6)} ${'failed'.padStart(6)} ${'skipped'.padStart(7)}`);
  for (const [m, c] of countByModule(results.values())) {
    lines.push(`${m.padEnd(24)} ${String(c.passed).padStart(6)} ${String(c.failed).padStart(6)} ${String(c.skipped).padStart(7)}`);
  }
  const failing = [...results.values()].filter((r) => r.outcome === 'failed' || r.outcome === 'error');
  for (const [m] of countByModule(failing)) {
    lines.push('', `failing in ${m}:`);
    for (const r of failing.filter((x) => moduleOf(x.id) === m).sort((a, b) => a.id.localeCompare(b.id))) {
      lines.push(`  ${r.id.slice(m.length + 1)}${r.outcome === 'error' ? ' (error)' : ''}`);
      if (r.message) lines.push(`      ${firstLine(r.message)}`);
    }
  }
  return lines.join('\n');
}
