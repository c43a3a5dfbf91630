import t from 'tap';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { request } from 'undici';
import { signingDispatcher } from '../helpers/signing.js';
import { nodePath } from '../../common/backend-path.js';
import { hashPath } from '../../common/hash-path.js';
import { parseStoragePolicies } from '../../common/storage-policy.js';
import { Timestamp } from '../../common/timestamp.js';
import { objectLocation } from '../../storage-node/object/layout.js';
import { DEV, PART, SECRET, startNode, type Node } from '../helpers/object-node.js';

/**
 * The object server keeps each storage policy's objects in its own folder (Swift's `objects`,
 * `objects-1`…), chosen by X-Backend-Storage-Policy-Index on every request, replication's too.
 */

const client = signingDispatcher();
t.teardown(() => client.close());

const POLICIES = parseStoragePolicies([
  { index: 0, name: 'gold', default: true },
  { index: 1, name: 'scratch' },
]);

let ticks = Date.now() * 100; // now, in Timestamp ticks: a tombstone older than reclaim_age would not be taken
const stamp = (): Timestamp => new Timestamp(ticks++);

async function call(method: string, url: string, headers: Record<string, string> = {}, body?: string) {
  const res = await request(url, { method: method as 'GET', headers, dispatcher: client, ...(body === undefined ? {} : { body }) });
  return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
}

const policyHeader = (p?: string): Record<string, string> => (p === undefined ? {} : { 'x-backend-storage-policy-index': p });
const put = (n: Node, o: string, body: string, p?: string) =>
  call('PUT', n.url('AUTH_a', 'c', o), { 'x-timestamp': stamp().internal, 'content-type': 'text/plain', 'content-length': String(body.length), ...policyHeader(p) }, body);
const get = (n: Node, o: string, p?: string) => call('GET', n.url('AUTH_a', 'c', o), policyHeader(p));

async function ls(dir: string): Promise<string[]> {
  return (await readdir(dir).catch(() => [])).sort();
}

t.test("each policy's objects live in its own folder", async (t) => {
  const n = await startNode(t, { policies: POLICIES });
  const dev = join(n.root, DEV);
  const hash = hashPath(SECRET, 'AUTH_a', 'c', 'o');
  const inScratch = objectLocation(dev, PART, hash, 1);
  t.equal(inScratch.hashDir, join(dev, 'objects-1', String(PART), hash.slice(-3), hash), "Swift's objects-1");

  t.equal((await put(n, 'o', 'scratch copy', '1')).status, 201);
  t.equal((await ls(inScratch.hashDir)).length, 1, 'a .data in objects-1');
  t.same(await ls(dev), ['objects-1', 'tmp'], 'nothing in objects/ (temp files share tmp/)');
  t.same([(await get(n, 'o', '1')).body], ['scratch copy'], 'read back from policy 1');
  t.equal((await get(n, 'o', '0')).status, 404, 'policy 0 has no such object');
  t.equal((await get(n, 'o')).status, 404, 'no header: policy 0');

  t.equal((await put(n, 'o', 'gold copy', '0')).status, 201, 'the same name in policy 0');
  t.equal((await get(n, 'o')).body, 'gold copy');
  t.equal((await get(n, 'o', '1')).body, 'scratch copy', 'two objects, one per policy');
  t.equal((await call('DELETE', n.url('AUTH_a', 'c', 'o'), { 'x-timestamp': stamp().internal, ...policyHeader('1') })).status, 204);
  t.equal((await get(n, 'o', '1')).status, 404, 'deleted in policy 1');
  t.equal((await get(n, 'o')).body, 'gold copy', 'untouched in policy 0');
  t.ok((await ls(inScratch.hashDir)).some((f) => f.endsWith('.ts')), 'the tombstone is in objects-1');
});

t.test("a policy the node does not have: Swift's 503, nothing written", async (t) => {
  const n = await startNode(t, { policies: POLICIES });
  let r = await put(n, 'o', 'x', '7');
  t.same([r.status, r.body], [503, 'No policy with index 7']);
  r = await get(n, 'o', 'gold');
  t.same([r.status, r.body], [503, 'No policy with index gold'], 'an index must be a number');
  t.same(await ls(join(n.root, DEV)), [], 'no folder made');
  const single = await startNode(t);
  t.equal((await put(single, 'o', 'x', '1')).status, 503, 'a node configured with no policies has only policy 0');
  t.equal((await put(single, 'o', 'x', '0')).status, 201);
});

t.test("replication works on the named policy's folder; quarantine keeps policies apart", async (t) => {
  const n = await startNode(t, { policies: POLICIES });
  t.equal((await put(n, 'o', 'scratch', '1')).status, 201);
  const replicate = (method: string, path: string, p?: string) => call(method, `${n.base}${path}`, { 'x-backend-replicate': 'object', ...policyHeader(p) });
  const inScratch = JSON.parse((await replicate('POST', nodePath(DEV, PART), '1')).body) as Record<string, string>;
  t.equal(Object.keys(inScratch).length, 1, 'REPLICATE of policy 1: the suffix of the object');
  t.same(JSON.parse((await replicate('POST', nodePath(DEV, PART))).body), {}, 'REPLICATE of policy 0: nothing');
  const suffix = Object.keys(inScratch)[0] as string;
  const listed = JSON.parse((await replicate('GET', nodePath(DEV, PART, suffix), '1')).body) as Record<string, string[]>;
  t.equal(Object.keys(listed).length, 1, 'listing a policy 1 suffix');
  t.same(JSON.parse((await replicate('GET', nodePath(DEV, PART, suffix))).body), {}, 'the same suffix of policy 0 is empty');
  t.equal((await replicate('POST', nodePath(DEV, PART), '3')).status, 503, 'an unknown policy');

  // A pushed file lands in its policy's folder.
  const hash = hashPath(SECRET, 'AUTH_a', 'c', 'pushed');
  const ts = stamp();
  const meta = JSON.stringify({ name: '/AUTH_a/c/pushed', 'X-Timestamp': ts.internal });
  const pushed = await call('PUT', `${n.base}${nodePath(DEV, PART, hash, `${ts.internal}.ts`)}`, { 'x-backend-replicate': 'object', 'content-length': String(meta.length), ...policyHeader('1') }, meta);
  t.equal(pushed.status, 201);
  t.same(await ls(objectLocation(join(n.root, DEV), PART, hash, 1).hashDir), [`${ts.internal}.ts`], 'into objects-1');
  t.same(await ls(objectLocation(join(n.root, DEV), PART, hash, 0).hashDir), [], 'not objects/');

  // A corrupt .data of policy 1 is moved to quarantined/objects-1.
  const loc = objectLocation(join(n.root, DEV), PART, hashPath(SECRET, 'AUTH_a', 'c', 'o'), 1);
  const [data] = await ls(loc.hashDir);
  const file = join(loc.hashDir, data as string);
  const bytes = await readFile(file);
  bytes[0] = bytes[0]! ^ 0xff;
  await writeFile(file, bytes);
  t.equal((await get(n, 'o', '1')).status, 404, 'a corrupt object is not served');
  t.same(await ls(join(n.root, DEV, 'quarantined', 'objects-1', loc.hash)), [data], 'quarantined with its policy');
  t.same(await ls(join(n.root, DEV, 'quarantined', 'objects')), [], 'not among policy 0');
  const status = JSON.parse((await call('GET', `${n.base}/recon/status`)).body) as { devices: Array<{ quarantined: number }> };
  t.equal(status.devices[0]?.quarantined, 1, '/recon/status counts every policy');
});
