import { createReadStream, existsSync } from 'node:fs';
import { rmdir, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { nodePath, withQuery, type BackendPath } from '../common/backend-path.js';
import { discardBody, originOf } from '../common/http-client.js';
import { tryLockFile, type HeldLock } from '../common/lock-file.js';
import { runLimited } from '../common/run-limited.js';
import type { Ring, RingDevice } from '../ring-builder/ring.js';
import { listHashes, listPartitions, listSuffixes, objectLocation, quarantineFile, verifyDataFile } from '../storage-node/object/diskfile.js';
import { closeQuietly, fstatSize, openFd } from '../storage-node/object/fd.js';
import { errnoOf, invalidateSuffix } from '../storage-node/object/fs-durable.js';
import { parseOnDiskName, partitionLockPath } from '../storage-node/object/layout.js';
import { classifyHashDirFiles, listHashDir } from '../storage-node/object/ondisk.js';
import { DIGESTS_SEGMENT, MAX_DIGEST_PARTITIONS } from '../storage-node/object/replication.js';
import { currentFiles, partitionDirOf, suffixHashOf } from '../storage-node/object/suffix-hashes.js';
import type { DaemonContext } from './context.js';
import { POLICY_INDEX_HEADER, SINGLE_POLICY } from '../common/storage-policy.js';
import { startReport, type Daemon, type PassReport } from './daemon.js';
import { localDevices, ringAddress } from './local-devices.js';
import { RateLimiter } from './rate-limiter.js';

/**
 * The object replicator (Swift's obj/replicator.py). For each storage policy, by that policy's
 * ring, and each partition dir in its folder (`objects`, `objects-<n>`) on each local device:
 *
 * - **update** (this device is a primary): ask our own node for the suffix hashes (REPLICATE: the
 *   node owns its hash cache, so a quiet partition costs no rehash), ask each other primary for
 *   its hashes, and for every suffix that differs list the peer's files and push ours that it
 *   lacks (newest wins at the receiver), then REPLICATE those suffixes so the peer rehashes. A
 *   primary answering 507 is replaced by the next handoff, so three copies stay somewhere.
 * - **revert** (a handoff, or the ring moved the partition): the same sync to every primary from
 *   a listing of the partition; once every primary has each file (or something newer), the files
 *   are deleted here and our node is asked to drop the then empty partition. A primary that is
 *   down leaves the partition in place, pending.
 *
 * Pushes are throttled by replicator_objects_per_s and replicator_bytes_per_s;
 * replicator_concurrency partitions run at once. The wire protocol is in storage-node/object/replication.ts.
 *
 * A pass starts with the batched digest check (`settledByDigest`): one request to our node and one
 * to each peer device per policy and MAX_DIGEST_PARTITIONS partitions, each answering one md5 per
 * partition over its suffix hashes. A partition of ours whose digest every other primary shares
 * (or which holds nothing) is done with that; only the others, and those a batch got no answer
 * for, are compared suffix by suffix as above. An idle pass costs a handful of requests per peer.
 *
 * One pass at a time per partition, across processes (the daemons' pass and a `--once`, say):
 * a partition another pass holds is skipped and counted busy (that pass is replicating it). The
 * lock is only taken to push or revert: comparing hashes (answered from the node's hash cache
 * without listing a directory, storage-node/object/suffix-hashes.ts) needs none.
 *
 * Counts: partitions, partitionsBusy, partitionsInStep (settled by the digest check alone),
 * digestRequests, digestRequestsFailed (batches compared one by one instead), suffixesChecked
 * (local suffixes compared, per peer, by the per-partition way), suffixesSynced, objectsPushed
 * (files stored by a peer), bytesPushed, handoffPartitionsReverted, handoffPartitionsPending, failures.
 */

export interface ObjectReplicatorOptions {
  /** How the rate limiters wait (tests inject one that advances a fake clock). */
  sleep?: (ms: number) => Promise<void>;
}

const COUNTS = ['partitions', 'partitionsBusy', 'partitionsInStep', 'digestRequests', 'digestRequestsFailed', 'suffixesChecked', 'suffixesSynced', 'objectsPushed', 'bytesPushed', 'handoffPartitionsReverted', 'handoffPartitionsPending', 'failures'];
/** Suffixes per REPLICATE/list request, to keep request lines short. */
const SUFFIXES_PER_CALL = 256;

export function createObjectReplicator(ctx: DaemonContext, opts: ObjectReplicatorOptions = {}): Daemon {
  // One pair of limiters for the daemon's life: the rates hold across partitions and passes.
  const objects = new RateLimiter(ctx.config.replicator_objects_per_s, ctx.clock, opts.sleep);
  const bytes = new RateLimiter(ctx.config.replicator_bytes_per_s, ctx.clock, opts.sleep);
  return {
    name: 'object-replicator',
    async runOnce(): Promise<PassReport> {
      const pass = startReport('object-replicator', ctx.clock);
      for (const k of COUNTS) pass.count(k, 0);
      const { ip, port } = ringAddress(ctx.config);
      const jobs: Job[] = [];
      // Each storage policy's folder, by that policy's ring (its replica count and devices).
      for (const { index: policy } of (ctx.policies ?? SINGLE_POLICY).all()) {
        const ring = ctx.rings.object(policy);
        for (const dev of await localDevices(ring, ctx.devicesRoot, ip, port)) {
          const devicePath = join(ctx.devicesRoot, dev.device);
          try {
            for (const part of await listPartitions(devicePath, policy)) jobs.push({ dev, devicePath, part, policy, ring });
          } catch (err) {
            pass.error(`${dev.device}: cannot list partitions of policy ${policy}: ${String(err)}`);
          }
        }
      }
      const env: Env = { ctx, pass, objects, bytes };
      const settled = await settledByDigest(env, jobs);
      await runLimited(jobs, ctx.config.replicator_concurrency, async (job) => {
        if (settled.has(job)) {
          pass.count('partitions');
          pass.count('partitionsInStep');
          return;
        }
        try {
          await replicatePartition(env, job);
        } catch (err) {
          ctx.log.error({ err, device: job.dev.device, partition: job.part }, 'object replicator: partition failed');
          pass.error(`${job.dev.device}/${job.part}: ${String(err)}`);
        }
      });
      return pass.finish();
    },
  };
}

interface Job {
  dev: RingDevice;
  devicePath: string;
  part: number;
  /** The storage policy whose folder holds the partition, and that policy's ring. */
  policy: number;
  ring: Ring;
}

interface Env {
  ctx: DaemonContext;
  pass: ReturnType<typeof startReport>;
  objects: RateLimiter;
  bytes: RateLimiter;
}

// ---- the batched digest check ----

/** One partition's digest to ask one device for: ours (dev = job.dev) or a peer's. */
interface DigestAsk {
  job: Job;
  dev: RingDevice;
}

/**
 * The update jobs the batched digest check settles, with no per-partition request: first our own
 * node's digest of every partition this device is a primary of, then each other primary's digest
 * of the partitions it shares with us, one request per device and policy for up to
 * MAX_DIGEST_PARTITIONS partitions (BACKEND.md "Objects"). A partition is settled when ours is
 * absent (it holds nothing to give) or every peer's equals ours. Every other one goes the
 * per-partition way, as do all of a batch that got no answer (a node down, a disk gone: 507, a
 * node older than the check): that way finds the same failures, and replaces a 507 by a handoff.
 */
async function settledByDigest(env: Env, jobs: readonly Job[]): Promise<Set<Job>> {
  const updates = jobs.filter((j) => j.part < j.ring.partCount && j.ring.primaries(j.part).some((d) => d.id === j.dev.id));
  const ours = new Map<Job, string | undefined>();
  for (const [ask, digest] of await askDigests(env, updates.map((job) => ({ job, dev: job.dev })))) ours.set(ask.job, digest);
  const settled = new Set<Job>();
  const peerAsks: DigestAsk[] = [];
  for (const [job, digest] of ours) {
    if (digest === undefined) settled.add(job); // nothing here to give
    else for (const dev of job.ring.primaries(job.part)) if (dev.id !== job.dev.id) peerAsks.push({ job, dev });
  }
  const theirs = await askDigests(env, peerAsks);
  const differs = new Set<Job>();
  for (const ask of peerAsks) if (!theirs.has(ask) || theirs.get(ask) !== ours.get(ask.job)) differs.add(ask.job);
  for (const [job, digest] of ours) if (digest !== undefined && !differs.has(job)) settled.add(job);
  return settled;
}

/**
 * Sends the asks batched per device and policy; answers each ask of a batch that was answered with
 * the digest, or undefined when the partition holds nothing there. Asks of a failed batch are left out.
 */
async function askDigests(env: Env, asks: readonly DigestAsk[]): Promise<Map<DigestAsk, string | undefined>> {
  const groups = new Map<string, DigestAsk[]>();
  for (const ask of asks) {
    const key = `${ask.job.policy} ${originOf(ask.dev)} ${ask.dev.device}`;
    const group = groups.get(key);
    if (group) group.push(ask);
    else groups.set(key, [ask]);
  }
  const batches = [...groups.values()].flatMap((g) => chunks(g, MAX_DIGEST_PARTITIONS));
  const out = new Map<DigestAsk, string | undefined>();
  await runLimited(batches, env.ctx.config.replicator_concurrency, async (batch) => {
    const { dev, job } = batch[0] as DigestAsk;
    const path = withQuery(nodePath(dev.device, DIGESTS_SEGMENT), `partitions=${batch.map((a) => a.job.part).join(',')}`);
    env.pass.count('digestRequests');
    try {
      const res = await send(env, job.policy, dev, 'POST', path);
      if (res.status !== 200) throw new PeerError(res.status, `digests ${describe(dev)}: ${res.status}`);
      const digests = parseJsonObject(res.body, dev);
      for (const ask of batch) {
        const d = digests[String(ask.job.part)];
        out.set(ask, typeof d === 'string' ? d : undefined);
      }
    } catch (err) {
      // Not a failure by itself: the per-partition way that follows reports what is really wrong.
      env.pass.count('digestRequestsFailed');
      env.ctx.log.warn({ err, peer: describe(dev), policy: job.policy, partitions: batch.length }, 'object replicator: no digests; comparing those partitions one by one');
    }
  });
  return out;
}

async function replicatePartition(env: Env, job: Job): Promise<void> {
  if (job.part >= job.ring.partCount) {
    env.pass.error(`${job.dev.device}/${job.part}: partition not in the ring`);
    return;
  }
  const primaries = job.ring.primaries(job.part);
  if (primaries.some((d) => d.id === job.dev.id)) return update(env, job, primaries);
  const lock = lockPartition(env, job);
  if (!lock) return;
  try {
    env.pass.count('partitions');
    await revert(env, job, primaries);
  } finally {
    lock.release();
  }
}

/**
 * Two passes on one partition at once push everything twice, and the one that reverts it second
 * finds it deleted under its feet (ENOENT on hashes.invalid). What the node does for us
 * (REPLICATE, the partition's removal) it serializes in its own process; what this process does
 * on disk (reading files to push, deleting a reverted handoff's files) needs a lock between
 * processes: Swift's lock_path, here a lock file (common/lock-file.ts), held for that work. A
 * partition in step with its peers is only compared, which needs no lock (and no file created).
 * Undefined (counted busy) when another pass holds it.
 */
function lockPartition(env: Env, job: Job): HeldLock | undefined {
  const lock = tryLockFile(partitionLockPath(job.devicePath, job.part, job.policy));
  // Busy, or reverted and removed by the pass that held it since we listed it: that pass did it.
  if (!lock || !existsSync(partitionDirOf(job.devicePath, job.part, job.policy))) {
    lock?.release();
    env.pass.count('partitionsBusy');
    return undefined;
  }
  return lock;
}

// ---- what we hold ----

/** One hash dir here: the files that count (pushed, hashed) and every file (deleted after a revert). */
interface HashDirListing {
  suffix: string;
  current: string[];
  all: string[];
}

/** The hash dirs of some suffixes of a local partition, read from disk (names only, no file reads). */
async function readLocal(job: Job, suffixes: readonly string[]): Promise<Map<string, HashDirListing>> {
  const out = new Map<string, HashDirListing>();
  for (const suffix of suffixes) {
    for (const hash of await listHashes(job.devicePath, job.part, suffix, job.policy)) {
      const all = ((await listHashDir(objectLocation(job.devicePath, job.part, hash, job.policy).hashDir)) ?? []).filter((n) => parseOnDiskName(n) !== undefined);
      const current = currentFiles(all);
      if (all.length > 0) out.set(hash, { suffix, current, all });
    }
  }
  return out;
}

/** What a sync compares and pushes from. */
interface LocalView {
  hashes: Record<string, string>;
  files(suffixes: readonly string[]): Promise<Map<string, HashDirListing>>;
}

// ---- update: a primary keeps its peers in step ----

async function update(env: Env, job: Job, primaries: RingDevice[]): Promise<void> {
  let hashes: Record<string, string>;
  try {
    hashes = await replicateCall(env, job, job.dev, []);
  } catch (err) {
    env.pass.error(`${job.dev.device}/${job.part}: own node's suffix hashes: ${String(err)}`);
    return;
  }
  if (Object.keys(hashes).length === 0) {
    env.pass.count('partitions');
    return; // nothing here to give
  }
  // First every peer's hashes (one REPLICATE each, answered from its cache): a partition in step
  // costs those and nothing else. Only peers that differ are then synced, under the lock.
  const behind: Array<{ peer: RingDevice; remote: Record<string, string> }> = [];
  const targets = primaries.filter((d) => d.id !== job.dev.id);
  const handoffs = job.ring.handoffs(job.part);
  for (let i = 0; i < targets.length; i++) {
    const peer = targets[i] as RingDevice;
    try {
      const remote = await replicateCall(env, job, peer, []);
      env.pass.count('suffixesChecked', Object.keys(hashes).length);
      if (differingSuffixes(hashes, remote).length > 0) behind.push({ peer, remote });
    } catch (err) {
      env.pass.error(`${job.dev.device}/${job.part} → ${describe(peer)}: ${String(err)}`);
      // An unmounted primary: keep the replica count up on the next handoff (Swift's update()).
      if (err instanceof PeerError && err.status === 507) {
        const next = handoffs.next();
        if (!next.done) targets.push(next.value);
      }
    }
  }
  if (behind.length === 0) {
    env.pass.count('partitions');
    return;
  }
  const lock = lockPartition(env, job);
  if (!lock) return;
  try {
    env.pass.count('partitions');
    const local: LocalView = { hashes, files: (suffixes) => readLocal(job, suffixes) };
    for (const { peer, remote } of behind) {
      try {
        await syncPeer(env, job, peer, local, remote);
      } catch (err) {
        env.pass.error(`${job.dev.device}/${job.part} → ${describe(peer)}: ${String(err)}`);
      }
    }
  } finally {
    lock.release();
  }
}

/** Our suffixes whose hash the peer does not share, sorted. */
function differingSuffixes(local: Record<string, string>, remote: Record<string, string>): string[] {
  return Object.keys(local)
    .filter((s) => local[s] !== remote[s])
    .sort();
}

// ---- revert: a partition that does not belong here goes to its primaries ----

async function revert(env: Env, job: Job, primaries: RingDevice[]): Promise<void> {
  const listing = await readLocal(job, await listSuffixes(job.devicePath, job.part, job.policy));
  const bySuffix = new Map<string, Map<string, string[]>>();
  for (const [hash, l] of listing) {
    if (!bySuffix.has(l.suffix)) bySuffix.set(l.suffix, new Map());
    (bySuffix.get(l.suffix) as Map<string, string[]>).set(hash, l.current);
  }
  const hashes: Record<string, string> = {};
  for (const [suffix, dirs] of bySuffix) {
    const h = suffixHashOf(dirs);
    if (h) hashes[suffix] = h;
  }
  const local: LocalView = {
    hashes,
    files: async (suffixes) => new Map([...listing].filter(([, l]) => suffixes.includes(l.suffix))),
  };

  let everyPeerSynced = true;
  const uncovered = new Set<string>();
  if (listing.size > 0) {
    for (const peer of primaries) {
      try {
        const r = await syncPeer(env, job, peer, local);
        for (const h of r.uncovered) uncovered.add(h);
      } catch (err) {
        everyPeerSynced = false;
        env.pass.error(`${job.dev.device}/${job.part} → ${describe(peer)} (revert): ${String(err)}`);
      }
    }
  }
  if (!everyPeerSynced) {
    env.pass.count('handoffPartitionsPending');
    return;
  }
  // Every primary has these hash dirs' files (or newer ones): delete exactly what was listed, so
  // a write that landed here meanwhile stays until the next pass.
  const touched = new Set<string>();
  for (const [hash, l] of listing) {
    if (uncovered.has(hash)) continue;
    const hashDir = objectLocation(job.devicePath, job.part, hash, job.policy).hashDir;
    for (const name of l.all) await unlink(join(hashDir, name)).catch((e: unknown) => (errnoOf(e) === 'ENOENT' ? undefined : Promise.reject(e)));
    await rmdir(hashDir).catch(() => undefined);
    touched.add(l.suffix);
  }
  const partitionDir = partitionDirOf(job.devicePath, job.part, job.policy);
  for (const s of touched) await invalidateSuffix(partitionDir, s);
  if (uncovered.size === 0 && (await dropPartition(env, job))) env.pass.count('handoffPartitionsReverted');
  else env.pass.count('handoffPartitionsPending');
}

/** Asks our own node to remove the (now empty) partition: it owns the hash cache inside. */
async function dropPartition(env: Env, job: Job): Promise<boolean> {
  try {
    const res = await send(env, job.policy, job.dev, 'DELETE', partPath(job.dev, job.part, []));
    if (res.status === 204) return true;
    if (res.status !== 409) env.pass.error(`${job.dev.device}/${job.part}: own node answered ${res.status} to the partition removal`);
  } catch (err) {
    env.pass.error(`${job.dev.device}/${job.part}: partition removal: ${String(err)}`);
  }
  return false;
}

// ---- syncing one peer ----

interface PeerSync {
  /** Hash dirs some of whose files the peer refused: they are not known to be there. */
  uncovered: Set<string>;
}

/**
 * Makes `peer` hold every local file of the suffixes whose hashes differ (or something newer).
 * Throws PeerError when the peer cannot be talked to; a file the peer refuses (4xx) is counted,
 * and its hash dir reported uncovered. `known`: the peer's hashes, when just asked for.
 */
async function syncPeer(env: Env, job: Job, peer: RingDevice, local: LocalView, known?: Record<string, string>): Promise<PeerSync> {
  const out: PeerSync = { uncovered: new Set() };
  let remote = known;
  if (!remote) {
    remote = await replicateCall(env, job, peer, []);
    env.pass.count('suffixesChecked', Object.keys(local.hashes).length);
  }
  const differing = differingSuffixes(local.hashes, remote);
  if (differing.length === 0) return out;

  const mine = await local.files(differing);
  const theirs = await listCall(env, job, peer, differing);
  for (const [hash, l] of mine) {
    const have = theirs[hash] ?? [];
    for (const name of pushOrder(l.current)) {
      if (have.includes(name) || superseded(have, name)) continue;
      const result = await pushFile(env, job, peer, hash, name);
      if (result === 'rejected') out.uncovered.add(hash);
    }
  }
  // The peer invalidated those suffixes on every push; this makes it rehash them now.
  await replicateCall(env, job, peer, differing);
  env.pass.count('suffixesSynced', differing.length);
  return out;
}

/** .data/.ts before .meta: a .meta arriving first would wait for its .data anyway. */
function pushOrder(names: readonly string[]): string[] {
  const rank = (n: string): number => (n.endsWith('.meta') ? 1 : 0);
  return [...names].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

/** True when the peer's files make ours pointless (it has a newer .data/.ts, or a newer .meta). */
function superseded(have: readonly string[], name: string): boolean {
  return classifyHashDirFiles([...have, name]).obsolete.some((f) => f.name === name);
}

// ---- the wire ----

/** A peer that could not be talked to (status 0: no answer at all). */
class PeerError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'PeerError';
  }
}

function describe(d: RingDevice): string {
  return `${d.ip}:${d.port}/${d.device}`;
}

function partPath(d: RingDevice, part: number, suffixes: readonly string[]): BackendPath {
  return suffixes.length > 0 ? nodePath(d.device, part, suffixes.join('-')) : nodePath(d.device, part);
}

/** The headers of every replication request: which storage policy's folder. */
function replicationHeaders(policy: number): Record<string, string> {
  return { 'x-backend-replicate': 'object', [POLICY_INDEX_HEADER]: String(policy) };
}

async function send(env: Env, policy: number, d: RingDevice, method: 'POST' | 'GET' | 'DELETE', path: BackendPath): Promise<{ status: number; body: Buffer }> {
  try {
    const res = await env.ctx.backend.request(originOf(d), method, path, { headers: replicationHeaders(policy) });
    return { status: res.statusCode, body: Buffer.from(await res.body.arrayBuffer()) };
  } catch (err) {
    throw new PeerError(0, `${method} ${describe(d)}${path}: ${(err as Error).message}`);
  }
}

function chunks<T>(xs: readonly T[], n: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < xs.length; i += n) out.push(xs.slice(i, i + n));
  return out;
}

/** REPLICATE (sent as POST): the peer rehashes `suffixes` (and whatever it had invalidated) and answers its hashes. */
async function replicateCall(env: Env, job: Job, d: RingDevice, suffixes: readonly string[]): Promise<Record<string, string>> {
  let hashes: Record<string, string> = {};
  for (const group of suffixes.length > 0 ? chunks(suffixes, SUFFIXES_PER_CALL) : [[]]) {
    const res = await send(env, job.policy, d, 'POST', partPath(d, job.part, group));
    if (res.status !== 200) throw new PeerError(res.status, `REPLICATE ${describe(d)}/${job.part}: ${res.status}`);
    hashes = parseJsonObject(res.body, d) as Record<string, string>;
  }
  return hashes;
}

/** The peer's current files of some suffixes: `{hash: [names]}`. */
async function listCall(env: Env, job: Job, d: RingDevice, suffixes: readonly string[]): Promise<Record<string, string[]>> {
  const out: Record<string, string[]> = {};
  for (const group of chunks(suffixes, SUFFIXES_PER_CALL)) {
    const res = await send(env, job.policy, d, 'GET', partPath(d, job.part, group));
    if (res.status !== 200) throw new PeerError(res.status, `list ${describe(d)}/${job.part}: ${res.status}`);
    Object.assign(out, parseJsonObject(res.body, d));
  }
  return out;
}

function parseJsonObject(body: Buffer, d: RingDevice): Record<string, unknown> {
  try {
    const v = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch {
    /* fall through */
  }
  throw new PeerError(200, `${describe(d)} answered something that is not a JSON object`);
}

/**
 * Streams one local file to the peer. 'stored' (201) or 'not-needed' (200: the peer had it or
 * newer) both mean the peer is covered; 'gone' when a newer local write removed the file;
 * 'rejected' for a 4xx (a .data the peer found corrupt is checked here and quarantined if bad).
 */
async function pushFile(env: Env, job: Job, peer: RingDevice, hash: string, name: string): Promise<'stored' | 'not-needed' | 'gone' | 'rejected'> {
  const loc = objectLocation(job.devicePath, job.part, hash, job.policy);
  const path = join(loc.hashDir, name);
  let fd: number;
  try {
    fd = await openFd(path, 'r');
  } catch (e) {
    if (errnoOf(e) === 'ENOENT') return 'gone';
    throw e;
  }
  let size: number;
  try {
    size = await fstatSize(fd);
  } catch (e) {
    await closeQuietly(fd);
    throw e;
  }
  await env.objects.take(1);
  await env.bytes.take(size);
  const body = createReadStream(path, { fd, autoClose: true });
  let res;
  try {
    res = await env.ctx.backend.request(originOf(peer), 'PUT', nodePath(peer.device, job.part, hash, name), {
      headers: { ...replicationHeaders(job.policy), 'content-length': String(size) },
      body,
    });
  } catch (err) {
    throw new PeerError(0, `push ${name} to ${describe(peer)}: ${(err as Error).message}`);
  } finally {
    body.destroy(); // closes the fd whether or not it was read to the end
  }
  await discardBody(res.body);
  if (res.statusCode === 201) {
    env.pass.count('objectsPushed');
    env.pass.count('bytesPushed', size);
    return 'stored';
  }
  if (res.statusCode === 200) return 'not-needed';
  if (res.statusCode >= 400 && res.statusCode < 500 && res.statusCode !== 408 && res.statusCode !== 499) {
    env.pass.error(`push ${hash}/${name} to ${describe(peer)}: ${res.statusCode}`);
    if (res.statusCode === 422 && name.endsWith('.data')) await quarantineIfBad(env, loc, path);
    return 'rejected';
  }
  throw new PeerError(res.statusCode, `push ${name} to ${describe(peer)}: ${res.statusCode}`);
}

/** The peer says our .data is corrupt: if it is, move it aside so a good replica comes back. */
async function quarantineIfBad(env: Env, loc: ReturnType<typeof objectLocation>, path: string): Promise<void> {
  const v = await verifyDataFile(path);
  if (v.ok) return;
  env.ctx.log.warn({ path, reason: v.reason }, 'object replicator: local data file is corrupt, quarantining');
  await quarantineFile(loc, path, env.ctx.fsync);
}

