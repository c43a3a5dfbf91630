import { execFileSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { BASELINE_FILE, missingPrerequisite, runSwiftFunctional } from './swift-functional.js';
import { baselineFrom, compareWithBaseline, formatReport, type Baseline } from './swift-functional-report.js';

/**
 * By hand: `npm run swift-functional [-- [--keep] [--write-baseline] [pytest args or test files]]`.
 * Runs Swift's functional tests against a fresh all-in-one and prints the counts per module, every
 * failing test with its message, grouped by module, and how the run compares with the baseline.
 * Test files are paths in Swift's source (test/functional/tests.py); other arguments go to pytest
 * as they are (-k testCopy, -x, …).
 */
const argv = process.argv.slice(2);
const keep = argv.includes('--keep');
const writeBaseline = argv.includes('--write-baseline');
if (argv.includes('--help') || argv.includes('-h')) {
  console.log('usage: npm run swift-functional -- [--keep] [--write-baseline] [test/functional/FILE.py ...] [pytest args]');
  process.exit(0);
}

const missing = missingPrerequisite();
if (missing) {
  console.error(missing);
  process.exit(2);
}

const rest = argv.filter((a) => a !== '--keep' && a !== '--write-baseline');
const files = rest.filter((a) => a.startsWith('test/functional/'));
const pytestArgs = rest.filter((a) => !a.startsWith('test/functional/'));

const run = await runSwiftFunctional({ files: files.length ? files : undefined, pytestArgs, keep });
console.log(`Swift ${run.swiftVersion} functional tests against Swiftlet (${run.seconds.toFixed(0)} s)`);
console.log(formatReport(run.results));

const baseline = JSON.parse(await readFile(BASELINE_FILE, 'utf8')) as Baseline;
const cmp = compareWithBaseline(baseline.pass, run.results);
const partial = files.length > 0 || pytestArgs.length > 0;
console.log('');
if (partial) console.log('(a subset ran: baseline passes that did not run are not counted)');
const regressions = partial ? cmp.regressions.filter((r) => r.outcome !== 'not run') : cmp.regressions;
console.log(`against the baseline (${baseline.pass.length} passes): ${regressions.length} regressions, ${cmp.newlyPassing.length} newly passing`);
for (const r of regressions) console.log(`  REGRESSION ${r.id}: ${r.outcome} ${r.message.split('\n')[0]}`);
for (const id of cmp.newlyPassing) console.log(`  newly passing ${id}`);
if (keep) console.log(`\nkept: ${run.dir} (aio.log, pytest.log, junit.xml, test.conf, data/)`);

if (writeBaseline) {
  if (partial) {
    console.error('--write-baseline needs a full run (no test files or pytest arguments)');
    process.exit(2);
  }
  let commit = 'unknown';
  try {
    commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
  } catch {
    /* not a git checkout */
  }
  const next = baselineFrom(run.results, { about: baseline.about, swift: run.swiftVersion, made_from: commit, not_run: baseline.not_run });
  await writeFile(BASELINE_FILE, JSON.stringify(next, null, 2) + '\n');
  console.log(`wrote ${BASELINE_FILE}: ${next.counts.passed} passed, ${next.counts.failed} failed, ${next.counts.skipped} skipped`);
}
process.exit(regressions.length ? 1 : 0);
