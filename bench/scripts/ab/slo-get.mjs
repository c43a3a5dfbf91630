// SLO GET A/B of Swiftlet builds (bench/RESULTS.md, "SLO download"): starts one all-in-one per
// build (a checkout with dist/ built; `,KEY=VALUE` after it sets its environment), uploads the
// same SLO into each, then GETs it alternately (one unmeasured GET each first), reporting each
// GET's MB/s and the proxy's CPU per GB (whole process and main thread), then mean ± sd and
// per-pair ratios of the first two.
// usage: node bench/scripts/ab/slo-get.mjs [--size-mib 512] [--seg-mib 100] [--gets 6] NAME=ROOT[,K=V...] ...
// env: AB_DIR (default /tmp/swiftlet-ab: data dirs, profiles), PROF=1 (a CPU profile of each proxy
// during the measured GETs into AB_DIR/prof-NAME; sum it with top.mjs), CHECK=1 (MD5 of each body)
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import http from 'node:http';
import { fileURLToPath } from 'node:url';

const AB_DIR = process.env.AB_DIR ?? '/tmp/swiftlet-ab';
import { createInterface } from 'node:readline';

const args = process.argv.slice(2);
const opt = (k, d) => {
  const i = args.indexOf(`--${k}`);
  if (i < 0) return d;
  const v = args[i + 1];
  args.splice(i, 2);
  return v;
};
const sizeMiB = Number(opt('size-mib', '512'));
const segMiB = Number(opt('seg-mib', '100'));
const gets = Number(opt('gets', '6'));
const systems = args.map((a) => {
  const [nr, ...kv] = a.split(',');
  const [name, root] = nr.split('=');
  return { name, root, env: Object.fromEntries(kv.map((x) => x.split('='))) };
});
const agent = new http.Agent({ keepAlive: true });

function req(method, url, headers = {}, body) {
  return new Promise((res, rej) => {
    const r = http.request(url, { method, headers, agent }, (resp) => {
      const parts = [];
      resp.on('data', (c) => parts.push(c));
      resp.on('end', () => res({ status: resp.statusCode, headers: resp.headers, body: Buffer.concat(parts) }));
      resp.on('error', rej);
    });
    r.on('error', rej);
    r.end(body);
  });
}

function procCpu(pid, main = false) {
  const f = readFileSync(main ? `/proc/${pid}/task/${pid}/stat` : `/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(f[11]) + Number(f[12])) / 100;
}

async function start(s) {
  const data = `${AB_DIR}/data-${s.name}`;
  rmSync(data, { recursive: true, force: true });
  mkdirSync(data, { recursive: true });
  const env = { ...process.env, ...s.env };
  if (process.env.PROF) {
    const dir = `${AB_DIR}/prof-${s.name}`;
    rmSync(dir, { recursive: true, force: true });
    env.NODE_OPTIONS = `--import=${fileURLToPath(new URL('./prof.mjs', import.meta.url))}`;
    env.PROF_DIR = dir;
  }
  const child = spawn(process.execPath, [`${s.root}/dist/bin/swiftlet.js`, 'aio', '--data', data, '--port', '0', '--node-port-base', '0', '--bind', '127.0.0.1', '--no-daemons'], { stdio: ['ignore', 'pipe', 'ignore'], env });
  const rec = await new Promise((res, rej) => {
    createInterface({ input: child.stdout }).on('line', (l) => {
      if (!l.startsWith('{')) return;
      try {
        const r = JSON.parse(l);
        if (r.msg === 'aio ready') res(r);
      } catch {}
    });
    child.once('exit', (c) => rej(new Error(`${s.name} exited ${c}`)));
  });
  s.child = child;
  s.proxyPid = rec.pids.proxy;
  s.nodePids = Object.entries(rec.pids).filter(([k]) => k.startsWith('node')).map(([, v]) => v);
  for (let i = 0; i < 40; i++) {
    const a = await req('GET', rec.auth_url, { 'x-auth-user': 'test:tester', 'x-auth-key': 'testing' }).catch(() => ({ status: 0 }));
    if (a.status === 200) {
      s.url = a.headers['x-storage-url'];
      s.token = a.headers['x-auth-token'];
      break;
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  if (!s.url) throw new Error(`${s.name}: no auth`);
}

const seg = randomBytes(segMiB * 1024 * 1024);
const nSeg = Math.ceil(sizeMiB / segMiB);
const segs = [];
const whole = createHash('md5');
for (let i = 0; i < nSeg; i++) {
  const len = Math.min(segMiB, sizeMiB - i * segMiB) * 1024 * 1024;
  const b = Buffer.from(seg.subarray(0, len));
  b.writeUInt32BE(i, 0);
  whole.update(b);
  segs.push({ b, etag: createHash('md5').update(b).digest('hex') });
}
const md5 = whole.digest('hex');

async function upload(s) {
  const h = { 'x-auth-token': s.token };
  await req('PUT', `${s.url}/c`, h);
  await req('PUT', `${s.url}/c_segments`, h);
  for (let i = 0; i < nSeg; i++) {
    const r = await req('PUT', `${s.url}/c_segments/big/${String(i).padStart(8, '0')}`, h, segs[i].b);
    if (r.status !== 201) throw new Error(`seg PUT ${r.status}`);
  }
  const man = segs.map((x, i) => ({ path: `/c_segments/big/${String(i).padStart(8, '0')}`, etag: x.etag, size_bytes: x.b.length }));
  const r = await req('PUT', `${s.url}/c/big?multipart-manifest=put`, { ...h, 'content-type': 'application/json' }, JSON.stringify(man));
  if (r.status !== 201) throw new Error(`manifest PUT ${r.status} ${r.body}`);
}

function download(s) {
  return new Promise((res, rej) => {
    const c0 = procCpu(s.proxyPid);
    const m0 = procCpu(s.proxyPid, true);
    const n0 = s.nodePids.reduce((a, p) => a + procCpu(p), 0);
    const t0 = performance.now();
    const h = createHash('md5');
    let n = 0;
    http
      .get(`${s.url}/c/big`, { headers: { 'x-auth-token': s.token }, agent }, (resp) => {
        resp.on('data', (c) => {
          n += c.length;
          if (process.env.CHECK) h.update(c);
        });
        resp.on('end', () => {
          const t = (performance.now() - t0) / 1000;
          const cpu = procCpu(s.proxyPid) - c0;
          const mcpu = procCpu(s.proxyPid, true) - m0;
          const ncpu = s.nodePids.reduce((a, p) => a + procCpu(p), 0) - n0;
          const ok = n === sizeMiB * 1024 * 1024 && (!process.env.CHECK || h.digest('hex') === md5);
          res({ mbps: n / 1e6 / t, cpuPerGB: cpu / (n / 1e9), mainPerGB: mcpu / (n / 1e9), nodeCpuPerGB: ncpu / (n / 1e9), ok, status: resp.statusCode });
        });
        resp.on('error', rej);
      })
      .on('error', rej);
  });
}

const stats = (xs) => {
  const m = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = Math.sqrt(xs.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(1, xs.length - 1));
  return `${m.toFixed(2)} ± ${sd.toFixed(2)}`;
};

try {
  for (const s of systems) await start(s);
  for (const s of systems) await upload(s);
  for (const s of systems) await download(s); // warm-up
  if (process.env.PROF) for (const s of systems) process.kill(s.proxyPid, 'SIGUSR2');
  const res = Object.fromEntries(systems.map((s) => [s.name, []]));
  for (let g = 0; g < gets; g++) {
    const order = g % 2 ? [...systems].reverse() : systems;
    for (const s of order) {
      const r = await download(s);
      res[s.name].push(r);
      console.log(`${s.name.padEnd(8)} ${r.status} ${r.ok ? 'ok' : 'BAD'} ${r.mbps.toFixed(1)} MB/s proxy ${r.cpuPerGB.toFixed(2)} (main ${r.mainPerGB.toFixed(2)}) s/GB nodes ${r.nodeCpuPerGB.toFixed(2)} s/GB`);
    }
  }
  for (const s of systems) {
    const r = res[s.name];
    console.log(`${s.name}: MB/s ${stats(r.map((x) => x.mbps))}; proxy CPU s/GB ${stats(r.map((x) => x.cpuPerGB))}, main thread ${stats(r.map((x) => x.mainPerGB))}; nodes CPU s/GB ${stats(r.map((x) => x.nodeCpuPerGB))}`);
  }
  if (systems.length === 2) {
    const [a, b] = systems;
    const ratios = res[a.name].map((x, i) => x.mbps / res[b.name][i].mbps);
    console.log(`${a.name}/${b.name} MB/s per pair: ${ratios.map((x) => x.toFixed(2)).join(' ')}; ${stats(ratios)}`);
  }
} finally {
  for (const s of systems) {
    if (!s.child) continue;
    const e = new Promise((r) => s.child.once('exit', r));
    s.child.kill('SIGTERM');
    await e;
  }
}
