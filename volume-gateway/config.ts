import type { ConfigOf, ConfigSpec } from '../common/config.js';

/**
 * DEV ONLY: the options of `swiftlet volume-gateway`, which today serves the files of a directory
 * as NBD exports (volumes made of objects in the cluster are the next slice of issue 25).
 * `swiftlet sample-config volume-gateway` prints them.
 */
export const volumeGatewaySpec = {
  export_dir: { type: 'string', default: './volumes', doc: 'DEV ONLY: every regular file in this directory is an NBD export of the same name (file-backed, not replicated).' },
  default_export: { type: 'string', default: '', doc: 'The export a client gets when it asks for the empty name ("" = none).' },
  read_only: { type: 'boolean', default: false, doc: 'Serve every export read-only (writes answered EPERM).' },
  bind_ip: { type: 'string', default: '127.0.0.1', doc: 'Address the NBD listener binds to. Loopback only: there is no TLS yet, so any other address is refused.' },
  bind_port: { type: 'number', default: 10809, min: 0, doc: 'NBD TCP port (10809 is the IANA port; 0 = any free port, logged).' },
  unix_socket: { type: 'string', default: '', doc: 'Also listen on this Unix socket path ("" = no Unix socket).' },
} satisfies ConfigSpec;

export type VolumeGatewayConfig = ConfigOf<typeof volumeGatewaySpec>;

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Why the config cannot start, or undefined. */
export function refuseConfig(cfg: VolumeGatewayConfig): string | undefined {
  if (!LOOPBACK.has(cfg.bind_ip) && !cfg.bind_ip.startsWith('127.')) return `bind_ip ${cfg.bind_ip}: the NBD gateway has no TLS yet and only binds to loopback`;
  return undefined;
}
