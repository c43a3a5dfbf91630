import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { Ring, ringFile } from '../../ring-builder/ring.js';
import { clusterWithContainer, devicesHoldingObject } from '../helpers/swift-api.js';

/**
 * Large PUTs travel raw from the proxy to the nodes (docs/BACKEND.md "Raw body transfer"), past
 * Node's HTTP stack on both ends. With real processes: a node killed -9 in the middle of such a
 * body, and a client that goes away in the middle of one.
 */
const SIZE = 24 * 1024 * 1024;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The body in 1 MiB pieces, calling `at(i)` before piece i (to act mid-body) and pausing a little between pieces. */
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

t.test('kill -9 a primary in the middle of a large PUT: 201 from the other two, the bytes intact', async (t) => {
  const { cluster, a, account } = await clusterWithContainer(t);
  const secret = { prefix: cluster.secret.swift_hash_path_prefix, suffix: cluster.secret.swift_hash_path_suffix };
  const ring = Ring.loadSync(ringFile(cluster.ringDir, 'object'), secret);
  const primaries = ring.getNodes(account, 'c', 'big').primaries.map((d) => d.device);
  const victim = cluster.nodes.find((n) => n.device === primaries[1]);
  if (!victim) throw new Error('no victim');
  const body = randomBytes(SIZE);
  const res = await request(`${a.storageUrl}/c/big`, {
    method: 'PUT',
    headers: { 'x-auth-token': a.token, 'content-length': String(SIZE) },
    body: paced(body, async (i) => {
      if (i === 8) await cluster.kill(victim);
    }),
  });
  await res.body.dump();
  t.equal(res.statusCode, 201, 'acknowledged by a quorum');
  t.equal(res.headers.etag, createHash('md5').update(body).digest('hex'));
  const holders = await devicesHoldingObject(cluster, account, 'c', 'big');
  t.same(holders.sort(), primaries.filter((d) => d !== victim.device).sort(), 'stored on the two live primaries only');
  const get = await a.req('GET', '/c/big');
  t.equal(get.status, 200);
  t.ok(get.body.equals(body), 'the same bytes back');
  await cluster.restart(victim);
  t.equal((await a.req('GET', '/c/big')).status, 200, 'still there with the node back');
});

t.test('a client gone in the middle of a large PUT: nothing stored anywhere, the cluster fine', async (t) => {
  const { cluster, a, account } = await clusterWithContainer(t);
  const body = randomBytes(SIZE);
  const ac = new AbortController();
  const put = request(`${a.storageUrl}/c/half`, {
    method: 'PUT',
    headers: { 'x-auth-token': a.token, 'content-length': String(SIZE) },
    body: paced(body, async (i) => {
      if (i === 10) ac.abort();
    }),
    signal: ac.signal,
  });
  await t.rejects(put, 'the client gave up');
  await sleep(500);
  t.same(await devicesHoldingObject(cluster, account, 'c', 'half'), [], 'no replica');
  t.equal((await a.req('GET', '/c/half')).status, 404);
  const small = await a.req('PUT', '/c/after', { body: 'still fine' });
  t.equal(small.status, 201, 'the next PUT works');
});
