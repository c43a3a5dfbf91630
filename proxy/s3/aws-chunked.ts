import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { S3Error } from './errors.js';
import { chunkStringToSign, EMPTY_SHA256, signaturesEqual, signHex, trailerStringToSign, type CredentialScope } from './sigv4.js';

/**
 * aws-chunked bodies (S3 API reference, "Signature Calculations for the Authorization Header:
 * Transferring Payload in Multiple Chunks" and "... with trailing checksums"):
 *
 *   <hex size>[;chunk-signature=<sig>]\r\n<data>\r\n ... 0[;chunk-signature=<sig>]\r\n
 *   [<trailer name>:<value>\r\n ... [x-amz-trailer-signature:<sig>\r\n]]\r\n
 *
 * A pure decoder: bytes in (split anywhere), the body's data out as slices of the input, chunk
 * framing never passed on. Signed chunks are each checked against the chain of signatures seeded
 * by the request's; the trailer's signature too. Bounded work and memory whatever comes: a size
 * line or trailer longer than its limit, a size that is not hex, more data than the decoded
 * length announced, anything after the end — each is an S3 error at once, not a buffer that grows.
 *
 * Data is handed on as it arrives, before the chunk's signature (at its end) is checked: whoever
 * stores it must commit only when the whole body decoded without error (the proxy's PUT does:
 * an errored body stream aborts the write on every node).
 */

/** A size line ("<hex>;chunk-signature=<64 hex>") is ~90 bytes; anything near this is garbage. */
const MAX_LINE = 4096;
/** Trailing headers: a few checksums and a signature. */
const MAX_TRAILER = 16 * 1024;
/** AWS: every signed chunk but the last carries at least 8 KiB. */
export const MIN_SIGNED_CHUNK = 8192;

export interface ChunkSigning {
  key: Buffer;
  amzDate: string;
  scope: CredentialScope;
  /** The request's signature: the first chunk's is chained on it. */
  seedSignature: string;
}

export interface AwsChunkedOptions {
  /** Present for STREAMING-AWS4-HMAC-SHA256-PAYLOAD(-TRAILER): every chunk is signed. */
  signing?: ChunkSigning;
  /** The trailer names the request announced in x-amz-trailer (lower-case); empty: no trailer. */
  trailers: readonly string[];
  /** x-amz-decoded-content-length: the data bytes, exactly. */
  decodedLength: number;
}

type State = 'size' | 'data' | 'data-end' | 'trailer' | 'done';

export class AwsChunkedDecoder {
  private state: State = 'size';
  /** Bytes of the line being read (size line or trailer), bounded. */
  private line: Buffer[] = [];
  private lineLength = 0;
  private remaining = 0;
  private crlfSeen = 0;
  private chunksSeen = 0;
  private chunkSize = 0;
  private chunkSignature: string | undefined;
  private chunkHash: Hash | undefined;
  private previousSignature: string;
  private decoded = 0;
  private sawLastChunk = false;
  private trailerBytes = 0;
  private readonly trailerValues = new Map<string, string>();
  private trailerSignature: string | undefined;

  constructor(private readonly o: AwsChunkedOptions) {
    this.previousSignature = o.signing?.seedSignature ?? '';
  }

  /** The data in `input` (slices of it), in order. Throws S3Error on a bad body. */
  push(input: Buffer): Buffer[] {
    const out: Buffer[] = [];
    let i = 0;
    while (i < input.length) {
      switch (this.state) {
        case 'size':
        case 'trailer': {
          const nl = input.indexOf(0x0a, i);
          const end = nl < 0 ? input.length : nl + 1;
          this.addLine(input.subarray(i, end));
          i = end;
          if (nl >= 0) this.lineDone();
          break;
        }
        case 'data': {
          const n = Math.min(this.remaining, input.length - i);
          const slice = input.subarray(i, i + n);
          this.chunkHash?.update(slice);
          out.push(slice);
          this.remaining -= n;
          i += n;
          if (this.remaining === 0) this.state = 'data-end';
          break;
        }
        case 'data-end': {
          // the CRLF after a chunk's data, possibly split across pushes
          if (input[i] !== (this.crlfSeen === 0 ? 0x0d : 0x0a)) throw incomplete('a chunk must end with CRLF');
          i += 1;
          if (++this.crlfSeen === 2) {
            this.crlfSeen = 0;
            this.chunkEnded();
          }
          break;
        }
        case 'done':
          throw incomplete('data after the end of the aws-chunked body');
      }
    }
    return out;
  }

  /** The end of the body: its trailing values (checked), or an S3 error if it stopped short. */
  end(): Map<string, string> {
    if (this.state !== 'done') throw new S3Error('IncompleteBody', { message: 'The aws-chunked body ended before its last chunk and trailer.' });
    return this.trailerValues;
  }

  private addLine(part: Buffer): void {
    this.lineLength += part.length;
    const limit = this.state === 'trailer' ? MAX_TRAILER : MAX_LINE;
    if (this.state === 'trailer') {
      this.trailerBytes += part.length;
      if (this.trailerBytes > limit) throw incomplete('the trailer is too long');
    } else if (this.lineLength > limit) throw incomplete('a chunk size line is too long');
    this.line.push(part);
  }

  private resetLine(): void {
    this.line = [];
    this.lineLength = 0;
  }

  private lineDone(): void {
    const raw = Buffer.concat(this.line).toString('latin1');
    this.resetLine();
    if (!raw.endsWith('\r\n')) throw incomplete('lines of an aws-chunked body end with CRLF');
    const text = raw.slice(0, -2);
    if (this.state === 'size') this.sizeLine(text);
    else this.trailerLine(text);
  }

  private sizeLine(text: string): void {
    const semi = text.indexOf(';');
    const hex = semi < 0 ? text : text.slice(0, semi);
    if (!/^[0-9a-fA-F]{1,16}$/.test(hex)) throw incomplete(`a chunk size must be hex, not "${hex.slice(0, 32)}"`);
    const size = parseInt(hex, 16);
    let signature: string | undefined;
    if (semi >= 0) {
      const ext = text.slice(semi + 1);
      if (!ext.startsWith('chunk-signature=')) throw incomplete('an unknown chunk extension');
      signature = ext.slice('chunk-signature='.length);
    }
    if (this.o.signing && (signature === undefined || !/^[0-9a-f]{64}$/.test(signature))) throw new S3Error('SignatureDoesNotMatch', { message: 'A chunk of a signed aws-chunked body has no valid chunk-signature.' });
    if (!this.o.signing && signature !== undefined) throw incomplete('a chunk-signature in an unsigned aws-chunked body');
    if (this.sawLastChunk) throw incomplete('a chunk after the last one');
    // The previous chunk (not the last) was short: only the last chunk may be under 8 KiB.
    if (this.o.signing && this.decoded > 0 && size > 0 && this.chunkSize < MIN_SIGNED_CHUNK) throw new S3Error('InvalidChunkSizeError', { extra: [['Chunk', String(this.chunksSeen)], ['BadChunkSize', String(this.chunkSize)]] });
    if (this.decoded + size > this.o.decodedLength) throw incomplete('more data than x-amz-decoded-content-length announced');
    this.chunksSeen++;
    this.chunkSize = size;
    this.chunkSignature = signature;
    this.chunkHash = this.o.signing ? createHash('sha256') : undefined;
    this.remaining = size;
    if (size === 0) {
      this.sawLastChunk = true;
      if (this.decoded !== this.o.decodedLength) throw incomplete('less data than x-amz-decoded-content-length announced');
      this.checkChunkSignature();
      // a last chunk of a body without trailer is followed by an empty line; with one, by the trailer
      this.state = 'trailer';
      return;
    }
    this.state = 'data';
  }

  private chunkEnded(): void {
    this.decoded += this.chunkSize;
    this.checkChunkSignature();
    this.state = 'size';
  }

  private checkChunkSignature(): void {
    const s = this.o.signing;
    if (!s) return;
    const hash = this.chunkSize === 0 ? EMPTY_SHA256 : (this.chunkHash as Hash).digest('hex');
    const expected = signHex(s.key, chunkStringToSign(s.amzDate, s.scope, this.previousSignature, hash));
    if (!signaturesEqual(expected, this.chunkSignature as string)) throw new S3Error('SignatureDoesNotMatch', { message: 'The chunk signature does not match.' });
    this.previousSignature = expected;
  }

  private trailerLine(text: string): void {
    if (text === '') {
      this.finishTrailer();
      return;
    }
    const colon = text.indexOf(':');
    if (colon <= 0) throw incomplete('a trailer line must be "name:value"');
    const name = text.slice(0, colon).trim().toLowerCase();
    const value = text.slice(colon + 1).trim();
    if (name === 'x-amz-trailer-signature') {
      if (!this.o.signing) throw incomplete('a trailer signature in an unsigned body');
      this.trailerSignature = value;
      return;
    }
    if (this.trailerSignature !== undefined) throw incomplete('trailers after the trailer signature');
    if (!this.o.trailers.includes(name)) throw new S3Error('InvalidRequest', { message: `The trailer "${name}" was not announced in x-amz-trailer.` });
    if (this.trailerValues.has(name)) throw incomplete(`the trailer "${name}" twice`);
    this.trailerValues.set(name, value);
  }

  private finishTrailer(): void {
    for (const n of this.o.trailers) if (!this.trailerValues.has(n)) throw new S3Error('InvalidRequest', { message: `The trailer "${n}" announced in x-amz-trailer is missing.` });
    const s = this.o.signing;
    if (s && this.o.trailers.length > 0) {
      if (this.trailerSignature === undefined || !/^[0-9a-f]{64}$/.test(this.trailerSignature)) throw new S3Error('SignatureDoesNotMatch', { message: 'The trailer has no valid x-amz-trailer-signature.' });
      // canonical as headers are: sorted by name (what AWS's CRT signer does)
      const canonical = [...this.trailerValues]
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([k, v]) => `${k}:${v}\n`)
        .join('');
      const expected = signHex(s.key, trailerStringToSign(s.amzDate, s.scope, this.previousSignature, canonical));
      if (!signaturesEqual(expected, this.trailerSignature)) throw new S3Error('SignatureDoesNotMatch', { message: 'The trailer signature does not match.' });
    }
    this.state = 'done';
  }
}

function incomplete(why: string): S3Error {
  return new S3Error('IncompleteBody', { message: `The aws-chunked body is malformed: ${why}.` });
}

/**
 * The decoder as a stream: aws-chunked bytes in, the body's data out. It errors (with the
 * S3Error) instead of ending when the body is bad, so a consumer that commits on 'end' never
 * commits a bad body. `trailers` resolves with the trailing values once the body ended well.
 */
export class AwsChunkedStream extends Transform {
  private readonly decoder: AwsChunkedDecoder;
  readonly trailers: Promise<Map<string, string>>;
  private settle!: { resolve: (m: Map<string, string>) => void; reject: (e: unknown) => void };

  constructor(o: AwsChunkedOptions) {
    super();
    this.decoder = new AwsChunkedDecoder(o);
    this.trailers = new Promise((resolve, reject) => (this.settle = { resolve, reject }));
    this.trailers.catch(() => undefined); // read by whoever wants them; an error also errors the stream
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    try {
      for (const part of this.decoder.push(chunk)) this.push(part);
      cb();
    } catch (e) {
      this.settle.reject(e);
      cb(e as Error);
    }
  }

  override _flush(cb: TransformCallback): void {
    try {
      this.settle.resolve(this.decoder.end());
      cb();
    } catch (e) {
      this.settle.reject(e);
      cb(e as Error);
    }
  }
}
