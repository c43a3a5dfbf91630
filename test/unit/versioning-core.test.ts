import t from 'tap';
import { SeededRandom } from '../../common/random.js';
import { Timestamp } from '../../common/timestamp.js';
import { RESERVED } from '../../proxy/constraints.js';
import { parseSwiftPath } from '../../proxy/swift-request.js';
import { headerName } from '../../proxy/copy-headers.js';
import { archivePrefix } from '../../proxy/middleware/versioning/legacy.js';
import { currentListing, versionsListing } from '../../proxy/middleware/versioning/listing.js';
import {
  DELETE_MARKER_CONTENT_TYPE,
  invert,
  parseVersionId,
  splitVersionName,
  splitVersionsContainer,
  versionObjectName,
  versionsContainerName,
} from '../../proxy/middleware/versioning/names.js';

t.test('names: Swift\'s reserved names, inverted timestamps', async (t) => {
  const ts = Timestamp.parse('1700000000.12345');
  t.equal(invert(ts).internal, '8299999999.87654');
  t.equal(versionsContainerName('c'), `${RESERVED}versions${RESERVED}c`);
  t.equal(versionObjectName('a/b', ts), `${RESERVED}a/b${RESERVED}8299999999.87654`);
  t.same(splitVersionName(versionObjectName('a/b', ts)), { object: 'a/b', ts });
  t.equal(splitVersionName('plain'), undefined);
  t.equal(splitVersionsContainer(versionsContainerName('x')), 'x');
  t.equal(splitVersionsContainer(`${RESERVED}other${RESERVED}x`), undefined);
  t.equal(parseVersionId('null'), 'null');
  t.equal(parseVersionId('bogus'), undefined);
  t.equal(parseVersionId('1700000000.12345_0000000000000001'), undefined);
  // Later versions sort first.
  const rnd = new SeededRandom(24);
  for (let i = 0; i < 500; i++) {
    const x = new Timestamp(rnd.int(1e15));
    const y = new Timestamp(rnd.int(1e15));
    const nx = versionObjectName('o', x);
    const ny = versionObjectName('o', y);
    if (x.ticks < y.ticks) t.ok(nx > ny);
    t.same(splitVersionName(nx)?.ts.ticks, x.ticks);
  }
});

t.test('clients cannot name the reserved namespace', async (t) => {
  t.match(parseSwiftPath(`/v1/a/${encodeURIComponent(`${RESERVED}versions${RESERVED}c`)}`), { ok: false, status: 412 });
  t.match(parseSwiftPath('/v1/a/c/%00'), { ok: false, status: 412 });
  t.equal(headerName('%F4%8F%BF%BFx/y'), undefined);
});

t.test('listings: current objects show their version, ?versions merges', async (t) => {
  const hidden = versionsContainerName('c');
  const ts1 = Timestamp.parse('1700000001.00000');
  const ts2 = Timestamp.parse('1700000002.00000');
  const v1 = versionObjectName('o', ts1);
  const v2 = versionObjectName('o', ts2);
  const quote = (s: string): string => encodeURIComponent(s).replace(/%2F/g, '/');
  const primary = currentListing(
    [
      { name: 'n', hash: 'h0', bytes: 1, content_type: 'text/plain', last_modified: 'x' },
      {
        name: 'o',
        hash: 'd41d8cd98f00b204e9800998ecf8427e',
        bytes: 0,
        content_type: 'text/plain',
        last_modified: 'y',
        symlink_path: `/v1/AUTH_a/${quote(hidden)}/${quote(v2)}`,
        symlink_etag: 'e2',
        symlink_bytes: 9,
      },
    ],
    'AUTH_a',
    'c',
    hidden,
  );
  t.match(primary[1], { bytes: 9, hash: 'e2', version_symlink: true, symlink_path: '/v1/AUTH_a/c/o?version-id=1700000002.00000' });
  const hiddenListing = [
    { name: v2, hash: 'e2', bytes: 9, content_type: 'text/plain' },
    { name: v1, hash: 'e1', bytes: 3, content_type: 'text/plain' },
    { name: versionObjectName('p', ts2), hash: 'x', bytes: 0, content_type: DELETE_MARKER_CONTENT_TYPE },
    { name: versionObjectName('p', ts1), hash: 'y', bytes: 4, content_type: 'text/plain' },
  ];
  const all = versionsListing(primary, hiddenListing, { limit: 100, reverse: false });
  t.same(
    all.map((i) => [i.name, i['version_id'], i['is_latest']]),
    [
      ['n', 'null', true],
      ['o', '1700000002.00000', true],
      ['o', '1700000001.00000', false],
      ['p', '1700000002.00000', true],
      ['p', '1700000001.00000', false],
    ],
  );
  const rev = versionsListing(primary, hiddenListing, { limit: 2, reverse: true });
  t.same(rev.map((i) => [i.name, i['version_id']]), [['p', '1700000002.00000'], ['p', '1700000001.00000']]);
  // The hidden listing lags: the current version still shows.
  const lag = versionsListing(primary, [], { limit: 100, reverse: false });
  t.same(lag.map((i) => [i.name, i['version_id'], i['is_latest']]), [['n', 'null', true], ['o', '1700000002.00000', true]]);
});

t.test('legacy archive names: the length is in UTF-8 bytes, as Swift\'s', async (t) => {
  t.equal(archivePrefix('abc'), '003abc/');
  // Three 3-byte characters and one 4-byte one: 13 bytes (0x00d), though 5 UTF-16 units.
  t.equal(archivePrefix('\u9409\uf111\u0900\u{1F600}'), '00d\u9409\uf111\u0900\u{1F600}/');
});
