import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { crc32c } from '@node-rs/crc32';
import type { HashReply, HashRequest } from './body-sums.js';

/**
 * The proxy's hashing thread (started by body-sums.ts): the MD5 and CRC32C of large PUT bodies,
 * one session per PUT. Every data message is acknowledged with its length once hashed, so the
 * proxy can hold a client whose body arrives faster than this thread hashes it.
 */
const sessions = new Map<number, { md5: Hash; crc: number }>();
const port = parentPort;
if (!port) throw new Error('hash-worker.js runs as a worker thread of the proxy');

port.on('message', (m: HashRequest) => {
  let s = sessions.get(m.id);
  switch (m.kind) {
    case 'data': {
      if (!s) sessions.set(m.id, (s = { md5: createHash('md5'), crc: 0 }));
      const bytes = new Uint8Array(m.data);
      s.md5.update(bytes);
      s.crc = crc32c(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength), s.crc);
      reply({ id: m.id, kind: 'hashed', bytes: bytes.byteLength });
      break;
    }
    case 'end':
      sessions.delete(m.id);
      reply({ id: m.id, kind: 'sums', md5Hex: (s?.md5 ?? createHash('md5')).digest('hex'), crc: s?.crc ?? 0 });
      break;
    case 'abort':
      sessions.delete(m.id);
      break;
  }
});

function reply(r: HashReply): void {
  port?.postMessage(r);
}
