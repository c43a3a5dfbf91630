/**
 * Header names shared by the proxy and the storage nodes. Everything internal is x-backend-*
 * (or one of the container/account update headers below), and the proxy strips these at the edge
 * in both directions.
 */
export const H = {
  timestamp: 'x-timestamp',
  transId: 'x-trans-id',
  /** Object PUT/DELETE: where the object server sends its container update. */
  containerHost: 'x-container-host',
  containerDevice: 'x-container-device',
  containerPartition: 'x-container-partition',
  /** Container PUT/DELETE and container updates: where the container server sends its account update. */
  accountHost: 'x-account-host',
  accountDevice: 'x-account-device',
  accountPartition: 'x-account-partition',
  /**
   * Object PUT/POST of a version with X-Delete-At: the queue container of `.expiring_objects`
   * (common/expiring-queue.ts) and the replica of it, and of that account, this object replica tells.
   */
  deleteAtContainer: 'x-delete-at-container',
  deleteAtHost: 'x-delete-at-host',
  deleteAtDevice: 'x-delete-at-device',
  deleteAtPartition: 'x-delete-at-partition',
  deleteAtAccountHost: 'x-delete-at-account-host',
  deleteAtAccountDevice: 'x-delete-at-account-device',
  deleteAtAccountPartition: 'x-delete-at-account-partition',
  /** `no` on the expirer's DELETE: the object server leaves the queue row to it (Swift's). */
  cleanExpiringQueue: 'x-backend-clean-expiring-object-queue',
  /** Set on a listing/stat request so a node reports deleted state and its timestamp. */
  backendTimestamp: 'x-backend-timestamp',
  backendDataTimestamp: 'x-backend-data-timestamp',
  backendDeleteAt: 'x-backend-delete-at',
  /**
   * Object GET/HEAD (Swift's): metadata names; an object holding one of them (a symlink) is read
   * whole and unconditionally, so Range and If-* apply to the object the link leads to.
   */
  ignoreRangeIfMetadata: 'x-backend-ignore-range-if-metadata-present',
  /** Which part of the system made a sub-request (proxy, updater, replicator...). */
  backendSource: 'x-backend-source',
  backendCrc32c: 'x-backend-crc32c',
  /**
   * Object PUT from the proxy: the body is chunked and ends with the trailers X-Backend-Etag (md5
   * hex) and X-Backend-Crc32c (hex), computed once by the proxy over the bytes it sent; the node
   * checks the CRC32C of what it received against it and stores that ETag (docs/BACKEND.md).
   */
  checksumTrailer: 'x-backend-checksum-trailer',
  backendEtag: 'x-backend-etag',
  /** Object PUT with a chunked body: the length the body will have, when the client said. */
  objContentLength: 'x-backend-obj-content-length',
  /** Container update fields sent by the object server to the container server. */
  size: 'x-size',
  contentType: 'x-content-type',
  etag: 'x-etag',
  /** An object POST's container update: when the content type and the metadata were set (Swift's). */
  contentTypeTimestamp: 'x-content-type-timestamp',
  metaTimestamp: 'x-meta-timestamp',
  /** Account update fields sent by the container server to the account server. */
  putTimestamp: 'x-put-timestamp',
  deleteTimestamp: 'x-delete-timestamp',
  objectCount: 'x-object-count',
  bytesUsed: 'x-bytes-used',
} as const;

/** Headers a client may never set or see: the gatekeeper removes them. */
export function isInternalHeader(name: string): boolean {
  const n = name.toLowerCase();
  return (
    n.startsWith('x-backend-') ||
    n.startsWith('x-container-host') ||
    n.startsWith('x-container-device') ||
    n.startsWith('x-container-partition') ||
    n.startsWith('x-account-host') ||
    n.startsWith('x-account-device') ||
    n.startsWith('x-account-partition')
  );
}

/**
 * Python's str.title(), which Swift applies to header names (HeaderKeyDict, swob): a letter after a
 * non-letter is upper case, any other letter lower case ("x-object-meta-a1b" → "X-Object-Meta-A1B").
 */
export function titleCase(name: string): string {
  let out = '';
  let prevLetter = false;
  for (const ch of name) {
    const isLetter = ch.toLowerCase() !== ch.toUpperCase();
    out += isLetter ? (prevLetter ? ch.toLowerCase() : ch.toUpperCase()) : ch;
    prevLetter = isLetter;
  }
  return out;
}
