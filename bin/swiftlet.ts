#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { parseConfig, readJsonConfigFile, type ConfigSpec } from '../common/config.js';
import { isSwiftletError } from '../common/errors.js';
import { touchYoungGeneration } from '../common/young-generation.js';
import { proxySpec } from '../proxy/config.js';
import { storageNodeSpec } from '../storage-node/config.js';
import { volumeGatewaySpec } from '../volume-gateway/config.js';
import type { DaemonCommand } from '../replicator/main.js';

// Each command loads what it runs when it runs (below): the servers' modules (fastify, undici,
// LevelDB, pino) take ~0.3 s to load, which a `swiftlet ring` or `get-nodes` never needs.

const USAGE = `swiftlet <command> [options]

  aio [--data ./data] [--port 8080] [--bind 127.0.0.1] [--nodes 4] [--node-port-base 6200] [--part-power 10] [--verbose] [--no-daemons]
                                 all-in-one cluster: proxy + storage nodes (+ their daemons) on this machine
  proxy --config FILE            the proxy (Swift API, tempauth)
  storage-node --config FILE     a storage node (object, container and account servers)
  ring <builder-file> <command>  ring builder: create, add, set_weight, remove, rebalance, show, validate, write_ring
  replicator|updater|auditor|expirer|reaper --config NODE.json [--once]
                                 a storage node's background daemon (--once: one pass, then exit)
  expirer --requeue --config NODE.json
                                 queue every object of the node's primary partitions that has an
                                 X-Delete-At (once, for objects written before the queue existed)
  daemons --config NODE.json [--once]
                                 all four daemons, one child process each (restarted if they die)
  status --config FILE [--json]  replication state of the cluster (every node's last passes)
  get-nodes <ring.gz> <account> [<container> [<object>]] [--config FILE]
                                 where a path lives: partition, primaries, handoffs
  volume-gateway --config FILE   DEV ONLY: serve the files of a directory as NBD exports (loopback only)
  sample-config proxy|storage-node|volume-gateway
                                 every option with its default and meaning
  s3 keys create|list|revoke     stored S3 key pairs (through a proxy): swiftlet s3 keys --help
`;

function configFrom<S extends ConfigSpec>(spec: S, argv: string[], where: string) {
  const { values } = parseArgs({ args: argv, options: { config: { type: 'string', short: 'c' } }, allowPositionals: false });
  if (!values.config) throw new Error(`${where} needs --config FILE`);
  return parseConfig(spec, readJsonConfigFile(values.config), values.config);
}

function sample(spec: ConfigSpec): string {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(spec)) {
    out[`_${k}`] = v.doc;
    out[k] = v.default;
  }
  return JSON.stringify(out, null, 2);
}

/** `--help`/`-h` after a server or daemon command: its options are in the usage text. */
const SUBCOMMANDS_WITH_USAGE_HELP = new Set(['aio', 'proxy', 'storage-node', 'volume-gateway', 'status', 'replicator', 'updater', 'auditor', 'expirer', 'reaper', 'daemons']);

/** node:util parseArgs' complaint about an unknown or malformed option. */
function isArgsError(err: unknown): err is Error {
  return err instanceof Error && String((err as NodeJS.ErrnoException).code).startsWith('ERR_PARSE_ARGS_');
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd !== undefined && SUBCOMMANDS_WITH_USAGE_HELP.has(cmd) && (rest.includes('--help') || rest.includes('-h'))) {
    process.stdout.write(USAGE);
    return 0;
  }
  switch (cmd) {
    case 'aio': {
      const { values } = parseArgs({
        args: rest,
        options: {
          data: { type: 'string', default: './data' },
          port: { type: 'string', default: '8080' },
          bind: { type: 'string', default: '127.0.0.1' },
          nodes: { type: 'string', default: '4' },
          'node-port-base': { type: 'string' },
          'part-power': { type: 'string', default: '10' },
          verbose: { type: 'boolean', default: false },
          'no-daemons': { type: 'boolean', default: false },
        },
      });
      const port = Number(values.port);
      const { runAio } = await import('./aio.js');
      await runAio({
        data: values.data as string,
        port,
        bind: values.bind as string,
        nodes: Number(values.nodes),
        // With --port 0 everything takes free ports (tests); otherwise nodes sit at 6201.. by default.
        nodePortBase: values['node-port-base'] !== undefined ? Number(values['node-port-base']) : port === 0 ? 0 : 6200,
        partPower: Number(values['part-power']),
        verbose: values.verbose as boolean,
        daemons: !values['no-daemons'],
      });
      return -1;
    }
    case 'proxy': {
      const cfg = configFrom(proxySpec, rest, 'proxy');
      const [{ createLogger }, { startProxy }] = await Promise.all([import('../common/log.js'), import('../proxy/main.js')]);
      touchYoungGeneration();
      const log = createLogger('proxy', cfg.log_level);
      const p = await startProxy(cfg, log);
      stopOnSignals(() => p.close());
      return -1;
    }
    case 'storage-node': {
      const cfg = configFrom(storageNodeSpec, rest, 'storage-node');
      const [{ createLogger }, { startStorageNode }, { resolveBindIp }] = await Promise.all([
        import('../common/log.js'),
        import('../storage-node/main.js'),
        import('../ring-builder/node-address.js'),
      ]);
      const bind = await resolveBindIp({ ...cfg, secret: { prefix: cfg.swift_hash_path_prefix, suffix: cfg.swift_hash_path_suffix } });
      if ('error' in bind) {
        console.error(`storage-node: ${bind.error}`);
        return 2;
      }
      const resolved = { ...cfg, bind_ip: bind.ip };
      touchYoungGeneration();
      const log = createLogger('storage-node', cfg.log_level);
      const n = await startStorageNode(resolved, log);
      stopOnSignals(() => n.close());
      return -1;
    }
    case 'ring':
      return (await import('../ring-builder/cli.js')).ringCli(rest);
    case 'status':
      return (await import('./status.js')).statusCli(rest);
    case 'get-nodes':
      return (await import('../ring-builder/get-nodes.js')).getNodesCli(rest);
    case 's3':
      return (await import('./s3-keys.js')).s3KeysCli(rest);
    case 'volume-gateway': {
      const cfg = configFrom(volumeGatewaySpec, rest, 'volume-gateway');
      const { startVolumeGateway } = await import('../volume-gateway/main.js');
      const g = await startVolumeGateway(cfg, (line) => console.error(line));
      stopOnSignals(() => g.close());
      return -1;
    }
    case 'sample-config': {
      const which = rest[0];
      if (which === 'proxy') console.log(sample(proxySpec));
      else if (which === 'storage-node') console.log(sample(storageNodeSpec));
      else if (which === 'volume-gateway') console.log(sample(volumeGatewaySpec));
      else {
        console.error('sample-config proxy|storage-node|volume-gateway');
        return 2;
      }
      return 0;
    }
    case 'replicator':
    case 'updater':
    case 'auditor':
    case 'expirer':
    case 'reaper':
    case 'daemons': {
      if (cmd === 'expirer' && rest.includes('--requeue')) {
        const { runRequeueCommand } = await import('../replicator/expirer-requeue.js');
        const code = await runRequeueCommand(rest);
        process.exit(code);
        return code;
      }
      const { runDaemonCommand } = await import('../replicator/main.js');
      const code = await runDaemonCommand(cmd as DaemonCommand, rest);
      process.exit(code);
      return code;
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return cmd === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown command ${cmd}\n\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (isArgsError(err)) {
      process.stderr.write(`swiftlet: ${err.message}\n\n${USAGE}`);
      process.exit(2);
    }
    if (isSwiftletError(err)) console.error(`swiftlet: ${err.message}`);
    else console.error(err);
    process.exit(1);
  },
);

/** A server's clean close gets this long after SIGTERM/SIGINT (aio kills it 5 s later). */
const SERVER_STOP_TIMEOUT_MS = 10_000;

/**
 * A server stops on SIGTERM or SIGINT, once: Ctrl-C sends SIGINT to every process of the
 * terminal's group, and `aio` then SIGTERMs its children too. Exit 0 once closed; a failure to
 * close is printed and exits 1, never an unhandled rejection.
 */
function stopOnSignals(close: () => Promise<void>, timeoutMs = SERVER_STOP_TIMEOUT_MS): void {
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    // A close that hangs (a peer that never ends its connection, a stuck disk) must not leave the
    // process running: everything acknowledged is already durable, so exiting is as safe as kill -9.
    setTimeout(() => {
      console.error(`stopping took longer than ${timeoutMs / 1000} s: exiting without a clean close`);
      process.exit(1);
    }, timeoutMs).unref();
    close().then(
      () => process.exit(0),
      (err: unknown) => {
        console.error(`stopping failed: ${(err as Error).stack ?? String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}
