import t from 'tap';
import { createHash } from 'node:crypto';
import { request } from 'undici';
import { SeededRandom } from '../../common/random.js';
import { startCluster, type Cluster } from '../helpers/cluster.js';
import { loadRing } from '../helpers/replicas.js';
import { api } from '../helpers/swift-api.js';

/**
 * A large object on three nodes, read by a slow client; the node serving it is killed (-9) in
 * the middle of the body: the proxy resumes from another replica and the client gets the whole
 * object (its md5). Which primary serves is the proxy's business: each is killed in turn, in its
 * own read, and the proxy's log shows exactly one of those reads resumed. When every replica dies,
 * the client's connection is cut: never a short body that ends cleanly.
 */

const MIB = 1024 * 1024;
const SIZE = 48 * MIB;

/** 48 MiB of seeded bytes: one random MiB, each copy stamped with its index. */
function objectBody(): Buffer {
  const rnd = new SeededRandom(23);
  const block = Buffer.alloc(MIB);
  for (let i = 0; i < MIB; i++) block[i] = rnd.int(256);
  const out = Buffer.alloc(SIZE);
  for (let m = 0; m < SIZE / MIB; m++) {
    block.copy(out, m * MIB);
    out.writeUInt32BE(m, m * MIB);
  }
  return out;
}

/**
 * A GET that reads 1 MiB, then stops reading (the proxy and the node are held back by
 * backpressure) while `during` runs, then reads the rest. Its md5, or 'cut'.
 */
async function slowGet(url: string, token: string, during: () => Promise<void>): Promise<{ status: number; md5: string; bytes: number } | 'cut'> {
  const res = await request(url, { headers: { 'x-auth-token': token } });
  const md5 = createHash('md5');
  let bytes = 0;
  let paused = false;
  try {
    for await (const chunk of res.body) {
      md5.update(chunk as Buffer);
      bytes += (chunk as Buffer).length;
      if (!paused && bytes >= MIB) {
        paused = true;
        await during();
      }
    }
  } catch {
    return 'cut';
  }
  return { status: res.statusCode, md5: md5.digest('hex'), bytes };
}

const resumes = (c: Cluster): number => c.proxyLog.filter((l) => l.includes('Trying to read object during GET (retrying)')).length;

t.test('the node serving a GET is killed mid-body: the client still gets the whole object', async (t) => {
  t.setTimeout(240_000);
  const cluster = await startCluster({ proxyConfig: { error_suppression_limit: 1000 } });
  t.teardown(() => cluster.stop());
  const a = await api(cluster);
  const account = a.storageUrl.split('/').pop() as string;
  t.equal((await a.req('PUT', '/c')).status, 201);
  const body = objectBody();
  const want = createHash('md5').update(body).digest('hex');
  t.equal((await a.req('PUT', '/c/big', { body })).status, 201, 'PUT 48 MiB');
  const ring = loadRing(cluster, 'object');
  const primaries = ring.primaries(ring.partitionFor(account, 'c', 'big')).map((d) => cluster.nodes.find((n) => n.device === d.device)!);
  t.equal(primaries.length, 3);

  for (const victim of primaries) {
    const before = resumes(cluster);
    const got = await slowGet(`${a.storageUrl}/c/big`, a.token, () => cluster.kill(victim));
    t.not(got, 'cut', `${victim.name} killed mid-read: not cut`);
    if (got !== 'cut') {
      t.equal(got.status, 200);
      t.equal(got.bytes, SIZE, `${victim.name} killed: every byte`);
      t.equal(got.md5, want, `${victim.name} killed: the right md5`);
    }
    t.comment(`${victim.name} killed: ${resumes(cluster) - before} resume(s)`);
    await cluster.restart(victim);
  }
  t.equal(resumes(cluster), 1, 'exactly one of the three reads was served by the node killed, and resumed');

  // Every replica dies mid-read: the connection is cut (the fourth node is a handoff without it).
  const got = await slowGet(`${a.storageUrl}/c/big`, a.token, async () => {
    for (const n of primaries) await cluster.kill(n);
  });
  t.equal(got, 'cut', 'every replica gone: the client sees the answer cut, not a short 200');
});
