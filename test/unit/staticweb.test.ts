import t from 'tap';
import { cssPath, htmlEscape, humanReadable, isTrue, listingDisabledPage, listingLabel, listingPage, webSettings } from '../../proxy/middleware/staticweb/core.js';

t.test('pieces of the pages, as Swift writes them', async (t) => {
  t.equal(htmlEscape(`<a href="x">&'</a>`), '&lt;a href=&quot;x&quot;&gt;&amp;&#x27;&lt;/a&gt;');
  // Swift's human_readable rounds at each step.
  for (const [n, s] of [[0, '0'], [1023, '1023'], [1024, '1Ki'], [1536, '2Ki'], [2560, '2Ki'], [1024 * 1024 * 5, '5Mi'], [1024 ** 3 * 1.4, '1Gi']] as const) t.equal(humanReadable(n), s, `${n}`);
  t.equal(cssPath('style.css', ''), 'style.css');
  t.equal(cssPath('style.css', 'a/b/'), '../../style.css');
  t.equal(cssPath('/abs/s t.css', 'a/'), '/abs/s%20t.css');
  t.equal(cssPath('https://cdn.example/s.css', 'a/'), 'https://cdn.example/s.css');
  t.equal(listingLabel('/v1/AUTH_test/c/dir/', ''), '/v1/AUTH_test/c/dir/');
  t.equal(listingLabel('/v1/AUTH_test/c/dir/', 'Site'), 'Site/dir/');
  t.ok(isTrue('yes') && isTrue('True') && !isTrue('no') && !isTrue(undefined));
  t.same(webSettings({ 'X-Container-Meta-Web-Index': ' index.html ', 'x-container-meta-web-listings': 'on' }), {
    index: 'index.html', error: '', listings: 'on', listingsCss: '', listingsLabel: '', directoryType: '',
  });
});

t.test('a listing: subdirs first, names relative to the folder, every name escaped', async (t) => {
  const web = webSettings({});
  const page = listingPage('/v1/a/c/d/', web, 'd/', [
    { name: 'd/<b>.txt', bytes: 5, content_type: 'Text/Plain', last_modified: '2024-01-02T03:04:05.123456' },
    { subdir: 'd/s"q/' },
  ]);
  const subdir = page.indexOf('class="item subdir"');
  const file = page.indexOf('class="item type-text type-plain"');
  t.ok(subdir > 0 && file > subdir, 'subdirs, then objects');
  t.match(page, '<a href="s%22q/">s&quot;q/</a>');
  t.match(page, '<a href="%3Cb%3E.txt">&lt;b&gt;.txt</a>');
  t.match(page, '<td class="coldate">2024-01-02 03:04:05</td>');
  t.match(page, '<tr id="parent" class="item">');
  t.notMatch(listingPage('/v1/a/c/', web, '', []), 'id="parent"', 'no parent link at the root');
  const disabled = listingDisabledPage('/v1/a/c/<x>/', { ...web, index: 'i<.html' }, '');
  t.match(disabled, 'Listing of /v1/a/c/&lt;x&gt;/');
  t.match(disabled, 'X-Container-Meta-Web-Index: i&lt;.html');
});
