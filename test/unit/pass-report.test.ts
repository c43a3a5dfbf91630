import t from 'tap';
import { readdir } from 'node:fs/promises';
import { loadReports, saveReport, statusDir, type PassReport } from '../../common/pass-report.js';

/** Pass reports (common/pass-report.ts): saved atomically, by any number of writers at once. */

const report = (i: number): PassReport => ({ daemon: 'object-replicator', startedAt: i, durationMs: 1, counts: { partitions: i }, errors: [] });

t.test('many saves of one daemon at once (the daemons and a --once) all succeed; one whole report wins', async (t) => {
  const root = t.testdir({});
  const results = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => saveReport(root, report(i))));
  t.same(
    results.filter((r) => r.status === 'rejected').map((r) => String((r as PromiseRejectedResult).reason)),
    [],
    'no save failed',
  );
  const saved = await loadReports(root);
  t.equal(saved.length, 1);
  t.equal(saved[0]?.counts.partitions, saved[0]?.startedAt, 'a whole report, not a mix');
  t.same(await readdir(statusDir(root)), ['object-replicator.json'], 'no temp file left');
});
