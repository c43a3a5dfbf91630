import { Agent, request } from 'node:http';

/**
 * An HTTP client that sends the request path exactly as given: node:http writes `path` into the
 * request line untouched, so `..`, `%2e%2e`, `//` and `\` reach the server as the attacker typed
 * them. fetch and undici's request(url) parse the URL first and resolve dot segments themselves,
 * which would make a path-escape test pass without ever sending the escape.
 */
export interface RawRequest {
  method: string;
  /** The request target, sent verbatim (only bytes 0x21-0xff; node:http refuses the rest). */
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

export interface RawResponse {
  status: number;
  /** Lower-cased names; repeated headers joined with ", ". */
  headers: Record<string, string>;
  body: Buffer;
}

export interface RawHttpClient {
  send(req: RawRequest): Promise<RawResponse>;
  close(): void;
}

export function rawHttpClient(baseUrl: string, maxSockets = 8): RawHttpClient {
  const url = new URL(baseUrl);
  const agent = new Agent({ keepAlive: true, maxSockets });
  return {
    send(req) {
      const body = req.body === undefined ? undefined : Buffer.from(req.body);
      const headers: Record<string, string> = { ...req.headers };
      // Always a length for methods that may carry a body, so no request goes out chunked by accident.
      if (body !== undefined || !['GET', 'HEAD', 'DELETE'].includes(req.method)) headers['content-length'] = String(body?.length ?? 0);
      return new Promise<RawResponse>((resolve, reject) => {
        const r = request({ host: url.hostname, port: Number(url.port), method: req.method, path: req.path, headers, agent }, (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('error', reject);
          res.on('end', () => {
            const flat: Record<string, string> = {};
            for (const [k, v] of Object.entries(res.headers)) if (v !== undefined) flat[k] = Array.isArray(v) ? v.join(', ') : v;
            resolve({ status: res.statusCode ?? 0, headers: flat, body: Buffer.concat(chunks) });
          });
        });
        r.on('error', reject);
        r.end(body);
      });
    },
    close() {
      agent.destroy();
    },
  };
}

/** Runs `fn` over `items` with at most `width` in flight; results in input order. */
export async function inBatches<T, R>(items: readonly T[], width: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}
