import { Agent, type Dispatcher } from 'undici';

/**
 * The keep-alive connection pool every service uses to talk to the others.
 * One Agent per process: it keeps a Pool per origin.
 */
export interface BackendClientOptions {
  connectTimeoutMs: number;
  /** How long a node may take to send headers, and to go quiet in the middle of a body. */
  nodeTimeoutMs: number;
  connectionsPerNode?: number;
}

export function createBackendAgent(opts: BackendClientOptions): Agent {
  return new Agent({
    connect: { timeout: opts.connectTimeoutMs },
    headersTimeout: opts.nodeTimeoutMs,
    bodyTimeout: opts.nodeTimeoutMs,
    keepAliveTimeout: 30_000,
    keepAliveMaxTimeout: 120_000,
    connections: opts.connectionsPerNode ?? 64,
    pipelining: 1,
  });
}

/** Always consume or destroy an undici body, or its socket never returns to the pool. */
export async function discardBody(body: Dispatcher.ResponseData['body'] | undefined): Promise<void> {
  if (!body) return;
  try {
    await body.dump({ limit: 64 * 1024 });
  } catch {
    /* already broken: nothing to drain */
  }
}

/** Backend request path: each segment percent-encoded so any valid object name survives. */
export function backendPath(device: string, partition: number, account: string, container?: string, object?: string): string {
  let p = `/${encodeURIComponent(device)}/${partition}/${encodeURIComponent(account)}`;
  if (container !== undefined) p += `/${encodeURIComponent(container)}`;
  if (object !== undefined) p += `/${object.split('/').map(encodeURIComponent).join('/')}`;
  return p;
}

/** Drops a body we will not read (possibly large): destroying an undici body emits an error we expect. */
export function abortBody(body: Dispatcher.ResponseData['body'] | undefined): void {
  if (!body) return;
  body.on('error', () => undefined);
  body.destroy();
}
