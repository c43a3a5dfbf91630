#!/usr/bin/env node
import { resolve } from 'node:path';
import { BenchUsageError, OBJECT_OPTIONS, parseArgv } from './args.js';
import { objectSuite, sideBySideSuite, type SuiteContext } from './suites/objects.js';
import { listingSuite } from './suites/listing.js';
import { memorySuite } from './suites/memory.js';
import { replicationSuite } from './suites/replication.js';
import { ringSuite } from './suites/ring.js';
import { targetsSuite } from './suites/targets.js';
import { idleSuite } from './suites/idle.js';
import { LARGE_OBJECT_FLAGS, LARGE_OBJECT_OPTIONS, largeObjectsSuite } from './suites/large-objects.js';
import { REPO_ROOT } from './systems.js';

/** `npm run bench -- <suite> [options]` (node dist/bench/main.js). Results go to bench/results/. */
export const USAGE = `usage: npm run bench -- <suite> [options]

suites:
  targets       every figure the benchmark issue sets, in one invocation (root; ~75 min): 4 KiB and
                64 MiB side by side, listing 1,000,000, ring at part power 18, the memory soak and a
                5 GiB object; each part writes its own results, then one table judges every target
                (exit 0: all met, 3: some not met, 1: a part failed)
                  [--only small,large,listing,ring,memory] [--quick] (every part small: checks the
                  harness in ~10 min, not the targets) [--max-steal 10] [--steal-retries 2]
  object        one Swift endpoint with v1 auth
                  --auth-url URL (127.0.0.1 only) [--user test:tester] [--key testing] [--name NAME]
                  + object workload options below (default: one run)
  side-by-side  starts Swiftlet's and OpenStack Swift's all-in-ones (root; Debian packages),
                runs the same workloads on both, interleaved, and prints Swiftlet/Swift per figure
                  + object workload options below (default: 3 runs)
                  [--swift-port P] [--swiftlet-fs xfs|dir] [--work-dir DIR] [--keep]
                  [--daemons] (both systems with their background daemons running: Swift's replicators,
                  updaters, auditor and expirer, Swiftlet's aio defaults)
                  [--swiftlet-daemons] (Swiftlet's daemons only: not comparable)
                  [--max-steal 10] [--steal-retries 2] (a group of runs during which the hypervisor
                  took more than 10 % of the CPU is run again, up to twice, on either system)
  ring          rebalance time, swiftlet ring vs swift-ring-builder on the same input
                  [--part-powers 16,17,18,19,20] [--devices 10,100,1000] [--repeat 1] [--timeout 600s]
  listing       a container of N objects listed in pages, with prefix and delimiter
                  [--objects 1000000] [--page 10000] [--repeat 3] [--fill-concurrency 64]
                  [--max-fill-time 4h] [--fill direct|api] (direct: rows written into each replica's
                  container db; api: 0-byte PUTs); both systems as side-by-side, or one --auth-url endpoint
  replication   time to restore full replication after one device is wiped: each all-in-one in turn
                (root), the same objects, node 1's device emptied, every node's replicators run
                pass after pass (Swift's with rsync) until it holds them all again
                  [--objects 2000] [--size 64k] [--systems swiftlet,swift] [--fill-concurrency 16]
                  [--max-passes 10] [--work-dir DIR]
  idle          what each system's background daemons cost with no client traffic (root): the same N
                small objects written on disk as PUTs leave them, the daemons' first pass, then every
                daemon process of every node sampled from /proc: % of a core per node and daemon
                  [--objects 1000000] [--minutes 10] [--systems swiftlet,swift] [--window 10s]
                  [--first-pass-max 45m] [--image-size 40G] [--work-dir DIR]
                (--work-dir keeps each system's image; run again with it to reuse each system's fill)
  memory        RSS of the proxy and each storage node (Swiftlet's all-in-one on loop-mounted XFS, root):
                a soak of concurrent PUT/GET/HEAD/DELETE/LIST (4k, 64k, 1m), then one big object
                PUT and GET streamed (MD5 checked); verdicts "flat" and "bounded" with their criteria
                  [--duration 10m] [--big-size 5g (0: skip)] [--concurrency 8] [--daemons]
                  [--work-dir DIR] [--keep] (keep the work dir: XFS image and aio.log)
  large-objects a static large object (SLO) on both all-in-ones (root), rounds interleaved: upload
                as \`swift upload -S --use-slo\` (segments PUT --concurrency at a time, then the
                ?multipart-manifest=put manifest) and one GET of the whole object, MD5 checked;
                MB/s per system and Swiftlet/Swift (the issue's goal: ≥ 1.5× for both)
                  [--size 1GiB] [--segment-size 100MiB] [--concurrency 10] [--rounds 3]
                  [--warmup-rounds 1] (unmeasured rounds on each system first: Node's JIT)
                  [--daemons] (both systems' background daemons on; default off on both)
                  [--swift-port P] [--swiftlet-fs xfs|dir] [--work-dir DIR] [--keep]

object workload options:
  --sizes 4k,64k,1m,64m        object sizes (default 4k)
  --ops put,get,head,delete,list   (default put,get,head,delete)
  --concurrency 16,64          connections (default 16)
  --duration 10s | --count N   per workload (default 10s); --max-time caps a count (default 120s)
  --repeat N                   runs per workload
  --warmup 30s                 unmeasured run of the same ops first, per size and concurrency (0: none)
  --node-above 1m              objects larger than this are driven from Node (streaming); others by wrk
  --client node|curl|node,curl  who drives the PUT and GET of objects above --node-above: Node's
                               raw-socket client, N parallel curl processes (-T file, -o /dev/null;
                               one per object), or both in turn, each reported (default node)
  --wrk-threads 1              wrk threads (each costs a core's share on a small machine)
  --list-limit 100             page size of the "list" op
common: --out DIR (default bench/results)
environment: SWIFTLET_BENCH_LOOP_DIRECT_IO=off keeps the loop devices under the XFS images buffered
  (default: direct I/O, so no second page cache sits between either system and the disk)
`;

const COMMON = ['out'];
const KNOWN: Record<string, { options: readonly string[]; flags: readonly string[] }> = {
  targets: { options: [...COMMON, 'only', 'max-steal', 'steal-retries'], flags: ['quick'] },
  object: { options: [...OBJECT_OPTIONS, ...COMMON, 'auth-url', 'user', 'key', 'name'], flags: [] },
  'side-by-side': { options: [...OBJECT_OPTIONS, ...COMMON, 'swift-port', 'swiftlet-fs', 'work-dir', 'max-steal', 'steal-retries'], flags: ['keep', 'swiftlet-daemons', 'daemons'] },
  ring: { options: [...COMMON, 'part-powers', 'devices', 'repeat', 'timeout'], flags: [] },
  listing: { options: [...COMMON, 'objects', 'page', 'repeat', 'fill', 'fill-concurrency', 'max-fill-time', 'auth-url', 'user', 'key', 'name', 'swift-port', 'swiftlet-fs', 'work-dir'], flags: ['keep', 'swiftlet-daemons'] },
  replication: { options: [...COMMON, 'objects', 'size', 'systems', 'fill-concurrency', 'max-passes', 'work-dir'], flags: [] },
  idle: { options: [...COMMON, 'objects', 'minutes', 'systems', 'window', 'first-pass-max', 'image-size', 'work-dir'], flags: [] },
  memory: { options: [...COMMON, 'duration', 'big-size', 'concurrency', 'work-dir'], flags: ['daemons', 'keep'] },
  'large-objects': { options: [...COMMON, ...LARGE_OBJECT_OPTIONS], flags: LARGE_OBJECT_FLAGS },
};

export async function main(argv: string[]): Promise<number> {
  const [suite, ...rest] = argv;
  if (!suite || suite === '-h' || suite === '--help' || suite === 'help') {
    process.stdout.write(USAGE);
    return suite ? 0 : 2;
  }
  const known = KNOWN[suite];
  if (!known) throw new BenchUsageError(`unknown suite ${JSON.stringify(suite)}`);
  const { positionals, options } = parseArgv(rest, known.options, known.flags);
  if (positionals.length) throw new BenchUsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  const ctx: SuiteContext = {
    options,
    command: `npm run bench -- ${argv.map((a) => (/^[\w./:,=@+-]+$/.test(a) ? a : JSON.stringify(a))).join(' ')}`,
    outRoot: resolve(options.get('out') ?? resolve(REPO_ROOT, 'bench', 'results')),
  };
  const run = { targets: targetsSuite, object: objectSuite, 'side-by-side': sideBySideSuite, ring: ringSuite, listing: listingSuite, replication: replicationSuite, memory: memorySuite, idle: idleSuite, 'large-objects': largeObjectsSuite }[suite];
  return run ? (await run(ctx)).code : 2;
}

// Run when executed (not when imported by a test).
if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: unknown) => {
      if (err instanceof BenchUsageError) {
        process.stderr.write(`error: ${err.message}\n\n${USAGE}`);
        process.exit(2);
      }
      process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
      process.exit(1);
    },
  );
}
