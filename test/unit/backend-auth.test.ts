import { request } from 'undici';
import t from 'tap';
import { BACKEND_SIGNATURE_HEADER, BACKEND_SIGNATURE_MAX_SKEW_S, backendKeyFrom, signBackendRequest, verifyBackendRequest } from '../../common/backend-auth.js';
import { backendPath } from '../../common/backend-path.js';
import { keyForSecret, signingDispatcher } from '../helpers/signing.js';
import { startOneDeviceNode } from '../helpers/one-device-node.js';

t.test('a signature covers the method, the exact path and query, and the time', async (t) => {
  const key = backendKeyFrom({ swift_hash_path_prefix: 'p', swift_hash_path_suffix: 's' });
  const now = 1_800_000_000_000;
  const sig = signBackendRequest(key, 'GET', '/sda/3/AUTH_a/c?format=json', now);
  t.equal(verifyBackendRequest(key, 'GET', '/sda/3/AUTH_a/c?format=json', sig, now), 'ok');
  t.equal(verifyBackendRequest(key, 'get', '/sda/3/AUTH_a/c?format=json', sig, now), 'ok', 'methods compare upper-cased');
  t.equal(verifyBackendRequest(key, 'DELETE', '/sda/3/AUTH_a/c?format=json', sig, now), 'mismatch');
  t.equal(verifyBackendRequest(key, 'GET', '/sda/3/AUTH_b/c?format=json', sig, now), 'mismatch');
  t.equal(verifyBackendRequest(key, 'GET', '/sda/3/AUTH_a/c?format=xml', sig, now), 'mismatch');
  t.equal(verifyBackendRequest(key, 'GET', '/sda/3/AUTH_a/c/../c?format=json', sig, now), 'mismatch');
  t.equal(verifyBackendRequest(key, 'GET', '/sda/3/AUTH_a/c?format=json', sig, now + BACKEND_SIGNATURE_MAX_SKEW_S * 1000 + 1000), 'expired');
  t.equal(verifyBackendRequest(key, 'GET', '/sda/3/AUTH_a/c?format=json', sig, now - BACKEND_SIGNATURE_MAX_SKEW_S * 1000 - 1000), 'expired');
  t.equal(verifyBackendRequest(key, 'GET', '/sda/3/AUTH_a/c?format=json', undefined, now), 'missing');
  t.equal(verifyBackendRequest(key, 'GET', '/sda/3/AUTH_a/c?format=json', [sig, sig], now), 'malformed');
  t.equal(verifyBackendRequest(key, 'GET', '/sda/3/AUTH_a/c?format=json', 'x', now), 'malformed');
  const other = backendKeyFrom({ swift_hash_path_prefix: 'p', swift_hash_path_suffix: 'other' });
  t.equal(verifyBackendRequest(other, 'GET', '/sda/3/AUTH_a/c?format=json', sig, now), 'mismatch', 'another cluster secret, another key');
  t.not(backendKeyFrom({ swift_hash_path_prefix: 'p', swift_hash_path_suffix: 's', backend_key: 'k' }).toString('hex'), key.toString('hex'), 'backend_key wins');
  // A forged time does not help: the time is signed.
  const [secs, mac] = sig.split(':');
  t.equal(verifyBackendRequest(key, 'GET', '/sda/3/AUTH_a/c?format=json', `${Number(secs) + 1}:${mac}`, now), 'mismatch');
});

t.test('a storage node refuses unsigned, badly signed and rewritten requests with 401', async (t) => {
  const node = await startOneDeviceNode(t);
  const base = `http://${node.self}`;
  const path = backendPath('sda', 3, 'AUTH_a');
  const ts = { 'x-timestamp': '1750000000.00000' };
  const plain = await request(`${base}${path}`, { method: 'PUT', headers: ts });
  await plain.body.dump();
  t.equal(plain.statusCode, 401, 'unsigned');
  const wrongKey = signingDispatcher(keyForSecret('p', 'wrong'));
  t.teardown(() => wrongKey.close());
  const wrong = await request(`${base}${path}`, { method: 'PUT', headers: ts, dispatcher: wrongKey });
  await wrong.body.dump();
  t.equal(wrong.statusCode, 401, 'signed with another key');
  const key = keyForSecret('p', 's');
  const forOther = await request(`${base}${path}`, {
    method: 'PUT',
    headers: { ...ts, [BACKEND_SIGNATURE_HEADER]: signBackendRequest(key, 'PUT', backendPath('sda', 3, 'AUTH_b'), Date.now()) },
  });
  await forOther.body.dump();
  t.equal(forOther.statusCode, 401, "another path's signature");
  t.equal((await node.call('PUT', path, ts)).status, 201, 'signed: created');
  t.equal((await node.call('HEAD', path)).status, 204);
  // The health check and the read-only status stay open (monitoring, no tenant data).
  for (const open of ['/healthcheck', '/recon/devices', '/recon/status', '/recon/memory']) {
    const r = await request(`${base}${open}`);
    await r.body.dump();
    t.equal(r.statusCode, 200, open);
  }
  const retry = await request(`${base}/recon/retry-account-updates?device=sda`, { method: 'POST' });
  await retry.body.dump();
  t.equal(retry.statusCode, 401, 'the maintenance POST is not open');
});
