/**
 * Swift-style timestamps: seconds since the epoch with 5 decimals, zero padded to 16 chars
 * ("0001700000000.12345" style is avoided: Swift uses "%016.05f"), optionally followed by
 * "_" and a 16-hex-digit offset that breaks ties between writes stamped in the same instant.
 * The normal form sorts lexically in time order, so file names and LevelDB keys can be compared as strings.
 */
export class Timestamp {
  /** 1e-5 second ticks since the epoch. */
  readonly ticks: number;
  readonly offset: number;

  constructor(ticks: number, offset = 0) {
    if (!Number.isFinite(ticks) || ticks < 0) throw new RangeError(`bad timestamp ticks ${ticks}`);
    this.ticks = Math.round(ticks);
    this.offset = offset;
  }

  static fromSeconds(seconds: number, offset = 0): Timestamp {
    return new Timestamp(Math.round(seconds * 100000), offset);
  }

  static now(clock: () => number = Date.now): Timestamp {
    return new Timestamp(Math.round(clock() * 100), 0);
  }

  /** Parses "1700000000.12345", "1700000000", "0001700000000.12345_000000000000000a". Throws RangeError. */
  static parse(s: string): Timestamp {
    const m = /^(\d+)(?:\.(\d{1,5})\d*)?(?:_([0-9a-fA-F]{1,16}))?$/.exec(s.trim());
    if (!m) throw new RangeError(`bad timestamp ${JSON.stringify(s)}`);
    const frac = (m[2] ?? '').padEnd(5, '0');
    const ticks = Number(m[1]) * 100000 + Number(frac);
    return new Timestamp(ticks, m[3] ? parseInt(m[3], 16) : 0);
  }

  static tryParse(s: string | undefined | null): Timestamp | undefined {
    if (s === undefined || s === null || s === '') return undefined;
    try {
      return Timestamp.parse(s);
    } catch {
      return undefined;
    }
  }

  get seconds(): number {
    return this.ticks / 100000;
  }

  /** "%016.05f": what Swift puts in X-Timestamp and file names. */
  get normal(): string {
    const whole = Math.floor(this.ticks / 100000);
    const frac = this.ticks % 100000;
    return `${String(whole).padStart(10, '0')}.${String(frac).padStart(5, '0')}`;
  }

  /** normal plus the offset when there is one. */
  get internal(): string {
    return this.offset ? `${this.normal}_${this.offset.toString(16).padStart(16, '0')}` : this.normal;
  }

  withOffset(offset: number): Timestamp {
    return new Timestamp(this.ticks, offset);
  }

  compare(other: Timestamp): number {
    if (this.ticks !== other.ticks) return this.ticks < other.ticks ? -1 : 1;
    if (this.offset !== other.offset) return this.offset < other.offset ? -1 : 1;
    return 0;
  }

  /** HTTP date of the timestamp rounded up to the second, as Swift's Last-Modified. */
  get httpDate(): string {
    return new Date(Math.ceil(this.ticks / 100000) * 1000).toUTCString();
  }

  /** ISO 8601 with microseconds, as Swift's JSON listings' last_modified. */
  get isoListing(): string {
    const ms = Math.floor(this.ticks / 100);
    const micro = (this.ticks % 100) * 10;
    const iso = new Date(ms).toISOString(); // 2024-01-01T00:00:00.123Z
    return `${iso.slice(0, 23)}${String(micro).padStart(3, '0')}`;
  }

  toString(): string {
    return this.internal;
  }
}

/** Compare two timestamp strings in internal form; both must be normalized. */
export function compareTimestampStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Stamps strictly increasing timestamps for one process: two writes stamped by one proxy in the
 * same 10 µs tick still order (Swift relies on the clock alone; we add the guarantee cheaply).
 */
export function createStamper(clock: () => number): () => Timestamp {
  let last = 0;
  return () => {
    const ticks = Math.max(Math.round(clock() * 100), last + 1);
    last = ticks;
    return new Timestamp(ticks);
  };
}
