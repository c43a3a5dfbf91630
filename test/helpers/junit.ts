/**
 * Per-test outcomes from a JUnit XML report as pytest writes it (`--junitxml`): one
 * `<testcase classname=".." name="..">` per phase that produced a result, holding `<failure>`,
 * `<error>` or `<skipped>` (or nothing: passed). A test whose call failed and whose teardown
 * then errored appears twice; its outcome is the worst of its entries, its message the first
 * of those.
 */
export type Outcome = 'passed' | 'failed' | 'error' | 'skipped';

export interface TestResult {
  /** `classname.name` without the common prefix given to parseJunit: "tests.TestFile.testCopy". */
  id: string;
  outcome: Outcome;
  /** The failure, error or skip message (empty for a pass). */
  message: string;
}

const RANK: Record<Outcome, number> = { passed: 0, skipped: 1, error: 2, failed: 2 };

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };

export function decodeXml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|[a-z]+);/g, (whole, ref: string) => {
    if (ref.startsWith('#x')) return String.fromCodePoint(parseInt(ref.slice(2), 16));
    if (ref.startsWith('#')) return String.fromCodePoint(parseInt(ref.slice(1), 10));
    return ENTITIES[ref] ?? whole;
  });
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w:.-]+)\s*=\s*"([^"]*)"/g)) out[m[1] as string] = decodeXml(m[2] as string);
  return out;
}

/** Parses the report; `stripPrefix` (e.g. "test.functional.") is cut from the front of each id. */
export function parseJunit(xml: string, stripPrefix = ''): Map<string, TestResult> {
  const results = new Map<string, TestResult>();
  // A testcase is either self-closing or has a body up to its closing tag (no nesting in JUnit).
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const attrs = attributes(m[1] as string);
    const body = m[3] ?? '';
    let id = `${attrs.classname ?? ''}.${attrs.name ?? ''}`;
    if (stripPrefix && id.startsWith(stripPrefix)) id = id.slice(stripPrefix.length);
    const child = /<(failure|error|skipped)\b([^>]*?)\/?>/.exec(body);
    const outcome: Outcome = child ? (child[1] === 'failure' ? 'failed' : (child[1] as Outcome)) : 'passed';
    const message = child ? (attributes(child[2] as string).message ?? '') : '';
    const seen = results.get(id);
    if (!seen || RANK[outcome] > RANK[seen.outcome]) results.set(id, { id, outcome, message });
  }
  return results;
}
