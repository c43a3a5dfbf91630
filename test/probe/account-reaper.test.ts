import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { request } from 'undici';
import { backendPath, withQuery } from '../../common/backend-path.js';
import { SWIFTLET_BIN, startCluster, type Cluster } from '../helpers/cluster.js';
import { containerReplicas, loadRing } from '../helpers/replicas.js';

/**
 * Account deletion and the reaper on a real 4-node cluster (3 replicas): a reseller admin fills an
 * account (plain objects, a static large object and its segments, a versioned container with
 * older versions), DELETEs it; the account answers 410 and cannot be PUT again; the reaper runs
 * on every node, is killed -9 mid-pass, restarts and finishes: no object data is left on any
 * disk (tombstones only, as in Swift), every container is gone on every replica and the account's
 * rows all say so (its database can be reclaimed), a row for a container that exists nowhere
 * included. A pass afterwards does nothing.
 */

const execFileP = promisify(execFile);
const ACCOUNT = 'AUTH_doomed';
const OBJECTS = 150;

async function call(cluster: Cluster, token: string, method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  const res = await request(`${cluster.proxyUrl}/v1/${ACCOUNT}${path}`, { method: method as 'GET', headers: { 'x-auth-token': token, ...headers }, ...(body !== undefined ? { body } : {}) });
  return { status: res.statusCode, body: await res.body.text(), headers: res.headers };
}

/** Every file under every node's devices whose name ends with `ext`. */
async function filesEnding(cluster: Cluster, ext: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      const p = join(dir, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.endsWith(ext)) out.push(p);
    }
  };
  for (const n of cluster.nodes) {
    for (const e of await readdir(join(n.devicesRoot, n.device), { withFileTypes: true })) if (e.isDirectory() && e.name.startsWith('objects')) await walk(join(n.devicesRoot, n.device, e.name));
  }
  return out;
}

/** The account's containers as its primaries list them (hidden ones included: the proxy hides those, not the nodes). */
async function backendContainers(cluster: Cluster): Promise<string[]> {
  const ring = loadRing(cluster, 'account');
  const part = ring.partitionFor(ACCOUNT);
  const names = new Set<string>();
  for (const d of ring.primaries(part)) {
    const res = await request(`http://${d.ip}:${d.port}${withQuery(backendPath(d.device, part, ACCOUNT), { format: 'json' })}`, { dispatcher: cluster.backendDispatcher });
    const text = await res.body.text();
    if (res.statusCode === 200) for (const c of JSON.parse(text) as Array<{ name: string }>) names.add(c.name);
  }
  return [...names].sort();
}

/** The account's container rows on each primary (the replication `rows` verb: the account answers no listing once deleted). */
async function accountRows(cluster: Cluster): Promise<Array<Array<{ name: string; putTimestamp: string; deleteTimestamp: string }>>> {
  const ring = loadRing(cluster, 'account');
  const part = ring.partitionFor(ACCOUNT);
  return Promise.all(
    ring.primaries(part).map(async (d) => {
      const res = await request(`http://${d.ip}:${d.port}${withQuery(backendPath(d.device, part, ACCOUNT), { op: 'rows', since: '0', limit: '1000' })}`, {
        headers: { 'x-backend-replicate': 'account' },
        dispatcher: cluster.backendDispatcher,
      });
      return ((await res.body.json()) as { rows: Array<{ name: string; putTimestamp: string; deleteTimestamp: string }> }).rows;
    }),
  );
}

/** Whether every replica of the container is gone (404 on each primary). */
async function containerGone(cluster: Cluster, container: string): Promise<boolean> {
  const ring = loadRing(cluster, 'container');
  const part = ring.partitionFor(ACCOUNT, container);
  for (const d of ring.primaries(part)) {
    const res = await request(`http://${d.ip}:${d.port}${backendPath(d.device, part, ACCOUNT, container)}`, { method: 'HEAD', dispatcher: cluster.backendDispatcher });
    await res.body.dump();
    if (res.statusCode !== 404) return false;
  }
  return true;
}

t.test('a deleted account is reaped on every replica, through a kill -9 of the reapers', async (t) => {
  const cluster = await startCluster({ proxyConfig: { allow_account_management: true }, nodeConfig: { reaper_concurrency: 1 } });
  t.teardown(() => cluster.stop());
  const { token } = await cluster.token('admin:admin', 'admin');
  const info = (await (await request(`${cluster.proxyUrl}/info`)).body.json()) as { swift: { allow_account_management: boolean } };
  t.equal(info.swift.allow_account_management, true, '/info says so');

  t.equal((await call(cluster, token, 'PUT', '')).status, 201, 'the reseller admin creates the account');
  t.equal((await call(cluster, token, 'PUT', '/c')).status, 201);
  const statuses = new Set<number>();
  for (let i = 0; i < OBJECTS; i++) statuses.add((await call(cluster, token, 'PUT', `/c/o${String(i).padStart(4, '0')}`, {}, `object ${i}`)).status);
  t.same([...statuses], [201], `${OBJECTS} objects`);
  t.equal((await call(cluster, token, 'PUT', '/c_segments')).status, 201);
  const seg = 'x'.repeat(1024 * 1024);
  const segs = [];
  for (const s of ['s1', 's2']) {
    const put = await call(cluster, token, 'PUT', `/c_segments/big/${s}`, {}, seg);
    segs.push({ path: `/c_segments/big/${s}`, etag: String(put.headers.etag), size_bytes: seg.length });
  }
  t.equal((await call(cluster, token, 'PUT', '/c/big?multipart-manifest=put', {}, JSON.stringify(segs))).status, 201, 'a static large object');
  t.equal((await call(cluster, token, 'PUT', '/v', { 'x-versions-enabled': 'true' })).status, 201);
  for (const body of ['one', 'two', 'three']) t.equal((await call(cluster, token, 'PUT', '/v/o', {}, body)).status, 201);
  // A row the account has for a container no container server holds (as if the account missed its deletion).
  const aring = loadRing(cluster, 'account');
  const apart = aring.partitionFor(ACCOUNT);
  for (const d of aring.primaries(apart)) {
    const res = await request(`http://${d.ip}:${d.port}${backendPath(d.device, apart, ACCOUNT, 'ghost')}`, {
      method: 'PUT',
      headers: { 'x-backend-source': 'container-server', 'x-put-timestamp': '1700000000.00000', 'x-delete-timestamp': '0000000000.00000', 'x-object-count': '0', 'x-bytes-used': '0' },
      dispatcher: cluster.backendDispatcher,
    });
    await res.body.dump();
  }
  const containers = await backendContainers(cluster);
  t.same(containers.length, 5, `c, c_segments, ghost, v and v's hidden versions container: ${JSON.stringify(containers)}`);
  const before = await filesEnding(cluster, '.data');
  t.ok(before.length >= 3 * (OBJECTS + 6), `object data on disk (${before.length} files)`);

  t.equal((await call(cluster, token, 'DELETE', '')).status, 204, 'the reseller admin deletes the account');
  t.equal((await call(cluster, token, 'HEAD', '')).status, 410, 'it is gone (Swift: 410)');
  const again = await call(cluster, token, 'PUT', '');
  t.same([again.status, again.body], [403, 'Recently deleted'], 'and cannot be created again until it is reaped and reclaimed');
  t.equal((await call(cluster, token, 'PUT', '/new')).status >= 400, true, 'no new container in it');

  // The reaper on every node, as `swiftlet daemons` runs it; killed -9 once it has started deleting.
  const reapers: ChildProcess[] = cluster.nodes.map((n) => spawn(process.execPath, [SWIFTLET_BIN, 'reaper', '--config', n.configFile], { stdio: 'ignore' }));
  t.teardown(() => reapers.forEach((p) => p.exitCode === null && p.kill('SIGKILL')));
  for (let i = 0; i < 600; i++) {
    const counts = (await containerReplicas(cluster, ACCOUNT, 'c')).map((r) => r.count);
    if (counts.some((c) => c < OBJECTS + 1)) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  await Promise.all(reapers.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : (p.once('exit', r), p.kill('SIGKILL'))))));
  const mid = (await containerReplicas(cluster, ACCOUNT, 'c')).map((r) => r.count);
  t.comment(`object counts of c's replicas when the reapers were killed: ${mid.join(', ')}`);
  t.ok(mid.some((c) => c < OBJECTS + 1), 'they had started');

  // Restarted: passes until everything is gone (the updater delivers any listing update left pending).
  let done = false;
  for (let pass = 0; pass < 6 && !done; pass++) {
    // A pass may exit 1 and retry later: a container's stats update to the deleted account is
    // refused until the container itself is deleted (then the account takes its deletion row).
    await cluster.runDaemonsOnce(['reaper', 'updater']).catch((e: Error) => t.comment(`pass ${pass}: ${e.message.split('\n')[0]} (retried)`));
    done = (await Promise.all(containers.map((c) => containerGone(cluster, c)))).every(Boolean);
  }
  t.ok(done, 'every container is gone on every primary');
  t.same(await filesEnding(cluster, '.data'), [], 'no object data left on any disk');
  t.ok((await filesEnding(cluster, '.ts')).length >= OBJECTS, 'tombstones, as Swift leaves them');
  const rows = await accountRows(cluster);
  for (const [i, r] of rows.entries()) {
    t.same(r.map((x) => x.name).sort(), containers, `account replica ${i} has a row for each container`);
    t.ok(r.every((x) => x.deleteTimestamp > x.putTimestamp), `and each says deleted: its database can be reclaimed`);
  }

  // An idle pass: nothing to delete.
  const { stdout } = await execFileP(process.execPath, [SWIFTLET_BIN, 'reaper', '--config', cluster.nodes[0]!.configFile, '--once']);
  const report = JSON.parse(stdout.trim().split('\n').pop()!) as { counts: Record<string, number> };
  t.same([report.counts.objectsDeleted, report.counts.containersReaped, report.counts.failures], [0, 0, 0], 'a pass afterwards does nothing');
});
