import type { ConfigOf, ConfigSpec } from '../common/config.js';
import { SwiftletError } from '../common/errors.js';

/**
 * DEV ONLY: the options of `swiftlet volume-gateway`, which today serves the files of a directory
 * as NBD exports (volumes made of objects in the cluster are the next slice of issue 25).
 * `swiftlet sample-config volume-gateway` prints them.
 */
export const volumeGatewaySpec = {
  export_dir: { type: 'string', default: './volumes', doc: 'DEV ONLY: every regular file in this directory is an NBD export of the same name (file-backed, not replicated).' },
  default_export: { type: 'string', default: '', doc: 'The export a client gets when it asks for the empty name ("" = none).' },
  read_only: { type: 'boolean', default: false, doc: 'Serve every export read-only (writes answered EPERM).' },
  bind_ip: { type: 'string', default: '127.0.0.1', doc: 'Address the NBD listener binds to. Anything but loopback is refused unless TLS is configured (tls_cert_file or tls_psk_file).' },
  bind_port: { type: 'number', default: 10809, min: 0, doc: 'NBD TCP port (10809 is the IANA port; 0 = any free port, logged).' },
  unix_socket: { type: 'string', default: '', doc: 'Also listen on this Unix socket path ("" = no Unix socket).' },
  tls_cert_file: { type: 'string', default: '', doc: 'x509: PEM certificate (chain) of the gateway. With it (or tls_psk_file) every client must STARTTLS before anything else.' },
  tls_key_file: { type: 'string', default: '', doc: 'x509: PEM private key of tls_cert_file.' },
  tls_ca_file: { type: 'string', default: '', doc: 'x509: CA that signs client certificates; set, a client must present one.' },
  tls_psk_file: { type: 'string', default: '', doc: 'PSK: a file of "identity:hexkey" lines (the format of qemu\'s tls-creds-psk and libnbd\'s tls-psk-file).' },
} satisfies ConfigSpec;

export type VolumeGatewayConfig = ConfigOf<typeof volumeGatewaySpec>;

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

/** Why the config cannot start, or undefined. */
export function refuseConfig(cfg: VolumeGatewayConfig): string | undefined {
  if ((cfg.tls_cert_file === '') !== (cfg.tls_key_file === '')) return 'tls_cert_file and tls_key_file go together';
  if (cfg.tls_ca_file !== '' && cfg.tls_cert_file === '') return 'tls_ca_file needs tls_cert_file and tls_key_file';
  const tls = cfg.tls_cert_file !== '' || cfg.tls_psk_file !== '';
  if (!tls && !LOOPBACK.has(cfg.bind_ip) && !cfg.bind_ip.startsWith('127.')) return `bind_ip ${cfg.bind_ip}: without TLS (tls_cert_file or tls_psk_file) the NBD gateway only binds to loopback`;
  return undefined;
}

/** A PSK file: "identity:hexkey" per line (blank lines and # comments skipped). */
export function parsePskFile(text: string): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const colon = line.lastIndexOf(':');
    const hex = line.slice(colon + 1);
    if (colon <= 0 || !/^([0-9a-fA-F]{2})+$/.test(hex)) throw new SwiftletError('CONFIG', 'tls_psk_file: each line is identity:hexkey');
    out.set(line.slice(0, colon), Buffer.from(hex, 'hex'));
  }
  if (out.size === 0) throw new SwiftletError('CONFIG', 'tls_psk_file has no keys');
  return out;
}
