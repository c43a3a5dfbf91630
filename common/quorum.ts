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
 * The outcome of a fan-out: the status class that reached quorum wins, and within it the most
 * common status (ties to the lowest). Without a quorum of any class the answer is 503.
 * Like Swift's best_response: statuses are the per-node answers (use 503 for a node that failed).
 */
export function bestResponse(statuses: number[], replicas: number): { status: number; quorum: boolean } {
  const need = quorumSize(replicas);
  for (const cls of [2, 3, 4] as StatusClass[]) {
    const inClass = statuses.filter((s) => statusClass(s) === cls);
    if (inClass.length >= need) {
      const counts = new Map<number, number>();
      for (const s of inClass) counts.set(s, (counts.get(s) ?? 0) + 1);
      let best = inClass[0] as number;
      for (const [s, c] of counts) {
        const bc = counts.get(best) as number;
        if (c > bc || (c === bc && s < best)) best = s;
      }
      return { status: best, quorum: true };
    }
  }
  return { status: 503, quorum: false };
}
