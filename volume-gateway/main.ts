/**
 * `swiftlet volume-gateway --config F` — DEV ONLY: serves a directory of files as NBD exports.
 * It is the NBD protocol layer's real-socket home until volumes made of objects exist.
 */
import { SwiftletError } from '../common/errors.js';
import { DirectoryCatalog } from './catalog.js';
import { readFile } from 'node:fs/promises';
import { parsePskFile, refuseConfig, type VolumeGatewayConfig } from './config.js';
import { startNbdServer, type NbdServer, type NbdTlsOptions } from './server.js';

export async function startVolumeGateway(cfg: VolumeGatewayConfig, log: (line: string) => void): Promise<NbdServer> {
  const refused = refuseConfig(cfg);
  if (refused !== undefined) throw new SwiftletError('CONFIG', refused);
  const catalog = new DirectoryCatalog(cfg.export_dir, { defaultName: cfg.default_export === '' ? undefined : cfg.default_export, readOnly: cfg.read_only });
  let tls: NbdTlsOptions | undefined;
  if (cfg.tls_cert_file !== '' || cfg.tls_psk_file !== '') {
    const file = (f: string): Promise<Buffer | undefined> => (f === '' ? Promise.resolve(undefined) : readFile(f));
    const [cert, key, ca, psk] = await Promise.all([file(cfg.tls_cert_file), file(cfg.tls_key_file), file(cfg.tls_ca_file), file(cfg.tls_psk_file)]);
    tls = { cert, key, ca, psk: psk === undefined ? undefined : parsePskFile(psk.toString('utf8')) };
  }
  const server = await startNbdServer({
    catalog,
    tls,
    port: cfg.bind_port,
    host: cfg.bind_ip,
    socketPath: cfg.unix_socket === '' ? undefined : cfg.unix_socket,
    onEvent: (e) => {
      if (e.kind === 'protocol-error') log(`nbd: protocol error (${e.reason}): ${e.detail}; connection closed`);
      else if (e.kind === 'volume-error') log(`nbd: volume error on command ${e.command}: ${String(e.error)}`);
    },
  });
  log(`volume-gateway (DEV ONLY, file-backed exports from ${cfg.export_dir}; TLS ${tls ? 'required' : 'off'}): NBD on ${cfg.bind_ip}:${server.port ?? '-'}${server.socketPath ? ` and ${server.socketPath}` : ''}`);
  return {
    ...server,
    async close() {
      await server.close();
      await catalog.close();
    },
  };
}
