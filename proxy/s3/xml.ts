import { xmlText } from './errors.js';

/**
 * S3's response documents. Written, not built by a library: every element is escaped here
 * (xmlText) and the documents are small and flat. Client XML is *parsed* with a real parser
 * (fast-xml-parser, entities off, size bounded) in xml-input.ts.
 */
export const S3_NS = 'http://s3.amazonaws.com/doc/2006-03-01/';

/** An element with text content (escaped); undefined renders nothing. */
export function text(name: string, value: string | number | boolean | undefined): string {
  return value === undefined ? '' : `<${name}>${xmlText(String(value))}</${name}>`;
}

/** An element around already-rendered children. */
export function el(name: string, children: string[] | string): string {
  return `<${name}>${Array.isArray(children) ? children.join('') : children}</${name}>`;
}

/** A whole document with S3's namespace on its root. */
export function doc(root: string, children: string[]): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="${S3_NS}">${children.join('')}</${root}>`;
}

/** Swift's listing time ("2026-12-07T12:00:00.123456", UTC) as S3's ("2026-12-07T12:00:00.123Z"). */
export function s3Time(swiftIso: string): string {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?/.exec(swiftIso);
  if (!m) return swiftIso;
  return `${m[1]}.${(m[2] ?? '').padEnd(3, '0').slice(0, 3)}Z`;
}
