import { SwiftletError } from './errors.js';

/**
 * Storage policies (Swift's swift/common/storage_policy.py, replication only): a cluster has
 * policies numbered 0, 1, 2…; each has its own object ring (`object.ring.gz` for 0,
 * `object-<n>.ring.gz` for n), hence its own replica count and devices, and its own object
 * folders on every device (`objects`, `objects-<n>`). A container is given one when it is created
 * and keeps it for its life; its objects live by that policy.
 *
 * Pure: the registry is parsed from the `storage_policies` option every service reads, and
 * checked with Swift's rules (parseStoragePolicies).
 */

/** Swift's name for policy 0 when none is configured; reserved for index 0. */
export const LEGACY_POLICY_NAME = 'Policy-0';

/** The backend header carrying a container's policy index (absent: 0). */
export const POLICY_INDEX_HEADER = 'x-backend-storage-policy-index';
/** Container PUT: the policy a new container gets when the client named none (the proxy's default). */
export const POLICY_DEFAULT_HEADER = 'x-backend-storage-policy-default';

export interface StoragePolicy {
  index: number;
  /** The primary name: what containers report as X-Storage-Policy. */
  name: string;
  /** Every name the policy answers to, the primary name first (compared case-insensitively). */
  aliases: string[];
  isDefault: boolean;
  /** Still readable and replicated, but no new container may take it; left out of /info. */
  deprecated: boolean;
}

/** The cluster's policies, looked up by index or by any of their names. */
export class StoragePolicies {
  private readonly byIndexMap: Map<number, StoragePolicy>;
  private readonly byNameMap: Map<string, StoragePolicy>;
  readonly default: StoragePolicy;

  /** Use parseStoragePolicies: it checks what this constructor assumes. */
  private constructor(list: StoragePolicy[]) {
    this.byIndexMap = new Map([...list].sort((a, b) => a.index - b.index).map((p) => [p.index, p]));
    this.byNameMap = new Map();
    for (const p of list) for (const n of p.aliases) this.byNameMap.set(n.toUpperCase(), p);
    this.default = list.find((p) => p.isDefault) as StoragePolicy;
  }

  /** @internal for parseStoragePolicies only. */
  static fromChecked(list: StoragePolicy[]): StoragePolicies {
    return new StoragePolicies(list);
  }

  /** Every policy, by index. */
  all(): StoragePolicy[] {
    return [...this.byIndexMap.values()];
  }

  get size(): number {
    return this.byIndexMap.size;
  }

  byIndex(index: number): StoragePolicy | undefined {
    return this.byIndexMap.get(index);
  }

  /** By name or alias, case-insensitively (Swift's get_by_name). */
  byName(name: string): StoragePolicy | undefined {
    return this.byNameMap.get(name.toUpperCase());
  }

  /** What GET /info lists: Swift's get_policy_info (deprecated policies are left out). */
  info(): Array<{ name: string; aliases: string; default?: true }> {
    return this.all()
      .filter((p) => !p.deprecated)
      .map((p) => ({ name: p.name, aliases: p.aliases.join(', '), ...(p.isDefault ? { default: true as const } : {}) }));
  }
}

/** The single policy of a cluster that configures none: Swift's legacy Policy-0. */
export const SINGLE_POLICY: StoragePolicies = StoragePolicies.fromChecked([
  { index: 0, name: LEGACY_POLICY_NAME, aliases: [LEGACY_POLICY_NAME], isDefault: true, deprecated: false },
]);

/** `objects` for policy 0, `objects-<n>` otherwise (Swift's get_policy_string). */
export function policyString(base: string, index: number): string {
  return index === 0 ? base : `${base}-${index}`;
}

/**
 * A policy index as it arrives in X-Backend-Storage-Policy-Index: absent or empty is 0; anything
 * but a non-negative integer is undefined (the caller answers as Swift does).
 */
export function parsePolicyIndex(raw: string | string[] | undefined): number | undefined {
  const v = Array.isArray(raw) ? raw[0] : raw;
  if (v === undefined || v === '') return 0;
  if (!/^\d{1,9}$/.test(v.trim())) return undefined;
  return Number(v.trim());
}

const VALID_NAME = /^[-A-Za-z0-9]+$/;
const KEYS = new Set(['index', 'name', 'aliases', 'default', 'deprecated', 'policy_type']);

function fail(message: string): never {
  throw new SwiftletError('CONFIG', `storage_policies: ${message}`);
}

function checkName(name: unknown, index: number, what: string): string {
  if (typeof name !== 'string' || name === '') fail(`policy ${index}: ${what} must be a non-empty string`);
  // Names travel in HTTP headers: Swift allows letters, digits and "-" only.
  if (!VALID_NAME.test(name)) fail(`policy ${index}: invalid ${what} ${JSON.stringify(name)} (letters, digits and "-" only)`);
  if (name.toUpperCase() === LEGACY_POLICY_NAME.toUpperCase() && index !== 0) {
    fail(`policy ${index}: the name ${LEGACY_POLICY_NAME} is reserved for policy index 0`);
  }
  return name;
}

/**
 * The `storage_policies` option: `[{"index": 0, "name": "gold", "aliases": ["yellow"],
 * "default": true, "deprecated": false}, ...]`. Empty: the single Policy-0. Swift's rules:
 * indexes unique non-negative integers, and 0 among them; names and aliases unique
 * (case-insensitively), letters, digits and "-" only, `Policy-0` only for index 0; exactly one
 * default (implied when there is one policy), never a deprecated one; at least one policy not
 * deprecated. Only replication policies exist here. Throws CONFIG.
 */
export function parseStoragePolicies(raw: unknown): StoragePolicies {
  if (raw === undefined || (Array.isArray(raw) && raw.length === 0)) return SINGLE_POLICY;
  if (!Array.isArray(raw)) fail('must be a list of policies');
  const list: StoragePolicy[] = [];
  const names = new Map<string, number>();
  for (const entry of raw as unknown[]) {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) fail('each policy must be an object');
    const e = entry as Record<string, unknown>;
    for (const k of Object.keys(e)) if (!KEYS.has(k)) fail(`unknown key ${JSON.stringify(k)} (known: ${[...KEYS].join(', ')})`);
    const index = e.index;
    if (typeof index !== 'number' || !Number.isSafeInteger(index) || index < 0) fail(`invalid index ${JSON.stringify(index)} (a non-negative integer)`);
    if (list.some((p) => p.index === index)) fail(`duplicate index ${index}`);
    if (e.policy_type !== undefined && e.policy_type !== 'replication') {
      fail(`policy ${index}: policy_type ${JSON.stringify(e.policy_type)} is not supported (only "replication")`);
    }
    for (const flag of ['default', 'deprecated'] as const) {
      if (e[flag] !== undefined && typeof e[flag] !== 'boolean') fail(`policy ${index}: "${flag}" must be true or false`);
    }
    const name = checkName(e.name, index, 'name');
    if (e.aliases !== undefined && (!Array.isArray(e.aliases) || !e.aliases.every((a) => typeof a === 'string'))) {
      fail(`policy ${index}: aliases must be a list of names`);
    }
    // The primary name first, then the aliases, each once (Swift's alias_list).
    const aliases: string[] = [name];
    for (const a of (e.aliases as string[] | undefined) ?? []) {
      checkName(a, index, 'alias');
      if (!aliases.some((x) => x.toUpperCase() === a.toUpperCase())) aliases.push(a);
    }
    for (const a of aliases) {
      const owner = names.get(a.toUpperCase());
      if (owner !== undefined) fail(`duplicate name ${JSON.stringify(a)} (policies ${owner} and ${index})`);
      names.set(a.toUpperCase(), index);
    }
    const isDefault = e.default === true;
    const deprecated = e.deprecated === true;
    if (isDefault && deprecated) fail(`policy ${index}: a deprecated policy cannot be the default`);
    list.push({ index, name, aliases, isDefault, deprecated });
  }
  if (!list.some((p) => p.index === 0)) fail('policy index 0 must be defined when policies are defined');
  if (list.every((p) => p.deprecated)) fail('at least one policy must not be deprecated');
  const defaults = list.filter((p) => p.isDefault);
  if (defaults.length > 1) fail(`more than one default policy (${defaults.map((p) => p.name).join(', ')})`);
  if (defaults.length === 0) {
    if (list.length > 1) fail('no default policy: mark exactly one "default": true');
    (list[0] as StoragePolicy).isDefault = true;
  }
  return StoragePolicies.fromChecked(list);
}
