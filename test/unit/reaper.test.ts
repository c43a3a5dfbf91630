import t from 'tap';
import { entryOwner } from '../../common/expiring-queue.js';
import { containerRowDeleted, type ContainerRow } from '../../storage-node/db/merge.js';
import { reapDue, reapPlan } from '../../replicator/reaper.js';

/** The account reaper's plan (replicator/reaper.ts): when an account is due, and which containers each primary reaps. */

function row(name: string, put: string, del = '0000000000.00000', count = 0): ContainerRow {
  return { name, putTimestamp: put, deleteTimestamp: del, objectCount: count, bytesUsed: 0, statsTimestamp: put, deleted: containerRowDeleted(put, del, count) };
}

t.test('due once delay_reaping has passed since the delete', async (t) => {
  t.ok(reapDue('1700000000.00000', 1_700_000_000, 0), 'no delay: at once');
  t.notOk(reapDue('1700000000.00000', 1_700_000_099, 100), 'within the delay');
  t.ok(reapDue('1700000000.00000', 1_700_000_100, 100), 'after it');
  t.notOk(reapDue('garbage', 1_800_000_000, 0), 'no timestamp, no reaping');
});

t.test('each live container is reaped by exactly one primary, by md5(name) % replicas; deleted ones by none', async (t) => {
  const rows = Array.from({ length: 40 }, (_, i) => row(`c${i}`, '1700000000.00000'));
  rows.push(row('gone', '1700000000.00000', '1700000001.00000'));
  rows.push(row('\u{10FFFF}versions\u{10FFFF}v', '1700000000.00000'));
  const plans = [0, 1, 2].map((mine) => reapPlan(rows, 3, mine));
  const all = plans.flatMap((p) => p.containers).sort();
  t.same(all, rows.filter((r) => !r.deleted).map((r) => r.name).sort(), 'every live container once, hidden ones too');
  t.ok(plans.every((p) => p.live === 41), 'live counts the whole account');
  t.ok(plans.every((p) => p.containers.length > 0), 'the work is split');
  for (const [mine, p] of plans.entries()) t.ok(p.containers.every((c) => entryOwner(c, 3) === mine), `primary ${mine} takes its shard`);
  t.same(reapPlan(rows, 1, 0).containers.length, 41, 'one replica: all of them');
  t.same(reapPlan([row('gone', '1700000000.00000', '1700000001.00000')], 3, 0), { live: 0, containers: [] }, 'an emptied account: nothing');
});
