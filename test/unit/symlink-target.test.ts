import t from 'tap';
import { SeededRandom } from '../../common/random.js';
import { hashFields, parseHeaderParams } from '../../storage-node/db/listing-hash.js';
import { renderObjectListing } from '../../storage-node/db/listing-format.js';
import { withUpdateOverrides } from '../../storage-node/object/container-update.js';
import { MD5_OF_EMPTY, overrideEtag, readSymlinkPut, splitTarget } from '../../proxy/middleware/symlink/target.js';
import { pyRepr } from '../../proxy/py-json.js';

t.test('readSymlinkPut: Swift checks and messages', async (t) => {
  const form = { status: 412, body: 'X-Symlink-Target header must be of the form <container name>/<object name>' };
  t.same(readSymlinkPut({ 'x-symlink-target': '/c/o' }, 'a', 'c', 'l'), form);
  t.same(readSymlinkPut({ 'x-symlink-target': 'c' }, 'a', 'c', 'l'), form);
  t.same(readSymlinkPut({ 'x-symlink-target': 'c/' }, 'a', 'c', 'l'), form);
  t.same(readSymlinkPut({ 'x-symlink-target': 'c/l' }, 'a', 'c', 'l'), { status: 400, body: 'Symlink cannot target itself' });
  t.same(readSymlinkPut({ 'x-symlink-target': 'c/l', 'x-symlink-target-account': 'a' }, 'a', 'c', 'l'), { status: 400, body: 'Symlink cannot target itself' });
  t.same(readSymlinkPut({ 'x-symlink-target': 'c/o', 'x-symlink-target-account': 'x/y' }, 'a', 'c', 'l'), { status: 412, body: 'Account name cannot contain slashes' });
  t.same(readSymlinkPut({ 'x-symlink-target': 'c/o', 'x-symlink-target-etag': 'a"b' }, 'a', 'c', 'l'), { status: 400, body: 'Bad X-Symlink-Target-Etag format' });
  t.same(readSymlinkPut({ 'x-symlink-target': 'c%2Fx/o%20p/q', 'x-symlink-target-etag': '"e"' }, 'a', 'c', 'l'), {
    account: 'a',
    container: 'c',
    object: 'x/o p/q',
    quotedTarget: 'c/x/o%20p/q',
    etag: 'e',
  });
  const x = readSymlinkPut({ 'x-symlink-target': 'c2/o', 'x-symlink-target-account': 'AUTH_b' }, 'AUTH_a', 'c', 'l');
  t.match(x, { account: 'AUTH_b', quotedAccount: 'AUTH_b', container: 'c2', object: 'o' });
});

t.test('the container update etag carries the target into the listing', async (t) => {
  const etag = overrideEtag({ quotedTarget: 'c/o%20x', quotedAccount: 'AUTH_b', etag: 'e1', bytes: '7' });
  t.equal(etag, `${MD5_OF_EMPTY}; symlink_target=c/o%20x; symlink_target_account=AUTH_b; symlink_target_etag=e1; symlink_target_bytes=7`);
  t.same(hashFields(etag, 'AUTH_a'), { hash: MD5_OF_EMPTY, symlinkPath: '/v1/AUTH_b/c/o%20x', symlinkEtag: 'e1', symlinkBytes: 7 });
  t.same(hashFields(`${MD5_OF_EMPTY}; slo_etag=x; symlink_target=c/o`, 'AUTH_a'), { hash: MD5_OF_EMPTY, sloEtag: 'x', symlinkPath: '/v1/AUTH_a/c/o' });
  t.same(hashFields('plain', 'AUTH_a'), { hash: 'plain' });
  t.same(parseHeaderParams('v; a="q"; B=2'), { value: 'v', params: [['a', 'q'], ['b', '2']] });
  const rows = [{ name: 'l', row: { name: 'l', timestamp: '1700000000.00000', size: 0, contentType: 'application/symlink', etag, deleted: false } }];
  t.same(JSON.parse(renderObjectListing(rows, 'json', 'c', 'AUTH_a')), [
    { hash: MD5_OF_EMPTY, last_modified: '2023-11-14T22:13:20.000000', bytes: 0, name: 'l', content_type: 'application/symlink', symlink_etag: 'e1', symlink_bytes: 7, symlink_path: '/v1/AUTH_b/c/o%20x' },
  ]);
  t.match(renderObjectListing(rows, 'xml', 'c', 'AUTH_a'), `<hash>${MD5_OF_EMPTY}</hash>`);
  t.same(withUpdateOverrides({ 'x-etag': 'e', 'x-size': '3' }, { 'X-Object-Sysmeta-Container-Update-Override-Etag': 'o; k=v', 'X-Object-Sysmeta-Container-Update-Override-Size': 'bad' }), { 'x-etag': 'o; k=v', 'x-size': '3' });
});

t.test('hashFields never throws on any hash (seeded)', async (t) => {
  const rnd = new SeededRandom(23);
  const alphabet = 'ab;= "\\/%_symlink_target';
  for (let i = 0; i < 2000; i++) {
    let s = '';
    const n = rnd.int(40);
    for (let j = 0; j < n; j++) s += alphabet[rnd.int(alphabet.length)];
    const f = hashFields(s, 'A');
    t.equal(typeof f.hash, 'string');
  }
  t.equal(splitTarget('c/o%2Fp')?.object, 'o/p');
  t.equal(pyRepr('abc'), "'abc'");
});
