import { connect } from 'node:net';

/**
 * One request written byte for byte on a fresh socket (what undici and fetch refuse to send: raw
 * 0xff in a header, HTTP/1.0, a body with no length), and everything the server sent back until
 * it closed. `head` lines are joined with CRLF; `Connection: close` is the caller's to add.
 */
export async function rawRequest(port: number, head: Array<string | Buffer>, body: Buffer | string = ''): Promise<RawResponse> {
  const bytes = Buffer.concat([...head.flatMap((l) => [typeof l === 'string' ? Buffer.from(l, 'latin1') : l, Buffer.from('\r\n')]), Buffer.from('\r\n'), Buffer.from(body)]);
  const data = await new Promise<Buffer>((resolve, reject) => {
    const sock = connect(port, '127.0.0.1', () => sock.write(bytes));
    const chunks: Buffer[] = [];
    sock.on('data', (d: Buffer) => chunks.push(d));
    sock.on('error', reject);
    sock.on('close', () => resolve(Buffer.concat(chunks)));
  });
  return parseResponses(data, String(head[0]).startsWith('HEAD '));
}

export interface RawResponse {
  /** Every response on the connection, in order (a parse error may add one after the first). */
  all: Array<{ status: number; headers: Array<[string, Buffer]>; body: Buffer }>;
  status: number;
  /** The first response's header names, as the server wrote them (case and all). */
  names: string[];
  /** A header of the first response as the bytes on the wire. */
  header(name: string): Buffer | undefined;
  body: Buffer;
}

/** Every response in `data` (bodies by Content-Length). */
export function parseResponses(data: Buffer, head: boolean): RawResponse {
  const all: RawResponse['all'] = [];
  const names: string[][] = [];
  let rest = data;
  while (rest.length) {
    const end = rest.indexOf('\r\n\r\n');
    if (end === -1) break;
    const lines = rest.subarray(0, end).toString('latin1').split('\r\n');
    const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')?.[1] ?? 0);
    names.push(lines.slice(1).map((l) => l.slice(0, l.indexOf(':'))));
    const headers: Array<[string, Buffer]> = lines.slice(1).map((l) => {
      const i = l.indexOf(':');
      return [l.slice(0, i).toLowerCase(), Buffer.from(l.slice(i + 1).trim(), 'latin1')];
    });
    const len = head && all.length === 0 ? 0 : Number(headers.find(([k]) => k === 'content-length')?.[1].toString() ?? 0);
    all.push({ status, headers, body: rest.subarray(end + 4, end + 4 + len) });
    rest = rest.subarray(end + 4 + len);
  }
  const first = all[0] ?? { status: 0, headers: [], body: Buffer.alloc(0) };
  return { all, status: first.status, names: names[0] ?? [], header: (n) => first.headers.find(([k]) => k === n.toLowerCase())?.[1], body: first.body };
}
