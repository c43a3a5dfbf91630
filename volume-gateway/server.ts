/**
 * The NBD listener: TCP and/or a Unix socket, one NbdConnection per client. Socket plumbing only —
 * the protocol is in nbd/, storage behind the BlockVolume interface (volume.ts).
 *
 * No TLS yet: STARTTLS is answered ERR_UNSUP, so bind only to loopback or a Unix socket
 * (issue 25 wants x509/PSK and a refusal to bind elsewhere without it: not done).
 */
import { createServer, type Server, type Socket } from 'node:net';
import { rm } from 'node:fs/promises';
import { NbdConnection, type ConnectionEvent, type ConnectionOptions } from './nbd/connection.js';
import type { ExportCatalog } from './volume.js';

export interface NbdServerOptions {
  catalog: ExportCatalog;
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
  const accept = (socket: Socket): void => {
    if (socket.setNoDelay) socket.setNoDelay(true);
    const conn = new NbdConnection(
      {
        write(chunks) {
          if (socket.destroyed) return true;
          let ok = true;
          if (chunks.length > 1) socket.cork();
          for (const c of chunks) ok = socket.write(c);
          if (chunks.length > 1) socket.uncork();
          return ok;
        },
        pause: () => socket.pause(),
        resume: () => socket.resume(),
        end: () => socket.end(),
        destroy: () => socket.destroy(),
      },
      { ...opts.connection, catalog: opts.catalog, onEvent: opts.onEvent },
    );
    live.set(socket, conn);
    socket.on('data', (d: Buffer) => conn.receive(d));
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
