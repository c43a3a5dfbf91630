import t from 'tap';
import { SeededRandom } from '../../common/random.js';
import { Timestamp } from '../../common/timestamp.js';
import { chooseListingFormat, isoConverter, jsonString, renderAccountListing, renderObjectListing, splitSwiftBytes } from '../../storage-node/db/listing-format.js';
import type { ListingItem } from '../../storage-node/db/listing.js';
import type { ContainerRow, ObjectRow } from '../../storage-node/db/merge.js';

const row = (name: string, extra: Partial<ObjectRow> = {}): ListingItem<ObjectRow> => ({
  name,
  row: { name, timestamp: '1700000000.12345', size: 3, contentType: 'text/plain', etag: 'abc', deleted: false, ...extra },
});

t.test('format negotiation: format= first, then Accept, default plain', async (t) => {
  const table: Array<[string | null, string | undefined, string | undefined]> = [
    [null, undefined, 'text/plain; charset=utf-8'],
    ['json', undefined, 'application/json; charset=utf-8'],
    ['JSON', 'application/xml', 'application/json; charset=utf-8'],
    ['xml', undefined, 'application/xml; charset=utf-8'],
    ['plain', 'application/json', 'text/plain; charset=utf-8'],
    ['bogus', undefined, 'text/plain; charset=utf-8'],
    [null, 'application/json', 'application/json; charset=utf-8'],
    [null, 'text/xml', 'text/xml; charset=utf-8'],
    [null, 'application/*', 'application/json; charset=utf-8'],
    [null, '*/*', 'text/plain; charset=utf-8'],
    [null, 'text/plain;q=0.5, application/json', 'application/json; charset=utf-8'],
    [null, 'application/json;q=0, */*;q=0.1', 'text/plain; charset=utf-8'],
    [null, 'image/png', undefined],
  ];
  for (const [format, accept, want] of table) t.equal(chooseListingFormat(format, accept)?.contentType, want, `${format} / ${accept}`);
});

t.test('container listing in json', async (t) => {
  const body = renderObjectListing([row('a"b'), { subdir: 'd/' }, row('é', { contentType: 'application/x;swift_bytes=99' })], 'json', 'c');
  t.same(JSON.parse(body), [
    { hash: 'abc', last_modified: '2023-11-14T22:13:20.123450', bytes: 3, name: 'a"b', content_type: 'text/plain' },
    { subdir: 'd/' },
    { hash: 'abc', last_modified: '2023-11-14T22:13:20.123450', bytes: 99, name: 'é', content_type: 'application/x' },
  ]);
  t.match(body, /^\[\{"hash":"abc","last_modified":/, 'Swift key order');
  t.equal(renderObjectListing([], 'json', 'c'), '[]');
});

t.test('container listing in xml, exactly as Swift', async (t) => {
  const body = renderObjectListing([row('a<&>'), { subdir: 'd"/' }], 'xml', 'c&"');
  t.equal(
    body,
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
      '<container name="c&amp;&quot;">' +
      '<object><name>a&lt;&amp;&gt;</name><hash>abc</hash><bytes>3</bytes><content_type>text/plain</content_type>' +
      '<last_modified>2023-11-14T22:13:20.123450</last_modified></object>' +
      '<subdir name="d&quot;/"><name>d"/</name></subdir>' +
      '</container>',
  );
  t.equal(renderObjectListing([], 'xml', 'c'), '<?xml version="1.0" encoding="UTF-8"?>\n<container name="c" />');
});

t.test('plain listings: a name per line, empty when nothing', async (t) => {
  t.equal(renderObjectListing([row('a'), { subdir: 'b/' }], 'plain', 'c'), 'a\nb/\n');
  t.equal(renderObjectListing([], 'plain', 'c'), '');
});

t.test('account listing in json and xml', async (t) => {
  const c: ContainerRow = { name: 'c1', putTimestamp: '1700000000.00000', deleteTimestamp: '0000000000.00000', objectCount: 2, bytesUsed: 7, statsTimestamp: '1700000001.00000', deleted: false };
  const items: Array<ListingItem<ContainerRow>> = [{ name: 'c1', row: c }, { subdir: 'p/' }];
  t.same(JSON.parse(renderAccountListing(items, 'json', 'AUTH_a')), [{ name: 'c1', count: 2, bytes: 7, last_modified: '2023-11-14T22:13:20.000000' }, { subdir: 'p/' }]);
  t.equal(
    renderAccountListing(items, 'xml', 'AUTH_a'),
    '<?xml version="1.0" encoding="UTF-8"?>\n<account name="AUTH_a">\n' +
      '<container><name>c1</name><count>2</count><bytes>7</bytes><last_modified>2023-11-14T22:13:20.000000</last_modified></container>\n' +
      '<subdir name="p/" />\n</account>',
  );
});

t.test('swift_bytes override', async (t) => {
  t.same(splitSwiftBytes('text/plain', 1), { contentType: 'text/plain', bytes: 1 });
  t.same(splitSwiftBytes('a/b;swift_bytes=10;x=y', 1), { contentType: 'a/b;x=y', bytes: 10 });
});

t.test('last_modified: the per-listing converter agrees with Timestamp.isoListing (seeded)', async (t) => {
  const rnd = new SeededRandom(4242);
  const iso = isoConverter();
  let mismatches = 0;
  let prev = 1_700_000_000_00000;
  for (let i = 0; i < 5000; i++) {
    // runs within one second, jumps across seconds and years, and some offsets
    const ticks = rnd.int(4) === 0 ? rnd.int(4_000_000_000) * 100000 + rnd.int(100000) : prev + rnd.int(30000);
    prev = ticks;
    const ts = new Timestamp(ticks, rnd.int(5) === 0 ? rnd.int(1000) + 1 : 0);
    for (const s of [ts.internal, ts.normal]) if (iso(s) !== ts.isoListing) mismatches++;
  }
  t.equal(mismatches, 0);
  t.equal(iso('1700000000'), Timestamp.parse('1700000000').isoListing, 'an unusual form goes through Timestamp');
  t.equal(iso('1700000000.12345'), '2023-11-14T22:13:20.123450');
});

t.test('jsonString is JSON.stringify, for plain names and for every character class (seeded)', async (t) => {
  const rnd = new SeededRandom(99);
  const pool = ['a', 'Z', '0', '/', ' ', '~', '"', '\\', '\n', '\t', '\u0001', '\u007f', 'é', '日', '😀', '\u2028', '<', '&'];
  let bad = 0;
  for (let i = 0; i < 3000; i++) {
    let s = '';
    const n = rnd.int(12);
    for (let k = 0; k < n; k++) s += pool[rnd.int(rnd.int(3) === 0 ? pool.length : 6)] as string;
    if (jsonString(s) !== JSON.stringify(s)) bad++;
  }
  t.equal(bad, 0);
  const items = [row('plain/name'), row('q"uote\\back'), { subdir: 'dir "x"/' }, row('b', { contentType: 'application/x;swift_bytes=42', size: 7 })];
  t.same(JSON.parse(renderObjectListing(items, 'json', 'c')), [
    { hash: 'abc', last_modified: '2023-11-14T22:13:20.123450', bytes: 3, name: 'plain/name', content_type: 'text/plain' },
    { hash: 'abc', last_modified: '2023-11-14T22:13:20.123450', bytes: 3, name: 'q"uote\\back', content_type: 'text/plain' },
    { subdir: 'dir "x"/' },
    { hash: 'abc', last_modified: '2023-11-14T22:13:20.123450', bytes: 42, name: 'b', content_type: 'application/x' },
  ]);
});
