/**
 * In-process async mutexes keyed by name (a promise chain per key). The container and account
 * stats are read-modify-write: writers of one container must not interleave or counts get lost.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const tail = prev.then(() => mine);
    this.tails.set(key, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      // Last one out removes the chain so the map does not grow with every container ever seen.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Resolves once every current holder and waiter is done (for close()). */
  async idle(): Promise<void> {
    while (this.tails.size) await Promise.all(this.tails.values());
  }
}

/**
 * Group commit on top of a KeyedMutex: jobs for one key that queue up while a commit is running
 * are applied together by the next one (one read, one batch, one fsync for all of them).
 */
export class GroupCommitter<J, R> {
  private readonly queues = new Map<string, Array<{ job: J; resolve: (r: R) => void; reject: (e: unknown) => void }>>();

  constructor(
    private readonly mutex: KeyedMutex,
    /** Applies the jobs together; returns one result (or an Error to reject with) per job, in order. */
    private readonly apply: (key: string, jobs: J[]) => Promise<Array<R | Error>>,
  ) {}

  submit(key: string, job: J): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let q = this.queues.get(key);
      const first = !q;
      if (!q) {
        q = [];
        this.queues.set(key, q);
      }
      q.push({ job, resolve, reject });
      if (!first) return;
      void this.mutex.run(key, async () => {
        // Take the queue when our turn comes: everything submitted meanwhile rides along.
        const taken = this.queues.get(key) ?? [];
        this.queues.delete(key);
        try {
          const results = await this.apply(
            key,
            taken.map((t) => t.job),
          );
          taken.forEach((t, i) => {
            const r = results[i];
            if (r instanceof Error) t.reject(r);
            else t.resolve(r as R);
          });
        } catch (err) {
          for (const t of taken) t.reject(err);
        }
      });
    });
  }
}
