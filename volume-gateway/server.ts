/**
 * The NBD listener: TCP and/or a Unix socket, one NbdConnection per client. Socket plumbing only —
 * the protocol is in nbd/, storage behind the BlockVolume interface (volume.ts).
 *
 * TLS: with `tls` credentials (x509 and/or PSK) the server runs in proto.md's FORCEDTLS mode —
 * every option but STARTTLS and ABORT is refused with ERR_TLS_REQD until the client upgrades.
 * Without them STARTTLS is answered ERR_UNSUP. Which account a certificate or PSK identity maps to
 * (a volume served only to its owner) is not done.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls';
import type { Duplex } from 'node:stream';
import { rm } from 'node:fs/promises';
import { NbdConnection, type ConnectionEvent, type ConnectionOptions } from './nbd/connection.js';
import type { ExportCatalog } from './volume.js';

export interface NbdTlsOptions {
  /** x509: the server's PEM certificate chain and key. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** x509: CA to verify client certificates with; with it, a client must present one. */
  ca?: string | Buffer;
  /** PSK: identity → key (TLS 1.2 PSK suites, what gnutls clients — qemu, libnbd — negotiate). */
  psk?: ReadonlyMap<string, Buffer>;
}

export interface NbdServerOptions {
  catalog: ExportCatalog;
  /** TLS credentials: STARTTLS becomes mandatory. */
  tls?: NbdTlsOptions;
  /** TCP port (0: any free one); omitted: no TCP listener. */
  port?: number;
  host?: string;
  /** Unix socket path; omitted: no Unix listener. */
  socketPath?: string;
  connection?: Omit<ConnectionOptions, 'catalog' | 'onEvent'>;
  onEvent?: (event: ConnectionEvent) => void;
}

export interface NbdServer {
  /** The bound TCP port, if any. */
  port: number | undefined;
  socketPath: string | undefined;
  /** Stops listening, hangs up every client, waits for their in-flight requests. */
  close(): Promise<void>;
}

export async function startNbdServer(opts: NbdServerOptions): Promise<NbdServer> {
  const live = new Map<Socket, NbdConnection>();
  const tls = opts.tls;
  const context: SecureContext | undefined =
    tls === undefined
      ? undefined
      : createSecureContext({
          cert: tls.cert,
          key: tls.key,
          ca: tls.ca,
          // PSK suites are off by default in OpenSSL's list; appended after DEFAULT (not before it, which
          // leaves certificate clients with no shared cipher). TLS 1.3 PSK is not offered: 1.2 then.
          ...(tls.psk !== undefined ? { ciphers: tls.cert !== undefined ? 'DEFAULT:PSK' : 'PSK', maxVersion: 'TLSv1.2' as const } : {}),
        });
  const accept = (socket: Socket): void => {
    if (socket.setNoDelay) socket.setNoDelay(true);
    // Plain TCP until STARTTLS, then the TLS socket wrapping it.
    let stream: Duplex = socket;
    const onData = (d: Buffer): void => conn.receive(d);
    const conn = new NbdConnection(
      {
        write(chunks) {
          if (stream.destroyed) return true;
          let ok = true;
          if (chunks.length > 1) stream.cork();
          for (const c of chunks) ok = stream.write(c);
          if (chunks.length > 1) stream.uncork();
          return ok;
        },
        pause: () => stream.pause(),
        resume: () => stream.resume(),
        end: () => stream.end(),
        destroy: () => stream.destroy(),
        startTls:
          context === undefined || tls === undefined
            ? undefined
            : () => {
                socket.off('data', onData);
                const secure = new TLSSocket(socket, {
                  isServer: true,
                  secureContext: context,
                  requestCert: tls.ca !== undefined,
                  rejectUnauthorized: tls.ca !== undefined,
                  ...(tls.psk !== undefined ? { pskCallback: (_s: TLSSocket, identity: string) => tls.psk?.get(identity) ?? null } : {}),
                } as ConstructorParameters<typeof TLSSocket>[1]);
                stream = secure;
                secure.on('data', onData);
                secure.on('drain', () => conn.onDrain());
                secure.on('error', (err: Error) => {
                  opts.onEvent?.({ kind: 'protocol-error', reason: 'tls', detail: err.message });
                  socket.destroy();
                });
              },
      },
      { ...opts.connection, catalog: opts.catalog, onEvent: opts.onEvent },
    );
    live.set(socket, conn);
    socket.on('data', onData);
    socket.on('drain', () => conn.onDrain());
    socket.on('error', () => {
      // 'close' follows; a reset by the client is not the server's problem.
    });
    socket.on('close', () => {
      conn.onClose();
      live.delete(socket);
    });
    conn.start();
  };

  const servers: Server[] = [];
  const listen = (srv: Server, bind: () => void): Promise<void> =>
    new Promise((resolve, reject) => {
      srv.once('error', reject);
      srv.once('listening', () => {
        srv.off('error', reject);
        resolve();
      });
      bind();
    });

  let port: number | undefined;
  if (opts.port !== undefined) {
    const tcp = createServer(accept);
    await listen(tcp, () => tcp.listen(opts.port, opts.host ?? '127.0.0.1'));
    servers.push(tcp);
    const addr = tcp.address();
    port = typeof addr === 'object' && addr !== null ? addr.port : undefined;
  }
  if (opts.socketPath !== undefined) {
    await rm(opts.socketPath, { force: true });
    const unix = createServer(accept);
    await listen(unix, () => unix.listen(opts.socketPath));
    servers.push(unix);
  }

  return {
    port,
    socketPath: opts.socketPath,
    async close() {
      const closing = servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve())));
      const conns = [...live.entries()];
      for (const [socket] of conns) socket.destroy();
      await Promise.all(conns.map(([, c]) => c.idle()));
      await Promise.all(closing);
    },
  };
}
