import t from 'tap';
import { breakdownTable, LEVELDB_BOUND_MIB, levelDbOffset, levelDbPeaks, memoryParts, type BreakdownSample } from '../../bench/memory-breakdown.js';
import type { MemoryReport } from '../../storage-node/memory-report.js';

const MiB = 1024 ** 2;

function report(rss: number, young: number, old: number, code: number, levelDb: Record<string, number>, cHeapInUse?: number): MemoryReport {
  return {
    rss: rss * MiB,
    heapTotal: 0,
    heapUsed: 0,
    external: 0,
    arrayBuffers: 0,
    v8Spaces: { new_space: { physical: young * MiB, used: 1 }, old_space: { physical: old * MiB, used: 1 }, code_space: { physical: code * MiB, used: 1 } },
    levelDb: Object.fromEntries(Object.entries(levelDb).map(([d, m]) => [d, m * MiB])),
    malloc: cHeapInUse === undefined ? null : { heapBytes: 2 * cHeapInUse * MiB, inUseBytes: (cHeapInUse - 1) * MiB, freeBytes: cHeapInUse * MiB, mmappedBytes: MiB },
  };
}

t.test('memoryParts splits RSS into the young generation, the rest of V8, the C heap in use and the rest', async (t) => {
  t.same(memoryParts(report(200, 100, 15, 3, { sda: 10, sdb: 2 }, 30)), { rssMiB: 200, youngMiB: 100, v8OtherMiB: 18, cHeapMiB: 30, levelDbMiB: 12, levelDbCount: 2, restMiB: 52 }, 'LevelDB is inside the C heap: not taken off twice');
  t.same(memoryParts(report(200, 100, 15, 3, { sda: 10, sdb: 2 })), { rssMiB: 200, youngMiB: 100, v8OtherMiB: 18, cHeapMiB: NaN, levelDbMiB: 12, levelDbCount: 2, restMiB: 70 }, 'without the C heap figures: LevelDB is what is known');
});

t.test('breakdownTable: from the first sample after the warm-up to the last, with the change', async (t) => {
  const samples: BreakdownSample[] = [
    { t: 0, nodes: { node1: memoryParts(report(80, 1, 10, 1, {}, 5)) } },
    { t: 31, nodes: { node1: memoryParts(report(200, 100, 15, 3, { sda: 10 }, 20)), node2: memoryParts(report(150, 50, 15, 3, {}, 20)) } },
    { t: 600, nodes: { node1: memoryParts(report(220, 104, 16, 3, { sda: 16 }, 26)) } },
  ];
  const md = breakdownTable(samples, 30);
  t.match(md, /at 31 s → at 600 s/);
  t.match(md, /\| node1 \| 200 → 220 \(\+20\.0\) \| 100 → 104 \(\+4\.0\) \| 18 → 19 \(\+1\.0\) \| 20 → 26 \(\+6\.0\) \| 10 → 16 \(\+6\.0\) \| 62 → 71 \(\+9\.0\) \|/);
  const unknown = breakdownTable([{ t: 31, nodes: { node1: memoryParts(report(200, 100, 15, 3, {})) } }, { t: 600, nodes: { node1: memoryParts(report(210, 100, 15, 3, {})) } }], 30);
  t.match(unknown, /\| 18 → 18 \(\+0\.0\) \| — \| 0 → 0/, 'a C heap the node cannot tell is a dash');
  t.notMatch(md, /node2/, 'a node missing from the last sample is left out');
  t.equal(breakdownTable(samples.slice(0, 1), 30), '', 'nothing after the warm-up: no table');
});

t.test('levelDbOffset: a node\'s LevelDB memory between reports, held outside them', async (t) => {
  const samples: BreakdownSample[] = [
    { t: 10, nodes: { node1: memoryParts(report(200, 100, 15, 3, { sda: 2 }, 20)) } },
    { t: 20, nodes: { node2: memoryParts(report(200, 100, 15, 3, { sda: 9 }, 20)) } },
    { t: 30, nodes: { node1: memoryParts(report(210, 100, 15, 3, { sda: 6 }, 24)) } },
  ];
  const off = levelDbOffset(samples, 'node1');
  if (!off) return t.fail('an offset for node1');
  t.equal(off(0), 2, 'before the first report: the first');
  t.equal(off(20), 4, 'halfway: halfway (node2\'s report in between is not node1\'s)');
  t.equal(off(30), 6);
  t.equal(off(99), 6, 'after the last report: the last');
  t.equal(levelDbOffset(samples, 'node3'), undefined, 'a node that never answered: none');
});

t.test('levelDbPeaks: the most each node\'s LevelDB held, against its bound per database', async (t) => {
  const samples: BreakdownSample[] = [
    { t: 10, nodes: { node1: memoryParts(report(200, 100, 15, 3, { sda: 5, sdb: 20 }, 30)), node2: memoryParts(report(200, 100, 15, 3, { sda: 3 }, 20)) } },
    { t: 20, nodes: { node1: memoryParts(report(200, 100, 15, 3, { sda: 7, sdb: 8 }, 30)), node2: memoryParts(report(200, 100, 15, 3, { sda: LEVELDB_BOUND_MIB + 1 }, 20)) } },
  ];
  t.same(levelDbPeaks(samples), [
    { node: 'node1', maxMiB: 25, boundMiB: 2 * LEVELDB_BOUND_MIB, within: true },
    { node: 'node2', maxMiB: LEVELDB_BOUND_MIB + 1, boundMiB: LEVELDB_BOUND_MIB, within: false },
  ]);
});
