import { SwiftletError } from '../common/errors.js';
import type { RingDevice } from './ring-format.js';

/**
 * swift-ring-builder's device notation:
 *   search value  d<id>r<region>z<zone>-<ip>:<port>/<device>_<meta>   (every part optional)
 *   add value     r<region>z<zone>-<ip>:<port>/<device>_<meta>        (region defaults to 1)
 */
export interface DeviceFilter {
  id?: number;
  region?: number;
  zone?: number;
  ip?: string;
  port?: number;
  device?: string;
  meta?: string;
}

export type NewDevice = Omit<RingDevice, 'id' | 'meta'> & { id?: number; meta?: string };

function bad(msg: string): never {
  throw new SwiftletError('BAD_REQUEST', msg);
}

/** Reads a leading `<letter><digits>`; returns [number, rest] or undefined when absent. */
function takeNumber(s: string, letter: string): [number, string] | undefined {
  const m = new RegExp(`^${letter}(\\d+)`).exec(s);
  return m ? [Number(m[1]), s.slice(m[0].length)] : undefined;
}

export function parseSearchValue(value: string): DeviceFilter {
  const f: DeviceFilter = {};
  let s = value.trim();
  if (s === '') bad('empty search value');
  let n: [number, string] | undefined;
  if ((n = takeNumber(s, 'd'))) [f.id, s] = n;
  if ((n = takeNumber(s, 'r'))) [f.region, s] = n;
  if ((n = takeNumber(s, 'z'))) [f.zone, s] = n;
  const dashed = s.startsWith('-');
  if (dashed) s = s.slice(1);
  let m: RegExpExecArray | null;
  if ((m = /^\[([0-9A-Fa-f:.]+)\]/.exec(s)) || (m = /^(\d[\d.]*)/.exec(s)) || (dashed && (m = /^([A-Za-z0-9][A-Za-z0-9.-]*)/.exec(s)))) {
    f.ip = m[1] as string;
    s = s.slice(m[0].length);
  }
  if ((m = /^:(\d+)/.exec(s))) {
    f.port = Number(m[1]);
    s = s.slice(m[0].length);
  }
  if ((m = /^\/([^_]+)/.exec(s))) {
    f.device = m[1] as string;
    s = s.slice(m[0].length);
  }
  if (s.startsWith('_')) {
    f.meta = s.slice(1);
    s = '';
  }
  if (s !== '') bad(`invalid search value ${JSON.stringify(value)}`);
  return f;
}

export function matchesFilter(d: RingDevice, f: DeviceFilter): boolean {
  return (
    (f.id === undefined || d.id === f.id) &&
    (f.region === undefined || d.region === f.region) &&
    (f.zone === undefined || d.zone === f.zone) &&
    (f.ip === undefined || d.ip === f.ip) &&
    (f.port === undefined || d.port === f.port) &&
    (f.device === undefined || d.device === f.device) &&
    (f.meta === undefined || d.meta === f.meta)
  );
}

/** `r1z2-10.0.0.1:6200/sdb_meta` (or `z2-...`, region 1) and a weight → a device to add. */
export function parseAddValue(value: string, weight: number): NewDevice {
  let s = value.trim();
  let region = 1;
  let n = takeNumber(s, 'r');
  if (n) [region, s] = n;
  n = takeNumber(s, 'z');
  if (!n) bad(`invalid add value ${JSON.stringify(value)}: want r<region>z<zone>-<ip>:<port>/<device>`);
  const zone = n[0];
  s = n[1];
  const m = /^-(\[[0-9A-Fa-f:.]+\]|[^:/\[\]]+):(\d+)\/([^_]+)(?:_(.*))?$/.exec(s);
  if (!m) bad(`invalid add value ${JSON.stringify(value)}: want r<region>z<zone>-<ip>:<port>/<device>`);
  const ip = (m[1] as string).replace(/^\[|\]$/g, '');
  return { region, zone, ip, port: Number(m[2]), device: m[3] as string, weight, meta: m[4] ?? '' };
}

/** Checks a device's fields; the builder calls this for every add. */
export function checkNewDevice(d: NewDevice): void {
  const isNat = (v: unknown): boolean => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (d.id !== undefined && !isNat(d.id)) bad(`bad device id ${String(d.id)}`);
  if (!isNat(d.region)) bad(`bad region ${String(d.region)}`);
  if (!isNat(d.zone)) bad(`bad zone ${String(d.zone)}`);
  if (typeof d.ip !== 'string' || d.ip === '' || /[\s/]/.test(d.ip)) bad(`bad ip ${JSON.stringify(d.ip)}`);
  if (!isNat(d.port) || d.port < 1 || d.port > 65535) bad(`bad port ${String(d.port)}`);
  if (typeof d.device !== 'string' || d.device === '' || /[\s/]/.test(d.device)) bad(`bad device name ${JSON.stringify(d.device)}`);
  if (typeof d.weight !== 'number' || !Number.isFinite(d.weight) || d.weight < 0) bad(`bad weight ${String(d.weight)}`);
  if (d.meta !== undefined && typeof d.meta !== 'string') bad('bad meta');
}

/** `r1z2-10.0.0.1:6200/sdb` — how devices are named in messages and reports. */
export function formatDevice(d: Pick<RingDevice, 'region' | 'zone' | 'ip' | 'port' | 'device'>): string {
  const ip = d.ip.includes(':') ? `[${d.ip}]` : d.ip;
  return `r${d.region}z${d.zone}-${ip}:${d.port}/${d.device}`;
}
