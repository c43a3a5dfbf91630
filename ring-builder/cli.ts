import { existsSync } from 'node:fs';
import { randomInt } from 'node:crypto';
import { RingBuilder } from './builder.js';
import { formatDevice, parseAddValue, type NewDevice } from './device-spec.js';
import { writeRingFile } from './ring-format.js';
import { EXIT_ERROR, EXIT_OK, EXIT_WARNING, UsageError, parseArgs, parseNumber, processIo, runCli, type CliIo } from './cli-io.js';

export type { CliIo } from './cli-io.js';

const USAGE = `usage: swiftlet ring <builder-file> [command] [args]

  create <part_power> <replicas> <min_part_hours>
  add r<region>z<zone>-<ip>:<port>/<device>[_<meta>] <weight> [...more pairs]
  add --region R --zone Z --ip IP --port P --device D --weight W [--meta M]
  set_weight <search-value> <weight> [...more pairs]
  remove <search-value> [...]
  search <search-value>
  rebalance [--seed N] [--force]      also writes <name>.ring.gz next to <name>.builder
  show                                 (the default)
  validate
  write_ring
  pretend_min_part_hours_passed
  set_min_part_hours <hours>

search values: d<id>r<region>z<zone>-<ip>:<port>/<device>_<meta>, every part optional
               (d3, r1z2, r1z2-127.0.0.1:6200/sdb, 127.0.0.1, /sdb)
exit codes: 0 done, 1 nothing to do (e.g. no partition could be reassigned), 2 error
`;

/** `object.builder` → `object.ring.gz` (any other name: `<name>.ring.gz`). */
export function ringFileForBuilder(builderFile: string): string {
  return `${builderFile.replace(/\.builder$/, '')}.ring.gz`;
}

/** `swiftlet ring <builder-file> <command> ...` in the spirit of swift-ring-builder. Returns the exit code. */
export async function ringCli(argv: string[], io: CliIo = processIo): Promise<number> {
  return runCli(io, USAGE, () => {
    const args = argv[0] === 'ring' ? argv.slice(1) : argv;
    const [file, command = 'show', ...rest] = args;
    if (!file || file === '-h' || file === '--help') throw new UsageError('missing <builder-file>');
    if (command === 'create') return create(io, file, rest);
    if (!existsSync(file)) {
      io.err(`error: builder file ${file} does not exist (use "create")\n`);
      return EXIT_ERROR;
    }
    const b = RingBuilder.loadBuilder(file);
    const cmd = COMMANDS[command];
    if (!cmd) throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    return cmd(io, file, b, rest);
  });
}

type Command = (io: CliIo, file: string, b: RingBuilder, args: string[]) => number;

function create(io: CliIo, file: string, args: string[]): number {
  if (args.length !== 3) throw new UsageError('create needs <part_power> <replicas> <min_part_hours>');
  if (existsSync(file)) {
    io.err(`error: builder file ${file} already exists\n`);
    return EXIT_ERROR;
  }
  const [pp, reps, mph] = args;
  const b = new RingBuilder(parseNumber(pp, 'part_power', true), parseNumber(reps, 'replicas', true), parseNumber(mph, 'min_part_hours', true));
  b.saveBuilder(file);
  io.out(`Created ${file}: ${b.partCount} partitions, ${b.replicas} replicas, min_part_hours ${b.minPartHours}\n`);
  return EXIT_OK;
}

const COMMANDS: Record<string, Command> = {
  show(io, file, b, args) {
    if (args.length > 0) throw new UsageError('show takes no arguments');
    io.out(`${file}\n${b.report().text}`);
    return EXIT_OK;
  },

  add(io, file, b, args) {
    const { pos, opts } = parseArgs(args, ['region', 'zone', 'ip', 'port', 'device', 'weight', 'meta']);
    const devices: NewDevice[] = [];
    if (opts.size > 0) {
      if (pos.length > 0) throw new UsageError('add: use either <dev> <weight> pairs or --options, not both');
      const need = (k: string): string => {
        const v = opts.get(k);
        if (v === undefined) throw new UsageError(`add: missing --${k}`);
        return v;
      };
      devices.push({
        region: parseNumber(opts.get('region') ?? '1', 'region', true),
        zone: parseNumber(need('zone'), 'zone', true),
        ip: need('ip'),
        port: parseNumber(need('port'), 'port', true),
        device: need('device'),
        weight: parseNumber(need('weight'), 'weight'),
        meta: opts.get('meta') ?? '',
      });
    } else {
      if (pos.length === 0 || pos.length % 2 !== 0) throw new UsageError('add needs <dev> <weight> pairs');
      for (let i = 0; i < pos.length; i += 2) devices.push(parseAddValue(pos[i], parseNumber(pos[i + 1], 'weight')));
    }
    for (const d of devices) {
      const id = b.addDevice(d);
      io.out(`Device d${id}${formatDevice(d)}_"${d.meta ?? ''}" with ${d.weight} weight got id ${id}\n`);
    }
    b.saveBuilder(file);
    return EXIT_OK;
  },

  set_weight(io, file, b, args) {
    if (args.length === 0 || args.length % 2 !== 0) throw new UsageError('set_weight needs <search-value> <weight> pairs');
    for (let i = 0; i < args.length; i += 2) {
      const weight = parseNumber(args[i + 1], 'weight');
      for (const d of matchSome(b, args[i])) {
        b.setWeight(d.id, weight);
        io.out(`d${d.id}${formatDevice(d)} weight set to ${weight}\n`);
      }
    }
    b.saveBuilder(file);
    return EXIT_OK;
  },

  remove(io, file, b, args) {
    if (args.length === 0) throw new UsageError('remove needs <search-value>');
    for (const value of args) {
      for (const d of matchSome(b, value)) {
        b.removeDevice(d.id);
        io.out(`d${d.id}${formatDevice(d)} marked for removal; its partitions move at the next rebalance\n`);
      }
    }
    b.saveBuilder(file);
    return EXIT_OK;
  },

  search(io, _file, b, args) {
    if (args.length !== 1) throw new UsageError('search needs one <search-value>');
    const found = b.searchDevices(args[0]);
    if (found.length === 0) {
      io.out('No matching devices found\n');
      return EXIT_ERROR;
    }
    for (const d of found) io.out(`d${d.id}${formatDevice(d)}_"${d.meta}" weight ${d.weight}\n`);
    return EXIT_OK;
  },

  rebalance(io, file, b, args) {
    const { pos, opts } = parseArgs(args, ['seed'], ['force']);
    if (pos.length > 0) throw new UsageError('rebalance takes only --seed N and --force');
    const seed = opts.has('seed') ? parseNumber(opts.get('seed'), 'seed', true) : randomInt(2 ** 31);
    const now = io.now();
    const waitHours = b.minPartHoursRemaining(now);
    const removing = b.pendingRemovals.length;
    const before = b.report().balance;
    const r = b.rebalance({ seed, now });
    if (r.moved === 0 && removing === 0 && !opts.has('force')) {
      io.out('No partitions could be reassigned.\n');
      io.out(
        waitHours > 0
          ? `Partitions moved within the last min_part_hours (${b.minPartHours}); ${waitHours} hour(s) remaining (or run pretend_min_part_hours_passed).\n`
          : 'There is no need to do so at this time.\n',
      );
      return EXIT_WARNING;
    }
    b.saveBuilder(file);
    const ring = ringFileForBuilder(file);
    writeRingFile(ring, b.toRingData());
    const pct = ((100 * r.moved) / (b.partCount * b.replicas)).toFixed(2);
    io.out(`Reassigned ${r.moved} (${pct}%) partition-replicas. Balance is now ${r.balance.toFixed(2)} (was ${before.toFixed(2)}). Dispersion is now ${r.dispersion.toFixed(2)}. Seed ${seed}.\n`);
    if (r.balance > 5) {
      io.out(`NOTE: balance of ${r.balance.toFixed(2)} means you should push this ring, wait at least ${b.minPartHours} hours, and rebalance/repush.\n`);
    }
    io.out(`Wrote ${ring}\n`);
    return EXIT_OK;
  },

  validate(io, _file, b, args) {
    if (args.length > 0) throw new UsageError('validate takes no arguments');
    b.validate();
    io.out('Builder is valid.\n');
    return EXIT_OK;
  },

  write_ring(io, file, b, args) {
    if (args.length > 0) throw new UsageError('write_ring takes no arguments');
    const ring = ringFileForBuilder(file);
    writeRingFile(ring, b.toRingData());
    io.out(`Wrote ${ring}\n`);
    return EXIT_OK;
  },

  pretend_min_part_hours_passed(io, file, b, args) {
    if (args.length > 0) throw new UsageError('pretend_min_part_hours_passed takes no arguments');
    b.pretendMinPartHoursPassed();
    b.saveBuilder(file);
    io.out('Every partition may move at the next rebalance.\n');
    return EXIT_OK;
  },

  set_min_part_hours(io, file, b, args) {
    if (args.length !== 1) throw new UsageError('set_min_part_hours needs <hours>');
    b.setMinPartHours(parseNumber(args[0], 'hours', true));
    b.saveBuilder(file);
    io.out(`The minimum number of hours before a partition can be reassigned is now ${b.minPartHours}\n`);
    return EXIT_OK;
  },
};

function matchSome(b: RingBuilder, value: string): ReturnType<RingBuilder['searchDevices']> {
  const found = b.searchDevices(value);
  if (found.length === 0) throw new UsageError(`no device matches ${JSON.stringify(value)}`);
  return found;
}
