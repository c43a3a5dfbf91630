import { pyQuote } from '../../copy-headers.js';

/**
 * The pure side of static web (Swift's staticweb.py): a container's web settings from its
 * metadata, and the HTML pages Swift writes (listings, "listing disabled"), every name from the
 * container HTML-escaped in text and percent-quoted in links.
 */

/** X-Container-Meta-Web-* of a container, trimmed (empty: not set). */
export interface WebSettings {
  index: string;
  error: string;
  listings: string;
  listingsCss: string;
  listingsLabel: string;
  directoryType: string;
}

export function webSettings(headers: Record<string, string>): WebSettings {
  const meta = (name: string): string => {
    const lower = `x-container-meta-${name}`;
    for (const [k, v] of Object.entries(headers)) if (k.toLowerCase() === lower) return fromHeader(v).trim();
    return '';
  };
  return {
    index: meta('web-index'),
    error: meta('web-error'),
    listings: meta('web-listings'),
    listingsCss: meta('web-listings-css'),
    listingsLabel: meta('web-listings-label'),
    directoryType: meta('web-directory-type'),
  };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A header value as its UTF-8 text (Node reads header bytes as Latin-1); kept as is when it is not UTF-8. */
function fromHeader(v: string): string {
  if (!/[\u0080-\u00ff]/.test(v) || /[^\u0000-\u00ff]/.test(v)) return v;
  try {
    return utf8.decode(Buffer.from(v, 'latin1'));
  } catch {
    return v;
  }
}

/** Swift's config_true_value: true, 1, yes, on, t, y (any case). */
export function isTrue(v: string | undefined): boolean {
  return v !== undefined && ['true', '1', 'yes', 'on', 't', 'y'].includes(v.trim().toLowerCase());
}

/** Python's html.escape(s, quote=True). */
export function htmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#x27;');
}

/** Swift's human_readable: 1023, 1Ki, 2Mi... (rounded at each step). */
export function humanReadable(n: number): string {
  const suffixes = 'KMGTPEZY';
  let value = n;
  let index = -1;
  while (value >= 1024 && index + 1 < suffixes.length) {
    index++;
    value = pyRound(value / 1024);
  }
  return index === -1 ? String(Math.trunc(value)) : `${pyRound(value)}${suffixes[index]}i`;
}

/** Python 3's round(): halves to even. */
function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** The stylesheet's href: as given when absolute, else relative to the listed folder. */
export function cssPath(css: string, prefix: string): string {
  if (css.startsWith('/') || css.startsWith('http://') || css.startsWith('https://')) return pyQuote(css).replace(/%3A/g, ':');
  return '../'.repeat(prefix.split('/').length - 1) + pyQuote(css);
}

/** A row of a container listing (format=json): an object, or a subdir under the delimiter. */
export type ListingItem = { name: string; bytes: number; content_type: string; last_modified: string } | { subdir: string };

/** The title of a listing page: the path, or the container's label and the path within it. */
export function listingLabel(path: string, label: string): string {
  return label ? `${label}/${path.split('/').slice(4).join('/')}` : path;
}

const DOCTYPE = '<!DOCTYPE HTML PUBLIC "-//W3C//DTD HTML 4.01 Transitional//EN" "http://www.w3.org/TR/html4/loose.dtd">\n';

/** Swift's page for a listing when X-Container-Meta-Web-Listings is off (answered 404). */
export function listingDisabledPage(label: string, web: WebSettings, prefix: string): string {
  let body = `${DOCTYPE}<html>\n<head>\n<title>Listing of ${htmlEscape(label)}</title>\n`;
  if (web.listingsCss) body += `  <link rel="stylesheet" type="text/css" href="${cssPath(web.listingsCss, prefix)}" />\n`;
  else body += '  <style type="text/css">\n   h1 {font-size: 1em; font-weight: bold;}\n   p {font-size: 2}\n  </style>\n';
  body +=
    '</head>\n<body>  <h1>Web Listing Disabled</h1>   <p>The owner of this web site has disabled web listing.' +
    '   <p>If you are the owner of this web site, you can enable   web listing by setting X-Container-Meta-Web-Listings.</p>';
  if (web.index) {
    body += `<h1>Index File Not Found</h1> <p>The owner of this web site has set  <b>X-Container-Meta-Web-Index: ${htmlEscape(web.index)}</b>.  However, this file is not found.</p>`;
  }
  return `${body} </body>\n</html>\n`;
}

/** Swift's HTML listing of `items` (a container listing under `prefix` with delimiter "/"). */
export function listingPage(label: string, web: WebSettings, prefix: string, items: ListingItem[]): string {
  let body = `${DOCTYPE}<html>\n <head>\n  <title>Listing of ${htmlEscape(label)}</title>\n`;
  if (web.listingsCss) body += `  <link rel="stylesheet" type="text/css" href="${cssPath(web.listingsCss, prefix)}" />\n`;
  else {
    body +=
      '  <style type="text/css">\n   h1 {font-size: 1em; font-weight: bold;}\n   th {text-align: left; padding: 0px 1em 0px 1em;}\n' +
      '   td {padding: 0px 1em 0px 1em;}\n   a {text-decoration: none;}\n  </style>\n';
  }
  body +=
    ` </head>\n <body>\n  <h1 id="title">Listing of ${htmlEscape(label)}</h1>\n  <table id="listing">\n   <tr id="heading">\n` +
    '    <th class="colname">Name</th>\n    <th class="colsize">Size</th>\n    <th class="coldate">Date</th>\n   </tr>\n';
  if (prefix) {
    body += '   <tr id="parent" class="item">\n    <td class="colname"><a href="../">../</a></td>\n    <td class="colsize">&nbsp;</td>\n    <td class="coldate">&nbsp;</td>\n   </tr>\n';
  }
  for (const item of items) {
    if (!('subdir' in item)) continue;
    const subdir = item.subdir.slice(prefix.length);
    body += `   <tr class="item subdir">\n    <td class="colname"><a href="${pyQuote(subdir)}">${htmlEscape(subdir)}</a></td>\n    <td class="colsize">&nbsp;</td>\n    <td class="coldate">&nbsp;</td>\n   </tr>\n`;
  }
  for (const item of items) {
    if ('subdir' in item) continue;
    const name = item.name.slice(prefix.length);
    const types = item.content_type
      .split('/')
      .map((t) => `type-${htmlEscape(t.toLowerCase())}`)
      .join(' ');
    const date = htmlEscape(item.last_modified).split('.')[0]!.replace('T', ' ');
    body += `   <tr class="item ${types}">\n    <td class="colname"><a href="${pyQuote(name)}">${htmlEscape(name)}</a></td>\n    <td class="colsize">${humanReadable(item.bytes)}</td>\n    <td class="coldate">${date}</td>\n   </tr>\n`;
  }
  return `${body}  </table>\n </body>\n</html>\n`;
}
