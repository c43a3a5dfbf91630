import { basename } from 'node:path';
import { readJsonConfigFile } from '../common/config.js';
import { hashPath, type HashSecret } from '../common/hash-path.js';
import { BACKEND_SIGNATURE_MAX_SKEW_S, backendKeyFrom, signBackendRequest } from '../common/backend-auth.js';
import { backendPath } from '../common/backend-path.js';
import { policyString } from '../common/storage-policy.js';
import { Ring, type RingDevice } from './ring.js';
import { EXIT_OK, UsageError, parseArgs, processIo, runCli, type CliIo } from './cli-io.js';

const USAGE = `usage: swiftlet get-nodes <ring.gz> <account> [<container> [<object>]] [--config FILE] [--all]

Prints the partition, hash, primary nodes and handoffs of a path, with curl commands to query them.
For an object of storage policy n, give that policy's ring, object-<n>.ring.gz.
The cluster hash secret comes from --config FILE (JSON with swift_hash_path_prefix/suffix, and
backend_key if set) or the environment (SWIFTLET_HASH_PATH_PREFIX / SWIFTLET_HASH_PATH_SUFFIX /
SWIFTLET_BACKEND_KEY). The curl commands carry a backend signature good for a few minutes.
--all lists every handoff instead of the first <replicas>.
`;

/** `swiftlet get-nodes`, like swift-get-nodes. Returns the exit code. */
export async function getNodesCli(argv: string[], io: CliIo = processIo): Promise<number> {
  return runCli(io, USAGE, () => {
    const { pos, opts } = parseArgs(argv[0] === 'get-nodes' ? argv.slice(1) : argv, ['config'], ['all']);
    const [ringPath, account, container, object, ...extra] = pos;
    if (!ringPath || !account || extra.length > 0) throw new UsageError('need <ring.gz> <account> [<container> [<object>]]');
    checkPathMatchesRing(ringPath, container, object);
    // object-<n>.ring.gz is storage policy n's: its objects sit in objects-<n>, requests name the policy.
    const policy = Number(/^object-(\d+)\.ring\.gz$/.exec(basename(ringPath))?.[1] ?? 0);
    const policyHeader = object !== undefined && policy > 0 ? ` -H "X-Backend-Storage-Policy-Index: ${policy}"` : '';
    const { secret, backendKey } = hashSecret(opts.get('config'), io.env);
    const ring = Ring.loadSync(ringPath, secret);
    const part = ring.partitionFor(account, container, object);
    const hash = hashPath(secret, account, container, object);
    const primaries = ring.primaries(part);
    const handoffs: RingDevice[] = [];
    for (const d of ring.handoffs(part)) {
      if (!opts.has('all') && handoffs.length >= ring.replicaCount) break;
      handoffs.push(d);
    }
    const addr = (d: RingDevice): string => `${d.ip.includes(':') ? `[${d.ip}]` : d.ip}:${d.port}`;
    const lines = [`Account  \t${account}`];
    if (container !== undefined) lines.push(`Container\t${container}`);
    if (object !== undefined) lines.push(`Object   \t${object}`);
    lines.push('', `Partition\t${part}`, `Hash     \t${hash}`, '');
    for (const d of primaries) lines.push(`Server:Port Device\t${addr(d)} ${d.device}`);
    for (const d of handoffs) lines.push(`Server:Port Device\t${addr(d)} ${d.device}\t [Handoff]`);
    lines.push('');
    const curl = (d: RingDevice): string => {
      const p = backendPath(d.device, part, account, container, object);
      return `curl -I -XHEAD -H "X-Backend-Signature: ${signBackendRequest(backendKey, 'HEAD', p, Date.now())}"${policyHeader} "http://${addr(d)}${p}"`;
    };
    for (const d of primaries) lines.push(curl(d));
    for (const d of handoffs) lines.push(`${curl(d)} # [Handoff]`);
    lines.push(`(the signatures are good for ${BACKEND_SIGNATURE_MAX_SKEW_S / 60} minutes)`);
    if (object !== undefined) {
      lines.push('', 'Use your own device location of servers: such as "export DEVICE=/srv/node"');
      const dir = (d: RingDevice): string => `ssh ${d.ip} "ls -lah \${DEVICE:-/srv/node*}/${d.device}/${policyString('objects', policy)}/${part}/${hash.slice(-3)}/${hash}"`;
      for (const d of primaries) lines.push(dir(d));
      for (const d of handoffs) lines.push(`${dir(d)} # [Handoff]`);
    }
    io.out(`${lines.join('\n')}\n`);
    return EXIT_OK;
  });
}

/** An object ring (any policy's) needs a/c/o, a container ring a/c, an account ring a (judged by the usual file names). */
function checkPathMatchesRing(ringPath: string, container?: string, object?: string): void {
  const name = basename(ringPath);
  const need =
    /^object(-\d+)?\.ring\.gz$/.test(name) ? 'object' : name === 'container.ring.gz' ? 'container' : name === 'account.ring.gz' ? 'account' : undefined;
  if (need === 'object' && object === undefined) throw new UsageError('an object ring needs <account> <container> <object>');
  if (need === 'container' && (container === undefined || object !== undefined)) throw new UsageError('a container ring needs <account> <container>');
  if (need === 'account' && container !== undefined) throw new UsageError('an account ring needs just <account>');
}

function hashSecret(configFile: string | undefined, env: Record<string, string | undefined>): { secret: HashSecret; backendKey: Buffer } {
  let prefix: unknown;
  let suffix: unknown;
  let key: unknown;
  if (configFile !== undefined) {
    const cfg = readJsonConfigFile(configFile);
    prefix = cfg.swift_hash_path_prefix;
    suffix = cfg.swift_hash_path_suffix;
    key = cfg.backend_key;
  } else {
    prefix = env.SWIFTLET_HASH_PATH_PREFIX;
    suffix = env.SWIFTLET_HASH_PATH_SUFFIX;
    key = env.SWIFTLET_BACKEND_KEY;
  }
  const p = typeof prefix === 'string' ? prefix : '';
  const s = typeof suffix === 'string' ? suffix : '';
  if (!p && !s) {
    throw new UsageError(
      'no cluster hash secret: pass --config FILE (swift_hash_path_prefix / swift_hash_path_suffix) or set SWIFTLET_HASH_PATH_PREFIX / SWIFTLET_HASH_PATH_SUFFIX',
    );
  }
  const backendKey = backendKeyFrom({ swift_hash_path_prefix: p, swift_hash_path_suffix: s, ...(typeof key === 'string' ? { backend_key: key } : {}) });
  return { secret: { prefix: p, suffix: s }, backendKey };
}
