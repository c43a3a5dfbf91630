import { type IncomingMessage, type OutgoingHttpHeader, type OutgoingHttpHeaders, ServerResponse } from 'node:http';

/**
 * Header names as Swift writes them: swob keeps headers in a HeaderKeyDict, whose keys are
 * Python's str.title() of the name ("x-object-meta-color" -> "X-Object-Meta-Color", "etag" ->
 * "Etag", "x-object-meta-a1b" -> "X-Object-Meta-A1B"). Node hands the proxy every name in lower
 * case (requests, and the nodes' answers through undici) and fastify lower-cases what it sends,
 * so clients that show metadata names as they come saw "x-object-meta-color". The S3 layer's
 * x-amz-* headers are the exception: lower case, as AWS sends them.
 */
export function swiftTitle(name: string): string {
  // S3's own headers go out as AWS writes them, in lower case: clients take x-amz-meta-* names as sent.
  if (name.length > 6 && name.slice(0, 6).toLowerCase() === 'x-amz-') return name.toLowerCase();
  let out = '';
  let prevCased = false;
  for (const ch of name) {
    const lower = ch.toLowerCase();
    const upper = ch.toUpperCase();
    const cased = lower !== upper;
    out += cased ? (prevCased ? lower : upper) : ch;
    prevCased = cased;
  }
  return out;
}

/**
 * The proxy's ServerResponse: every header name it writes in Swift's title case; and the body
 * bytes it was given to send, for the access log (bytes_sent).
 */
export class TitleCaseResponse<Req extends IncomingMessage = IncomingMessage> extends ServerResponse<Req> {
  bodyBytes = 0;

  override write(chunk: unknown, ...rest: unknown[]): boolean {
    this.bodyBytes += byteLength(chunk);
    return (super.write as (c: unknown, ...a: unknown[]) => boolean)(chunk, ...rest);
  }

  override end(...args: unknown[]): this {
    if (typeof args[0] !== 'function') this.bodyBytes += byteLength(args[0]);
    return (super.end as (...a: unknown[]) => this)(...args);
  }

  override setHeader(name: string, value: number | string | readonly string[]): this {
    return super.setHeader(swiftTitle(name), value);
  }

  override writeHead(statusCode: number, ...rest: unknown[]): this {
    const at = typeof rest[0] === 'string' ? 1 : 0;
    const headers = rest[at] as OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined;
    if (headers && !Array.isArray(headers)) {
      const titled: OutgoingHttpHeaders = {};
      for (const [k, v] of Object.entries(headers)) titled[swiftTitle(k)] = v;
      rest[at] = titled;
    }
    return (super.writeHead as (code: number, ...args: unknown[]) => this)(statusCode, ...rest);
  }
}

function byteLength(chunk: unknown): number {
  if (chunk === undefined || chunk === null) return 0;
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : (chunk as Uint8Array).byteLength;
}
