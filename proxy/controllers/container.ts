import type { BackendPath } from '../../common/backend-path.js';
import { backendPath } from '../../common/backend-path.js';
import { checkContainerName, checkMetadata, LIMITS } from '../constraints.js';
import type { ProxyContext } from '../context.js';
import { makeRequests } from '../fanout.js';
import { rejection, respond, type ProxyResponse } from '../pipeline.js';
import type { SwiftRequest } from '../swift-request.js';
import { cleanAcl } from '../tempauth.js';
import { containerPutPolicyHeaders, policyNameHeader } from '../storage-policy.js';
import { containerUpdateTargets } from '../../ring-builder/update-targets.js';
import { accountExists, answerWrite, baseBackendHeaders, ensureAccount, forwardedMetadata, readListing, relay } from './common.js';

/** Swift's container controller: create/delete with account updates, listings, metadata and ACLs. */
export async function handleContainer(ctx: ProxyContext, sreq: SwiftRequest): Promise<ProxyResponse> {
  const account = sreq.account;
  const container = sreq.container as string;
  const ring = ctx.rings.container();
  const part = ring.partitionFor(account, container);
  const pathFor = (dev: { device: string }): BackendPath => backendPath(dev.device, part, account, container);
  // Swift reads, updates and deletes a container only in an account that exists: else 404.
  if ((sreq.method === 'GET' || sreq.method === 'HEAD' || sreq.method === 'DELETE') && !(await accountExists(ctx, sreq, account))) return respond(404);
  switch (sreq.method) {
    case 'GET':
    case 'HEAD': {
      const read = await readListing(ctx, sreq, ring, part, pathFor, LIMITS.containerListingLimit);
      if ('headers' in read) return read;
      const { response, status } = read;
      if (!response) return respond(status);
      return relay(sreq, response, policyNameHeader(ctx.policies, response.status, response.headers, sreq.log));
    }
    case 'PUT':
    case 'POST': {
      if (sreq.method === 'PUT') {
        const badName = checkContainerName(container);
        if (badName) return rejection(badName);
      }
      const bad = checkMetadata(sreq.headers, 'container');
      if (bad) return rejection(bad);
      // Swift's clean_acls: stored cleaned (".ref:*.example.com" → ".r:.example.com"), or 400.
      for (const h of ['x-container-read', 'x-container-write']) {
        const v = sreq.headers[h];
        if (v === undefined) continue;
        const cleaned = cleanAcl(h, v);
        if ('error' in cleaned) return respond(400, {}, cleaned.error);
        sreq.headers[h] = cleaned.value;
      }
      // A container is given its storage policy when created (POST cannot change it: Swift ignores X-Storage-Policy there).
      let policyHeaders: Record<string, string> = {};
      if (sreq.method === 'PUT') {
        const policy = containerPutPolicyHeaders(ctx.policies, sreq.headers);
        if ('status' in policy) return respond(policy.status, policy.contentType ? { 'Content-Type': policy.contentType } : {}, policy.body);
        policyHeaders = policy.headers;
        const accountStatus = await ensureAccount(ctx, sreq, account);
        if (accountStatus >= 300) return respond(accountStatus);
      } else if (!(await accountExists(ctx, sreq, account))) return respond(404);
      const accountTargets = containerUpdateTargets(ctx.rings, account);
      const result = await makeRequests(
        ctx,
        ring,
        part,
        sreq.method,
        pathFor,
        { ...baseBackendHeaders(sreq, sreq.stamp()), ...forwardedMetadata(sreq.headers, 'container'), ...policyHeaders },
        // A POST too: it moves the container's put timestamp, which the account lists.
        accountTargets,
      );
      ctx.info.invalidateContainer(account, container);
      return answerWrite(sreq, result);
    }
    case 'DELETE': {
      const result = await makeRequests(ctx, ring, part, 'DELETE', pathFor, baseBackendHeaders(sreq, sreq.stamp()), containerUpdateTargets(ctx.rings, account));
      ctx.info.invalidateContainer(account, container);
      // Swift: 202 from the nodes means none of them had the container.
      if (result.status === 202) return respond(404);
      return answerWrite(sreq, result);
    }
    default:
      return respond(405, { Allow: 'GET, HEAD, POST, PUT, DELETE' });
  }
}
