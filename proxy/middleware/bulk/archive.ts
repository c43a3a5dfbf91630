import { PassThrough, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { extract as tarExtract, type Header } from 'tar-stream';
import bz2 from 'unbzip2-stream';

/**
 * An archive's members as they stream in (Swift's tarfile.open(mode='r|' + compression)):
 * tar-stream reads the tar, node's zlib gunzips, unbzip2-stream bunzips. Nothing is buffered
 * beyond the readers' own windows: each member's data is a stream that must be read (or
 * skipped) before the next member comes.
 */

export type Compression = '' | 'gz' | 'bz2';

/** ?extract-archive= values Swift takes (case and surrounding dots ignored) and their compression. */
export function archiveCompression(param: string): Compression | undefined {
  const v = param.toLowerCase().replace(/^\.+|\.+$/g, '');
  return v === 'tar' ? '' : v === 'tar.gz' ? 'gz' : v === 'tar.bz2' ? 'bz2' : undefined;
}

/** A corrupt archive or compression stream: reported as 400 "Invalid Tar File: ...". */
export class ArchiveError extends Error {}

export interface Member {
  /** The member's name as bytes (pax names are UTF-8; others as the archive holds them). */
  name: Buffer;
  size: number;
  /** A regular file (Python's TarInfo.isfile()): only those become objects. */
  isFile: boolean;
  /** Object headers from the member's pax xattrs (user.mime_type, user.meta.*), as Swift maps them. */
  headers: Record<string, string>;
  /** The member's data (a node Readable; errors if the archive breaks inside it). */
  body: Readable;
  /** Reads and drops what is left of the member's data; resolves when it is gone (or the archive broke). */
  skip(): Promise<void>;
}

/** The members of the archive in `source`, in order. A broken archive throws an ArchiveError. */
export async function* archiveMembers(source: Readable, compression: Compression): AsyncGenerator<Member> {
  // filenameEncoding is tar-stream's option (its types leave it out): names stay bytes.
  const extract = tarExtract({ filenameEncoding: 'latin1' } as Parameters<typeof tarExtract>[0]);
  const decompressed: Readable = compression === 'gz' ? source.pipe(createGunzip()) : compression === 'bz2' ? bunzip(source) : source;
  const fail = (e: Error): void => {
    extract.destroy(new ArchiveError(e.message));
  };
  decompressed.on('error', fail);
  if (decompressed !== source) source.on('error', fail);
  // A client gone mid-body may only close its stream: the archive ends there, broken.
  source.on('close', () => {
    if (!source.readableEnded) fail(new Error('the request body ended early'));
  });
  decompressed.pipe(extract as unknown as NodeJS.WritableStream);
  try {
    for await (const entry of extract) {
      const body = Readable.from(entry, { objectMode: false, highWaterMark: 64 * 1024 });
      const member: Member = {
        name: memberName(entry.header),
        size: entry.header.size,
        isFile: entry.header.type === 'file' || entry.header.type === 'contiguous-file',
        headers: paxHeaders(entry.header.pax),
        body,
        skip: () => drain(body),
      };
      yield member;
      await member.skip();
    }
  } catch (e) {
    throw e instanceof ArchiveError ? e : new ArchiveError((e as Error).message);
  } finally {
    decompressed.unpipe(extract as unknown as NodeJS.WritableStream);
    extract.destroy();
    if (decompressed !== source) decompressed.destroy();
  }
}

/** unbzip2-stream is an old-style (through) stream: piped into a node stream, which holds it back when the tar reader is behind. */
function bunzip(source: Readable): Readable {
  const through = bz2();
  const out = new PassThrough({ highWaterMark: 64 * 1024 });
  through.on('error', (e: Error) => out.destroy(e));
  source.pipe(through as unknown as NodeJS.WritableStream);
  through.pipe(out);
  return out;
}

/** Reads `body` to its end (or its error), dropping the data. */
function drain(body: Readable): Promise<void> {
  if (body.readableEnded || body.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    body.on('end', resolve);
    body.on('close', resolve);
    body.on('error', () => resolve());
    body.resume();
  });
}

/** A name from a pax header is UTF-8 text; one from the tar header is bytes (decoded as latin1 to keep them). */
function memberName(h: Header): Buffer {
  const pax = h.pax as Record<string, string> | null | undefined;
  return pax?.['path'] !== undefined ? Buffer.from(h.name, 'utf8') : Buffer.from(h.name, 'latin1');
}

/** Swift's pax_key_to_swift_header: GNU tar's SCHILY.xattr.* and libarchive's LIBARCHIVE.xattr.* user xattrs. */
export function paxHeaders(pax: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!pax || typeof pax !== 'object') return out;
  for (const [k, v] of Object.entries(pax as Record<string, string>)) {
    for (const prefix of ['SCHILY.xattr.', 'LIBARCHIVE.xattr.']) {
      if (!k.startsWith(prefix)) continue;
      const attr = k.slice(prefix.length);
      if (attr === 'user.mime_type') out['content-type'] = v;
      else if (attr.startsWith('user.meta.')) out[`x-object-meta-${attr.slice('user.meta.'.length).toLowerCase()}`] = v;
    }
  }
  return out;
}
