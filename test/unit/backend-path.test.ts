import t from 'tap';
import { backendPath, encodeSegment, nodePath, splitCanonicalPath, withQuery } from '../../common/backend-path.js';
import { SeededRandom } from '../../common/random.js';
import { parseSwiftPath } from '../../proxy/swift-request.js';
import { parseBackendPath } from '../../storage-node/server.js';

/**
 * The path a storage node serves is the path the proxy authorized, byte for byte: backend paths
 * have one canonical spelling, no dot segment survives encoding, and a node refuses any other
 * spelling. The seeded part feeds random client paths through the proxy's parser and back out of
 * the node's (SWIFTLET_FUZZ_SEED replays a failure).
 */

t.test('segments: unreserved characters stay, everything else is %XX, dot segments are encoded', async (t) => {
  t.equal(encodeSegment('AUTH_test'), 'AUTH_test');
  t.equal(encodeSegment('cat.jpg'), 'cat.jpg');
  t.equal(encodeSegment('.'), '%2E');
  t.equal(encodeSegment('..'), '%2E%2E');
  t.equal(encodeSegment('...'), '...', 'three dots are no dot segment');
  t.equal(encodeSegment('a b/c'), 'a%20b%2Fc');
  t.equal(encodeSegment('☃'), '%E2%98%83');
  t.equal(encodeSegment('\\'), '%5C');
  t.equal(encodeSegment("!'()*"), '%21%27%28%29%2A');
});

t.test('backendPath keeps an object name literal: its dots and empty pieces are names, not path steps', async (t) => {
  t.equal(backendPath('sda', 7, 'AUTH_test'), '/sda/7/AUTH_test');
  t.equal(backendPath('sda', 7, 'AUTH_test', 'bad', 'x/../../../AUTH_test2/secret/s'), '/sda/7/AUTH_test/bad/x/%2E%2E/%2E%2E/%2E%2E/AUTH_test2/secret/s');
  t.equal(backendPath('sda', 7, 'AUTH_test', '..'), '/sda/7/AUTH_test/%2E%2E');
  t.equal(backendPath('sda', 7, 'AUTH_test', 'c', './a//b/.'), '/sda/7/AUTH_test/c/%2E/a//b/%2E');
  t.equal(nodePath('sda', 3, 'abc', '1700000000.00000.data'), '/sda/3/abc/1700000000.00000.data');
  t.equal(nodePath('recon', 'retry-account-updates'), '/recon/retry-account-updates');
  t.equal(withQuery(nodePath('sda'), { op: 'list', after: '["a b"]' }), '/sda?op=list&after=%5B%22a+b%22%5D');
  t.equal(withQuery(nodePath('sda'), ''), '/sda');
});

t.test('a node refuses every spelling but the canonical one', async (t) => {
  const ok = parseBackendPath('/sda/7/AUTH_test/bad/x/%2E%2E/%2E%2E/%2E%2E/AUTH_test2/secret/s');
  t.same(ok, { device: 'sda', partition: 7, account: 'AUTH_test', container: 'bad', object: 'x/../../../AUTH_test2/secret/s' });
  t.same(parseBackendPath('/sda/7/AUTH_test/c/a//b/'), { device: 'sda', partition: 7, account: 'AUTH_test', container: 'c', object: 'a//b/' });
  for (const bad of [
    '/sda/7/AUTH_test/bad/x/../../../AUTH_test2/secret/s', // raw dot segments
    '/sda/7/AUTH_test/bad/%2e%2e/AUTH_test2', // lower-case escapes
    '/sda/7/AUTH_test/bad/%2E%2e/AUTH_test2',
    '/sda/7/AUTH_test/bad/.%2E/AUTH_test2',
    '/sda/7/AUTH_test/bad/./o',
    '/sda/7/AUTH_test/c/a%2Fb', // a slash inside a segment: a second spelling of "a/b"
    '/sda/7/AUTH_test/c/%61', // an escaped unreserved character
    '/sda/7/AUTH_test/c/a b', // a raw space
    '/sda/7/AUTH_test/c/%E2%98', // not UTF-8
    '/sda/7/AUTH_test/c/%G0',
    '/sda/7/AUTH_test/c/caf\u00e9', // a raw non-ASCII character
    '/sda/07/AUTH_test/c/o', // a second spelling of partition 7
    '/sda/-1/AUTH_test',
    '/sda/7//c', // empty account
    '/sda/7/AUTH_test//o', // empty container
    '/%2E%2E/7/AUTH_test', // the device
    '/../7/AUTH_test',
    'sda/7/AUTH_test',
    '/sda/7',
  ]) {
    t.equal(parseBackendPath(bad), undefined, bad);
  }
  t.equal(splitCanonicalPath('/a/%2E/b')?.join('|'), 'a|.|b');
  t.equal(splitCanonicalPath('/a/./b'), undefined);
});

/** Random client paths: the names the proxy parses are the names the node parses back. */
t.test('seeded: every name the proxy accepts crosses to the node unchanged', async (t) => {
  const seed = Number(process.env.SWIFTLET_FUZZ_SEED ?? 20261207);
  const rnd = new SeededRandom(seed);
  const pieces = ['.', '..', '%2e', '%2E', '%2e%2e', '.%2e', '%252e', '/', '//', '\\', '%5c', '%2f', '%00', '%c0%ae', '%ff', 'a', 'AUTH_test2', 'é', '%e2%98%83', ' ', '%20', '?', '#', '%3F', '~', '*'];
  let accepted = 0;
  for (let i = 0; i < 5000; i++) {
    let path = '/v1/AUTH_test';
    const n = 1 + rnd.int(12);
    for (let j = 0; j < n; j++) path += rnd.int(3) === 0 ? '/' : (pieces[rnd.int(pieces.length)] as string);
    const parsed = parseSwiftPath(path);
    if (!parsed.ok || parsed.container === undefined) continue;
    if (parsed.container.includes('/')) continue; // the proxy refuses these (checkContainerName)
    accepted++;
    const p = backendPath('sda', 3, parsed.account, parsed.container, parsed.object);
    const back = parseBackendPath(p);
    const want = { device: 'sda', partition: 3, account: parsed.account, container: parsed.container, ...(parsed.object !== undefined ? { object: parsed.object } : {}) };
    if (JSON.stringify(back) !== JSON.stringify(want)) {
      t.fail(`seed ${seed}, client path ${JSON.stringify(path)}: node parsed ${JSON.stringify(back)} from ${p}, proxy authorized ${JSON.stringify(want)}`);
      return;
    }
    // Nothing in a canonical path is a dot segment, raw or escaped, for any normalizer.
    if (/(^|\/)(\.|\.\.)(\/|$)/.test(p)) {
      t.fail(`seed ${seed}: ${p} has a raw dot segment`);
      return;
    }
  }
  t.ok(accepted > 1000, `seed ${seed}: ${accepted} accepted paths crossed unchanged`);
});
