import { pyJson } from './manifest.js';

/**
 * The report of a bulk operation (Swift's bulk.py get_response_body), which SLO uses for a
 * refused manifest PUT and for `?multipart-manifest=delete`: plain text (sorted "Key: value"
 * lines, then "Errors:" and "name, status" rows), JSON (the fields plus "Errors"), or XML.
 */
export const REPORT_FORMATS = ['text/plain', 'application/json', 'application/xml', 'text/xml'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export function reportBody(format: ReportFormat, fields: Record<string, string | number>, errors: Array<[string, string]>, rootTag: string): string {
  if (format === 'application/json') return pyJson({ ...fields, Errors: errors });
  if (format.endsWith('/xml')) {
    let out = `<${rootTag}>\n`;
    for (const k of Object.keys(fields).sort()) {
      const tag = k.replace(/ /g, '_').toLowerCase();
      out += `<${tag}>${xmlEscape(String(fields[k]))}</${tag}>\n`;
    }
    out += '<errors>\n';
    for (const [name, status] of errors) out += `<object><name>${xmlEscape(name)}</name><status>${xmlEscape(status)}</status></object>\n`;
    return `${out}</errors>\n</${rootTag}>\n`;
  }
  let out = '';
  for (const k of Object.keys(fields).sort()) out += `${k}: ${fields[k]}\n`;
  out += 'Errors:\n';
  for (const [name, status] of errors) out += `${name}, ${status}\n`;
  return out;
}

function xmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/**
 * swob's Accept.best_match over the report formats: the client's types by quality (ties in
 * order), the first format each matches (`*` wildcards); no Accept header: text/plain.
 */
export function reportFormat(accept: string | undefined): ReportFormat | undefined {
  if (accept === undefined || accept.trim() === '') return 'text/plain';
  const types: Array<{ type: string; q: number; i: number }> = [];
  accept.split(',').forEach((part, i) => {
    const [type, ...params] = part.trim().split(';');
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/.exec(p);
      if (m) q = Number(m[1]);
    }
    if (type && q > 0) types.push({ type: type.trim().toLowerCase(), q, i });
  });
  types.sort((a, b) => b.q - a.q || a.i - b.i);
  for (const { type } of types) {
    const [major, minor] = type.split('/');
    for (const f of REPORT_FORMATS) {
      const [fMajor, fMinor] = f.split('/');
      if ((major === '*' || major === fMajor) && (minor === '*' || minor === fMinor)) return f;
    }
  }
  return undefined;
}
