import t from 'tap';
import { request } from 'undici';
import { startCluster } from '../helpers/cluster.js';

/** Static web and CORS against a real cluster, over plain HTTP (the browser test: interop/browser.test.ts). */
t.test('static web: index, listings, error pages, redirects, escaping', async (t) => {
  const cluster = await startCluster({ proxyConfig: { recheck_container_existence_s: 0 } });
  t.teardown(() => cluster.stop());
  const { token, storageUrl } = await cluster.token();
  const base = storageUrl;
  const go = async (method: string, path: string, headers: Record<string, string> = {}, body?: string) => {
    const res = await request(`${base}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
    return { status: res.statusCode, headers: res.headers, body: await res.body.text() };
  };
  const auth = { 'x-auth-token': token };
  const put = async (path: string, body: string, headers: Record<string, string> = {}) => {
    const r = await go('PUT', path, { ...auth, ...headers }, body);
    t.equal(r.status, 201, `PUT ${path}`);
  };

  t.equal((await go('PUT', '/site', { ...auth, 'x-container-read': '.r:*,.rlistings' })).status, 201);
  await put('/site/index.html', '<h1>home</h1>', { 'content-type': 'text/html' });
  await put('/site/404error.html', '<h1>custom not found</h1>', { 'content-type': 'text/html' });
  await put('/site/401error.html', '<h1>custom unauthorized</h1>', { 'content-type': 'text/html' });
  await put('/site/docs/', '', { 'content-type': 'application/directory' });
  await put('/site/docs/a.txt', 'a'.repeat(2048), { 'content-type': 'text/plain' });
  await put(`/site/docs/${encodeURIComponent('<img src=x onerror="alert(1)">&\'.txt')}`, 'x', { 'content-type': 'text/plain' });
  await put('/site/docs/sub/deep.txt', 'deep');
  await put('/site/style.css', 'h1 {color: red}', { 'content-type': 'text/css' });

  // Without web settings: a plain container read, anonymous (its ACL allows it).
  t.equal((await go('GET', '/site/index.html')).body, '<h1>home</h1>');
  t.equal((await go('GET', '/site')).body.split('\n').includes('index.html'), true, 'the plain listing');
  t.equal((await go('GET', '/site', { ...auth, 'x-web-mode': 'true' })).status, 404, 'web mode with no site: 404');

  t.equal((await go('POST', '/site', { ...auth, 'x-container-meta-web-index': 'index.html', 'x-container-meta-web-error': 'error.html' })).status, 204);
  const redirect = await go('GET', '/site', { host: 'web.example:8080' });
  t.equal(redirect.status, 301);
  t.equal(redirect.headers['location'], 'http://web.example:8080/v1/AUTH_test/site/', 'to the folder, absolute');
  const home = await go('GET', '/site/');
  t.same([home.status, home.body], [200, '<h1>home</h1>'], 'the index');
  t.equal((await go('GET', '/site/')).headers['content-type'], 'text/html');
  t.equal((await go('GET', '/site/', auth)).status, 200, 'an authenticated user gets the plain listing...');
  t.notMatch((await go('GET', '/site/', auth)).body, /home/);
  t.equal((await go('GET', '/site/', { ...auth, 'x-web-mode': 'true' })).body, '<h1>home</h1>', '...or the site with X-Web-Mode');
  const missing = await go('GET', '/site/nope.html');
  t.same([missing.status, missing.body], [404, '<h1>custom not found</h1>'], 'the 404 page');
  // A folder without a slash: redirect when something is in it.
  const folder = await go('GET', '/site/docs', { host: 'h' });
  t.same([folder.status, folder.headers['location']], [301, 'http://h/v1/AUTH_test/site/docs/']);
  // A folder with no index and listings off: Swift's "listing disabled" page, replaced by the 404 page.
  t.same([(await go('GET', '/site/docs/')).status, (await go('GET', '/site/docs/')).body], [404, '<h1>custom not found</h1>']);

  // Listings.
  t.equal((await go('POST', '/site', { ...auth, 'x-container-meta-web-listings': 'true', 'x-remove-container-meta-web-error': 'x' })).status, 204);
  const listing = await go('GET', '/site/docs/');
  t.equal(listing.status, 200);
  t.equal(listing.headers['content-type'], 'text/html; charset=UTF-8');
  t.match(listing.body, '<title>Listing of /v1/AUTH_test/site/docs/</title>');
  t.match(listing.body, '<a href="../">../</a>');
  t.match(listing.body, '<a href="a.txt">a.txt</a>');
  t.match(listing.body, '<td class="colsize">2Ki</td>');
  t.match(listing.body, '<a href="sub/">sub/</a>');
  t.match(
    listing.body,
    '<a href="%3Cimg%20src%3Dx%20onerror%3D%22alert%281%29%22%3E%26%27.txt">&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;&#x27;.txt</a>',
    'names are escaped and quoted',
  );
  t.notMatch(listing.body, '<img', 'no markup from a name');
  t.notMatch(listing.body, 'deep.txt', 'one level only');
  // The root has an index: it wins over the listing.
  t.equal((await go('GET', '/site/')).body, '<h1>home</h1>');
  const noDisabled = await go('GET', '/site/docs/sub/');
  t.match(noDisabled.body, '<a href="deep.txt">deep.txt</a>');
  t.equal((await go('GET', '/site/empty/')).status, 404, 'an empty folder');
  t.equal((await go('POST', '/site', { ...auth, 'x-container-meta-web-listings-css': 'style.css', 'x-container-meta-web-listings-label': 'My <Site>' })).status, 204);
  const styled = await go('GET', '/site/docs/sub/');
  t.match(styled.body, '<link rel="stylesheet" type="text/css" href="../../style.css" />');
  t.match(styled.body, '<title>Listing of My &lt;Site&gt;/docs/sub/</title>');
  // A directory marker is no page.
  t.equal((await go('GET', '/site/docs/a.txt')).body, 'a'.repeat(2048), 'an object is itself');

  // Another container without .r:* is not a web site for strangers: 401, as a page if it has one.
  t.equal((await go('PUT', '/private', { ...auth, 'x-container-meta-web-index': 'index.html', 'x-container-meta-web-error': 'error.html' })).status, 201);
  await put('/private/index.html', 'secret');
  const closed = await go('GET', '/private/');
  t.equal(closed.status, 401);
  t.notMatch(closed.body, /secret/);
  t.equal((await go('GET', '/private/index.html')).status, 401);
  // Only for listing: .r:* without .rlistings serves objects, not the root.
  t.equal((await go('POST', '/private', { ...auth, 'x-container-read': '.r:*' })).status, 204);
  t.equal((await go('GET', '/private/index.html')).body, 'secret');
  t.equal((await go('GET', '/private/')).status, 401, 'the root is a listing read');

  const info = JSON.parse((await request(`${cluster.proxyUrl}/info`).then((r) => r.body.text())) as string) as Record<string, unknown>;
  t.ok('staticweb' in info, '/info advertises staticweb');
});
