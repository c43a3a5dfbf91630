import type { ProxyContext } from '../context.js';
import type { Stage } from '../pipeline.js';
import { bulk } from './bulk/index.js';
import { copy } from './copy.js';
import { domainRemap } from './domain-remap.js';
import { cors } from './cors/index.js';
import { dlo } from './large-object/dlo.js';
import { slo } from './large-object/slo.js';
import { formpost } from './formpost/index.js';
import { gatekeeper } from './gatekeeper.js';
import { healthcheck } from './healthcheck.js';
import { info } from './info.js';
import { accountQuotas, containerQuotas } from './quotas/index.js';
import { router } from './router.js';
import { s3api } from './s3api.js';
import { s3KeysStage } from './s3-keys.js';
import { staticweb } from './staticweb/index.js';
import { symlink } from './symlink/index.js';
import { objectVersioning } from './versioning/index.js';
import { ratelimit } from './ratelimit.js';
import { versionedWrites } from './versioning/legacy.js';
import { authtoken, KeystoneAuthHook, keystoneauth } from './keystone.js';
import { tempauth } from './tempauth.js';
import { tempurl } from './tempurl/index.js';

/**
 * THE order of the proxy's pipeline, the one place it is written (docs/ARCHITECTURE.md "The
 * proxy pipeline" gives the reasons). A request goes down the list and the controllers
 * (controllers/index.ts) end it; the response comes back up. Swift's order
 * (proxy/server.py required_filters and the sample pipeline) for what exists so far:
 *
 *   gatekeeper → healthcheck → info → ratelimit → domain_remap → tempurl → formpost → tempauth →
 *   s3api → s3_keys → bulk →
 *   router* → cors → staticweb → copy → container_quotas → account_quotas → slo → dlo →
 *   versioning → versioned_writes → symlink → controllers
 *
 * (* sub-requests enter here: after auth, with the original request's identity and authorize hook
 * or as the system.) Bulk is just before auth in Swift, whose sub-requests pass auth again; ours
 * enter after it, so bulk follows tempauth and its sub-requests carry the request's identity.
 * s3api follows tempauth (Swift: before it, because tempauth checks the S3 signature there): here
 * the S3 layer checks signatures itself with the credentials tempauth offers, and its Swift
 * sub-requests enter after auth as the signing user.
 * With `auth: keystone`, tempauth's place holds Swift's two stages instead: authtoken (validates
 * the tokens with Keystone) then keystoneauth (the authorize hook).
 */
export function proxyStages(ctx: ProxyContext): Stage[] {
  return [
    { name: 'gatekeeper', middleware: gatekeeper() },
    { name: 'healthcheck', middleware: healthcheck() },
    { name: 'info', middleware: info(ctx.capabilities) },
    { name: 'ratelimit', middleware: ratelimit(ctx) },
    { name: 'domain_remap', middleware: domainRemap(ctx.config, ctx.capabilities) },
    { name: 'tempurl', middleware: tempurl(ctx) },
    { name: 'formpost', middleware: formpost(ctx) },
    ...authStages(ctx),
    { name: 's3api', middleware: s3api(ctx) },
    { name: 's3_keys', middleware: s3KeysStage(ctx) },
    { name: 'bulk', middleware: bulk(ctx) },
    { name: 'router', middleware: router(ctx.config), subrequestEntry: true },
    { name: 'cors', middleware: cors(ctx) },
    { name: 'staticweb', middleware: staticweb(ctx) },
    { name: 'copy', middleware: copy(ctx) },
    { name: 'container_quotas', middleware: containerQuotas(ctx) },
    { name: 'account_quotas', middleware: accountQuotas(ctx) },
    { name: 'slo', middleware: slo(ctx) },
    { name: 'dlo', middleware: dlo(ctx) },
    { name: 'versioning', middleware: objectVersioning(ctx) },
    { name: 'versioned_writes', middleware: versionedWrites(ctx) },
    { name: 'symlink', middleware: symlink(ctx) },
  ];
}

/** The auth stages: tempauth, or authtoken + keystoneauth as in Swift's Keystone pipeline. */
function authStages(ctx: ProxyContext): Stage[] {
  if (!ctx.keystone) return [{ name: 'tempauth', middleware: tempauth(ctx) }];
  const hook = new KeystoneAuthHook(ctx, ctx.keystone);
  return [
    { name: 'authtoken', middleware: authtoken(ctx, hook) },
    { name: 'keystoneauth', middleware: keystoneauth(ctx, hook) },
  ];
}
