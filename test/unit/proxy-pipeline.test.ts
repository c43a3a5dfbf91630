import t from 'tap';
import { request } from 'undici';
import { silentLogger } from '../../common/log.js';
import { Timestamp } from '../../common/timestamp.js';
import { Pipeline, respond, type Handler, type Middleware, type ProxyRequest, type Stage } from '../../proxy/pipeline.js';
import { fakeNodeProxy, type NodeAnswer } from '../helpers/fake-nodes.js';
import { Readable } from 'node:stream';

/** A stage that records the names of the stages a request went through. */
function tracer(name: string, trail: string[]): Stage {
  return { name, middleware: (next) => (req) => (trail.push(`${name}:${req.source ?? 'client'}`), next(req)) };
}

function clientRequest(path: string): ProxyRequest {
  return { method: 'GET', path, query: new URLSearchParams(), headers: {}, body: Readable.from([]), transId: 'tx1', log: silentLogger, scheme: 'http', stamp: () => Timestamp.now() };
}

t.test('stages run in their order; a sub-request enters at the marked stage, tagged and with the parent identity', async (t) => {
  const trail: string[] = [];
  const app: Handler = async (req) => respond(200, { 'X-Seen-By': req.source ?? 'client' }, req.identity?.user ?? 'nobody');
  let pipeline!: Pipeline;
  const auth: Stage = {
    name: 'auth',
    middleware: (next) => (req) => {
      trail.push('auth');
      req.identity = { user: 'test:tester', account: 'AUTH_test', groups: ['test:tester', 'test'], admin: false, resellerAdmin: false };
      return next(req);
    },
  };
  const stages: Stage[] = [tracer('first', trail), auth, { ...tracer('after-auth', trail), subrequestEntry: true }, tracer('last', trail)];
  pipeline = Pipeline.compose(stages, app);
  const res = await pipeline.handle(clientRequest('/v1/AUTH_test'));
  t.same(trail, ['first:client', 'auth', 'after-auth:client', 'last:client']);
  t.equal(res.body, 'test:tester');

  trail.length = 0;
  const parent = clientRequest('/v1/AUTH_test/c/o');
  parent.identity = { user: 'test:tester', account: 'AUTH_test', groups: [], admin: false, resellerAdmin: false };
  const sub = await pipeline.subrequest(parent, { method: 'HEAD', path: '/v1/AUTH_test/c/o2' }, { source: 'slo' });
  t.same(trail, ['after-auth:slo', 'last:slo'], 'entered after auth');
  t.equal(sub.headers['X-Seen-By'], 'slo');
  t.equal(sub.body, 'test:tester', 'authorized as the original user');
  const sys = pipeline.makeSubrequest(parent, { method: 'PUT', path: '/v1/AUTH_test/.versions/o' }, { source: 'versioning', as: 'system' });
  t.equal(sys.system, true);
  t.equal(sys.identity, undefined, 'a system sub-request carries no user');
  t.equal(sys.transId, 'tx1', 'same transaction id as its parent');
});

/**
 * A middleware after tempauth answers GET /probe by reading the object named in X-Probe-Path
 * through a sub-request (as the user, or as the system with X-Probe-As: system), and returns
 * that answer. The fake nodes hold every object with the body "hello".
 */
const probe: Middleware = (next, pipeline) => (req) => {
  if (req.path !== '/probe') return next(req);
  const as = req.headers['x-probe-as'] === 'system' ? 'system' : 'user';
  return pipeline.subrequest(req, { method: 'GET', path: req.headers['x-probe-path'] ?? '' }, { source: 'probe', as });
};

function healthy(method: string, depth: number): NodeAnswer {
  const headers = { 'x-timestamp': '1700000000.00000', 'x-backend-timestamp': '1700000000.00000' };
  if (depth === 3 && method === 'GET') return { status: 200, headers: { ...headers, etag: '5d41402abc4b2a76b9719d911017c592' }, body: 'hello' };
  return { status: method === 'GET' ? 200 : 204, headers, body: method === 'GET' ? '[]' : '' };
}

t.test('a middleware reads an object through a sub-request, authorized as the original user or as the system', async (t) => {
  const sources: Array<string | undefined> = [];
  const spy: Stage = { name: 'spy', middleware: (next) => (req) => (sources.push(req.source), next(req)) };
  const p = await fakeNodeProxy({}, { stages: (s) => {
    const at = s.findIndex((x) => x.name === 'tempauth') + 1;
    return [...s.slice(0, at), { name: 'probe', middleware: probe }, ...s.slice(at), spy];
  } });
  t.teardown(() => p.close());
  p.answer = ({ method, depth }) => healthy(method, depth);
  const token = await p.token('test:tester', 'testing');
  const get = async (path: string, headers: Record<string, string>) => {
    const res = await request(`${p.base}/probe`, { headers: { 'x-probe-path': path, ...headers } });
    return { status: res.statusCode, body: await res.body.text() };
  };

  const own = await get('/v1/AUTH_test/c/o', { 'x-auth-token': token });
  t.same(own, { status: 200, body: 'hello' }, 'the user reads their own object');
  t.same(sources, ['probe'], 'the sub-request went on down the pipeline, tagged with its source');

  const other = await get('/v1/AUTH_test2/c/o', { 'x-auth-token': token });
  t.equal(other.status, 403, "another account's object is refused to the user's sub-request");
  const anonymous = await get('/v1/AUTH_test/c/o', {});
  t.equal(anonymous.status, 401, 'a sub-request of an anonymous request is anonymous');
  const bad = await get('/v1/AUTH_test/c/o', { 'x-auth-token': 'AUTH_tkbad' });
  t.equal(bad.status, 401, 'bad credentials stay bad in the sub-request');

  const system = await get('/v1/AUTH_test2/c/o', { 'x-auth-token': token, 'x-probe-as': 'system' });
  t.same(system, { status: 200, body: 'hello' }, 'a system sub-request reads any account');
  const systemAnon = await get('/v1/AUTH_test2/c/o', { 'x-probe-as': 'system' });
  t.equal(systemAnon.status, 200, 'the system needs no user');
});

t.test('GET /info is assembled from what the stages registered', async (t) => {
  const p = await fakeNodeProxy();
  t.teardown(() => p.close());
  const res = await request(`${p.base}/info`);
  const info = (await res.body.json()) as Record<string, Record<string, unknown>>;
  t.equal(Object.keys(info)[0], 'swift', 'the core first, then each middleware');
  for (const name of ['tempauth', 'bulk_upload', 'bulk_delete', 'tempurl', 'formpost', 'staticweb', 'container_quotas', 'account_quotas', 'slo', 'object_versioning', 'versioned_writes', 'symlink']) t.ok(name in info, `${name} registered`);
  t.same(info['tempauth'], { account_acls: true });
  t.same(info['bulk_upload'], { max_containers_per_extraction: 10000, max_failed_extractions: 1000 }, "Swift's bulk sections and limits");
  t.same(info['bulk_delete'], { max_deletes_per_request: 10000, max_failed_deletes: 1000 });
  t.equal(info['swift']?.['container_listing_limit'], 10000);
});

t.test('the gatekeeper strips internal headers and sysmeta both ways', async (t) => {
  const p = await fakeNodeProxy();
  t.teardown(() => p.close());
  const seen: Array<Record<string, unknown>> = [];
  p.answer = ({ method, depth, req }) => {
    if (depth === 3) seen.push({ ...req.headers });
    const a = healthy(method, depth);
    if (depth !== 3 || a === 'drop' || typeof a === 'string') return a;
    return { ...a, headers: { ...a.headers, 'x-object-sysmeta-secret': 's', 'x-object-meta-color': 'red' } };
  };
  const token = await p.token('test:tester', 'testing');
  const res = await request(`${p.base}/v1/AUTH_test/c/o`, { headers: { 'x-auth-token': token, 'x-object-sysmeta-evil': '1', 'x-backend-evil': '1' } });
  await res.body.dump();
  t.equal(res.statusCode, 200);
  t.equal(res.headers['x-object-sysmeta-secret'], undefined, 'no sysmeta out');
  t.equal(res.headers['x-object-meta-color'], 'red');
  t.ok(seen.length > 0 && seen.every((h) => h['x-object-sysmeta-evil'] === undefined && h['x-backend-evil'] === undefined), 'none in');
});

t.test('the edge writes a body given as an async iterable of Buffers', async (t) => {
  async function* chunks(): AsyncGenerator<Buffer> {
    yield Buffer.from('hello, ');
    yield Buffer.from('pipeline');
  }
  const stream: Stage = { name: 'stream', middleware: (next) => (req) => (req.path === '/stream' ? Promise.resolve(respond(200, { 'Content-Type': 'text/plain' }, chunks())) : next(req)) };
  const p = await fakeNodeProxy({}, { stages: (s) => [...s.slice(0, 1), stream, ...s.slice(1)] });
  t.teardown(() => p.close());
  const res = await request(`${p.base}/stream`);
  t.equal(res.statusCode, 200);
  t.equal(await res.body.text(), 'hello, pipeline');
  t.ok(res.headers['x-trans-id'], 'with the transaction id of every answer');
});

t.test('every sub-request is logged once, run by pipeline.run or handed to a `next` directly', async (t) => {
  const app: Handler = async (req) => respond(200, {}, req.source ?? 'client');
  // 'direct' hands a sub-request to its own next (as SLO's manifest re-read, staticweb, a symlink
  // followed); 'nested' runs one with pipeline.run that then passes more stages.
  const direct: Stage = {
    name: 'direct',
    middleware: (next, pipeline) => (req) => (req.path === '/direct' ? next(pipeline.makeSubrequest(req, { method: 'GET', path: '/v1/a/c/d' }, { source: 'DIR' })) : next(req)),
  };
  const nested: Stage = {
    name: 'nested',
    middleware: (next, pipeline) => (req) => (req.path === '/nested' ? pipeline.run(pipeline.makeSubrequest(req, { method: 'GET', path: '/v1/a/c/n' }, { source: 'NST' }), next) : next(req)),
  };
  const pipeline = Pipeline.compose([direct, nested, tracer('last', [])], app);
  const logged: string[] = [];
  pipeline.onSubrequest = (sub, res) => logged.push(`${sub.source} ${sub.path} ${res.status}`);
  t.equal((await pipeline.handle(clientRequest('/direct'))).body, 'DIR');
  t.equal((await pipeline.handle(clientRequest('/nested'))).body, 'NST');
  await pipeline.handle(clientRequest('/v1/a/c/o'));
  t.same(logged, ['DIR /v1/a/c/d 200', 'NST /v1/a/c/n 200'], 'each once; a client request is not a sub-request');
});
