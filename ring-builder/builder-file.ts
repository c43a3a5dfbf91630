import { readFileSync } from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { endianness } from 'node:os';
import { SwiftletError } from '../common/errors.js';
import { writeFileAtomicSync } from './atomic-file.js';
import { RING_GZIP_LEVEL, type RingDevice } from './ring-format.js';

/** A builder's whole state as plain data. */
export interface BuilderState {
  partPower: number;
  replicas: number;
  minPartHours: number;
  devices: Array<RingDevice | null>;
  removing: number[];
  lastMovesEpoch: number | null;
  lastMoved: Uint8Array;
  replica2part2dev: Uint16Array[];
}

/** `<name>.builder`: gzipped JSON; the typed arrays as base64 of their little-endian bytes. */
const FORMAT = 'swiftlet-ring-builder';
const VERSION = 1;
const LE = endianness() === 'LE';

export function saveBuilderFile(file: string, s: BuilderState): void {
  const json = {
    format: FORMAT,
    version: VERSION,
    partPower: s.partPower,
    replicas: s.replicas,
    minPartHours: s.minPartHours,
    devices: s.devices,
    removing: s.removing,
    lastMovesEpoch: s.lastMovesEpoch,
    lastMoved: Buffer.from(s.lastMoved.buffer, s.lastMoved.byteOffset, s.lastMoved.byteLength).toString('base64'),
    replica2part2dev: s.replica2part2dev.map(u16ToBase64),
  };
  writeFileAtomicSync(file, gzipSync(Buffer.from(JSON.stringify(json), 'utf8'), { level: RING_GZIP_LEVEL }));
}

export function loadBuilderFile(file: string): BuilderState {
  const bad = (msg: string, cause?: unknown): never => {
    throw new SwiftletError('RING_INVALID', `bad builder file ${file}: ${msg}`, cause === undefined ? {} : { cause });
  };
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(gunzipSync(readFileSync(file)).toString('utf8')) as Record<string, unknown>;
  } catch (e) {
    return bad((e as Error).message, e);
  }
  if (j.format !== FORMAT) bad('not a ring builder file');
  if (j.version !== VERSION) bad(`unsupported version ${String(j.version)}`);
  const num = (k: string): number => (typeof j[k] === 'number' ? (j[k] as number) : bad(`missing ${k}`));
  if (!Array.isArray(j.devices) || !Array.isArray(j.removing) || !Array.isArray(j.replica2part2dev) || typeof j.lastMoved !== 'string') {
    bad('missing fields');
  }
  const epoch = j.lastMovesEpoch;
  return {
    partPower: num('partPower'),
    replicas: num('replicas'),
    minPartHours: num('minPartHours'),
    devices: j.devices as Array<RingDevice | null>,
    removing: j.removing as number[],
    lastMovesEpoch: typeof epoch === 'number' ? epoch : null,
    lastMoved: new Uint8Array(Buffer.from(j.lastMoved as string, 'base64')),
    replica2part2dev: (j.replica2part2dev as unknown[]).map((s) => (typeof s === 'string' ? base64ToU16(s) : bad('bad assignment row'))),
  };
}

function u16ToBase64(a: Uint16Array): string {
  const b = Buffer.from(a.buffer, a.byteOffset, a.byteLength);
  return (LE ? b : Buffer.from(b).swap16()).toString('base64');
}

function base64ToU16(s: string): Uint16Array {
  const b = Buffer.from(s, 'base64');
  if (b.length % 2 !== 0) throw new SwiftletError('RING_INVALID', 'bad builder file: odd-length assignment row');
  const out = new Uint16Array(b.length / 2);
  const view = Buffer.from(out.buffer);
  b.copy(view);
  if (!LE) view.swap16();
  return out;
}
