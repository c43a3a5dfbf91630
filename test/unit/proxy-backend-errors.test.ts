import t from 'tap';
import { request } from 'undici';
import { fakeNodeProxy, type NodeAnswer } from '../helpers/fake-nodes.js';

/**
 * Every verb on account, container and object while the storage nodes answer an error: the
 * client gets Swift's status, never a 500. The expected statuses are Swift 2.30's
 * (proxy/controllers/base.py GETorHEAD_base and best_response, account.py, container.py, obj.py,
 * middleware/copy.py), derived from these rules:
 *   - reads try nodes until a 2xx/3xx (416 for an object); without one, the answer is the
 *     highest status of the class (2xx, 3xx, 4xx) that a quorum of the answers reached, with that
 *     node's body, else 503. 5xx and 404 answers of handoffs, and failed connections, do not count.
 *   - writes go to every replica (a 5xx or a failed connection moves to a handoff); same rule.
 *   - an account answered 404 lists as empty (account_autocreate): GET 204, HEAD 200.
 *   - container GET/HEAD/POST/DELETE first need the account (else 404); a container PUT creates
 *     the account, and answers 503 if it cannot.
 *   - object PUT/POST/DELETE first need the container (else 404); a 409 to an object PUT
 *     (newer data there) answers 202; COPY reads its source first (and is only for objects).
 */
const STATUSES: Array<number | 'drop'> = [400, 401, 404, 409, 412, 416, 422, 499, 500, 503, 507, 'drop'];
const VERBS = {
  account: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'COPY'],
  container: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'COPY'],
  object: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE', 'COPY'],
} as const;
type Tier = keyof typeof VERBS;
const DEPTH: Record<Tier, number> = { account: 1, container: 2, object: 3 };
const PATH: Record<Tier, string> = { account: '/v1/AUTH_test', container: '/v1/AUTH_test/c', object: '/v1/AUTH_test/c/o' };

/** A 4xx stands; anything else (5xx, 507, no answer) is "service unavailable". */
const relayed = (x: number | 'drop'): number => (x !== 'drop' && x >= 400 && x < 500 ? x : 503);

function swiftStatus(mode: 'target' | 'all', tier: Tier, verb: string, x: number | 'drop'): number {
  if (verb === 'COPY' && tier !== 'object') return 405; // only objects are copied: no node is asked
  if (tier === 'account' && x === 404 && (verb === 'GET' || verb === 'HEAD')) return verb === 'GET' ? 204 : 200;
  if (mode === 'all' && tier === 'container') return verb === 'PUT' ? 503 : 404;
  if (mode === 'all' && tier === 'object' && (verb === 'PUT' || verb === 'POST' || verb === 'DELETE')) return 404;
  if (tier === 'object' && verb === 'PUT' && x === 409) return 202;
  return relayed(x);
}

/** What a node answers when it is not the one failing: the resource exists and all is well. */
function healthy(method: string, depth: number): NodeAnswer {
  const status = method === 'PUT' ? 201 : method === 'GET' ? 200 : method === 'POST' && depth === 3 ? 202 : 204;
  const headers: Record<string, string> = { 'x-timestamp': '1700000000.00000', 'x-backend-timestamp': '1700000000.00000' };
  if (depth === 3 && method === 'GET') return { status, headers: { ...headers, etag: '5d41402abc4b2a76b9719d911017c592' }, body: 'hello' };
  return { status, headers, body: method === 'GET' ? '[]' : '' };
}

t.test('backend errors on every verb of account, container and object: Swift status, never 500', async (t) => {
  const p = await fakeNodeProxy({ allow_account_management: true });
  t.teardown(() => p.close());
  const token = await p.token('admin:admin', 'admin');
  for (const mode of ['target', 'all'] as const) {
    for (const tier of Object.keys(VERBS) as Tier[]) {
      for (const verb of VERBS[tier]) {
        for (const x of STATUSES) {
          p.reset();
          p.answer = ({ method, depth }) => {
            if (mode === 'target' && depth !== DEPTH[tier]) return healthy(method, depth);
            return x === 'drop' ? 'drop' : { status: x, body: `node says ${x}` };
          };
          const headers: Record<string, string> = { 'x-auth-token': token };
          if (verb === 'COPY') headers['destination'] = 'c/o2';
          if (verb === 'POST') headers[`x-${tier}-meta-color`] = 'blue';
          const body = verb === 'PUT' && tier === 'object' ? 'hello' : undefined;
          const res = await request(`${p.base}${PATH[tier]}`, { method: verb as 'GET', headers, ...(body !== undefined ? { body } : {}) });
          const text = await res.body.text();
          const want = swiftStatus(mode, tier, verb, x);
          t.equal(res.statusCode, want, `${mode}: ${verb} ${tier}, nodes answer ${x}: ${want}`);
          if (res.statusCode === 500) t.fail(`500: ${text}`);
        }
      }
    }
  }
});

t.test("a refusal's body and headers are the node's, in Swift's error content type", async (t) => {
  const p = await fakeNodeProxy();
  t.teardown(() => p.close());
  const token = await p.token('test:tester', 'testing');
  for (const [tier, verb] of [
    ['container', 'GET'],
    ['object', 'GET'],
    ['container', 'DELETE'],
    ['object', 'POST'],
  ] as const) {
    p.reset();
    p.answer = ({ method, depth }) => (depth === DEPTH[tier] ? { status: 409, headers: { 'x-container-object-count': '3' }, body: 'There was a conflict' } : healthy(method, depth));
    const res = await request(`${p.base}${PATH[tier]}`, { method: verb, headers: { 'x-auth-token': token } });
    t.equal(res.statusCode, 409, `${verb} ${tier}`);
    t.equal(await res.body.text(), 'There was a conflict', `${verb} ${tier}: the node's body`);
    t.equal(res.headers['content-type'], 'text/html; charset=UTF-8', `${verb} ${tier}: Swift's content type for it`);
    t.equal(res.headers['x-container-object-count'], '3', `${verb} ${tier}: the node's headers`);
  }
  // A node's empty 404 reads as Swift's own 404 page.
  p.answer = () => ({ status: 404 });
  const res = await request(`${p.base}/v1/AUTH_test/c`, { headers: { 'x-auth-token': token } });
  t.equal(res.statusCode, 404);
  t.match(await res.body.text(), /<h1>Not Found<\/h1>/);
});

t.test('reads: a quorum of the answers decides, as in Swift', async (t) => {
  const p = await fakeNodeProxy();
  t.teardown(() => p.close());
  const token = await p.token('test:tester', 'testing');
  const table: Array<[NodeAnswer[], number, string]> = [
    [[{ status: 404 }, { status: 500 }, { status: 500 }], 503, 'one 404 and two failures: not enough to say it is gone'],
    [[{ status: 404 }, 'drop', 'drop'], 404, 'failed connections do not count'],
    [[{ status: 404 }, { status: 409 }, { status: 500 }], 409, 'two 4xx: the highest'],
    [[{ status: 500 }, { status: 500 }, { status: 200, body: 'hello' }], 200, 'a good answer serves'],
    [[{ status: 404 }, { status: 404 }, { status: 404 }, { status: 500 }, { status: 500 }], 404, "handoffs' 5xx do not count"],
  ];
  for (const [answers, want, why] of table) {
    p.reset();
    p.answer = ({ method, depth, node }) => (depth === 3 ? (answers[node] ?? { status: 404 }) : healthy(method, depth));
    const res = await request(`${p.base}/v1/AUTH_test/c/o`, { headers: { 'x-auth-token': token } });
    await res.body.dump();
    t.equal(res.statusCode, want, why);
  }
});

t.test('a node that breaks off after its headers: 503 if nothing was sent yet, else a cut answer', async (t) => {
  const p = await fakeNodeProxy();
  t.teardown(() => p.close());
  const token = await p.token('test:tester', 'testing');
  for (const tier of Object.keys(VERBS) as Tier[]) {
    for (const how of ['drop-after-headers', 'drop-mid-body'] as const) {
      p.reset();
      p.answer = ({ method, depth }) => (depth === DEPTH[tier] ? how : healthy(method, depth));
      const got = await request(`${p.base}${PATH[tier]}`, { headers: { 'x-auth-token': token } }).then(
        async (res) => {
          const text = await res.body.text().catch(() => 'cut');
          return text === 'cut' ? 'cut' : { status: res.statusCode, etag: res.headers['etag'], type: res.headers['content-type'] };
        },
        () => 'cut',
      );
      if (how === 'drop-mid-body') t.equal(got, 'cut', `${tier} GET, ${how}: the client sees the answer cut short`);
      else t.same(got, { status: 503, etag: undefined, type: 'text/html; charset=UTF-8' }, `${tier} GET, ${how}: 503, none of the failed answer's headers`);
    }
  }
  p.answer = ({ method, depth }) => healthy(method, depth);
  const res = await request(`${p.base}/v1/AUTH_test/c/o`, { headers: { 'x-auth-token': token } });
  t.equal(await res.body.text(), 'hello', 'the proxy still serves');
});
