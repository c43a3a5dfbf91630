/**
 * A long piece of work as a response body that keeps the client waiting rather than timing out:
 * `first` at once, then `space` every `intervalMs` until the work is done, then what it gave (or
 * its error, which cuts the body). SLO's `heartbeat=on` manifest PUT and S3's
 * CompleteMultipartUpload answer this way, as in Swift. The work starts when the body is first read.
 */
export async function* keepAlive(first: Buffer, work: () => Promise<Buffer>, intervalMs: number, space = ' '): AsyncGenerator<Buffer> {
  yield first;
  const done = work().then(
    (r) => ({ r }),
    (e: unknown) => ({ e }),
  );
  for (;;) {
    let timer: NodeJS.Timeout | undefined;
    const tick = new Promise<'tick'>((resolve) => (timer = setTimeout(() => resolve('tick'), intervalMs)));
    const got = await Promise.race([done, tick]);
    clearTimeout(timer);
    if (got === 'tick') {
      yield Buffer.from(space);
      continue;
    }
    if ('e' in got) throw got.e;
    yield got.r;
    return;
  }
}
