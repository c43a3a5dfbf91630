import type { ProxyContext } from '../context.js';
import { respond, type Middleware, type Pipeline, type ProxyRequest, type ProxyResponse } from '../pipeline.js';
import { parseDomains, s3Address, v2ResourcePath } from '../s3/addressing.js';
import { dispatch } from '../s3/dispatch.js';
import { errorXml, isS3Error, S3Error } from '../s3/errors.js';
import { bodyTermsV2, checkRequestTimeV2, isSigV2, parseSigV2, verifySigV2 } from '../s3/sigv2.js';
import { checkRequestTime, isSigV4, parseSigV4, verifySigV4, type SigV4Request } from '../s3/sigv4.js';
import type { SwiftCall } from '../s3/swift-call.js';
import { lookupCredential } from '../s3/credentials.js';
import { s3KeysOf } from './s3-keys.js';
import { swiftPath } from './subrequest.js';

/**
 * The S3 API on the proxy's port (Swift's s3api): a request that carries an S3 signature is
 * checked here against the user's secret, then translated into Swift sub-requests that run
 * through the rest of the pipeline as that user (so quotas, versioning, large objects and ACLs
 * apply as to any Swift request), and Swift's answers come back as S3's XML. A request without an
 * S3 signature goes on as Swift. Path-style addressing (/<bucket>/<key>), and virtual-hosted style
 * (Host <bucket>.<s3_domain>) when s3_domain is set (s3/addressing.ts).
 */
export function s3api(ctx: ProxyContext): Middleware {
  const region = ctx.config.s3_region;
  ctx.capabilities.register('s3api', { max_bucket_listing: 1000, s3_acl: false, allow_multipart_uploads: true, dns_compliant_bucket_names: true });
  const keys = s3KeysOf(ctx);
  const domains = parseDomains(ctx.config.s3_domain);
  /** SigV4 (header or presigned): the signature, the key that made it (aws-chunked bodies are checked with it), the credential. */
  const checkV4 = async (pipeline: Pipeline, signed: SigV4Request, req: ProxyRequest) => {
    const sig = parseSigV4(signed);
    checkRequestTime(sig, ctx.clock());
    const cred = await lookupCredential(keys.credentials(pipeline, req), sig.accessKeyId);
    return { sig, verified: verifySigV4(sig, signed, cred.secret, region), cred };
  };
  /** SigV2 (header or query, s3/sigv2.ts): its resource is /<bucket>/<path> in either addressing style. */
  const checkV2 = async (pipeline: Pipeline, signed: SigV4Request, req: ProxyRequest) => {
    const p = parseSigV2(signed);
    checkRequestTimeV2(p, signed, ctx.clock());
    const cred = await lookupCredential(keys.credentials(pipeline, req), p.accessKeyId);
    verifySigV2(p, signed, cred.secret, v2ResourcePath(req.path, req.headers['host'], domains));
    return { ...bodyTermsV2(p, signed), cred };
  };
  return (next, pipeline) => async (req) => {
    // Every Swift request passes here: only one that could carry an S3 signature is looked at closer.
    const auth = req.headers['authorization'];
    const rawQuery = req.rawQuery ?? '';
    if (auth === undefined ? !rawQuery.includes('X-Amz-Algorithm') && !rawQuery.includes('AWSAccessKeyId') : !auth.startsWith('AWS')) return next(req);
    const signed: SigV4Request = { method: req.method, rawPath: req.path, rawQuery: req.rawQuery ?? req.query.toString(), headers: Object.entries(req.headers) };
    const v2 = isSigV2(signed);
    if (!v2 && !isSigV4(signed)) return next(req);
    const { bucket, key, resource } = s3Address(req.path, req.headers['host'], domains);
    try {
      const { sig, verified, cred } = v2 ? await checkV2(pipeline, signed, req) : await checkV4(pipeline, signed, req);
      req.identity = cred.identity;
      const account = cred.identity.account;
      const swift: SwiftCall = (method, target, init = {}) =>
        pipeline.subrequest(
          req,
          { method, path: swiftPath(account, target.container, target.object), ...(init.query ? { query: init.query } : {}), ...(init.headers ? { headers: init.headers } : {}), ...(init.body ? { body: init.body } : {}) },
          { source: 'S3' },
        );
      const res = await dispatch(
        { method: req.method, ...(bucket !== undefined ? { bucket } : {}), ...(key !== undefined ? { key } : {}), query: req.query, headers: req.headers, body: req.body, sig, verified, owner: { id: cred.identity.user, displayName: cred.identity.user }, region, requestId: req.transId },
        swift,
      );
      return withRequestId(res, req);
    } catch (e) {
      if (!isS3Error(e)) throw e;
      if (!req.body.readableEnded) req.body.resume();
      return errorResponse(e, req, resource);
    }
  };
}

function withRequestId(res: ProxyResponse, req: ProxyRequest): ProxyResponse {
  res.headers['x-amz-request-id'] = req.transId;
  res.headers['x-amz-id-2'] = req.transId;
  return res;
}

function errorResponse(e: S3Error, req: ProxyRequest, resource: string): ProxyResponse {
  const headers = { 'Content-Type': 'application/xml', 'x-amz-request-id': req.transId, 'x-amz-id-2': req.transId };
  // a HEAD's answer has no body: the status says it all (as S3 does)
  return req.method === 'HEAD' ? respond(e.status, headers) : respond(e.status, headers, errorXml(e, resource, req.transId));
}
