import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { hashPath } from '../../common/hash-path.js';
import { H } from '../../common/headers.js';
import { parsePolicyIndex, POLICY_INDEX_HEADER, SINGLE_POLICY } from '../../common/storage-policy.js';
import { Timestamp } from '../../common/timestamp.js';
import type { BackendRequest, StorageNodeContext } from '../types.js';
import { objectLocation, type ObjectLocation } from './layout.js';

/** One object request, resolved to its place on the device. */
export interface ObjectRequest {
  ctx: StorageNodeContext;
  r: BackendRequest;
  account: string;
  container: string;
  obj: string;
  /** `/a/c/o`, the `name` stored in metadata. */
  name: string;
  hash: string;
  loc: ObjectLocation;
}

/**
 * The object request's place on the device: the folder of the storage policy it names
 * (X-Backend-Storage-Policy-Index, absent = 0). A policy this node does not have is Swift's 503
 * `No policy with index N` (returned as `{ noPolicy }`): the node's storage_policies lack it.
 */
export function objectRequest(ctx: StorageNodeContext, r: BackendRequest): ObjectRequest | { noPolicy: string } {
  const raw = r.req.headers[POLICY_INDEX_HEADER];
  const policy = requestPolicy(ctx, raw);
  if (policy === undefined) return { noPolicy: String(raw) };
  const account = r.account;
  const container = r.container ?? '';
  const obj = r.object ?? '';
  const hash = hashPath(ctx.secret, account, container, obj);
  return { ctx, r, account, container, obj, name: `/${account}/${container}/${obj}`, hash, loc: objectLocation(r.devicePath, r.partition, hash, policy) };
}

/** The storage policy a backend request names, if this node has it (absent: 0). */
export function requestPolicy(ctx: Pick<StorageNodeContext, 'policies'>, raw: string | string[] | undefined): number | undefined {
  const index = parsePolicyIndex(raw);
  return index !== undefined && (ctx.policies ?? SINGLE_POLICY).byIndex(index) ? index : undefined;
}

/** Names are UTF-8 without NUL (the router already refused bad percent-encoding). */
export function validName(o: ObjectRequest): boolean {
  return !o.account.includes('\0') && !o.container.includes('\0') && !o.obj.includes('\0') && o.container !== '' && o.obj !== '';
}

export function header(h: IncomingHttpHeaders, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

/** The request's X-Timestamp, or undefined when missing or invalid (→ 400). */
export function requestTimestamp(h: IncomingHttpHeaders): Timestamp | undefined {
  return Timestamp.tryParse(header(h, H.timestamp));
}

/** X-Delete-At: absent is fine; present it must be an integer not before the request (Swift's check). */
export function deleteAtError(h: IncomingHttpHeaders, ts: Timestamp): string | undefined {
  const v = header(h, 'x-delete-at');
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v.trim())) return 'Non-integer X-Delete-At';
  if (Number(v) < ts.seconds) return 'X-Delete-At in past';
  return undefined;
}

/** True when the stored metadata says the object has expired (X-Delete-At reached). */
export function isExpired(meta: Record<string, string>, nowMs: number): boolean {
  const v = meta['X-Delete-At'];
  return v !== undefined && /^\d+$/.test(v) && Number(v) * 1000 <= nowMs;
}

export interface RespondOptions {
  /** Close the connection after answering: the request body was not (fully) read. */
  close?: boolean;
}

/** Answers with a small text body. After headers went out, it can only cut the connection. */
export function respond(res: ServerResponse, status: number, headers: Record<string, string> = {}, body = '', opts: RespondOptions = {}): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const buf = Buffer.from(body);
  const h: Record<string, string> = { 'Content-Type': 'text/plain; charset=utf-8', ...headers, 'Content-Length': String(buf.length) };
  if (opts.close) h.Connection = 'close';
  res.writeHead(status, h);
  res.end(buf);
}
