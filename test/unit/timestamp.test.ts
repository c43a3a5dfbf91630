import t from 'tap';
import { Timestamp } from '../../common/timestamp.js';
import { bestResponse, quorumSize } from '../../common/quorum.js';

t.test('timestamp normal form sorts lexically and round-trips', async (t) => {
  const a = Timestamp.parse('1700000000.12345');
  t.equal(a.normal, '1700000000.12345');
  t.equal(Timestamp.parse('1700000000').normal, '1700000000.00000');
  t.equal(Timestamp.parse('0000000001.5').normal, '0000000001.50000');
  const b = a.withOffset(10);
  t.equal(b.internal, '1700000000.12345_000000000000000a');
  t.equal(Timestamp.parse(b.internal).compare(b), 0);
  t.ok(a.internal < b.internal);
  t.ok(a.compare(b) < 0);
  t.throws(() => Timestamp.parse('abc'));
  t.throws(() => Timestamp.parse('-1'));
  t.equal(Timestamp.now(() => 1700000000123).normal, '1700000000.12300');
});

t.test('quorum from node statuses', async (t) => {
  t.equal(quorumSize(3), 2);
  t.equal(quorumSize(4), 3);
  t.equal(quorumSize(1), 1);
  const table: Array<[number[], number]> = [
    [[201, 201, 201], 201],
    [[201, 201, 503], 201],
    [[201, 503, 503], 503],
    [[404, 404, 201], 404],
    [[409, 201, 201], 201],
    [[507, 507, 201], 503],
    // Swift's best_response takes the highest status of the winning class.
    [[404, 409, 503], 409],
    [[204, 202, 202], 204],
    [[404, 404, 409], 409],
  ];
  for (const [statuses, want] of table) {
    t.equal(bestResponse(statuses, 3).status, want, `${statuses.join(',')} -> ${want}`);
  }
});
