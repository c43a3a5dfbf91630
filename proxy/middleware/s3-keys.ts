import type { Identity } from '../auth.js';
import type { ProxyContext } from '../context.js';
import { respond, type Middleware, type Pipeline, type ProxyRequest, type ProxyResponse } from '../pipeline.js';
import { credentialChain, tempauthCredentials, type S3Credential, type S3CredentialSource } from '../s3/credentials.js';
import { KeyCache } from '../s3/key-cache.js';
import { createKey, getKey, KEYS_ACCOUNT, KeyStoreError, listKeys, revokeKey, sealKeyFrom, type KeysCall, type StoredKey } from '../s3/key-store.js';
import { swiftPath } from './subrequest.js';

/**
 * Stored S3 key pairs on the proxy: the credential lookup the s3api stage calls (tempauth users,
 * then the keys stored in the cluster, cached for `s3_key_cache_s`), and the management endpoint
 * `swiftlet s3 keys` talks to:
 *
 *   POST   /s3-keys?user=<user>   a new key pair for the user: 201, JSON with the secret (shown once)
 *   GET    /s3-keys[?user=<user>] the user's keys (a reseller admin without ?user: everyone's), no secrets
 *   DELETE /s3-keys/<key id>      revoke: 204
 *
 * Authenticated as any Swift request (X-Auth-Token, tempauth or keystone). Who may: a reseller
 * admin for any user, an account's admin for the users of its account, a user for itself. With
 * keystone a key is made for the token's own user and project, and keeps that identity (roles
 * included) until it is revoked.
 */
export const S3_KEYS_PATH = '/s3-keys';

export class S3Keys {
  private readonly cache: KeyCache<StoredKey>;
  private readonly sealKey: Buffer;
  private readonly tempauth: S3CredentialSource | undefined;

  constructor(private readonly ctx: ProxyContext) {
    this.cache = new KeyCache<StoredKey>(ctx.config.s3_key_cache_s * 1000, ctx.clock);
    this.sealKey = sealKeyFrom(ctx.config);
    this.tempauth = ctx.keystone ? undefined : tempauthCredentials(ctx.auth);
  }

  /** System sub-requests into the hidden account, on behalf of `req`. */
  call(pipeline: Pipeline, req: ProxyRequest): KeysCall {
    return (method, container, object, init = {}) =>
      pipeline.subrequest(
        req,
        { method, path: swiftPath(KEYS_ACCOUNT, container, object), ...(init.query ? { query: init.query } : {}), ...(init.headers ? { headers: init.headers } : {}), ...(init.body ? { body: init.body } : {}) },
        { source: 'S3K', as: 'system' },
      );
  }

  /** The credential source the S3 stage uses for one request (stored keys are read through it). */
  credentials(pipeline: Pipeline, req: ProxyRequest): S3CredentialSource {
    const stored: S3CredentialSource = {
      lookup: async (id) => {
        const key = await this.cache.get(id, () => getKey(this.call(pipeline, req), this.sealKey, id));
        const identity = key && this.identityOf(key);
        return key && identity ? ({ secret: key.secret, identity } satisfies S3Credential) : undefined;
      },
    };
    return credentialChain({ ...(this.tempauth ? { tempauth: this.tempauth } : {}), stored });
  }

  /** Whose identity a stored key's requests run as: tempauth's user as configured now, or the keystone identity it was made with. */
  private identityOf(key: StoredKey): Identity | undefined {
    if (key.auth === 'keystone') return this.ctx.keystone ? key.identity : undefined;
    return this.ctx.keystone ? undefined : this.ctx.auth.s3Credential(key.user)?.identity;
  }

  /** The management endpoint. */
  async manage(pipeline: Pipeline, req: ProxyRequest): Promise<ProxyResponse> {
    req.body.resume();
    const caller = req.identity;
    if (!caller) return json(401, { error: 'authentication required (X-Auth-Token)' });
    const call = this.call(pipeline, req);
    const id = req.path.slice(S3_KEYS_PATH.length + 1);
    const user = req.query.get('user') ?? undefined;
    try {
      if (req.path === S3_KEYS_PATH && req.method === 'POST') {
        const owner = this.ownerFor(caller, user ?? caller.user);
        if ('status' in owner) return json(owner.status, { error: owner.error });
        const key = await createKey(call, this.sealKey, owner, this.ctx.clock());
        this.cache.forget(key.accessKeyId);
        return json(201, { access_key_id: key.accessKeyId, secret_access_key: key.secret, user: key.user, account: key.account, created: key.created });
      }
      if (req.path === S3_KEYS_PATH && (req.method === 'GET' || req.method === 'HEAD')) {
        if (user === undefined && caller.resellerAdmin) return json(200, await listKeys(call));
        const owner = this.ownerFor(caller, user ?? caller.user);
        if ('status' in owner) return json(owner.status, { error: owner.error });
        return json(200, await listKeys(call, owner.user));
      }
      if (id !== '' && !id.includes('/') && req.path.startsWith(`${S3_KEYS_PATH}/`) && req.method === 'DELETE') {
        const key = await getKey(call, this.sealKey, id);
        if (!key || !mayManage(caller, key.user, key.account)) return json(404, { error: `no key ${id} you may revoke` });
        await revokeKey(call, key);
        this.cache.forget(id);
        return json(204);
      }
      return json(405, { error: 'POST /s3-keys?user=U, GET /s3-keys[?user=U], DELETE /s3-keys/<id>' });
    } catch (e) {
      if (e instanceof KeyStoreError) {
        req.log.error({ err: e.message }, 'S3 key store unavailable');
        return json(503, { error: e.message });
      }
      throw e;
    }
  }

  /** Whom a key of `user` belongs to, if the caller may manage that user's keys. */
  private ownerFor(caller: Identity, user: string): { user: string; account: string; auth: 'tempauth' | 'keystone'; identity?: Identity } | { status: number; error: string } {
    if (this.ctx.keystone) {
      if (user !== caller.user) return { status: 403, error: 'with auth: keystone, a key is made for the token’s own user and project only' };
      if (caller.account === '') return { status: 403, error: 'the token is not scoped to a project: it owns no account' };
      return { user, account: caller.account, auth: 'keystone', identity: caller };
    }
    const cred = this.ctx.auth.s3Credential(user);
    if (!cred) return { status: 404, error: `no tempauth user ${user}` };
    if (!mayManage(caller, user, cred.identity.account)) return { status: 403, error: `you may not manage the keys of ${user}` };
    return { user, account: cred.identity.account, auth: 'tempauth' };
  }
}

/** A reseller admin for anyone, an account's admin for its users, a user for itself. */
function mayManage(caller: Identity, user: string, account: string): boolean {
  return caller.resellerAdmin || caller.user === user || (caller.admin && caller.account === account);
}

function json(status: number, body?: unknown): ProxyResponse {
  return body === undefined ? respond(status) : respond(status, { 'Content-Type': 'application/json; charset=utf-8' }, `${JSON.stringify(body)}\n`);
}

const perProxy = new WeakMap<ProxyContext, S3Keys>();

/** The proxy's one S3Keys (its cache is shared by the s3api and s3_keys stages). */
export function s3KeysOf(ctx: ProxyContext): S3Keys {
  let k = perProxy.get(ctx);
  if (!k) {
    k = new S3Keys(ctx);
    perProxy.set(ctx, k);
  }
  return k;
}

/** The stage: answers /s3-keys, after auth (it needs the caller's identity). */
export function s3KeysStage(ctx: ProxyContext): Middleware {
  const keys = s3KeysOf(ctx);
  return (next, pipeline) => async (req) => {
    if (req.path !== S3_KEYS_PATH && !req.path.startsWith(`${S3_KEYS_PATH}/`)) return next(req);
    return keys.manage(pipeline, req);
  };
}
