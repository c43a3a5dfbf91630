import { createHash, type Hash } from 'node:crypto';
import { parentPort } from 'node:worker_threads';
import { crc32c, hashLanes, LaneMd5, laneMd5Available, laneStats } from '../common/native-sums.js';
import type { HashReply, HashRequest } from './body-sums.js';

/**
 * The proxy's hashing thread (started by body-sums.ts): the MD5 and CRC32C of large PUT bodies,
 * one session per PUT. Bytes are acknowledged once hashed, so the proxy can hold a client whose
 * body arrives faster than this thread hashes it (body-sums.ts HASH_BEHIND_BYTES).
 *
 * With the native module (common/native-sums.ts) the MD5s of up to four bodies are computed
 * together, one SIMD lane each, for about the cost of one. So a body's bytes wait until every
 * open body has LANE_GATHER_BYTES waiting, and a pass then hashes while as many lanes as there
 * are open bodies (up to four) have bytes. A body that runs ahead is held by the flow control
 * until the others catch up, which evens out the uploads too. Nothing waits longer than
 * LANE_WAIT_MS: then everything waiting is hashed, in however many lanes it takes.
 */
const LANE_GATHER_BYTES = 256 * 1024;
const LANE_WAIT_MS = 30;
const LANES = 4;

type Session = { md5: Hash | LaneMd5; crc: number; acked: number };
const sessions = new Map<number, Session>();
const port = parentPort;
if (!port) throw new Error('hash-worker.js runs as a worker thread of the proxy');
if (process.env.SWIFTLET_LANE_STATS) {
  // For benchmarks: how many MB were hashed with 1, 2, 3, 4 lanes busy.
  setInterval(() => console.error(`hash lanes MB ${laneStats.map((b) => Math.round(b / 1e6)).join(' ')}`), 5000).unref();
}

let passQueued = false;
let waitTimer: NodeJS.Timeout | undefined;

port.on('message', (m: HashRequest) => {
  let s = sessions.get(m.id);
  switch (m.kind) {
    case 'data': {
      if (!s) sessions.set(m.id, (s = { md5: laneMd5Available ? new LaneMd5() : createHash('md5'), crc: 0, acked: 0 }));
      const bytes = new Uint8Array(m.data);
      s.crc = crc32c(bytes, s.crc);
      if (s.md5 instanceof LaneMd5) {
        s.md5.push(bytes);
        gatherOrPass();
      } else {
        s.md5.update(bytes);
        reply({ id: m.id, kind: 'hashed', bytes: bytes.byteLength });
      }
      break;
    }
    case 'end': {
      const md5 = s?.md5 ?? createHash('md5');
      sessions.delete(m.id);
      if (md5 instanceof LaneMd5) hashPass(2, [md5]); // its last bytes side by side with others' where they can
      reply({ id: m.id, kind: 'sums', md5Hex: md5 instanceof LaneMd5 ? md5.digestHex() : md5.digest('hex'), crc: s?.crc ?? 0 });
      break;
    }
    case 'abort':
      sessions.delete(m.id);
      break;
  }
});

/** Bytes of `s` received and not yet hashed. */
function waiting(s: Session): number {
  return s.md5 instanceof LaneMd5 ? s.md5.waitingBytes : 0;
}

/** A lane pass once every open body has enough waiting; a pass of everything after LANE_WAIT_MS. */
function gatherOrPass(): void {
  let ready = 0;
  for (const s of sessions.values()) if (waiting(s) >= LANE_GATHER_BYTES) ready++;
  if (ready >= Math.min(LANES, sessions.size) && !passQueued) {
    // After the messages already queued: they may join this pass.
    passQueued = true;
    setImmediate(() => {
      passQueued = false;
      hashPass(Math.min(LANES, sessions.size));
    });
  }
  if (!waitTimer) passAfterWait();
}

/** Hashes whatever waits, in however many lanes, LANE_WAIT_MS from now. */
function passAfterWait(): void {
  waitTimer = setTimeout(() => {
    waitTimer = undefined;
    hashPass(1);
  }, LANE_WAIT_MS);
}

/**
 * Hashes waiting bytes while at least `minLanes` bodies (of the open ones, plus `extra`) have
 * some, and acknowledges what was hashed.
 */
function hashPass(minLanes: number, extra: LaneMd5[] = []): void {
  const md5s = [...extra];
  for (const s of sessions.values()) if (s.md5 instanceof LaneMd5 && waiting(s) > 0) md5s.push(s.md5);
  if (md5s.length) hashLanes(md5s, Math.min(minLanes, md5s.length));
  let behind = false;
  for (const [id, s] of sessions) {
    if (!(s.md5 instanceof LaneMd5)) continue;
    const hashed = s.md5.hashedBytes;
    if (hashed > s.acked) reply({ id, kind: 'hashed', bytes: hashed - s.acked });
    s.acked = hashed;
    if (waiting(s) >= 64) behind = true;
  }
  // Whatever is left waits at most LANE_WAIT_MS more.
  if (waitTimer) clearTimeout(waitTimer);
  waitTimer = undefined;
  if (behind) passAfterWait();
}

function reply(r: HashReply): void {
  port?.postMessage(r);
}
