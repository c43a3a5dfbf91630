import { clusterSpec, type ConfigOf, type ConfigSpec } from '../common/config.js';

/** Every proxy option and its default. `swiftlet sample-config proxy` prints them. */
export const proxySpec = {
  ...clusterSpec,
  bind_ip: { type: 'string', default: '0.0.0.0', doc: 'Address the proxy listens on.' },
  bind_port: { type: 'number', default: 8080, min: 0, doc: 'Port the proxy listens on (0 = any free port; the chosen port is logged).' },
  node_timeout_ms: { type: 'number', default: 10_000, min: 1, doc: 'How long a storage node may take to answer, or go quiet in a body.' },
  conn_timeout_ms: { type: 'number', default: 500, min: 1, doc: 'How long connecting to a storage node may take before the next node is tried.' },
  post_quorum_timeout_ms: {
    type: 'number',
    default: 500,
    min: 0,
    doc: 'Once a quorum of replicas agreed on an account, container or object write (POST, DELETE, PUT of an account or container), how long the others may still take before the client is answered (Swift: post_quorum_timeout). Their requests carry on; only the answer stops waiting.',
  },
  client_timeout_ms: { type: 'number', default: 60_000, min: 1, doc: 'How long a client may go quiet while sending a body before the request fails with 408.' },
  error_suppression_limit: { type: 'number', default: 10, min: 1, doc: 'Errors from one node within error_suppression_interval_s after which it is skipped.' },
  error_suppression_interval_s: { type: 'number', default: 60, min: 1, doc: 'How long an error-limited node is skipped.' },
  recheck_container_existence_s: { type: 'number', default: 10, min: 0, doc: 'How long container info (existence, ACLs) is cached in the proxy.' },
  recheck_account_existence_s: { type: 'number', default: 10, min: 0, doc: 'How long account existence is cached in the proxy.' },
  account_autocreate: { type: 'boolean', default: true, doc: 'Create an account on its first container PUT, and answer an empty listing for an account not created yet.' },
  allow_account_management: { type: 'boolean', default: false, doc: 'Let reseller admins PUT and DELETE accounts.' },
  reseller_prefix: { type: 'string', default: 'AUTH_', doc: 'Prefix of account names managed by tempauth.' },
  token_life_s: { type: 'number', default: 86_400, min: 1, doc: 'Lifetime of a tempauth token.' },
  auth_secret: { type: 'string', default: '', doc: 'Key that signs tempauth tokens (so every proxy accepts them). Defaults to one derived from the cluster secret.' },
  tempauth_users: {
    type: 'object',
    default: {
      'admin:admin': { key: 'admin', roles: ['.admin', '.reseller_admin'] },
      'test:tester': { key: 'testing', roles: ['.admin'] },
      'test2:tester2': { key: 'testing2', roles: ['.admin'] },
      'test:tester3': { key: 'testing3', roles: [] },
    },
    doc: 'tempauth users: {"account:user": {"key": "...", "roles": [".admin" | ".reseller_admin"], "storage_url"?: "..."}}. A user without .admin can only use containers whose ACLs grant it.',
  },
  symloop_max: { type: 'number', default: 2, min: 1, doc: 'How many symlinks a GET or HEAD follows in a chain before answering 409 (Swift: symloop_max).' },
  allow_versioned_writes: {
    type: 'boolean',
    default: true,
    doc: 'Legacy versioning: containers with X-Versions-Location (stack mode) or X-History-Location (history mode) keep the old versions of their objects (Swift: allow_versioned_writes).',
  },
  allow_object_versioning: {
    type: 'boolean',
    default: true,
    doc: 'Object versioning: a container with X-Versions-Enabled: true keeps every version of its objects in a hidden container (Swift: allow_object_versioning).',
  },
  max_file_size: { type: 'number', default: 5 * 1024 * 1024 * 1024 + 2, min: 1, doc: 'Largest object a single PUT may store (Swift: 5 GiB + 2).' },
  slo_max_manifest_segments: { type: 'number', default: 1000, min: 1, doc: 'Most object-backed segments a static large object manifest may list (Swift slo max_manifest_segments).' },
  slo_max_manifest_size: { type: 'number', default: 8 * 1024 * 1024, min: 1, doc: 'Largest body of a manifest PUT, in bytes (Swift slo max_manifest_size).' },
  slo_yield_frequency_s: { type: 'number', default: 10, min: 1, doc: 'With ?heartbeat=on, how often a manifest PUT sends a space while it checks segments (Swift slo yield_frequency).' },
  lo_max_get_time_s: { type: 'number', default: 86_400, min: 1, doc: 'Longest a GET of a large object (SLO or DLO) may stream before it is cut (Swift max_get_time).' },
  tempurl_methods: { type: 'string[]', default: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'], doc: 'Methods a temporary URL may be signed for (Swift tempurl: methods).' },
  tempurl_allowed_digests: { type: 'string[]', default: ['sha1', 'sha256', 'sha512'], doc: 'HMAC digests temporary URLs and form posts may be signed with (Swift: allowed_digests; sha1, sha256, sha512).' },
  tempurl_incoming_remove_headers: { type: 'string[]', default: ['x-timestamp'], doc: 'Request headers a temporary URL request loses (a trailing * matches a prefix).' },
  tempurl_incoming_allow_headers: { type: 'string[]', default: [], doc: 'Exceptions to tempurl_incoming_remove_headers.' },
  tempurl_outgoing_remove_headers: { type: 'string[]', default: ['x-object-meta-*'], doc: 'Response headers a temporary URL answer loses (a trailing * matches a prefix).' },
  tempurl_outgoing_allow_headers: { type: 'string[]', default: ['x-object-meta-public-*'], doc: 'Exceptions to tempurl_outgoing_remove_headers.' },
} as const satisfies ConfigSpec;

export type ProxyConfig = ConfigOf<typeof proxySpec>;
