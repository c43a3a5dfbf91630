import { join } from 'node:path';
import { SwiftletError } from '../common/errors.js';
import { resolveBindIp } from '../ring-builder/node-address.js';
import { parseArgs } from 'node:util';
import { backendPath } from '../common/backend-path.js';
import { parseConfig, readJsonConfigFile } from '../common/config.js';
import { EXPIRING_OBJECTS_ACCOUNT, expirerContainer, queueRowContentType, queueRowName } from '../common/expiring-queue.js';
import { hashPath } from '../common/hash-path.js';
import { runLimited } from '../common/run-limited.js';
import { H } from '../common/headers.js';
import { discardBody, originOf } from '../common/http-client.js';
import { createLogger } from '../common/log.js';
import { quorumSize } from '../common/quorum.js';
import { SINGLE_POLICY } from '../common/storage-policy.js';
import { containerUpdateTargets } from '../ring-builder/update-targets.js';
import { listHashes, listPartitions, listSuffixes, objectLocation, readObjectInfo } from '../storage-node/object/diskfile.js';
import { M } from '../storage-node/object/metadata.js';
import { storageNodeSpec } from '../storage-node/config.js';
import type { DaemonContext } from './context.js';
import { startReport, type PassReport } from './daemon.js';
import { localDevices, ringAddress } from './local-devices.js';

/** Objects handled at once: a row PUT waits on three container servers' commits. */
const REQUEUE_CONCURRENCY = 16;

/**
 * `swiftlet expirer --requeue --config F`: objects written before the expiring-objects queue
 * existed have no row in it. One scan of this node's primary partitions (every hash dir, every
 * policy) reads each live object's metadata and puts a queue row for each with an X-Delete-At on
 * every primary of its queue container. Idempotent (the same row, the same timestamp); run it once
 * per node after the upgrade. Counts: objectsScanned, requeued, failures.
 */
export async function requeueExpiring(ctx: DaemonContext): Promise<PassReport> {
  const pass = startReport('expirer-requeue', ctx.clock);
  const { ip, port } = ringAddress(ctx.config);
  for (const { index: policy } of (ctx.policies ?? SINGLE_POLICY).all()) {
    const ring = ctx.rings.object(policy);
    for (const dev of await localDevices(ring, ctx.devicesRoot, ip, port)) {
      const devicePath = join(ctx.devicesRoot, dev.device);
      for (const partition of await listPartitions(devicePath, policy)) {
        if (partition >= ring.partCount || !ring.primaries(partition).some((d) => d.id === dev.id)) continue;
        const hashes: string[] = [];
        for (const suffix of await listSuffixes(devicePath, partition, policy)) hashes.push(...(await listHashes(devicePath, partition, suffix, policy)));
        await runLimited(hashes, REQUEUE_CONCURRENCY, async (hash) => {
          try {
            const info = await readObjectInfo(objectLocation(devicePath, partition, hash, policy), ctx.fsync);
            if (info.kind !== 'live') return;
            pass.count('objectsScanned');
            const at = info.metadata[M.deleteAt];
            const name = splitName(info.metadata[M.name]);
            if (at === undefined || !/^\d+$/.test(at) || !name || hashPath(ctx.secret, name.account, name.container, name.obj) !== hash) return;
            await putRow(ctx, Number(at), name, info.timestamp.internal, queueRowContentType(info.timestamp, policy), pass);
          } catch (err) {
            pass.error(`${devicePath} ${partition}/${hash}: ${String(err)}`);
          }
        });
      }
    }
  }
  return pass.finish();
}

function splitName(name: string | undefined): { account: string; container: string; obj: string } | undefined {
  const m = /^\/([^/]+)\/([^/]+)\/(.+)$/s.exec(name ?? '');
  return m ? { account: m[1] as string, container: m[2] as string, obj: m[3] as string } : undefined;
}

async function putRow(ctx: DaemonContext, deleteAt: number, n: { account: string; container: string; obj: string }, ts: string, contentType: string, pass: ReturnType<typeof startReport>): Promise<void> {
  const queue = expirerContainer(ctx.secret, deleteAt, ctx.config.expiring_objects_container_divisor, n.account, n.container, n.obj);
  const row = queueRowName(deleteAt, n.account, n.container, n.obj);
  const ring = ctx.rings.container();
  const part = ring.partitionFor(EXPIRING_OBJECTS_ACCOUNT, queue);
  const accountTargets = containerUpdateTargets(ctx.rings, EXPIRING_OBJECTS_ACCOUNT);
  const nodes = ring.primaries(part);
  const statuses = await Promise.all(
    nodes.map(async (d, i) => {
      try {
        const res = await ctx.backend.request(originOf(d), 'PUT', backendPath(d.device, part, EXPIRING_OBJECTS_ACCOUNT, queue, row), {
          headers: {
            [H.timestamp]: ts,
            [H.size]: '0',
            [H.contentType]: contentType,
            [H.etag]: 'd41d8cd98f00b204e9800998ecf8427e',
            [H.backendSource]: 'object-server', // routes it to the container server
            ...accountTargets(i),
          },
          headersTimeout: ctx.config.node_timeout_ms,
        });
        await discardBody(res.body);
        return res.statusCode;
      } catch {
        return 0;
      }
    }),
  );
  if (statuses.filter((s) => s >= 200 && s < 300).length >= quorumSize(nodes.length)) pass.count('requeued');
  else pass.error(`requeue ${row}: statuses ${statuses.join(',')}`);
}

/** The command: `swiftlet expirer --requeue --config F`. */
export async function runRequeueCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' }, requeue: { type: 'boolean', default: false } } });
  if (!values.config) throw new Error('expirer --requeue needs --config FILE (the storage node config)');
  const parsed = parseConfig(storageNodeSpec, readJsonConfigFile(values.config), values.config);
  // As the daemons: the node is known by the address it binds (the rings' one when bind_ip is empty).
  const bind = await resolveBindIp({ ...parsed, secret: { prefix: parsed.swift_hash_path_prefix, suffix: parsed.swift_hash_path_suffix } });
  if ('error' in bind) throw new SwiftletError('CONFIG', `expirer --requeue: ${bind.error}`);
  const cfg = { ...parsed, bind_ip: bind.ip };
  const { daemonContext } = await import('./main.js');
  const { ctx, close } = daemonContext(cfg, createLogger('expirer', cfg.log_level));
  const report = await requeueExpiring(ctx);
  console.log(JSON.stringify(report));
  await close();
  return (report.counts.failures ?? 0) > 0 ? 1 : 0;
}
