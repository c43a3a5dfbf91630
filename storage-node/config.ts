import { clusterSpec, type ConfigOf, type ConfigSpec } from '../common/config.js';

/** Every storage-node option and its default. `swiftlet sample-config storage-node` prints them. */
export const storageNodeSpec = {
  ...clusterSpec,
  bind_ip: { type: 'string', default: '0.0.0.0', doc: 'Address the storage node listens on.' },
  bind_port: { type: 'number', default: 6200, min: 0, doc: 'Port for the object, container and account APIs (0 = any free port; logged).' },
  devices: { type: 'string', default: '/srv/node', doc: 'Folder holding one folder per device (disk); a device missing here answers 507.' },
  fsync: { type: 'boolean', default: true, doc: 'fsync files and directories before acknowledging writes. Never turn off in production.' },
  container_update_timeout_ms: { type: 'number', default: 1000, min: 1, doc: 'How long an object write waits for its container update before saving it for the updater.' },
  client_timeout_ms: { type: 'number', default: 60_000, min: 1, doc: 'How long a sender may go quiet in the middle of a body (408).' },
  node_timeout_ms: { type: 'number', default: 10_000, min: 1, doc: 'Timeout for requests this node makes to other nodes.' },
  conn_timeout_ms: { type: 'number', default: 500, min: 1, doc: 'Connect timeout for requests to other nodes.' },
} as const satisfies ConfigSpec;

export type StorageNodeConfig = ConfigOf<typeof storageNodeSpec>;
