// 4 KiB PUT/GET A/B of Swiftlet builds (bench/RESULTS.md, "Small requests through the pipeline"):
// one all-in-one per build (a checkout with dist/ built; `,KEY=VALUE` after it sets its
// environment), then rounds of this checkout's `bench object --sizes 4k --ops put,get
// --concurrency 16` (wrk) against each in turn, order alternating, one unmeasured round each
// first. Per phase: ops/s, the proxy's CPU per op, and the whole all-in-one's (aio + every child).
// usage: ROUNDS=4 DUR=10s node bench/scripts/ab/small.mjs NAME=ROOT[,K=V...] ...   (AB_DIR: data dirs)
import { spawn, execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
const AB_DIR = process.env.AB_DIR ?? '/tmp/swiftlet-ab';
const BENCH = fileURLToPath(new URL('../../../dist/bench/main.js', import.meta.url));
const rounds = Number(process.env.ROUNDS ?? 4);
const systems = process.argv.slice(2).map((a) => { const [nr, ...kv] = a.split(','); const [name, root] = nr.split('='); return { name, root, env: Object.fromEntries(kv.map((x) => x.split('='))) }; });
const cpu = (pid) => { const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) / 100; };
for (const s of systems) {
  const data = `${AB_DIR}/sdata-${s.name}`;
  rmSync(data, { recursive: true, force: true }); mkdirSync(data, { recursive: true });
  s.child = spawn(process.execPath, [`${s.root}/dist/bin/swiftlet.js`, 'aio', '--data', data, '--port', '0', '--node-port-base', '0', '--bind', '127.0.0.1', '--no-daemons'], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, ...s.env } });
  const rec = await new Promise((res) => createInterface({ input: s.child.stdout }).on('line', (l) => { try { const r = JSON.parse(l); if (r.msg === 'aio ready') res(r); } catch {} }));
  s.auth = rec.auth_url; s.proxy = rec.pids.proxy; s.all = [s.child.pid, ...Object.values(rec.pids)];
}
await new Promise((r) => setTimeout(r, 3000));
const res = Object.fromEntries(systems.map((s) => [s.name, { put: [], get: [], putCpu: [], getCpu: [], putAll: [], getAll: [] }]));
function runOnce(s) {
  return new Promise((resolve, reject) => {
    const ch = spawn('nice', ['-n', '15', process.execPath, BENCH, 'object', '--auth-url', s.auth, '--sizes', '4k', '--ops', 'put,get', '--concurrency', '16', '--duration', process.env.DUR ?? '10s', '--warmup', '0', '--out', `${AB_DIR}/objout`], { stdio: ['ignore', 'ignore', 'pipe'] });
    const tree = () => s.all.reduce((a, p) => a + cpu(p), 0);
    let mark = cpu(s.proxy);
    let tmark = tree();
    const r = {};
    createInterface({ input: ch.stderr }).on('line', (l) => {
      const m = /endpoint (PUT|GET)\s+4 KiB c=16\s+([\d.]+) ops\/s .*\((\d+) ops/.exec(l);
      if (!m) return;
      const now = cpu(s.proxy);
      const tnow = tree();
      r[m[1]] = { rate: Number(m[2]), ops: Number(m[3]), cpuMsPerOp: ((now - mark) * 1000) / Number(m[3]), treeMsPerOp: ((tnow - tmark) * 1000) / Number(m[3]) };
      mark = now;
      tmark = tnow;
    });
    ch.on('exit', (code) => (code === 0 ? resolve(r) : reject(new Error(`bench exited ${code}`))));
  });
}
try {
  for (let i = 0; i < rounds + 1; i++) {
    for (const s of i % 2 ? [...systems].reverse() : systems) {
      const r = await runOnce(s);
      console.log(`${s.name} ${i === 0 ? 'warm-up' : `round ${i}`}: PUT ${r.PUT?.rate} ops/s ${r.PUT?.cpuMsPerOp.toFixed(3)} ms CPU/op (all ${r.PUT?.treeMsPerOp.toFixed(3)}); GET ${r.GET?.rate} ops/s ${r.GET?.cpuMsPerOp.toFixed(3)} ms CPU/op (all ${r.GET?.treeMsPerOp.toFixed(3)})`);
      if (i === 0) continue;
      const x = res[s.name];
      x.put.push(r.PUT.rate); x.get.push(r.GET.rate); x.putCpu.push(r.PUT.cpuMsPerOp); x.getCpu.push(r.GET.cpuMsPerOp); x.putAll.push(r.PUT.treeMsPerOp); x.getAll.push(r.GET.treeMsPerOp);
    }
  }
} finally { for (const s of systems) s.child.kill('SIGTERM'); }
const st = (xs) => { const m = xs.reduce((a, b) => a + b, 0) / xs.length; const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1)); return `${m.toFixed(3)} ± ${sd.toFixed(3)}`; };
for (const [n, x] of Object.entries(res)) console.log(`${n}: PUT ${st(x.put)} ops/s, ${st(x.putCpu)} ms proxy CPU/op, ${st(x.putAll)} all; GET ${st(x.get)} ops/s, ${st(x.getCpu)} ms proxy CPU/op, ${st(x.getAll)} all`);
if (systems.length === 2) {
  const [a, b] = systems.map((s) => res[s.name]);
  for (const k of ['put', 'get', 'putCpu', 'getCpu', 'putAll', 'getAll']) console.log(`${k} ${systems[0].name}/${systems[1].name} per round: ${a[k].map((v, i) => (v / b[k][i]).toFixed(2)).join(' ')}; ${st(a[k].map((v, i) => v / b[k][i]))}`);
}
