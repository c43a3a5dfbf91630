import type { Logger } from '../common/log.js';
import type { ContainerInfo } from './info-cache.js';
import { parsePolicyIndex, POLICY_DEFAULT_HEADER, POLICY_INDEX_HEADER, type StoragePolicies } from '../common/storage-policy.js';

/**
 * Storage policy names at the edge (Swift's proxy container controller): a client names a
 * policy with X-Storage-Policy on container PUT, the storage nodes only know its index, and a
 * container's HEAD/GET reports the name back.
 */

/**
 * The backend headers for a container PUT (Swift's _convert_policy_to_index): the index of the
 * policy the client named, and always the default for a new container that names none. An
 * unknown or deprecated name is refused with Swift's 400.
 */
export function containerPutPolicyHeaders(
  policies: StoragePolicies,
  clientHeaders: Record<string, string>,
): { headers: Record<string, string> } | { status: 400; body: string; contentType?: string } {
  const headers: Record<string, string> = { [POLICY_DEFAULT_HEADER]: String(policies.default.index) };
  const name = clientHeaders['x-storage-policy'];
  if (!name) return { headers };
  const policy = policies.byName(name);
  if (!policy) return { status: 400, body: `Invalid X-Storage-Policy '${name}'`, contentType: 'text/plain' };
  if (policy.deprecated) return { status: 400, body: `Storage Policy '${policy.name}' is deprecated` };
  headers[POLICY_INDEX_HEADER] = String(policy.index);
  return { headers };
}

/**
 * X-Storage-Policy for a container's successful HEAD/GET, from its node's
 * X-Backend-Storage-Policy-Index (Swift's convert_policy). An index this proxy does not know is
 * logged and left out.
 */
export function policyNameHeader(policies: StoragePolicies, status: number, backendHeaders: Record<string, string>, log: Pick<Logger, 'error'>): Record<string, string> {
  const raw = backendHeaders[POLICY_INDEX_HEADER];
  if (raw === undefined || status < 200 || status >= 300) return {};
  const index = parsePolicyIndex(raw);
  const policy = index === undefined ? undefined : policies.byIndex(index);
  if (!policy) {
    log.error({ index: raw }, 'container has a storage policy index this proxy does not know (is storage_policies the same everywhere?)');
    return {};
  }
  return { 'X-Storage-Policy': policy.name };
}

/**
 * The policy whose ring holds a container's objects (Swift: the container info's
 * storage_policy picks the object ring). A container that does not exist reads as policy 0, as
 * in Swift (its objects answer 404 there). When no container replica could answer, only a
 * single-policy cluster can still tell (503 otherwise, rather than a false 404 from the wrong
 * ring); an index the proxy does not know is 503 too.
 */
export function objectPolicy(policies: StoragePolicies, info: ContainerInfo, log: Pick<Logger, 'error'>): { index: number } | { status: 503 } {
  if (info.status >= 200 && info.status < 300) {
    if (policies.byIndex(info.storagePolicy)) return { index: info.storagePolicy };
    log.error({ index: info.storagePolicy }, 'container has a storage policy index this proxy does not know (is storage_policies the same everywhere?)');
    return { status: 503 };
  }
  if (info.status < 500 || policies.size === 1) return { index: 0 };
  return { status: 503 };
}
