import { pyJson } from './py-json.js';

/**
 * What a bulk request answers (Swift's bulk.py get_response_body): always 200, and a body that
 * says what happened, in the format the client's Accept asks for (text/plain, application/json,
 * application/xml or text/xml). Pure: no I/O. Bulk answers with it, and SLO for a refused manifest
 * PUT and `?multipart-manifest=delete`, as Swift's slo.py does.
 */

export const ACCEPTABLE_FORMATS = ['text/plain', 'application/json', 'application/xml', 'text/xml'] as const;
export type ReportFormat = (typeof ACCEPTABLE_FORMATS)[number];

/** One failed name: its quoted path and the status line it failed with ("404 Not Found"). */
export type Failure = [name: string, status: string];

/** The counters and outcome: "Response Status", "Response Body", "Number ..." keys, as Swift names them. */
export type ReportFields = Record<string, string | number>;

/**
 * swob's Accept.best_match over the formats: the client's media ranges by quality (then the
 * specific ones before wildcards), the first format a range matches. No Accept: text/plain.
 * A header that does not parse, or one nothing matches: undefined (Swift then reports 406).
 */
export function bestFormat(accept: string | undefined): ReportFormat | undefined {
  if (accept === undefined || accept.trim() === '') return ACCEPTABLE_FORMATS[0];
  const ranges: { type: string; sub: string; q: number; specific: number; order: number }[] = [];
  let order = 0;
  for (const part of accept.split(',')) {
    const [range, ...params] = part.split(';').map((s) => s.trim());
    if (!range) continue;
    const m = /^([a-zA-Z0-9!#$&^_.+*-]+)\/([a-zA-Z0-9!#$&^_.+*-]+)$/.exec(range);
    if (!m) return undefined;
    let q = 1;
    for (const p of params) {
      const [k, v] = p.split('=').map((s) => s.trim());
      if (k === 'q') {
        if (v === undefined || !/^\d+(\.\d*)?$/.test(v)) return undefined;
        q = Number(v);
      }
    }
    const type = (m[1] as string).toLowerCase();
    const sub = (m[2] as string).toLowerCase();
    if (type === '*' && sub !== '*') return undefined;
    ranges.push({ type, sub, q, specific: (type === '*' ? 0 : 1) + (sub === '*' ? 0 : 1), order: order++ });
  }
  ranges.sort((a, b) => b.q - a.q || b.specific - a.specific || a.order - b.order);
  for (const r of ranges) {
    if (r.q <= 0) continue;
    for (const f of ACCEPTABLE_FORMATS) {
      const [type, sub] = f.split('/') as [string, string];
      if ((r.type === '*' || r.type === type) && (r.sub === '*' || r.sub === sub)) return f;
    }
  }
  return undefined;
}

/** The report's body in `format` (Swift's get_response_body; no XML declaration: that is sent first, see bulk). */
export function reportBody(format: ReportFormat | undefined, fields: ReportFields, errors: Failure[], rootTag: 'extract' | 'delete' | 'upload'): string {
  const keys = Object.keys(fields).sort();
  if (format === 'application/json') return pyJson({ ...fields, Errors: errors });
  if (format === 'application/xml' || format === 'text/xml') {
    let out = `<${rootTag}>\n`;
    for (const k of keys) {
      const tag = k.replace(/ /g, '_').toLowerCase();
      out += `<${tag}>${xmlEscape(String(fields[k]))}</${tag}>\n`;
    }
    out += '<errors>\n';
    for (const [name, status] of errors) out += `<object><name>${xmlEscape(name)}</name><status>${xmlEscape(status)}</status></object>\n`;
    return `${out}</errors>\n</${rootTag}>\n`;
  }
  let out = '';
  for (const k of keys) out += `${k}: ${fields[k]}\n`;
  out += 'Errors:\n';
  for (const [name, status] of errors) out += `${name}, ${status}\n`;
  return out;
}

/** xml.sax.saxutils.escape: &, < and > (a tiny writer: no XML library is a dependency, and this is all the report needs). */
export function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}
