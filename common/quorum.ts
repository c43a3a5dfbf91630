/** Swift's quorum: a strict majority of the replicas. */
export function quorumSize(replicas: number): number {
  return Math.floor(replicas / 2) + 1;
}

export type StatusClass = 2 | 3 | 4 | 5;

export function statusClass(status: number): StatusClass {
  if (status >= 200 && status < 300) return 2;
  if (status >= 300 && status < 400) return 3;
  if (status >= 400 && status < 500) return 4;
  return 5;
}

/**
 * The outcome of a fan-out (Swift's best_response): the first status class, of 2xx, 3xx and 4xx,
 * that a quorum of the replicas answered wins, and within it the highest status (Swift's
 * max(): 409 over 404, 204 over 202); `index` is the answer it came from. Without a quorum of
 * any class the answer is 503. `statuses` are the per-node answers (503 for a node that failed).
 * Answers in `avoid` (statuses a caller overrode) count towards the quorum but are never chosen.
 */
export function bestResponse(statuses: number[], replicas: number, avoid: ReadonlySet<number> = new Set()): { status: number; quorum: boolean; index: number } {
  const need = quorumSize(replicas);
  for (const cls of [2, 3, 4] as StatusClass[]) {
    let count = 0;
    let index = -1;
    statuses.forEach((s, i) => {
      if (statusClass(s) !== cls) return;
      count++;
      if (!avoid.has(i) && (index === -1 || s > (statuses[index] as number))) index = i;
    });
    if (count >= need && index !== -1) return { status: statuses[index] as number, quorum: true, index };
  }
  return { status: 503, quorum: false, index: -1 };
}

/** Swift's have_quorum: a quorum of the replicas answered in one class, 2xx, 3xx or 4xx (never 5xx). */
export function hasQuorum(statuses: number[], replicas: number): boolean {
  const need = quorumSize(replicas);
  return ([2, 3, 4] as StatusClass[]).some((cls) => statuses.filter((s) => statusClass(s) === cls).length >= need);
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export type Sleep = (ms: number, signal: AbortSignal) => Promise<void>;

export const timerSleep: Sleep = (ms, signal) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });

/**
 * Swift's make_requests wait (proxy/controllers/base.py): answers are collected until a quorum
 * of them agree on a status class (hasQuorum), then the rest get at most `graceMs` more
 * (post_quorum_timeout), then the caller decides from what is in. Without a quorum every answer
 * is waited for. Returns the answers by slot, undefined for one still out. Nothing is cancelled:
 * a straggler's request goes on and its late answer is ignored, as Swift leaves its greenthreads
 * to finish. `answers` must not reject; one that does counts as no answer. `enough(statuses)`
 * ends the wait at once, without the grace (an object PUT stored on a quorum).
 */
export function gatherUntilQuorum<T>(
  answers: Array<Promise<T>>,
  statusOf: (answer: T) => number,
  replicas: number,
  graceMs: number,
  sleep: Sleep = timerSleep,
  enough: (statuses: number[]) => boolean = () => false,
): Promise<Array<T | undefined>> {
  return new Promise((resolve) => {
    const got: Array<T | undefined> = answers.map(() => undefined);
    const statuses: number[] = [];
    let left = answers.length;
    let graceStarted = false;
    let done = false;
    const stopGrace = new AbortController();
    const finish = (): void => {
      if (done) return;
      done = true;
      stopGrace.abort();
      resolve([...got]);
    };
    const settled = (): void => {
      if (done) return;
      if (--left === 0 || enough(statuses)) return finish();
      if (!graceStarted && hasQuorum(statuses, replicas)) {
        graceStarted = true;
        void sleep(graceMs, stopGrace.signal).then(finish, finish);
      }
    };
    if (left === 0) return finish();
    answers.forEach((a, i) => {
      a.then(
        (r) => {
          if (done) return;
          got[i] = r;
          statuses.push(statusOf(r));
          settled();
        },
        () => settled(),
      );
    });
  });
}
