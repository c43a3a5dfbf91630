import { LIMITS } from './constraints.js';
import type { ProxyConfig } from './config.js';
import type { StoragePolicies } from '../common/storage-policy.js';

/** GET /info: the capabilities Swift clients read (swift capabilities, swiftclient upload limits). */
export function swiftInfo(cfg: ProxyConfig, policies: StoragePolicies): Record<string, unknown> {
  return {
    swift: {
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
      strict_cors_mode: true,
      allow_account_management: cfg.allow_account_management,
      account_autocreate: cfg.account_autocreate,
      policies: policies.info(),
    },
    tempauth: { account_acls: false },
  };
}
