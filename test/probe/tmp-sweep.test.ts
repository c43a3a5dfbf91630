import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { readdir, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { loadReports, type PassReport } from '../../common/pass-report.js';
import { Ring, ringFile } from '../../ring-builder/ring.js';
import type { NodeProc } from '../helpers/cluster.js';
import { clusterWithContainer } from '../helpers/swift-api.js';

/**
 * Dead temp files with real processes: a storage node killed -9 in the middle of a large PUT
 * leaves its temp file in tmp/; the restarted node removes it (and any other file untouched for
 * tmp_reclaim_age_s), keeps a young one, and never removes the temp file of a PUT it is receiving,
 * however old that file looks.
 */
const SIZE = 24 * 1024 * 1024;
const AGE_S = 20; // the node sweeps every 10 s
const MONTH_S = 30 * 86400;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The body in 1 MiB pieces, calling `at(i)` before piece i (to act mid-body). */
function paced(body: Buffer, at: (i: number) => Promise<void>): Readable {
  return Readable.from(
    (async function* () {
      for (let i = 0; i * 1024 * 1024 < body.length; i++) {
        await at(i);
        yield body.subarray(i * 1024 * 1024, (i + 1) * 1024 * 1024);
        await sleep(5);
      }
    })(),
  );
}

/** Polls `cond` until it holds (a bounded wait for something that must happen, not a timing check). */
async function until(what: string, cond: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 1200; i++) {
    if (await cond()) return;
    await sleep(50);
  }
  throw new Error(`never happened: ${what}`);
}

const ls = async (dir: string): Promise<string[]> => (await readdir(dir).catch(() => [] as string[])).sort();
const exists = (p: string): Promise<boolean> => stat(p).then(() => true, () => false);
async function makeOld(path: string, ageS: number): Promise<void> {
  const when = Date.now() / 1000 - ageS;
  await utimes(path, when, when);
}
const sweepReport = async (n: NodeProc): Promise<PassReport | undefined> => (await loadReports(n.devicesRoot)).find((r) => r.daemon === 'tmp-sweeper');

t.test('kill -9 mid-PUT: the restarted node removes the dead temp file, keeps a young one and the one it is writing', async (t) => {
  const { cluster, a, account } = await clusterWithContainer(t, { nodeConfig: { tmp_reclaim_age_s: AGE_S } });
  const ring = Ring.loadSync(ringFile(cluster.ringDir, 'object'), { prefix: cluster.secret.swift_hash_path_prefix, suffix: cluster.secret.swift_hash_path_suffix });
  const primariesOf = (o: string): string[] => ring.getNodes(account, 'c', o).primaries.map((d) => d.device);
  const victim = cluster.nodes.find((n) => n.device === primariesOf('big')[1]) as NodeProc;
  const tmp = join(victim.devicesRoot, victim.device, 'tmp');

  const body = randomBytes(SIZE);
  const res = await request(`${a.storageUrl}/c/big`, {
    method: 'PUT',
    headers: { 'x-auth-token': a.token, 'content-length': String(SIZE) },
    body: paced(body, async (i) => {
      if (i !== 8) return;
      await until('a temp file on the victim', async () => (await ls(tmp)).length > 0);
      await cluster.kill(victim);
    }),
  });
  await res.body.dump();
  t.equal(res.statusCode, 201, 'acknowledged by the other two');
  const left = await ls(tmp);
  t.ok(left.length >= 1, 'the killed write left its temp file');
  for (const f of left) await makeOld(join(tmp, f), MONTH_S);
  await writeFile(join(tmp, 'dead-too'), 'x');
  await makeOld(join(tmp, 'dead-too'), AGE_S * 2);
  await writeFile(join(tmp, 'young'), 'another writer, just now');

  await cluster.restart(victim);
  t.same(await ls(tmp), ['young'], 'the dead files are gone once the node listens; the young one stays');
  t.equal((await sweepReport(victim))?.counts.tmpFilesRemoved, left.length + 1, 'the sweep is reported');

  // A PUT the restarted node is receiving: its temp file survives a sweep, however old it looks.
  let name = 'big2';
  for (let i = 0; !primariesOf(name).includes(victim.device); i++) name = `big2-${i}`;
  let release!: () => void;
  const held = new Promise<void>((r) => (release = r));
  const body2 = randomBytes(SIZE);
  const put2 = request(`${a.storageUrl}/c/${name}`, {
    method: 'PUT',
    headers: { 'x-auth-token': a.token, 'content-length': String(SIZE) },
    body: paced(body2, async (i) => {
      if (i === 8) await held;
    }),
  });
  let writing = '';
  await until('the temp file of the PUT in progress', async () => {
    writing = (await ls(tmp)).find((f) => f !== 'young') ?? '';
    return writing !== '';
  });
  await makeOld(join(tmp, writing), MONTH_S);
  const aged = Date.now();
  await until('a sweep after that', async () => ((await sweepReport(victim))?.startedAt ?? 0) > aged);
  t.ok(await exists(join(tmp, writing)), 'the open temp file was left alone');
  t.ok(((await sweepReport(victim))?.counts.tmpFilesOpen ?? 0) >= 1, 'and counted as open');
  release();
  const res2 = await put2;
  await res2.body.dump();
  t.equal(res2.statusCode, 201);
  t.equal(res2.headers.etag, createHash('md5').update(body2).digest('hex'));
  t.notOk(await exists(join(tmp, writing)), 'renamed into place');
  const get = await a.req('GET', `/c/${name}`);
  t.ok(get.body.equals(body2), 'the same bytes back');
});
