import t from 'tap';
import { formatSize, objectWorkloadOptions, parseArgv, parseCount, parseDuration, parseList, parseOp, parseSize } from '../../bench/args.js';
import { assertLoopback } from '../../bench/endpoint.js';

const USAGE = { code: 'BENCH_USAGE' };

t.test('sizes', async (t) => {
  const table: Array<[string, number]> = [
    ['4k', 4096],
    ['64K', 65536],
    ['1m', 1048576],
    ['64m', 67108864],
    ['1MiB', 1048576],
    ['2g', 2 * 1024 ** 3],
    ['512', 512],
    ['0', 0],
    ['1.5k', 1536],
  ];
  for (const [s, n] of table) t.equal(parseSize(s), n, s);
  for (const bad of ['', 'k', '4x', '-1k', '4 k b']) t.throws(() => parseSize(bad), USAGE, bad);
  t.equal(formatSize(4096), '4 KiB');
  t.equal(formatSize(67108864), '64 MiB');
  t.equal(formatSize(1536), '1.5 KiB');
  t.equal(formatSize(100), '100 B');
  t.equal(formatSize(0), '0 B');
});

t.test('durations and counts', async (t) => {
  t.equal(parseDuration('10s'), 10000);
  t.equal(parseDuration('10'), 10000);
  t.equal(parseDuration('500ms'), 500);
  t.equal(parseDuration('2m'), 120000);
  t.equal(parseDuration('1.5s'), 1500);
  t.throws(() => parseDuration('soon'), USAGE);
  t.equal(parseCount('1000000', 'n'), 1000000);
  t.equal(parseCount('1,000,000', 'n'), 1000000);
  t.equal(parseCount('10k', 'n'), 10000);
  t.equal(parseCount('1m', 'n'), 1000000);
  t.throws(() => parseCount('0', 'n'), USAGE);
  t.throws(() => parseCount('1.5', 'n'), USAGE);
  t.same(parseList('put, get', parseOp), ['put', 'get']);
  t.throws(() => parseList('put,,get', parseOp), USAGE);
  t.throws(() => parseOp('post'), USAGE);
});

t.test('parseArgv', async (t) => {
  const p = parseArgv(['--sizes', '4k,64m', '--duration=5s', '--keep', 'x', '--', '--y'], ['sizes', 'duration'], ['keep']);
  t.same([...p.options], [
    ['sizes', '4k,64m'],
    ['duration', '5s'],
    ['keep', 'true'],
  ]);
  t.same(p.positionals, ['x', '--y']);
  t.throws(() => parseArgv(['--sise', '4k'], ['sizes']), { message: 'unknown option --sise' });
  t.throws(() => parseArgv(['--sizes'], ['sizes']), { message: '--sizes needs a value' });
  t.throws(() => parseArgv(['--keep=1'], [], ['keep']), USAGE);
});

t.test('object workload options', async (t) => {
  const d = objectWorkloadOptions(new Map(), { repeat: 3 });
  t.same(d.sizes, [4096]);
  t.same(d.ops, ['put', 'get', 'head', 'delete']);
  t.same(d.concurrency, [16]);
  t.same(d.bound, { kind: 'duration', ms: 10000 });
  t.equal(d.repeat, 3);
  const c = objectWorkloadOptions(new Map([['count', '500'], ['sizes', '64m'], ['concurrency', '4,16']]), { repeat: 1 });
  t.same(c.bound, { kind: 'count', n: 500, capMs: 120000 });
  t.same(c.concurrency, [4, 16]);
  t.throws(() => objectWorkloadOptions(new Map([['count', '5'], ['duration', '5s']]), { repeat: 1 }), USAGE);
  // a duration is capped by --max-time so no run is unbounded
  t.same(objectWorkloadOptions(new Map([['duration', '1h'], ['max-time', '30s']]), { repeat: 1 }).bound, { kind: 'duration', ms: 30000 });
});

t.test('bench traffic stays on the loopback', async (t) => {
  for (const ok of ['http://127.0.0.1:8080/auth/v1.0', 'http://127.5.0.1/x', 'http://localhost:1/', 'http://[::1]:8080/v1']) t.doesNotThrow(() => assertLoopback(ok), ok);
  for (const bad of ['http://10.0.0.1/', 'http://192.168.1.1:8080/', 'http://example.com/', 'http://128.0.0.1/', 'http://127.0.0.1.example.com/']) t.throws(() => assertLoopback(bad), { code: 'BENCH_NOT_LOOPBACK' }, bad);
});
