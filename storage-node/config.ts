import { clusterSpec, type ConfigOf, type ConfigSpec } from '../common/config.js';

/** Every storage-node option and its default. `swiftlet sample-config storage-node` prints them. */
export const storageNodeSpec = {
  ...clusterSpec,
  bind_ip: { type: 'string', default: '', doc: 'Address the storage node (and its daemons) listen on and know it by. Empty: the address the rings list this host at (its devices at this port), so the backend API is not offered on every interface; 0.0.0.0 listens everywhere.' },
  bind_port: { type: 'number', default: 6200, min: 0, doc: 'Port for the object, container and account APIs (0 = any free port; logged).' },
  ring_ip: { type: 'string', default: '', doc: 'The address the rings list this node at, when it differs from bind_ip (NAT, a port forward). Empty: bind_ip.' },
  ring_port: { type: 'number', default: 0, min: 0, doc: 'The port the rings list this node at, when it differs from bind_port. 0: bind_port.' },
  devices: { type: 'string', default: '/srv/node', doc: 'Folder holding one folder per device (disk); a device missing here answers 507.' },
  fsync: { type: 'boolean', default: true, doc: 'fsync files and directories before acknowledging writes. Never turn off in production.' },
  direct_io_above_bytes: { type: 'number', default: 4_194_304, min: 0, doc: 'Object bodies larger than this are written and read with O_DIRECT, past the page cache (like Swift dropping the cache behind objects above keep_cache_size); smaller ones stay cached. 0: never.' },
  container_update_timeout_ms: { type: 'number', default: 1000, min: 1, doc: 'How long an object write waits for its container update before saving it for the updater.' },
  client_timeout_ms: { type: 'number', default: 60_000, min: 1, doc: 'How long a sender may go quiet in the middle of a body (408).' },
  node_timeout_ms: { type: 'number', default: 10_000, min: 1, doc: 'Timeout for requests this node makes to other nodes.' },
  conn_timeout_ms: { type: 'number', default: 500, min: 1, doc: 'Connect timeout for requests to other nodes.' },
  // Background daemons (replicator/): they read this same file.
  replicator_interval_s: { type: 'number', default: 30, min: 0, doc: 'Seconds between object/db replication passes.' },
  replicator_concurrency: { type: 'number', default: 4, min: 1, doc: 'Partitions replicated at once per node.' },
  replicator_objects_per_s: { type: 'number', default: 0, min: 0, doc: 'Replication push rate limit in objects/s (0 = unlimited).' },
  replicator_bytes_per_s: { type: 'number', default: 0, min: 0, doc: 'Replication push rate limit in bytes/s (0 = unlimited).' },
  reclaim_age_s: { type: 'number', default: 604_800, min: 0, doc: 'Tombstones and deleted rows older than this are removed (default 7 days).' },
  tmp_reclaim_age_s: {
    type: 'number',
    default: 3600,
    min: 0,
    doc: "Files in a device's tmp/ untouched this long are removed (the node sweeps at start and every half this, at most hourly), unless the node is writing them right now. They are what a write left when its process died; a live write touches its file at least every client_timeout_ms, or is aborted. 0: never.",
  },
  updater_interval_s: { type: 'number', default: 30, min: 0, doc: 'Seconds between updater passes (async pendings, account updates).' },
  auditor_interval_s: { type: 'number', default: 1800, min: 0, doc: 'Seconds between auditor passes.' },
  auditor_bytes_per_s: { type: 'number', default: 10_485_760, min: 0, doc: 'Auditor read rate limit in bytes/s (0 = unlimited).' },
  auditor_files_per_s: { type: 'number', default: 20, min: 0, doc: "Auditor rate limit in objects (hash directories) audited per second (0 = unlimited; Swift's files_per_second)." },
  expirer_interval_s: { type: 'number', default: 60, min: 0, doc: 'Seconds between expirer passes.' },
  expirer_takeover_s: {
    type: 'number',
    default: 0,
    min: 0,
    doc: "A queue entry is expired by one primary of its queue container (chosen by its name); the others take it over once it is overdue by this many seconds, so a node down at the due time delays its entries by about this much. 0: 2 x expirer_interval_s.",
  },
  reaper_interval_s: { type: 'number', default: 3600, min: 0, doc: "Seconds between account reaper passes (Swift's interval)." },
  delay_reaping_s: {
    type: 'number',
    default: 0,
    min: 0,
    doc: "A deleted account's containers and objects are removed this many seconds after its DELETE (Swift's delay_reaping), leaving time to undo a mistaken delete from the account databases.",
  },
  reaper_concurrency: { type: 'number', default: 8, min: 1, doc: "Object DELETEs the reaper has in flight at once (Swift's concurrency, 25)." },
} as const satisfies ConfigSpec;

export type StorageNodeConfig = ConfigOf<typeof storageNodeSpec>;
