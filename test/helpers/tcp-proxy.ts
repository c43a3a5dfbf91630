import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP forwarder standing in for a node's network link, so fault tests can cut a node off
 * without touching the process: 'pass' forwards, 'reset' accepts then drops every connection
 * (a refused/unreachable host), 'blackhole' accepts and never answers (a partition: callers time
 * out). Cutting also severs connections already open through it.
 */
export type LinkMode = 'pass' | 'reset' | 'blackhole';

export interface TcpProxy {
  port: number;
  mode: LinkMode;
  setMode(mode: LinkMode): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number, host = '127.0.0.1'): Promise<TcpProxy> {
  const open = new Set<Socket>();
  let mode: LinkMode = 'pass';
  const server: Server = createServer((client) => {
    open.add(client);
    client.on('close', () => open.delete(client));
    client.on('error', () => undefined);
    if (mode === 'reset') return void client.destroy();
    if (mode === 'blackhole') return void client.pause();
    const upstream = connect(targetPort, host);
    open.add(upstream);
    upstream.on('close', () => {
      open.delete(upstream);
      client.destroy();
    });
    upstream.on('error', () => client.destroy());
    client.on('close', () => upstream.destroy());
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((r) => server.listen(0, host, r));
  const proxy: TcpProxy = {
    port: (server.address() as { port: number }).port,
    get mode() {
      return mode;
    },
    setMode(m) {
      mode = m;
      if (m !== 'pass') for (const s of open) s.destroy();
    },
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  return proxy;
}
