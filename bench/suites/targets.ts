import { readFileSync } from 'node:fs';
import { basename, relative } from 'node:path';
import { BenchUsageError, parseList } from '../args.js';
import { machineAtEnd, machineInfo, machineMarkdown, resultsDir, writeResultFiles } from '../machine.js';
import { Progress } from '../progress.js';
import { judgeLargeObjects, judgeListing, judgeMemory, judgeRing, judgeSmallObjects, targetsSummary, targetsTable, type TargetRow } from '../targets.js';
import { listingSuite } from './listing.js';
import { memorySuite } from './memory.js';
import { sideBySideSuite, type SuiteContext, type SuiteOutcome } from './objects.js';
import { ringSuite } from './ring.js';

/**
 * `targets`: every figure the benchmark issue sets, measured in one invocation and judged.
 * The suites run one after another, each with the options its row of bench/RESULTS.md gives and
 * each writing its own results folder as usual; then their results.json files are judged
 * (bench/targets.ts) into one table: target, measured, met or not, and the folder it came from.
 *
 * `--quick` runs every part small (seconds instead of minutes, 20,000 listing rows, part power 14,
 * a 2-minute soak, a 256 MiB object): a check of the harness, not of the targets; its report says so.
 */
interface Part {
  name: string;
  what: string;
  suite: string;
  run: (ctx: SuiteContext) => Promise<SuiteOutcome>;
  options: (quick: boolean) => Record<string, string>;
  judge: (json: never, source: string) => TargetRow[];
}

export const TARGET_PARTS: readonly Part[] = [
  {
    name: 'small',
    what: '4 KiB objects, side by side with Swift',
    suite: 'side-by-side',
    run: sideBySideSuite,
    options: (q) => ({ sizes: '4k', concurrency: '16,64', ops: 'put,get,head,list,delete', duration: q ? '3s' : '10s', repeat: q ? '1' : '3', ...(q ? { warmup: '3s' } : {}) }),
    judge: judgeSmallObjects as Part['judge'],
  },
  {
    name: 'large',
    what: '64 MiB objects, side by side with Swift',
    suite: 'side-by-side',
    run: sideBySideSuite,
    options: (q) => ({ sizes: '64m', concurrency: '4', count: q ? '4' : '16', ops: 'put,get', repeat: q ? '1' : '3' }),
    judge: judgeLargeObjects as Part['judge'],
  },
  {
    name: 'listing',
    what: 'listing a container of 1,000,000 objects in 10,000-entry pages, side by side with Swift',
    suite: 'listing',
    run: listingSuite,
    options: (q) => ({ objects: q ? '20000' : '1000000', page: '10000', repeat: q ? '1' : '3' }),
    judge: judgeListing as Part['judge'],
  },
  {
    name: 'ring',
    what: 'ring rebalance at part power 18, next to swift-ring-builder',
    suite: 'ring',
    run: ringSuite,
    options: (q) => ({ 'part-powers': q ? '14' : '18', devices: '10,100,1000', repeat: q ? '1' : '2' }),
    judge: judgeRing as Part['judge'],
  },
  {
    name: 'memory',
    what: "Swiftlet's memory over a 10-minute soak and a streamed 5 GiB object",
    suite: 'memory',
    run: memorySuite,
    options: (q) => ({ duration: q ? '2m' : '10m', 'big-size': q ? '256m' : '5g' }),
    judge: judgeMemory as Part['judge'],
  },
];

function commandOf(suite: string, opts: Record<string, string>): string {
  return `npm run bench -- ${suite} ${Object.entries(opts)
    .map(([k, v]) => `--${k} ${v}`)
    .join(' ')}`;
}

export async function targetsSuite(ctx: SuiteContext): Promise<SuiteOutcome> {
  const o = ctx.options;
  const quick = o.get('quick') === 'true';
  const only = o.has('only') ? parseList(o.get('only') as string, (s) => s) : TARGET_PARTS.map((p) => p.name);
  for (const n of only) if (!TARGET_PARTS.some((p) => p.name === n)) throw new BenchUsageError(`--only: unknown part ${JSON.stringify(n)} (parts: ${TARGET_PARTS.map((p) => p.name).join(', ')})`);
  const parts = TARGET_PARTS.filter((p) => only.includes(p.name));
  const progress = new Progress();
  const m0 = machineInfo();
  const dir = resultsDir(ctx.outRoot, 'targets');
  const rows: TargetRow[] = [];
  const ran: Array<{ part: string; command: string; dir?: string; code: number; minutes: number; error?: string }> = [];
  const passOn: Record<string, string> = {};
  for (const k of ['max-steal', 'steal-retries']) if (o.has(k)) passOn[k] = o.get(k) as string;
  for (const part of parts) {
    const opts = { ...part.options(quick), ...(part.suite === 'side-by-side' ? passOn : {}) };
    const command = commandOf(part.suite, opts);
    progress.line(`targets: ${part.name}: ${part.what}: ${command}`);
    const t0 = Date.now();
    let outcome: SuiteOutcome = { code: 1 };
    let error: string | undefined;
    try {
      outcome = await part.run({ options: new Map(Object.entries(opts)), command, outRoot: ctx.outRoot });
    } catch (err) {
      // one part failing does not stop the others: its targets are reported as not measured
      error = err instanceof Error ? err.message : String(err);
      progress.line(`targets: ${part.name} failed: ${error}`);
    }
    const source = outcome.dir ? relative(dir, outcome.dir) : undefined;
    ran.push({ part: part.name, command, dir: outcome.dir ? basename(outcome.dir) : undefined, code: outcome.code, minutes: (Date.now() - t0) / 60_000, ...(error ? { error } : {}) });
    if (outcome.dir) rows.push(...part.judge(JSON.parse(readFileSync(`${outcome.dir}/results.json`, 'utf8')) as never, source as string));
    else rows.push({ target: part.what, measured: `not measured: ${error ?? `exit ${outcome.code}`}`, met: undefined });
  }
  const sum = targetsSummary(rows);
  const m = machineAtEnd(m0);
  const table = targetsTable(rows);
  const verdict = quick
    ? `**Quick run** (\`--quick\`): every part at a small scale to check the harness; the verdicts below are not the issue's targets.`
    : `**${sum.met} of ${sum.judged} targets met**${sum.allMet ? ': all of them' : ''}.`;
  const md = [
    '# targets: every figure the benchmark issue sets, in one invocation',
    '',
    machineMarkdown(m),
    `- command: \`${ctx.command}\``,
    '',
    verdict,
    '',
    table,
    '## The parts, in the order they ran',
    '',
    '| part | command (each part alone) | results | exit | minutes |',
    '|---|---|---|---:|---:|',
    ...ran.map((r) => `| ${r.part} | \`${r.command}\` | ${r.dir ? `[${r.dir}](../${r.dir}/results.md)` : `— ${r.error ?? ''}`} | ${r.code} | ${(Math.round(r.minutes * 10) / 10).toFixed(1)} |`),
    '',
  ].join('\n');
  writeResultFiles(dir, {
    'results.json': JSON.stringify({ suite: 'targets', command: ctx.command, quick, machine: m, summary: sum, rows, parts: ran }, null, 2) + '\n',
    'results.md': md,
  });
  process.stdout.write(`\n${verdict}\n\n${table}\nwrote ${dir}/{results.json,results.md}\n`);
  return { code: ran.some((r) => r.code !== 0) ? 1 : quick || sum.allMet ? 0 : 3, dir };
}
