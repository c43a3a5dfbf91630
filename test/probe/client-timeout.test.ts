import t, { type Test } from 'tap';
import { connect, type Socket } from 'node:net';
import type { Cluster } from '../helpers/cluster.js';
import { clusterWithContainer, devicesHoldingObject, type Api } from '../helpers/swift-api.js';

/**
 * The proxy's client_timeout_ms on an object PUT, streamed or small: a client that goes quiet
 * mid-body gets a 408 (and then the connection closes) and nothing is stored; a slow client that
 * keeps sending, each piece within the timeout, is not cut off however long the upload takes.
 * And a chunked body past max_file_size gets its 413 before the connection closes.
 */
const TIMEOUT_MS = 800;
const SIZE = 1024 * 1024;
const PIECE = 128 * 1024;

interface Setup {
  cluster: Cluster;
  a: Api;
  account: string;
  url: URL;
}

/** A cluster whose proxy has `proxyConfig`, with container `c`. */
async function setup(t: Test, proxyConfig: Record<string, unknown>): Promise<Setup> {
  const s = await clusterWithContainer(t, { proxyConfig });
  return { ...s, url: new URL(s.a.storageUrl) };
}

/**
 * A raw PUT of /c/<name> with `headers`: `feed` writes the body (or as much as it wants), and the
 * promise resolves with everything the server sent once it closes the connection.
 */
function rawPut(s: Setup, name: string, headers: string, feed: (sock: Socket) => void): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const sock = connect(Number(s.url.port), s.url.hostname, () => {
      sock.write(`PUT ${s.url.pathname}/c/${name} HTTP/1.1\r\nHost: ${s.url.host}\r\nX-Auth-Token: ${s.a.token}\r\n${headers}\r\n`);
      feed(sock);
    });
    sock.on('data', (d) => (answer += d.toString('latin1')));
    sock.on('close', () => resolve(answer));
    sock.on('error', () => resolve(answer));
    setTimeout(() => reject(new Error(`no answer for ${name} in 20 s`)), 20_000).unref();
  });
}

/** A PUT of `size` bytes sending `pieces` pieces of up to PIECE bytes `gapMs` apart, then nothing. */
function slowPut(s: Setup, name: string, pieces: number, gapMs: number, size = SIZE): Promise<string> {
  return rawPut(s, name, `Content-Length: ${size}\r\nConnection: close\r\n`, (sock) => {
    let sent = 0;
    const send = (): void => {
      if (sent >= pieces || sock.destroyed) return;
      sock.write(Buffer.alloc(Math.min(PIECE, size - 1), 0x61 + sent));
      sent++;
      setTimeout(send, gapMs);
    };
    send();
  });
}

async function assertNothingStored(t: Test, s: Setup, name: string): Promise<void> {
  t.equal((await s.a.req('GET', `/c/${name}`)).status, 404, `${name}: nothing stored`);
  t.same(await devicesHoldingObject(s.cluster, s.account, 'c', name), [], `${name}: no .data on any disk`);
}

t.test('client timeout on a streamed PUT', async (t) => {
  const s = await setup(t, { client_timeout_ms: TIMEOUT_MS });

  const started = Date.now();
  const quiet = await slowPut(s, 'stalled', 2, 50);
  t.match(quiet, /^HTTP\/1\.1 408 /, 'quiet mid-body: 408');
  t.ok(Date.now() - started < 10_000, 'answered soon after the timeout');
  await assertNothingStored(t, s, 'stalled');

  // A small body (read whole by the proxy before it goes to the nodes) that stops short: 408 too.
  const small = await slowPut(s, 'small', 1, 50, 32 * 1024);
  t.match(small, /^HTTP\/1\.1 408 /, 'small body, quiet mid-body: 408');
  await assertNothingStored(t, s, 'small');

  // 8 pieces 300 ms apart: the upload takes ~2.4 s, three times the timeout, but never goes quiet for long.
  const steady = await slowPut(s, 'steady', SIZE / PIECE, 300);
  t.match(steady, /^HTTP\/1\.1 201 /, 'a slow but steady client is not cut off');
  const got = await s.a.req('GET', '/c/steady');
  t.equal(got.status, 200);
  t.equal(got.body.length, SIZE, 'every byte stored');
});

t.test('a chunked PUT past max_file_size is answered 413 before the connection closes', async (t) => {
  const s = await setup(t, { max_file_size: SIZE });
  const answer = await rawPut(s, 'big', 'Transfer-Encoding: chunked\r\n', (sock) => {
    // 2 MiB in 64 KiB chunks, never terminated: the proxy must stop at 1 MiB and answer.
    const piece = Buffer.alloc(64 * 1024, 0x62);
    for (let i = 0; i < 32 && !sock.destroyed; i++) sock.write(`${piece.length.toString(16)}\r\n${piece.toString('latin1')}\r\n`);
  });
  t.match(answer, /^HTTP\/1\.1 413 /, 'too large: 413');
  await assertNothingStored(t, s, 'big');
});
