import t from 'tap';
import { gatherUntilQuorum, hasQuorum, type Sleep } from '../../common/quorum.js';

/**
 * gatherUntilQuorum with a sleep the test controls: no timers, so "not answered yet" is a fact
 * about the code, not about how fast the machine is.
 */
function manualSleep(): { sleep: Sleep; calls: Array<{ ms: number; signal: AbortSignal; wake: () => void }> } {
  const calls: Array<{ ms: number; signal: AbortSignal; wake: () => void }> = [];
  const sleep: Sleep = (ms, signal) => new Promise((resolve) => calls.push({ ms, signal, wake: resolve }));
  return { sleep, calls };
}

function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Lets every pending promise callback run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

function watch<T>(p: Promise<T>): { done: () => boolean; value: () => T | undefined } {
  let done = false;
  let value: T | undefined;
  void p.then((v) => ((done = true), (value = v)));
  return { done: () => done, value: () => value };
}

t.test('hasQuorum: a majority in 2xx, 3xx or 4xx; never 5xx', async (t) => {
  t.ok(hasQuorum([204, 204], 3));
  t.ok(hasQuorum([404, 404, 503], 3));
  t.ok(hasQuorum([201, 202], 3), 'one class, different codes');
  t.notOk(hasQuorum([204, 404], 3));
  t.notOk(hasQuorum([503, 503], 3), '5xx never ends the wait');
  t.notOk(hasQuorum([204], 3));
  t.ok(hasQuorum([204, 204, 204], 4) && !hasQuorum([204, 204], 4), 'four replicas need three');
});

t.test('a quorum starts the grace; the straggler is not waited for past it', async (t) => {
  const { sleep, calls } = manualSleep();
  const [a, b, c] = [deferred<number>(), deferred<number>(), deferred<number>()];
  const result = watch(gatherUntilQuorum([a.promise, b.promise, c.promise], (s) => s, 3, 500, sleep));
  a.resolve(204);
  await settle();
  t.equal(calls.length, 0, 'one answer: no grace yet');
  b.resolve(204);
  await settle();
  t.equal(calls.length, 1, 'a quorum: the grace starts');
  t.equal(calls[0]!.ms, 500, 'for post_quorum_timeout');
  t.notOk(result.done(), 'and is waited out');
  calls[0]!.wake();
  await settle();
  t.ok(result.done(), 'answered when the grace ends, the third still out');
  t.same(result.value(), [204, 204, undefined]);
  c.resolve(503);
  await settle();
  t.same(result.value(), [204, 204, undefined], 'a late answer changes nothing');
});

t.test('the last answer inside the grace ends it at once', async (t) => {
  const { sleep, calls } = manualSleep();
  const [a, b, c] = [deferred<number>(), deferred<number>(), deferred<number>()];
  const result = watch(gatherUntilQuorum([a.promise, b.promise, c.promise], (s) => s, 3, 500, sleep));
  b.resolve(404);
  c.resolve(404);
  await settle();
  t.equal(calls.length, 1, 'a quorum of 404s starts the grace too');
  a.resolve(204);
  await settle();
  t.ok(result.done(), 'all in: answered without waiting the grace out');
  t.same(result.value(), [204, 404, 404], 'each answer in its slot');
  t.ok(calls[0]!.signal.aborted, 'the grace timer is cancelled');
});

t.test('without a quorum every answer is waited for', async (t) => {
  for (const first of [[204, 404], [503, 503], [204, 503]]) {
    const { sleep, calls } = manualSleep();
    const [a, b, c] = [deferred<number>(), deferred<number>(), deferred<number>()];
    const result = watch(gatherUntilQuorum([a.promise, b.promise, c.promise], (s) => s, 3, 500, sleep));
    a.resolve(first[0]!);
    b.resolve(first[1]!);
    await settle();
    t.equal(calls.length, 0, `${first.join(',')}: no quorum, no grace`);
    t.notOk(result.done(), `${first.join(',')}: still waiting for the third`);
    c.resolve(204);
    await settle();
    t.same(result.value(), [...first, 204], `${first.join(',')}: answered with all three`);
  }
});

t.test('a rejected answer counts as none', async (t) => {
  const { sleep } = manualSleep();
  const out = await gatherUntilQuorum([Promise.resolve(204), Promise.reject(new Error('x')), Promise.resolve(204)], (s) => s, 3, 500, sleep);
  t.same(out, [204, undefined, 204]);
  t.same(await gatherUntilQuorum([], (s: number) => s, 3, 500, sleep), [], 'nothing to wait for');
});

t.test("object PUT's untilQuorum: at once on stored, after the grace on another class", async (t) => {
  const { untilQuorum } = await import('../../proxy/object-put.js');
  // Two stored: answered at once, no grace asked for.
  {
    const { sleep, calls } = manualSleep();
    const [a, b, c] = [deferred<{ status: number }>(), deferred<{ status: number }>(), deferred<{ status: number }>()];
    const w = watch(untilQuorum([a.promise, b.promise, c.promise], 3, 500, sleep));
    a.resolve({ status: 201 });
    b.resolve({ status: 201 });
    await settle();
    t.ok(w.done(), 'a quorum stored: answered');
    t.equal(calls.length, 0, 'without waiting for the third');
  }
  // Two refusals and a hung third: the grace, then the answer without the third.
  {
    const { sleep, calls } = manualSleep();
    const [a, b, c] = [deferred<{ status: number }>(), deferred<{ status: number }>(), deferred<{ status: number }>()];
    const w = watch(untilQuorum([a.promise, b.promise, c.promise], 3, 500, sleep));
    a.resolve({ status: 422 });
    b.resolve({ status: 422 });
    await settle();
    t.notOk(w.done(), 'a quorum of 422s: not yet, the third gets the grace');
    t.same(calls.map((x) => x.ms), [500]);
    calls[0]!.wake();
    await settle();
    t.same(w.value()?.map((r) => r.status), [422, 422], 'then the answer, the third still out');
    c.resolve({ status: 201 });
  }
  // No quorum of any class: every answer.
  {
    const { sleep, calls } = manualSleep();
    const [a, b, c] = [deferred<{ status: number }>(), deferred<{ status: number }>(), deferred<{ status: number }>()];
    const w = watch(untilQuorum([a.promise, b.promise, c.promise], 3, 500, sleep));
    a.resolve({ status: 201 });
    b.resolve({ status: 422 });
    await settle();
    t.notOk(w.done(), 'split: waits');
    t.equal(calls.length, 0);
    c.resolve({ status: 503 });
    await settle();
    t.same(w.value()?.map((r) => r.status), [201, 422, 503]);
  }
});
