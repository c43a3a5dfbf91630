import t from 'tap';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { accountRoom, containerRoom, fits, isQuotaValue, minRoom, QUOTA_EXCEEDED } from '../../proxy/middleware/quotas/core.js';
import { checkQuotas } from '../../proxy/middleware/quotas/index.js';
import { fakeNodeProxy, type NodeAnswer } from '../helpers/fake-nodes.js';
import { silentLogger } from '../../common/log.js';
import { Timestamp } from '../../common/timestamp.js';
import type { ProxyRequest } from '../../proxy/pipeline.js';

t.test('quota values and the room they leave', async (t) => {
  t.ok(isQuotaValue('0') && isQuotaValue('12345'));
  for (const bad of ['', '-1', '1.5', 'abc', ' 1', '1e3']) t.notOk(isQuotaValue(bad), `${JSON.stringify(bad)} is no quota`);
  t.same(containerRoom({}, 10, 2), { bytes: Infinity, objects: Infinity });
  t.same(containerRoom({ 'X-Container-Meta-Quota-Bytes': '100', 'X-Container-Meta-Quota-Count': '3' }, 40, 2), { bytes: 60, objects: 1 });
  t.same(containerRoom({ 'X-Container-Meta-Quota-Bytes': 'lots' }, 40, 2).bytes, Infinity, 'a malformed stored quota is none');
  t.same(accountRoom({ 'X-Account-Meta-Quota-Bytes': '50', 'X-Account-Bytes-Used': '20' }), { bytes: 30, objects: Infinity });
  t.same(minRoom({ bytes: 5, objects: Infinity }, { bytes: Infinity, objects: 2 }), { bytes: 5, objects: 2 });
  t.ok(fits({ bytes: 60, objects: 1 }, 60), 'exactly the quota fits (Swift refuses quota < used + size)');
  t.notOk(fits({ bytes: 60, objects: 1 }, 61));
  t.notOk(fits({ bytes: 60, objects: 0 }, 0), 'the count quota counts the object itself');
});

interface Usage {
  containerMeta?: Record<string, string>;
  containerBytes?: number;
  containerCount?: number;
  accountMeta?: Record<string, string>;
  accountBytes?: number;
}

t.test('quotas through the proxy', async (t) => {
  const p = await fakeNodeProxy();
  t.teardown(() => p.close());
  let usage: Usage = {};
  const puts: string[] = [];
  p.answer = ({ method, depth, req }): NodeAnswer => {
    const ts = { 'x-timestamp': '1700000000.00000', 'x-backend-timestamp': '1700000000.00000', 'x-put-timestamp': '1700000000.00000' };
    if (depth === 1) return { status: method === 'HEAD' ? 204 : 204, headers: { ...ts, 'x-account-bytes-used': String(usage.accountBytes ?? 0), ...usage.accountMeta } };
    if (depth === 2) {
      return {
        status: 204,
        headers: { ...ts, 'x-container-bytes-used': String(usage.containerBytes ?? 0), 'x-container-object-count': String(usage.containerCount ?? 0), ...usage.containerMeta },
      };
    }
    if (method === 'PUT') {
      puts.push(req.url ?? '');
      return { status: 201, headers: { etag: 'd41d8cd98f00b204e9800998ecf8427e' } };
    }
    return { status: 200, headers: { ...ts, etag: '5d41402abc4b2a76b9719d911017c592', 'content-type': 'text/plain' }, body: 'hello' };
  };
  const token = await p.token('test:tester', 'testing');
  const reseller = await p.token('admin:admin', 'admin');
  const go = async (method: string, path: string, headers: Record<string, string> = {}, body?: string | Readable) => {
    const res = await request(`${p.base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    return { status: res.statusCode, body: await res.body.text(), headers: res.headers };
  };
  const auth = { 'x-auth-token': token };

  t.test('quota values are checked when set', async (t) => {
    t.same(await go('POST', '/v1/AUTH_test/c', { ...auth, 'x-container-meta-quota-bytes': 'abc' }).then((r) => [r.status, r.body]), [400, 'Invalid bytes quota.']);
    t.same(await go('PUT', '/v1/AUTH_test/c', { ...auth, 'x-container-meta-quota-count': '-1' }).then((r) => [r.status, r.body]), [400, 'Invalid count quota.']);
    t.equal((await go('POST', '/v1/AUTH_test/c', { ...auth, 'x-container-meta-quota-bytes': '100' })).status, 204);
    t.equal((await go('POST', '/v1/AUTH_test/c', { ...auth, 'x-container-meta-quota-bytes': '' })).status, 204, 'empty removes it');
    // Only a reseller admin sets an account quota.
    t.equal((await go('POST', '/v1/AUTH_test', { ...auth, 'x-account-meta-quota-bytes': '100' })).status, 403, 'the account owner may not');
    t.equal((await go('POST', '/v1/AUTH_test', { ...auth, 'x-remove-account-meta-quota-bytes': 'x' })).status, 403, 'nor remove it');
    t.equal((await go('POST', '/v1/AUTH_test', { 'x-auth-token': reseller, 'x-account-meta-quota-bytes': 'ten' })).status, 400);
    t.equal((await go('POST', '/v1/AUTH_test', { 'x-auth-token': reseller, 'x-account-meta-quota-bytes': '10' })).status, 204);
  });

  t.test('a PUT over the container quota is refused before any node sees it', async (t) => {
    usage = { containerMeta: { 'x-container-meta-quota-bytes': '10' }, containerBytes: 6, containerCount: 1 };
    puts.length = 0;
    const over = await go('PUT', '/v1/AUTH_test/c/o', { ...auth, 'content-length': '5' }, 'hello');
    t.same([over.status, over.body], [413, QUOTA_EXCEEDED]);
    t.same(puts, [], 'no node got the object');
    t.equal((await go('PUT', '/v1/AUTH_test/c/o', { ...auth, 'content-length': '4' }, 'hell')).status, 201, 'up to the quota is fine');
    t.equal((await go('PUT', '/v1/AUTH_test/c/o', { 'content-length': '5' }, 'hello')).status, 401, 'a stranger learns nothing of the quota');
    usage = { containerMeta: { 'x-container-meta-quota-count': '2' }, containerCount: 2 };
    t.same((await go('PUT', '/v1/AUTH_test/c/o', { ...auth, 'content-length': '0' }, '')).status, 413, 'the count quota');
    usage = { containerMeta: { 'x-container-meta-quota-count': '3' }, containerCount: 2 };
    t.same((await go('PUT', '/v1/AUTH_test/c/o', { ...auth, 'content-length': '0' }, '')).status, 201);
  });

  t.test('a chunked PUT is cut at the room left', async (t) => {
    usage = { containerMeta: { 'x-container-meta-quota-bytes': '100000' }, containerBytes: 50_000 };
    puts.length = 0;
    const chunks = (n: number) => Readable.from(Array.from({ length: n }, () => Buffer.alloc(10_000, 1)));
    const over = await go('PUT', '/v1/AUTH_test/c/big', auth, chunks(6));
    t.same([over.status, over.body], [413, QUOTA_EXCEEDED], '60,000 bytes do not fit in 50,000');
    const fits = await go('PUT', '/v1/AUTH_test/c/big', auth, chunks(5));
    t.equal(fits.status, 201, '50,000 do');
    usage = { containerMeta: { 'x-container-meta-quota-bytes': '100000' }, containerBytes: 100_001 };
    const full = await go('PUT', '/v1/AUTH_test/c/big', auth, chunks(1));
    t.equal(full.status, 413, 'a full container takes no chunked upload');
  });

  t.test('the account quota', async (t) => {
    usage = { accountMeta: { 'x-account-meta-quota-bytes': '1000' }, accountBytes: 998 };
    const over = await go('PUT', '/v1/AUTH_test/c/o', { ...auth, 'content-length': '5' }, 'hello');
    t.same([over.status, over.body], [413, QUOTA_EXCEEDED]);
    t.equal((await go('PUT', '/v1/AUTH_test/c/o', { ...auth, 'content-length': '2' }, 'he')).status, 201);
    t.equal((await go('PUT', '/v1/AUTH_test/c/o', { 'x-auth-token': reseller, 'content-length': '5' }, 'hello')).status, 201, 'a reseller admin is not held to it');
  });

  t.test('a copy counts the bytes it copies', async (t) => {
    usage = { containerMeta: { 'x-container-meta-quota-bytes': '7' }, containerBytes: 4 };
    const copy = await go('COPY', '/v1/AUTH_test/c/o', { ...auth, destination: 'c/o2' });
    t.same([copy.status, copy.body], [413, QUOTA_EXCEEDED], 'a 5-byte copy into 3 bytes of room');
    const put = await go('PUT', '/v1/AUTH_test/c/o2', { ...auth, 'x-copy-from': 'c/o', 'content-length': '0' });
    t.equal(put.status, 413);
    usage = { containerMeta: { 'x-container-meta-quota-bytes': '9' }, containerBytes: 4 };
    t.equal((await go('COPY', '/v1/AUTH_test/c/o', { ...auth, destination: 'c/o2' })).status, 201);
  });

  t.test('checkQuotas, for other stages (a manifest counts its segments)', async (t) => {
    usage = { containerMeta: { 'x-container-meta-quota-bytes': '1000' }, containerBytes: 0 };
    const req: ProxyRequest = {
      method: 'PUT', path: '/v1/AUTH_test/c/m', query: new URLSearchParams(), headers: {}, body: Readable.from([]), transId: 'tx', log: silentLogger, scheme: 'http', stamp: () => Timestamp.now(),
      // Authorized as the proxy itself: the refusal is the quota's, not the user's.
      system: true,
    };
    t.equal(await checkQuotas(p.ctx, req, { account: 'AUTH_test', container: 'c', object: 'm' }, 1000), undefined);
    t.equal((await checkQuotas(p.ctx, req, { account: 'AUTH_test', container: 'c', object: 'm' }, 1001))?.status, 413);
  });
});
