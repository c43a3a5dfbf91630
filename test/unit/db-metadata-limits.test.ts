import t from 'tap';
import { META_LIMITS } from '../../common/meta-limits.js';
import type { Metadata } from '../../storage-node/db/merge.js';
import { mergeMetadata } from '../../storage-node/db/merge.js';
import { mergedMetadataError, userMetadataTotals } from '../../storage-node/db/metadata-limits.js';

/** Swift's DatabaseBroker.validate_metadata on the merged set (storage-node/db/metadata-limits.ts). */

const T1 = '1700000001.00000';
const T2 = '1700000002.00000';

/** `n` user metadata keys `<prefix><tag><i>` (Title-Case, as the servers store them), each value `size` bytes, at `ts`. */
function keys(prefix: string, tag: string, n: number, size: number, ts = T1): Metadata {
  const m: Metadata = {};
  for (let i = 0; i < n; i++) m[`${prefix}${tag}${i}`] = ['v'.repeat(size), ts];
  return m;
}

t.test('what counts: live user metadata, name after the prefix plus value, in characters', async (t) => {
  t.same(userMetadataTotals({}), { count: 0, size: 0 });
  const m: Metadata = {
    'X-Container-Meta-Color': ['blue', T1], // 5 + 4
    'X-Account-Meta-Quota': ['10', T1], // 5 + 2
    'X-Container-Meta-Gone': ['', T1], // a deletion: free
    'X-Container-Read': ['.r:*,' + 'a'.repeat(5000), T1], // ACLs are not metadata items
    'X-Container-Sysmeta-Versions': ['x'.repeat(5000), T1], // nor is sysmeta
    'X-Versions-Location': ['v', T1],
    // "Café": "é" as a header arrives (its UTF-8 bytes, a Latin-1 char each): counted in
    // characters, as Swift's validate_metadata counts the decoded strings: 4 + 1
    [`X-Container-Meta-${Buffer.from('Café').toString('latin1')}`]: [Buffer.from('é').toString('latin1'), T1],
    // A character outside the BMP is one too.
    'X-Account-Meta-Clef': [Buffer.from('𝄞').toString('latin1'), T1], // 4 + 1
  };
  t.same(userMetadataTotals(m), { count: 4, size: 9 + 7 + 5 + 5 });
});

t.test('non-ASCII adds up in characters: what Swift takes across requests', async (t) => {
  // 10 keys of 128 "é" (256 bytes each) per request: two requests are 5,160 bytes but 2,600
  // characters, which Swift's container server takes; four are over.
  const batch = (tag: string, ts: string): Metadata => {
    const m: Metadata = {};
    for (let i = 0; i < 10; i++) m[`X-Container-Meta-${tag}${i}`] = [Buffer.from('é'.repeat(128)).toString('latin1'), ts];
    return m;
  };
  const two = mergeMetadata(batch('a', T1), batch('b', T2));
  t.equal(userMetadataTotals(two).size, 20 * (2 + 128));
  t.equal(mergedMetadataError(batch('a', T1), two), undefined);
  const four = mergeMetadata(two, mergeMetadata(batch('c', T2), batch('d', T2)));
  t.equal(mergedMetadataError(two, four), `Total metadata too large; max ${META_LIMITS.maxMetaOverallSize}`);
});

t.test('limits on the merged set, with Swift messages', async (t) => {
  const half = keys('X-Container-Meta-', 'A', 15, 256); // 15 x (2..3 + 256) < 4096
  t.equal(mergedMetadataError({}, half), undefined, 'one request under the limits');
  const more = mergeMetadata(half, keys('X-Container-Meta-', 'B', 15, 256, T2));
  t.equal(mergedMetadataError(half, more), `Total metadata too large; max ${META_LIMITS.maxMetaOverallSize}`, 'two that add up over 4096');

  const many = keys('X-Account-Meta-', 'K', 90, 1);
  t.equal(mergedMetadataError({}, many), undefined, '90 items');
  const ninetyOne = mergeMetadata(many, { 'X-Account-Meta-Extra': ['1', T2] });
  t.equal(mergedMetadataError(many, ninetyOne), `Too many metadata items; max ${META_LIMITS.maxMetaCount}`, '91 items');

  const exact: Metadata = { 'X-Container-Meta-A': ['v'.repeat(4095), T1] };
  t.equal(mergedMetadataError({}, exact), undefined, '4096 bytes exactly');
  t.equal(mergedMetadataError({}, { 'X-Container-Meta-A': ['v'.repeat(4096), T1] }), `Total metadata too large; max ${META_LIMITS.maxMetaOverallSize}`);
});

t.test('a change that does not add anything never fails', async (t) => {
  const stored = keys('X-Container-Meta-', 'A', 15, 256);
  t.equal(mergedMetadataError(stored, mergeMetadata(stored, stored)), undefined, 'the same set again');
  const older = mergeMetadata(stored, { 'X-Container-Meta-A0': ['v'.repeat(4000), '1600000000.00000'] });
  t.equal(mergedMetadataError(stored, older), undefined, 'an older value loses the merge: nothing grows');
  // removing keys
  const removed = mergeMetadata(stored, { 'X-Container-Meta-A0': ['', T2] });
  t.equal(mergedMetadataError(stored, removed), undefined);

  // Over both limits already (replicas merged two sets that were each fine): removals still work,
  // and so does a change that grows neither measure; growing either is refused.
  const over = mergeMetadata(keys('X-Container-Meta-', 'X', 60, 100), keys('X-Container-Meta-', 'Y', 60, 100));
  t.ok(userMetadataTotals(over).count > 90 && userMetadataTotals(over).size > 4096, 'stored set over both limits');
  t.equal(mergedMetadataError(over, mergeMetadata(over, { 'X-Container-Meta-X0': ['', T2], 'X-Container-Meta-Y0': ['', T2] })), undefined, 'removals');
  t.equal(mergedMetadataError(over, mergeMetadata(over, { 'X-Container-Meta-X0': ['short', T2] })), undefined, 'a shorter value');
  t.equal(mergedMetadataError(over, mergeMetadata(over, { 'X-Container-Meta-X0': ['v'.repeat(101), T2] })), `Total metadata too large; max ${META_LIMITS.maxMetaOverallSize}`, 'a longer value');
  t.equal(mergedMetadataError(over, mergeMetadata(over, { 'X-Container-Meta-Z': ['', T2] })), undefined, 'removing a key that was not there');
  t.equal(mergedMetadataError(over, mergeMetadata(over, { 'X-Container-Meta-Z': ['1', T2] })), `Too many metadata items; max ${META_LIMITS.maxMetaCount}`, 'one more key');
});
