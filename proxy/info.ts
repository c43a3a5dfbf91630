import { LIMITS } from './constraints.js';
import type { ProxyConfig } from './config.js';
import type { StoragePolicies } from '../common/storage-policy.js';

/**
 * What GET /info advertises, assembled from what each part of the pipeline registers (Swift's
 * register_swift_info): the proxy core registers "swift" (its limits), each middleware its own
 * section with its limits (tempauth: "tempauth"; later slo, tempurl...).
 */
export class InfoRegistry {
  private readonly sections = new Map<string, Record<string, unknown>>();

  /** Adds `info` to section `name`, merged into what it already holds. */
  register(name: string, info: Record<string, unknown>): void {
    this.sections.set(name, { ...(this.sections.get(name) ?? {}), ...info });
  }

  /** The /info document: "swift" first (what clients read first), then the sections in registration order. */
  document(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    const core = this.sections.get('swift');
    if (core) out['swift'] = core;
    for (const [name, info] of this.sections) if (name !== 'swift') out[name] = info;
    return out;
  }
}

/** The proxy core's section: the capabilities Swift clients read (swift capabilities, swiftclient upload limits). */
export function registerCoreInfo(registry: InfoRegistry, cfg: ProxyConfig, policies: StoragePolicies): void {
  registry.register('swift', {
    version: '2.30.0-swiftlet',
    max_file_size: cfg.max_file_size,
    max_meta_name_length: LIMITS.maxMetaNameLength,
    max_meta_value_length: LIMITS.maxMetaValueLength,
    max_meta_count: LIMITS.maxMetaCount,
    max_meta_overall_size: LIMITS.maxMetaOverallSize,
    max_header_size: LIMITS.maxHeaderSize,
    max_object_name_length: LIMITS.maxObjectNameLength,
    container_listing_limit: LIMITS.containerListingLimit,
    account_listing_limit: LIMITS.accountListingLimit,
    max_account_name_length: LIMITS.maxAccountNameLength,
    max_container_name_length: LIMITS.maxContainerNameLength,
    extra_header_count: 0,
    valid_api_versions: ['v1', 'v1.0'],
    strict_cors_mode: cfg.strict_cors_mode,
    allow_account_management: cfg.allow_account_management,
    account_autocreate: cfg.account_autocreate,
    policies: policies.info(),
  });
}
