import { constants as zlibConstants, gunzipSync, gzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';
import { endianness } from 'node:os';
import { SwiftletError } from '../common/errors.js';
import { writeFileAtomicSync } from './atomic-file.js';

/**
 * The runtime ring file, `<name>.ring.gz`. gzip of:
 *   "SWLTRING" | u16le format version | u32le header length | header JSON (UTF-8)
 *   | replicas × (2^partPower × u16le device id)
 * The header holds partPower, replicas and the devices (null for removed ids); the assignment
 * stays a flat binary table so a 2^20-partition ring loads in milliseconds.
 */
export const RING_MAGIC = 'SWLTRING';
export const RING_FORMAT_VERSION = 1;
/** Device ids are u16; this value means "no device" inside the builder and is never a real id. */
export const NO_DEVICE = 0xffff;
export const MAX_DEVICES = NO_DEVICE;
export const MAX_PART_POWER = 24;
export const MAX_REPLICAS = 16;

export interface RingDevice {
  id: number;
  region: number;
  zone: number;
  ip: string;
  port: number;
  device: string;
  weight: number;
  meta: string;
}

/** Everything a ring file holds. replica2part2dev[r][part] is the device id of replica r. */
export interface RingData {
  partPower: number;
  replicas: number;
  devices: Array<RingDevice | null>;
  replica2part2dev: Uint16Array[];
}

const PREAMBLE = RING_MAGIC.length + 2 + 4;
const LITTLE_ENDIAN = endianness() === 'LE';

function invalid(msg: string, cause?: unknown): never {
  throw new SwiftletError('RING_INVALID', msg, cause === undefined ? {} : { cause });
}

export function encodeRingData(data: RingData): Buffer {
  validateRingData(data);
  const header = Buffer.from(
    JSON.stringify({ partPower: data.partPower, replicas: data.replicas, devices: data.devices.map((d) => (d ? deviceFields(d) : null)) }),
    'utf8',
  );
  const pre = Buffer.alloc(PREAMBLE);
  pre.write(RING_MAGIC, 0, 'latin1');
  pre.writeUInt16LE(RING_FORMAT_VERSION, RING_MAGIC.length);
  pre.writeUInt32LE(header.length, RING_MAGIC.length + 2);
  const tables = data.replica2part2dev.map((arr) => {
    const b = Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength);
    return LITTLE_ENDIAN ? b : Buffer.from(b).swap16();
  });
  return gzipSync(Buffer.concat([pre, header, ...tables]), { level: RING_GZIP_LEVEL });
}

/**
 * gzip's fastest level for ring and builder files: device ids are close to random bytes, so the
 * higher levels buy little (part power 18: 477 KB at level 1, 421 KB at 6) for ten to twenty
 * times the time (18 vs 334 ms), which was a third of a rebalance. Reading is as fast either way.
 */
export const RING_GZIP_LEVEL = zlibConstants.Z_BEST_SPEED;

export function decodeRingData(gz: Uint8Array): RingData {
  let raw: Buffer;
  try {
    raw = gunzipSync(gz);
  } catch (e) {
    invalid(`ring file is not valid gzip: ${(e as Error).message}`, e);
  }
  if (raw.length < PREAMBLE) invalid('ring file is truncated (no header)');
  if (raw.toString('latin1', 0, RING_MAGIC.length) !== RING_MAGIC) invalid('not a ring file: bad magic');
  const version = raw.readUInt16LE(RING_MAGIC.length);
  if (version !== RING_FORMAT_VERSION) invalid(`unsupported ring format version ${version} (want ${RING_FORMAT_VERSION})`);
  const headerLen = raw.readUInt32LE(RING_MAGIC.length + 2);
  if (PREAMBLE + headerLen > raw.length) invalid('ring file is truncated (header)');
  let header: { partPower?: unknown; replicas?: unknown; devices?: unknown };
  try {
    header = JSON.parse(raw.toString('utf8', PREAMBLE, PREAMBLE + headerLen)) as typeof header;
  } catch (e) {
    invalid('ring header is not JSON', e);
  }
  if (typeof header !== 'object' || header === null) invalid('ring header is not an object');
  const { partPower, replicas, devices } = header;
  if (!isIntIn(partPower, 0, MAX_PART_POWER)) invalid(`bad partPower ${String(partPower)}`);
  if (!isIntIn(replicas, 1, MAX_REPLICAS)) invalid(`bad replicas ${String(replicas)}`);
  if (!Array.isArray(devices)) invalid('ring header has no devices array');
  const parts = 2 ** partPower;
  const tableBytes = parts * 2;
  const body = raw.length - PREAMBLE - headerLen;
  if (body < replicas * tableBytes) invalid(`ring file is truncated: ${body} of ${replicas * tableBytes} assignment bytes`);
  if (body > replicas * tableBytes) invalid('ring file has trailing bytes after the assignment');
  const replica2part2dev: Uint16Array[] = [];
  for (let r = 0; r < replicas; r++) {
    const arr = new Uint16Array(parts);
    const view = Buffer.from(arr.buffer, arr.byteOffset, arr.byteLength);
    raw.copy(view, 0, PREAMBLE + headerLen + r * tableBytes, PREAMBLE + headerLen + (r + 1) * tableBytes);
    if (!LITTLE_ENDIAN) view.swap16();
    replica2part2dev.push(arr);
  }
  const data: RingData = { partPower, replicas, devices: devices as Array<RingDevice | null>, replica2part2dev };
  validateRingData(data);
  return data;
}

/**
 * Throws RING_INVALID unless every partition has `replicas` distinct devices that exist.
 * Services call this on load, so a half-built or corrupted ring is never put to use.
 */
export function validateRingData(data: RingData): void {
  const { partPower, replicas, devices, replica2part2dev } = data;
  if (!isIntIn(partPower, 0, MAX_PART_POWER)) invalid(`bad partPower ${String(partPower)}`);
  if (!isIntIn(replicas, 1, MAX_REPLICAS)) invalid(`bad replicas ${String(replicas)}`);
  if (devices.length > MAX_DEVICES) invalid(`too many device ids: ${devices.length}`);
  devices.forEach((d, i) => {
    if (d !== null) checkDevice(d, i);
  });
  const parts = 2 ** partPower;
  if (replica2part2dev.length !== replicas) invalid(`assignment has ${replica2part2dev.length} replica rows, want ${replicas}`);
  for (const row of replica2part2dev) {
    if (!(row instanceof Uint16Array) || row.length !== parts) invalid(`assignment row must be a Uint16Array of ${parts}`);
  }
  const nDev = devices.length;
  for (let r = 0; r < replicas; r++) {
    const row = replica2part2dev[r] as Uint16Array;
    for (let p = 0; p < parts; p++) {
      const d = row[p] as number;
      if (d >= nDev || devices[d] === null) invalid(`partition ${p} replica ${r} is on device ${d}, which does not exist`);
      for (let q = 0; q < r; q++) {
        if ((replica2part2dev[q] as Uint16Array)[p] === d) invalid(`partition ${p} has two replicas on device ${d}`);
      }
    }
  }
}

function checkDevice(d: RingDevice, index: number): void {
  const bad = (what: string): never => invalid(`device ${index}: ${what}`);
  if (typeof d !== 'object') bad('not an object');
  if (d.id !== index) bad(`id ${String(d.id)} does not match its position`);
  if (!isIntIn(d.region, 0, 2 ** 31)) bad('bad region');
  if (!isIntIn(d.zone, 0, 2 ** 31)) bad('bad zone');
  if (typeof d.ip !== 'string' || d.ip === '') bad('bad ip');
  if (!isIntIn(d.port, 0, 65535)) bad('bad port');
  if (typeof d.device !== 'string' || d.device === '') bad('bad device name');
  if (typeof d.weight !== 'number' || !Number.isFinite(d.weight) || d.weight < 0) bad('bad weight');
  if (typeof d.meta !== 'string') bad('bad meta');
}

function isIntIn(v: unknown, lo: number, hi: number): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= lo && v <= hi;
}

/** Only the documented fields go into the file, whatever else the object carries. */
export function deviceFields(d: RingDevice): RingDevice {
  return { id: d.id, region: d.region, zone: d.zone, ip: d.ip, port: d.port, device: d.device, weight: d.weight, meta: d.meta };
}

export function writeRingFile(file: string, data: RingData): void {
  writeFileAtomicSync(file, encodeRingData(data));
}

export function readRingFile(file: string): RingData {
  let gz: Buffer;
  try {
    gz = readFileSync(file);
  } catch (e) {
    invalid(`cannot read ring file ${file}: ${(e as Error).message}`, e);
  }
  return decodeRingData(gz);
}
