import { readFileSync } from 'node:fs';
import { SwiftletError } from './errors.js';
import type { HashSecret } from './hash-path.js';

/**
 * Config files are JSON objects. Each service declares its options as a typed spec with defaults
 * (the single source of truth, printed by `swiftlet sample-config`), and `parseConfig` validates
 * the file against it: unknown keys and wrong types are refused at start-up.
 */
export type OptionSpec =
  | { type: 'string'; default: string; doc: string }
  | { type: 'number'; default: number; doc: string; min?: number }
  | { type: 'boolean'; default: boolean; doc: string }
  | { type: 'string[]'; default: string[]; doc: string }
  | { type: 'object'; default: Record<string, unknown>; doc: string }
  | { type: 'object[]'; default: Array<Record<string, unknown>>; doc: string };

export type ConfigSpec = Record<string, OptionSpec>;

export type ConfigOf<S extends ConfigSpec> = {
  [K in keyof S]: S[K] extends { type: 'string' }
    ? string
    : S[K] extends { type: 'number' }
      ? number
      : S[K] extends { type: 'boolean' }
        ? boolean
        : S[K] extends { type: 'string[]' }
          ? string[]
          : S[K] extends { type: 'object[]' }
            ? Array<Record<string, unknown>>
            : Record<string, unknown>;
};

export function readJsonConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new SwiftletError('CONFIG', `cannot read config file ${file}`, { cause: e });
  }
  try {
    const v = JSON.parse(text) as unknown;
    if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error('not an object');
    return v as Record<string, unknown>;
  } catch (e) {
    throw new SwiftletError('CONFIG', `config file ${file} is not a JSON object: ${(e as Error).message}`, { cause: e });
  }
}

export function parseConfig<S extends ConfigSpec>(spec: S, raw: Record<string, unknown>, where = 'config'): ConfigOf<S> {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(raw)) {
    if (!(key in spec) && !key.startsWith('_')) {
      throw new SwiftletError('CONFIG', `${where}: unknown option "${key}"`);
    }
  }
  for (const [key, opt] of Object.entries(spec)) {
    const v = raw[key];
    if (v === undefined) {
      out[key] = structuredClone(opt.default);
      continue;
    }
    const bad = (): never => {
      throw new SwiftletError('CONFIG', `${where}: option "${key}" must be ${opt.type}, got ${JSON.stringify(v)}`);
    };
    switch (opt.type) {
      case 'string':
        if (typeof v !== 'string') bad();
        break;
      case 'number':
        if (typeof v !== 'number' || !Number.isFinite(v)) bad();
        if (opt.min !== undefined && (v as number) < opt.min) {
          throw new SwiftletError('CONFIG', `${where}: option "${key}" must be >= ${opt.min}`);
        }
        break;
      case 'boolean':
        if (typeof v !== 'boolean') bad();
        break;
      case 'string[]':
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) bad();
        break;
      case 'object':
        if (typeof v !== 'object' || v === null || Array.isArray(v)) bad();
        break;
      case 'object[]':
        if (!Array.isArray(v) || !v.every((x) => typeof x === 'object' && x !== null && !Array.isArray(x))) bad();
        break;
    }
    out[key] = v;
  }
  return out as ConfigOf<S>;
}

/** Options every service shares: the cluster secret and where the rings are. */
export const clusterSpec = {
  swift_hash_path_prefix: { type: 'string', default: '', doc: 'Cluster secret, prepended to every hashed path. Set it once, never change it.' },
  swift_hash_path_suffix: { type: 'string', default: '', doc: 'Cluster secret, appended to every hashed path. At least one of prefix/suffix is required.' },
  ring_dir: { type: 'string', default: '/etc/swiftlet', doc: 'Folder holding account.ring.gz, container.ring.gz, object.ring.gz and one object-<n>.ring.gz per storage policy n > 0.' },
  storage_policies: {
    type: 'object[]',
    default: [],
    doc: 'Storage policies, the same on every service of the cluster: [{"index": 0, "name": "gold", "aliases": ["yellow"], "default": true, "deprecated": false}, ...]. Policy n stores objects by ring_dir/object-<n>.ring.gz (object.ring.gz for 0), so with its replica count and devices. Index 0 must be among them; exactly one is the default. Empty: the single policy "Policy-0" (Swift\'s rules: common/storage-policy.ts).',
  },
  expiring_objects_container_divisor: {
    type: 'number',
    default: 86_400,
    min: 1,
    doc: "Seconds of X-Delete-At per group of 100 queue containers in the hidden .expiring_objects account (Swift's). The same on the proxies and the storage nodes: a node finds the queue row of an object's old X-Delete-At by it.",
  },
  ring_check_interval_s: { type: 'number', default: 15, min: 0.1, doc: 'How often services look for a changed ring file (it is loaded only if it validates).' },
  backend_key: { type: 'string', default: '', doc: 'Key that signs every request between proxies, daemons and storage nodes (nodes refuse unsigned ones with 401). Set the same on every host; empty: derived from the cluster secret.' },
  log_level: { type: 'string', default: 'info', doc: 'pino log level: fatal, error, warn, info, debug, trace or silent.' },
  malloc_trim_interval_s: { type: 'number', default: 2, min: 0, doc: 'Proxy and storage nodes: how often to check the C heap and hand its free memory (over 8 MiB) back to the kernel (glibc malloc_trim; without it RSS stays at the high-water mark of past bursts). 0: never.' },
} as const satisfies ConfigSpec;

/** Services refuse to start without the cluster secret: a wrong one would scatter every object. */
export function requireHashSecret(cfg: { swift_hash_path_prefix: string; swift_hash_path_suffix: string }): HashSecret {
  if (!cfg.swift_hash_path_prefix && !cfg.swift_hash_path_suffix) {
    throw new SwiftletError('CONFIG', 'refusing to start: set swift_hash_path_prefix and/or swift_hash_path_suffix (the cluster secret)');
  }
  return { prefix: cfg.swift_hash_path_prefix, suffix: cfg.swift_hash_path_suffix };
}

/** Swift's config_true_value: "true", "1", "yes", "on", "t" or "y", in any case (also for header and query values). */
export function configTrueValue(v: string | null | undefined): boolean {
  return v !== null && v !== undefined && ['true', '1', 'yes', 'on', 't', 'y'].includes(v.trim().toLowerCase());
}
