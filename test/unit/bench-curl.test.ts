import t from 'tap';
import { objectWorkloadOptions, parseClient } from '../../bench/args.js';
import { CURL_WRITE_OUT, curlArgs, curlRunResult, parseCurlWriteOut, transferOk } from '../../bench/curl-runner.js';
import { markdownSideBySide, ratioLines } from '../../bench/report.js';
import type { RunResult, WorkloadRuns } from '../../bench/result.js';
import { clientsFor, daemonsDescription } from '../../bench/suites/objects.js';
import { parseArgv } from '../../bench/args.js';

const USAGE = { code: 'BENCH_USAGE' };
const MIB64 = 64 * 1024 * 1024;

t.test('--client: node (default), curl, or both in turn', async (t) => {
  t.same(objectWorkloadOptions(new Map(), { repeat: 1 }).clients, ['node']);
  t.same(objectWorkloadOptions(new Map([['client', 'curl']]), { repeat: 1 }).clients, ['curl']);
  t.same(objectWorkloadOptions(new Map([['client', 'node,curl']]), { repeat: 1 }).clients, ['node', 'curl']);
  t.same(objectWorkloadOptions(new Map([['client', 'curl,CURL']]), { repeat: 1 }).clients, ['curl'], 'a repeat runs once');
  t.throws(() => parseClient('wget'), USAGE);
  t.throws(() => objectWorkloadOptions(new Map([['client', 'node,']]), { repeat: 1 }), USAGE);
  // only objects above --node-above get a client of their own; smaller ones are wrk's, run once
  const o = objectWorkloadOptions(new Map([['client', 'node,curl'], ['sizes', '4k,64m']]), { repeat: 1 });
  t.same(clientsFor(4096, o), [undefined]);
  t.same(clientsFor(MIB64, o), ['node', 'curl']);
});

t.test('--daemons is a flag of side-by-side, said in the report', async (t) => {
  const p = parseArgv(['--daemons', '--sizes', '64m'], ['sizes'], ['daemons', 'swiftlet-daemons']);
  t.equal(p.options.get('daemons'), 'true');
  t.match(daemonsDescription(p.options), /ON on both/);
  t.match(daemonsDescription(p.options), /object auditor/);
  t.match(daemonsDescription(new Map()), /no background daemons on either \(Swiftlet's off\)/);
  t.match(daemonsDescription(new Map([['swiftlet-daemons', 'true']])), /not comparable/);
});

t.test('curl command lines', async (t) => {
  const put = curlArgs('put', 'http://127.0.0.1:8080/v1/AUTH_test/c/o-1', 'AUTH_tk1', '/tmp/x.bin');
  t.same(put.slice(-3), ['-T', '/tmp/x.bin', 'http://127.0.0.1:8080/v1/AUTH_test/c/o-1']);
  t.ok(put.includes('X-Auth-Token: AUTH_tk1'));
  t.equal(put[put.indexOf('-o') + 1], '/dev/null');
  t.equal(put[put.indexOf('-w') + 1], CURL_WRITE_OUT);
  const get = curlArgs('get', 'http://127.0.0.1:8080/v1/AUTH_test/c/o-1', 'AUTH_tk1');
  t.notOk(get.includes('-T'));
  t.equal(get[get.indexOf('-o') + 1], '/dev/null');
  t.equal(get.at(-1), 'http://127.0.0.1:8080/v1/AUTH_test/c/o-1');
  t.throws(() => curlArgs('put', 'http://127.0.0.1/x', 'tk'));
});

t.test("curl's -w line and what counts as a good transfer", async (t) => {
  t.same(parseCurlWriteOut('201 67108864 0 0.512345'), { status: 201, uploaded: MIB64, downloaded: 0, seconds: 0.512345 });
  t.same(parseCurlWriteOut('200 0 67108864 0,25'), { status: 200, uploaded: 0, downloaded: MIB64, seconds: 0.25 }, 'a decimal comma (locale)');
  t.equal(parseCurlWriteOut(''), undefined);
  t.equal(parseCurlWriteOut('curl: (7) Failed to connect'), undefined);
  t.same(transferOk('put', MIB64, parseCurlWriteOut('201 67108864 0 0.5')), { ok: true });
  t.same(transferOk('get', MIB64, parseCurlWriteOut('200 0 67108864 0.5')), { ok: true });
  t.same(transferOk('get', MIB64, parseCurlWriteOut('200 0 1000 0.5')), { ok: false, kind: 'short-body' });
  t.same(transferOk('put', MIB64, parseCurlWriteOut('503 67108864 0 0.5')), { ok: false, kind: '503' });
  t.same(transferOk('get', MIB64, parseCurlWriteOut('000 0 0 0.001')), { ok: false, kind: 'connect' });
  t.same(transferOk('get', MIB64, undefined), { ok: false, kind: 'curl' });
});

t.test('curl run figures: MB/s from wall time, first start to last end', async (t) => {
  // 4 workers × 2 objects of 64 MiB; the batch takes 2 s of wall time
  const samples = [
    { startMs: 0, endMs: 900, ok: true },
    { startMs: 0, endMs: 1000, ok: true },
    { startMs: 5, endMs: 950, ok: true },
    { startMs: 5, endMs: 1100, ok: true },
    { startMs: 900, endMs: 1900, ok: true },
    { startMs: 1000, endMs: 2000, ok: true },
    { startMs: 950, endMs: 1950, ok: true },
    { startMs: 1100, endMs: 1990, ok: false, kind: '503' },
  ];
  const r = curlRunResult('get', MIB64, samples);
  t.equal(r.driver, 'curl');
  t.equal(r.ops, 8);
  t.equal(r.elapsedS, 2);
  t.equal(r.opsPerSec, 4);
  t.equal(r.mbPerSec, (4 * MIB64) / 1e6);
  t.equal(r.errors, 1);
  t.same(r.errorKinds, { '503': 1 });
  t.equal(r.p50Ms, 1000); // latencies 890 900 945 1000 1000 1000 1000 1095
  t.equal(r.maxMs, 1095);
  const none = curlRunResult('put', MIB64, []);
  t.equal(none.ops, 0);
  t.equal(none.opsPerSec, 0);
});

t.test('a run with both clients keeps them apart in the report', async (t) => {
  const run = (mb: number): RunResult => ({ driver: 'curl', ops: 16, errors: 0, errorKinds: {}, elapsedS: 1, opsPerSec: mb / 67.1, mbPerSec: mb, meanMs: 1, p50Ms: 1, p99Ms: 1, p999Ms: 1, maxMs: 1 });
  const w = (system: string, client: string, mb: number): WorkloadRuns => ({ system, op: 'get', size: MIB64, concurrency: 4, client, runs: [run(mb)] });
  const pairs = [
    { a: w('Swiftlet', 'node', 1400), b: w('Swift', 'node', 700) },
    { a: w('Swiftlet', 'curl', 900), b: w('Swift', 'curl', 600) },
  ];
  const md = markdownSideBySide(pairs);
  t.match(md, /\| GET \(node\) \| 64 MiB \| 4 \| Swiftlet \|/);
  t.match(md, /\| GET \(curl\) \| 64 MiB \| 4 \| Swiftlet \|/);
  const lines = ratioLines(pairs);
  t.match(lines[0], /^GET \(node\).*MB\/s 2\.00×/);
  t.match(lines[1], /^GET \(curl\).*MB\/s 1\.50×/);
});
