import { SwiftletError } from '../common/errors.js';
import { SeededRandom } from '../common/random.js';
import { checkNewDevice, formatDevice, matchesFilter, parseSearchValue, type NewDevice } from './device-spec.js';
import { MAX_DEVICES, MAX_PART_POWER, MAX_REPLICAS, NO_DEVICE, deviceFields, type RingData, type RingDevice } from './ring-format.js';
import { rebalanceAssignment } from './rebalance.js';
import { buildTierTree, type TierTree } from './tiers.js';
import { dispersion, maxBalance, partsPerDevice, wantedPerDevice } from './stats.js';
import { buildReport, type RingReport } from './report.js';
import { loadBuilderFile, saveBuilderFile, type BuilderState } from './builder-file.js';

export type { NewDevice } from './device-spec.js';
export type { RingReport, DeviceReport } from './report.js';

export interface RebalanceOptions {
  /** Seeds every random choice: the same builder, seed and time give the same ring. */
  seed: number;
  /** Milliseconds since the epoch; drives min_part_hours. */
  now: number;
}

export interface RebalanceResult {
  /** Partition-replicas whose device changed (first placement included). */
  moved: number;
  /** Largest % deviation of a device from its weighted share (capped by dispersion). */
  balance: number;
  /** % of partitions with more replicas in some region/zone/ip/device than dispersion allows. */
  dispersion: number;
}

const HOUR_MS = 3_600_000;

function badRequest(msg: string): never {
  throw new SwiftletError('BAD_REQUEST', msg);
}

/**
 * The offline ring builder: devices, weights and the partition assignment, like swift's
 * RingBuilder. Pure: rebalance() takes the time and a seed.
 */
export class RingBuilder {
  readonly partPower: number;
  readonly replicas: number;
  private _minPartHours: number;
  private devs: Array<RingDevice | null> = [];
  /** Devices marked for removal: their replicas move at the next rebalance, then the id becomes null. */
  private readonly removing = new Set<number>();
  private readonly r2p2d: Uint16Array[];
  private readonly lastMoved: Uint8Array;
  /** The instant lastMoved's hours are counted from; null before the first rebalance. */
  private lastMovesEpoch: number | null = null;

  constructor(partPower: number, replicas: number, minPartHours: number) {
    if (!Number.isInteger(partPower) || partPower < 0 || partPower > MAX_PART_POWER) badRequest(`part power must be an integer 0..${MAX_PART_POWER}`);
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS) badRequest(`replicas must be an integer 1..${MAX_REPLICAS}`);
    this.partPower = partPower;
    this.replicas = replicas;
    this._minPartHours = checkMinPartHours(minPartHours);
    this.r2p2d = Array.from({ length: replicas }, () => new Uint16Array(2 ** partPower).fill(NO_DEVICE));
    this.lastMoved = new Uint8Array(2 ** partPower).fill(255);
  }

  get partCount(): number {
    return 2 ** this.partPower;
  }

  get minPartHours(): number {
    return this._minPartHours;
  }

  setMinPartHours(hours: number): void {
    this._minPartHours = checkMinPartHours(hours);
  }

  /** Devices by id; null where an id was removed. Copies. */
  get devices(): Array<RingDevice | null> {
    return this.devs.map((d) => (d ? { ...d } : null));
  }

  /** Ids marked for removal at the next rebalance. */
  get pendingRemovals(): number[] {
    return [...this.removing].sort((a, b) => a - b);
  }

  /** The live assignment: assignment[replica][partition] = device id (0xffff = none). For tests and tools. */
  get assignment(): ReadonlyArray<Uint16Array> {
    return this.r2p2d;
  }

  /** Adds a device and returns its id. Ids are never reused. */
  addDevice(d: NewDevice): number {
    checkNewDevice(d);
    const id = d.id ?? this.devs.length;
    if (id >= MAX_DEVICES) badRequest(`device id ${id} is too large (max ${MAX_DEVICES - 1})`);
    if (id < this.devs.length) badRequest(`device id ${id} is already used${this.devs[id] ? '' : ' (by a removed device)'}`);
    for (const o of this.devs) {
      if (o && o.ip === d.ip && o.port === d.port && o.device === d.device) {
        badRequest(`device ${formatDevice(d)} already exists as d${o.id}`);
      }
    }
    while (this.devs.length < id) this.devs.push(null);
    this.devs.push(deviceFields({ ...d, id, meta: d.meta ?? '' }));
    return id;
  }

  setWeight(id: number, weight: number): void {
    const d = this.liveDevice(id);
    if (typeof weight !== 'number' || !Number.isFinite(weight) || weight < 0) badRequest(`bad weight ${String(weight)}`);
    d.weight = weight;
  }

  setMeta(id: number, meta: string): void {
    this.liveDevice(id).meta = meta;
  }

  /** Marks a device for removal; its replicas move at the next rebalance whatever min_part_hours says. */
  removeDevice(id: number): void {
    const d = this.liveDevice(id);
    d.weight = 0;
    this.removing.add(id);
  }

  /** Devices matching a swift search value (`d3`, `r1z2`, `r1z2-127.0.0.1:6200/sdb`, `/sdb`...). */
  searchDevices(value: string): RingDevice[] {
    const f = parseSearchValue(value);
    return this.devs.filter((d): d is RingDevice => d !== null && matchesFilter(d, f)).map((d) => ({ ...d }));
  }

  /** Every partition becomes movable again, as if min_part_hours had passed. */
  pretendMinPartHoursPassed(): void {
    this.lastMoved.fill(255);
  }

  /** Whole hours until every partition may move again (0 when nothing is held back by min_part_hours). */
  minPartHoursRemaining(now: number): number {
    const h = this.hoursSinceEpoch(now);
    let youngest = 255;
    for (let p = 0; p < this.lastMoved.length; p++) if (this.lastMoved[p] < youngest) youngest = this.lastMoved[p];
    return Math.max(0, this._minPartHours - Math.min(255, youngest + h));
  }

  rebalance(opts: RebalanceOptions): RebalanceResult {
    const { seed, now } = opts;
    if (!Number.isFinite(seed) || !Number.isFinite(now)) badRequest('rebalance needs a finite seed and now');
    const weighted = this.devs.filter((d) => d && d.weight > 0 && !this.removing.has(d.id)).length;
    if (weighted < this.replicas) {
      throw new SwiftletError('RING_INVALID', `${this.replicas} replicas need at least ${this.replicas} devices with weight > 0; there are ${weighted}`);
    }
    this.advanceClock(now);
    const rng = new SeededRandom(seed);
    const tree = this.tree();
    const moved = rebalanceAssignment(
      { parts: this.partCount, replicas: this.replicas, replica2part2dev: this.r2p2d, lastMoved: this.lastMoved, minPartHours: this._minPartHours },
      tree,
      rng,
    );
    for (const id of this.removing) this.devs[id] = null;
    this.removing.clear();
    return { moved, ...this.quality(tree) };
  }

  /** Throws SwiftletError('RING_INVALID') listing what is wrong with the assignment. */
  validate(): void {
    const problems: string[] = [];
    let more = 0;
    const note = (s: string): void => {
      if (problems.length < 20) problems.push(s);
      else more++;
    };
    const parts = this.partCount;
    if (this.r2p2d.length !== this.replicas) note(`${this.r2p2d.length} replica rows, want ${this.replicas}`);
    if (this.lastMoved.length !== parts) note(`last-moved table has ${this.lastMoved.length} entries, want ${parts}`);
    this.devs.forEach((d, i) => {
      if (d && d.id !== i) note(`device at index ${i} says id ${d.id}`);
    });
    const nDev = this.devs.length;
    const rows = this.r2p2d.filter((row, r) => {
      if (row.length === parts) return true;
      note(`replica ${r} row has ${row.length} partitions, want ${parts}`);
      return false;
    });
    for (let p = 0; p < parts; p++) {
      for (let r = 0; r < rows.length; r++) {
        const d = rows[r][p];
        if (d === NO_DEVICE) note(`partition ${p} replica ${r} is not assigned`);
        else if (d >= nDev) note(`partition ${p} replica ${r} is on device ${d}, out of range 0..${nDev - 1}`);
        else if (!this.devs[d]) note(`partition ${p} replica ${r} is on removed device ${d}`);
        else for (let q = 0; q < r; q++) if (rows[q][p] === d) note(`partition ${p} has replicas ${q} and ${r} both on device ${d}`);
      }
    }
    const counts = partsPerDevice(rows, nDev);
    let total = 0;
    for (const c of counts) total += c;
    if (problems.length === 0 && total !== parts * this.replicas) note(`devices hold ${total} partition-replicas, want ${parts * this.replicas}`);
    if (problems.length > 0) {
      const tail = more > 0 ? ` (and ${more} more)` : '';
      throw new SwiftletError('RING_INVALID', `ring builder is invalid: ${problems.join('; ')}${tail}`, { details: { problems, more } });
    }
  }

  /** Per-device parts, wanted parts and balance, plus dispersion: what `swiftlet ring <builder> show` prints. */
  report(): RingReport {
    const tree = this.tree();
    return buildReport({
      partPower: this.partPower,
      replicas: this.replicas,
      minPartHours: this._minPartHours,
      devices: this.devs,
      removing: this.removing,
      rows: this.r2p2d,
      tree,
    });
  }

  /** The data of the runtime ring file. Throws RING_INVALID if the builder has not been (fully) rebalanced. */
  toRingData(): RingData {
    this.validate();
    return {
      partPower: this.partPower,
      replicas: this.replicas,
      devices: this.devs.map((d) => (d ? deviceFields(d) : null)),
      replica2part2dev: this.r2p2d.map((row) => row.slice()),
    };
  }

  saveBuilder(file: string): void {
    saveBuilderFile(file, this.toState());
  }

  static loadBuilder(file: string): RingBuilder {
    return RingBuilder.fromState(loadBuilderFile(file));
  }

  toState(): BuilderState {
    return {
      partPower: this.partPower,
      replicas: this.replicas,
      minPartHours: this._minPartHours,
      devices: this.devs.map((d) => (d ? deviceFields(d) : null)),
      removing: this.pendingRemovals,
      lastMovesEpoch: this.lastMovesEpoch,
      lastMoved: this.lastMoved,
      replica2part2dev: this.r2p2d,
    };
  }

  static fromState(s: BuilderState): RingBuilder {
    const b = new RingBuilder(s.partPower, s.replicas, s.minPartHours);
    const bad = (msg: string): never => {
      throw new SwiftletError('RING_INVALID', `bad builder state: ${msg}`);
    };
    if (s.replica2part2dev.length !== s.replicas || s.replica2part2dev.some((r) => r.length !== b.partCount)) bad('assignment shape');
    if (s.lastMoved.length !== b.partCount) bad('last-moved table size');
    s.devices.forEach((d, i) => {
      if (d === null) b.devs.push(null);
      else {
        if (d.id !== i) bad(`device at ${i} has id ${d.id}`);
        checkNewDevice(d);
        b.devs.push(deviceFields(d));
      }
    });
    for (const id of s.removing) {
      if (!b.devs[id]) bad(`removing unknown device ${id}`);
      b.removing.add(id);
    }
    s.replica2part2dev.forEach((row, r) => b.r2p2d[r].set(row));
    b.lastMoved.set(s.lastMoved);
    b.lastMovesEpoch = s.lastMovesEpoch;
    return b;
  }

  private tree(): TierTree {
    return buildTierTree(this.devs, this.removing, this.replicas, this.partCount);
  }

  private quality(tree: TierTree): { balance: number; dispersion: number } {
    const n = this.devs.length;
    const parts = partsPerDevice(this.r2p2d, n);
    const live = this.devs.map((d) => (d && !this.removing.has(d.id) ? d : null));
    return {
      balance: round2(maxBalance(live, parts, wantedPerDevice(tree, n))),
      dispersion: round2(dispersion(this.r2p2d, tree, this.partCount).percent),
    };
  }

  private liveDevice(id: number): RingDevice {
    const d = this.devs[id];
    if (!d) throw new SwiftletError('NOT_FOUND', `no device with id ${id}`);
    if (this.removing.has(id)) badRequest(`device ${id} is marked for removal`);
    return d;
  }

  private hoursSinceEpoch(now: number): number {
    if (this.lastMovesEpoch === null || now <= this.lastMovesEpoch) return 0;
    return Math.floor((now - this.lastMovesEpoch) / HOUR_MS);
  }

  /** Ages every partition's last-moved counter by the whole hours since the last rebalance. */
  private advanceClock(now: number): void {
    if (this.lastMovesEpoch === null) {
      this.lastMovesEpoch = now;
      return;
    }
    const h = this.hoursSinceEpoch(now);
    if (h === 0) return;
    const lm = this.lastMoved;
    for (let p = 0; p < lm.length; p++) lm[p] = Math.min(255, lm[p] + h);
    this.lastMovesEpoch += h * HOUR_MS;
  }
}

function checkMinPartHours(h: number): number {
  if (!Number.isInteger(h) || h < 0 || h > 255) badRequest('min_part_hours must be an integer 0..255');
  return h;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}
