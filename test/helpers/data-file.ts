import type { Timestamp } from '../../common/timestamp.js';
import type { DataFileWriter } from '../../storage-node/object/diskfile.js';
import type { ObjectLocation } from '../../storage-node/object/layout.js';
import type { ObjectMetadata } from '../../storage-node/object/metadata.js';

/**
 * Commits a written body as the object server does: name, timestamp, length and type, with the
 * ETag and CRC32C the writer computed. `extra` adds (or overrides) metadata.
 */
export async function commitWritten(
  w: DataFileWriter,
  loc: ObjectLocation,
  at: Timestamp,
  o: { name: string; length: number; contentType: string; extra?: ObjectMetadata; dirMissing?: boolean },
): Promise<void> {
  const meta: ObjectMetadata = {
    ...o.extra,
    name: o.name,
    'X-Timestamp': at.internal,
    'Content-Length': String(o.length),
    'Content-Type': o.contentType,
    ETag: w.etag(),
    'X-Crc32c': w.crc32c(),
  };
  await w.commit(loc, at, meta, o.dirMissing);
}
