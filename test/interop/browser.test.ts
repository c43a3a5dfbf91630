import t from 'tap';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import puppeteer from 'puppeteer-core';
import { request } from 'undici';
import { startCluster } from '../helpers/cluster.js';

/** Debian's Chromium (.ci/run installs it), driven headless over the DevTools protocol. */
const CHROMIUM = '/usr/bin/chromium';

t.test('a static-web site and CORS in a real browser', async (t) => {
  const cluster = await startCluster({ proxyConfig: { recheck_container_existence_s: 0 } });
  t.teardown(() => cluster.stop());
  const { token, storageUrl } = await cluster.token();
  const swift = async (method: string, path: string, headers: Record<string, string> = {}, body?: string): Promise<number> => {
    const res = await request(`${storageUrl}${path}`, { method, headers: { 'x-auth-token': token, ...headers }, ...(body !== undefined ? { body } : {}) });
    await res.body.dump();
    return res.statusCode;
  };

  // The site: an index, a folder to list, a 404 page.
  t.equal(
    await swift('PUT', '/site', {
      'x-container-read': '.r:*,.rlistings',
      'x-container-meta-web-index': 'index.html',
      'x-container-meta-web-listings': 'true',
      'x-container-meta-web-error': 'error.html',
    }),
    201,
  );
  await swift('PUT', '/site/index.html', { 'content-type': 'text/html' }, '<!doctype html><title>Swiftlet site</title><h1 id="hello">Hello from a container</h1>');
  await swift('PUT', '/site/404error.html', { 'content-type': 'text/html' }, '<!doctype html><title>Lost</title><p id="lost">No such page here</p>');
  await swift('PUT', '/site/docs/guide.txt', { 'content-type': 'text/plain' }, 'read me');
  await swift('PUT', `/site/docs/${encodeURIComponent('<img src=x onerror=alert(1)>.txt')}`, { 'content-type': 'text/plain' }, 'x');
  // The API the other origin's page reads: public, with metadata for an exposed header.
  t.equal(await swift('PUT', '/api', { 'x-container-read': '.r:*' }), 201);
  await swift('PUT', '/api/data.json', { 'content-type': 'application/json', 'x-object-meta-color': 'blue' }, '{"answer":42}');

  // Another origin (a different port is a different origin) serving the page that fetches.
  const other = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>app</title>'));
  await new Promise<void>((r) => other.listen(0, '127.0.0.1', r));
  t.teardown(() => other.close());
  const otherOrigin = `http://127.0.0.1:${(other.address() as AddressInfo).port}`;

  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  t.teardown(() => browser.close());
  const page = await browser.newPage();

  // The index page.
  const home = await page.goto(`${storageUrl}/site/`);
  t.equal(home?.status(), 200);
  t.equal(await page.title(), 'Swiftlet site');
  t.equal(await page.$eval('#hello', (e) => e.textContent), 'Hello from a container');
  // A folder without its slash is redirected to it, then listed.
  const listed = await page.goto(`${storageUrl}/site/docs`);
  t.equal(listed?.status(), 200);
  t.equal(page.url(), `${storageUrl}/site/docs/`, 'redirected to the folder');
  t.equal(await page.$eval('#title', (e) => e.textContent), 'Listing of /v1/AUTH_test/site/docs/');
  const links = await page.$$eval('#listing td.colname a', (as) => as.map((a) => [a.textContent, (a as HTMLAnchorElement).href]));
  t.same(links, [
    ['../', `${storageUrl}/site/`],
    ['<img src=x onerror=alert(1)>.txt', `${storageUrl}/site/docs/%3Cimg%20src%3Dx%20onerror%3Dalert%281%29%3E.txt`],
    ['guide.txt', `${storageUrl}/site/docs/guide.txt`],
  ], 'the listing: names as text, never markup');
  t.equal(await page.$$eval('#listing img', (is) => is.length), 0, 'no element made from a name');
  // Following a link of the listing.
  await Promise.all([page.waitForNavigation(), page.click('a[href="guide.txt"]')]);
  t.equal(await page.evaluate(() => document.body.textContent), 'read me');
  // The 404 page.
  const lost = await page.goto(`${storageUrl}/site/nowhere.html`);
  t.equal(lost?.status(), 404);
  t.equal(await page.$eval('#lost', (e) => e.textContent), 'No such page here');

  // CORS: a script on another origin reads the API only once the container allows that origin.
  await page.goto(`${otherOrigin}/`);
  const read = (url: string, withToken: boolean) =>
    page.evaluate(
      async (u: string, tok: string | null) => {
        try {
          // No HTTP cache: each read asks the proxy (a cached answer keeps its old CORS headers).
          const res = await fetch(u, { cache: 'no-store', ...(tok ? { headers: { 'X-Auth-Token': tok } } : {}) });
          return { ok: true, status: res.status, body: await res.text(), color: res.headers.get('x-object-meta-color') };
        } catch (e) {
          return { ok: false, error: String(e) };
        }
      },
      url,
      withToken ? token : null,
    );
  const blocked = await read(`${storageUrl}/api/data.json`, false);
  t.equal(blocked.ok, false, `without Allow-Origin the browser refuses the answer (${blocked.error ?? ''})`);
  const blockedPreflight = await read(`${storageUrl}/api/data.json`, true);
  t.equal(blockedPreflight.ok, false, 'a request with a token needs a preflight, which is refused');

  t.equal(await swift('POST', '/api', { 'x-container-meta-access-control-allow-origin': otherOrigin }), 204);
  const allowed = await read(`${storageUrl}/api/data.json`, false);
  t.same(allowed, { ok: true, status: 200, body: '{"answer":42}', color: 'blue' }, 'allowed: the script reads the body and the exposed metadata');
  const withToken = await read(`${storageUrl}/api/data.json`, true);
  t.same(withToken, { ok: true, status: 200, body: '{"answer":42}', color: 'blue' }, 'and, after a preflight, with its token');
  const missing = await read(`${storageUrl}/api/nothing.json`, true);
  t.same([missing.ok, missing.status], [true, 404], 'an error answer is readable too');
  // Another origin still is not.
  t.equal(await swift('POST', '/api', { 'x-container-meta-access-control-allow-origin': 'http://elsewhere.example' }), 204);
  t.equal((await read(`${storageUrl}/api/data.json`, false)).ok, false, 'strict mode: no headers for an origin not allowed');
});
