import { createCipheriv, createDecipheriv, createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import type { Identity } from '../auth.js';
import { discard, readAll } from '../middleware/subrequest.js';
import type { ProxyResponse } from '../pipeline.js';

/**
 * S3 key pairs kept in the cluster itself (`swiftlet s3 keys`): objects of the hidden account
 * `.s3_access_keys`, written and read by the proxies with system sub-requests, so they are
 * replicated like any data and every proxy sees them. No tenant can reach that account (an
 * account starting with "." is nobody's: tempauth and keystoneauth deny it to every user, the
 * reseller admin too).
 *
 *   keys/<access key id>          the key's record (JSON): user, account, the sealed secret
 *   users/<user>/<access key id>  an empty marker, so a user's keys list by prefix
 *
 * The secret is sealed (AES-256-GCM, the access key id as associated data) with a key derived from
 * the cluster secret, so the replicas on disk do not hold it in the clear; the proxies need it in
 * the clear to check signatures (HMAC), as AWS does.
 */
export const KEYS_ACCOUNT = '.s3_access_keys';
const KEYS = 'keys';
const USERS = 'users';

/** An access key id: "AKSW" and 16 characters of base32 (A-Z, 2-7): 20, as AWS's "AKIA…" ids. */
export const ACCESS_KEY_ID = /^AKSW[A-Z2-7]{16}$/;
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** A new key pair: the id (20 characters) and the secret (40 characters of base64, as AWS's). */
export function generateKeyPair(random: (n: number) => Buffer = randomBytes): { accessKeyId: string; secret: string } {
  const id = [...random(16)].map((b) => BASE32[b % 32]).join('');
  return { accessKeyId: `AKSW${id}`, secret: random(30).toString('base64') };
}

export interface StoredKey {
  accessKeyId: string;
  secret: string;
  /** Whose key: "account:user" (tempauth) or "<project id>:<user id>" (keystone). */
  user: string;
  /** The Swift account its buckets are containers of. */
  account: string;
  /** Which auth made it: a tempauth key takes the user's identity from tempauth when used; a keystone key the identity it was made with. */
  auth: 'tempauth' | 'keystone';
  /** ISO 8601. */
  created: string;
  /** keystone: the identity (user, project, roles) of the token that made it. */
  identity?: Identity;
}

export interface KeySummary {
  accessKeyId: string;
  user: string;
  created: string;
}

/** The key that seals secrets at rest: derived from the cluster secret, which every proxy has. */
export function sealKeyFrom(config: { swift_hash_path_prefix: string; swift_hash_path_suffix: string }): Buffer {
  return createHash('sha256').update(`s3-access-keys|${config.swift_hash_path_prefix}|${config.swift_hash_path_suffix}`).digest();
}

export function sealSecret(sealKey: Buffer, accessKeyId: string, secret: string, random: (n: number) => Buffer = randomBytes): string {
  const iv = random(12);
  const c = createCipheriv('aes-256-gcm', sealKey, iv);
  c.setAAD(Buffer.from(accessKeyId));
  const data = Buffer.concat([c.update(secret, 'utf8'), c.final()]);
  return Buffer.concat([iv, c.getAuthTag(), data]).toString('base64');
}

/** The secret, or undefined when the sealed value is not one this cluster made for this id. */
export function unsealSecret(sealKey: Buffer, accessKeyId: string, sealed: string): string | undefined {
  try {
    const raw = Buffer.from(sealed, 'base64');
    const d = createDecipheriv('aes-256-gcm', sealKey, raw.subarray(0, 12));
    d.setAAD(Buffer.from(accessKeyId));
    d.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([d.update(raw.subarray(28)), d.final()]).toString('utf8');
  } catch {
    return undefined;
  }
}

/** A system sub-request into the hidden account: container, object (undefined: the container itself). */
export type KeysCall = (method: string, container: string, object: string | undefined, init?: { query?: string; headers?: Record<string, string>; body?: Readable }) => Promise<ProxyResponse>;

/** The key store could not be read or written (the cluster answered this status). */
export class KeyStoreError extends Error {
  constructor(
    readonly status: number,
    what: string,
  ) {
    super(`S3 key store: ${what} answered ${status}`);
    this.name = 'KeyStoreError';
  }
}

function ok(res: ProxyResponse, what: string): void {
  discard(res);
  if (res.status < 200 || res.status > 299) throw new KeyStoreError(res.status, what);
}

function put(call: KeysCall, container: string, object: string, body: string): Promise<ProxyResponse> {
  const buf = Buffer.from(body);
  return call('PUT', container, object, { headers: { 'content-length': String(buf.length), 'content-type': 'application/json' }, body: Readable.from([buf]) });
}

interface Record1 {
  v: 1;
  user: string;
  account: string;
  auth: 'tempauth' | 'keystone';
  created: string;
  sealed: string;
  identity?: Identity;
}

/** Stores a new key pair for `owner` and returns it (the only time its secret leaves the proxy). */
export async function createKey(
  call: KeysCall,
  sealKey: Buffer,
  owner: { user: string; account: string; auth: 'tempauth' | 'keystone'; identity?: Identity },
  nowMs: number,
  random: (n: number) => Buffer = randomBytes,
): Promise<StoredKey> {
  const { accessKeyId, secret } = generateKeyPair(random);
  for (const c of [KEYS, USERS]) ok(await call('PUT', c, undefined, { headers: { 'content-length': '0' } }), `PUT ${c}`);
  const created = new Date(nowMs).toISOString();
  const record: Record1 = { v: 1, user: owner.user, account: owner.account, auth: owner.auth, created, sealed: sealSecret(sealKey, accessKeyId, secret, random), ...(owner.identity ? { identity: owner.identity } : {}) };
  // The marker first: a key is never usable without being listed (a marker without a record is skipped).
  ok(await put(call, USERS, `${owner.user}/${accessKeyId}`, ''), 'PUT marker');
  ok(await put(call, KEYS, accessKeyId, JSON.stringify(record)), 'PUT key');
  return { accessKeyId, secret, user: owner.user, account: owner.account, auth: owner.auth, created, ...(owner.identity ? { identity: owner.identity } : {}) };
}

/** The stored key, or undefined when there is none (or its record is not this cluster's). */
export async function getKey(call: KeysCall, sealKey: Buffer, accessKeyId: string): Promise<StoredKey | undefined> {
  if (!ACCESS_KEY_ID.test(accessKeyId)) return undefined;
  const res = await call('GET', KEYS, accessKeyId);
  if (res.status === 404) {
    discard(res);
    return undefined;
  }
  if (res.status !== 200) {
    discard(res);
    throw new KeyStoreError(res.status, `GET key`);
  }
  let r: Record1;
  try {
    r = JSON.parse((await readAll(res, 64 * 1024)).toString('utf8')) as Record1;
  } catch {
    return undefined;
  }
  const secret = r.v === 1 && typeof r.sealed === 'string' ? unsealSecret(sealKey, accessKeyId, r.sealed) : undefined;
  if (secret === undefined || typeof r.user !== 'string' || typeof r.account !== 'string') return undefined;
  return { accessKeyId, secret, user: r.user, account: r.account, auth: r.auth === 'keystone' ? 'keystone' : 'tempauth', created: r.created, ...(r.identity ? { identity: r.identity } : {}) };
}

/** The keys of a user (or of everyone), without their secrets: from the markers, paged. */
export async function listKeys(call: KeysCall, user?: string): Promise<KeySummary[]> {
  const out: KeySummary[] = [];
  let marker = '';
  for (;;) {
    const q = new URLSearchParams({ format: 'json', limit: '10000', marker });
    if (user !== undefined) q.set('prefix', `${user}/`);
    const res = await call('GET', USERS, undefined, { query: q.toString() });
    if (res.status === 404 || res.status === 204) {
      discard(res);
      return out;
    }
    if (res.status !== 200) {
      discard(res);
      throw new KeyStoreError(res.status, 'list keys');
    }
    const rows = JSON.parse((await readAll(res)).toString('utf8')) as Array<{ name: string; last_modified: string }>;
    for (const row of rows) {
      const slash = row.name.lastIndexOf('/');
      out.push({ accessKeyId: row.name.slice(slash + 1), user: row.name.slice(0, slash), created: `${row.last_modified.slice(0, 19)}Z` });
    }
    if (rows.length < 10000) return out;
    marker = (rows[rows.length - 1] as { name: string }).name;
  }
}

/** Deletes a key: its record first (from then on no proxy that asks finds it), then its marker. */
export async function revokeKey(call: KeysCall, key: Pick<StoredKey, 'accessKeyId' | 'user'>): Promise<void> {
  const res = await call('DELETE', KEYS, key.accessKeyId);
  if (res.status !== 404) ok(res, 'DELETE key');
  else discard(res);
  const m = await call('DELETE', USERS, `${key.user}/${key.accessKeyId}`);
  if (m.status !== 404) ok(m, 'DELETE marker');
  else discard(m);
}
