/**
 * Swift's metadata limits (swift/common/constraints.py). The proxy checks each request against
 * all four; the container and account servers check the stored total after merging a request's
 * metadata into it (count and overall size), as Swift's DatabaseBroker.validate_metadata does.
 */
export const META_LIMITS = {
  maxMetaNameLength: 128,
  maxMetaValueLength: 256,
  maxMetaCount: 90,
  maxMetaOverallSize: 4096,
} as const;
