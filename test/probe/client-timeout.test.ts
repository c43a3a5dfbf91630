import t from 'tap';
import { connect } from 'node:net';
import { startCluster } from '../helpers/cluster.js';
import { api, devicesHoldingObject } from '../helpers/swift-api.js';

/**
 * The proxy's client_timeout_ms on an object PUT, streamed or small: a client that goes quiet
 * mid-body gets a 408 (and then the connection closes) and nothing is stored; a slow client that
 * keeps sending, each piece within the timeout, is not cut off however long the upload takes.
 */
const TIMEOUT_MS = 800;
const SIZE = 1024 * 1024;
const PIECE = 128 * 1024;

/** Raw PUT of `size` bytes: sends `pieces` pieces of PIECE bytes `gapMs` apart (then nothing), resolves with the answer once the server closes. */
function slowPut(url: URL, token: string, name: string, pieces: number, gapMs: number, size = SIZE): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const sock = connect(Number(url.port), url.hostname, () => {
      sock.write(`PUT ${url.pathname}/c/${name} HTTP/1.1\r\nHost: ${url.host}\r\nX-Auth-Token: ${token}\r\nContent-Length: ${size}\r\nConnection: close\r\n\r\n`);
      let sent = 0;
      const send = (): void => {
        if (sent >= pieces || sock.destroyed) return;
        sock.write(Buffer.alloc(Math.min(PIECE, size - 1), 0x61 + sent));
        sent++;
        setTimeout(send, gapMs);
      };
      send();
    });
    sock.on('data', (d) => (answer += d.toString('latin1')));
    sock.on('close', () => resolve(answer));
    sock.on('error', reject);
    setTimeout(() => sock.destroy(), 20_000);
  });
}

t.test('client timeout on a streamed PUT', async (t) => {
  const cluster = await startCluster({ proxyConfig: { client_timeout_ms: TIMEOUT_MS } });
  t.teardown(() => cluster.stop());
  const a = await api(cluster);
  const account = a.storageUrl.split('/').pop() as string;
  t.equal((await a.req('PUT', '/c')).status, 201);
  const url = new URL(a.storageUrl);

  const started = Date.now();
  const quiet = await slowPut(url, a.token, 'stalled', 2, 50);
  t.match(quiet, /^HTTP\/1\.1 408 /, 'quiet mid-body: 408');
  t.ok(Date.now() - started < 10_000, 'answered soon after the timeout');
  t.equal((await a.req('GET', '/c/stalled')).status, 404, 'nothing stored');
  t.same(await devicesHoldingObject(cluster, account, 'c', 'stalled'), [], 'no .data on any disk');

  // A small body (read whole by the proxy before it goes to the nodes) that stops short: 408 too.
  const small = await slowPut(url, a.token, 'small', 1, 50, 32 * 1024);
  t.match(small, /^HTTP\/1\.1 408 /, 'small body, quiet mid-body: 408');
  t.equal((await a.req('GET', '/c/small')).status, 404, 'nothing stored');

  // 8 pieces 300 ms apart: the upload takes ~2.4 s, three times the timeout, but never goes quiet for long.
  const steady = await slowPut(url, a.token, 'steady', SIZE / PIECE, 300);
  t.match(steady, /^HTTP\/1\.1 201 /, 'a slow but steady client is not cut off');
  const got = await a.req('GET', '/c/steady');
  t.equal(got.status, 200);
  t.equal(got.body.length, SIZE, 'every byte stored');
});

t.test('a chunked PUT past max_file_size is answered 413 before the connection closes', async (t) => {
  const cluster = await startCluster({ proxyConfig: { max_file_size: SIZE } });
  t.teardown(() => cluster.stop());
  const a = await api(cluster);
  const account = a.storageUrl.split('/').pop() as string;
  t.equal((await a.req('PUT', '/c')).status, 201);
  const url = new URL(a.storageUrl);
  const answer = await new Promise<string>((resolve, reject) => {
    let text = '';
    const sock = connect(Number(url.port), url.hostname, () => {
      sock.write(`PUT ${url.pathname}/c/big HTTP/1.1\r\nHost: ${url.host}\r\nX-Auth-Token: ${a.token}\r\nTransfer-Encoding: chunked\r\n\r\n`);
      // 2 MiB in 64 KiB chunks, never terminated: the proxy must stop at 1 MiB and answer.
      const piece = Buffer.alloc(64 * 1024, 0x62);
      for (let i = 0; i < 32 && !sock.destroyed; i++) sock.write(`${piece.length.toString(16)}\r\n${piece.toString('latin1')}\r\n`);
    });
    sock.on('data', (d) => (text += d.toString('latin1')));
    sock.on('close', () => resolve(text));
    sock.on('error', () => resolve(text));
    setTimeout(() => reject(new Error('no answer in 20 s')), 20_000).unref();
  });
  t.match(answer, /^HTTP\/1\.1 413 /, 'too large: 413');
  t.equal((await a.req('GET', '/c/big')).status, 404, 'nothing stored');
  t.same(await devicesHoldingObject(cluster, account, 'c', 'big'), [], 'no .data on any disk');
});
