import t from 'tap';
import { SeededRandom } from '../../common/random.js';
import {
  checkSegment,
  dloEtag,
  parseManifestInput,
  parseStoredManifest,
  rawManifestBody,
  sloEtag,
  sloSize,
  storedManifestBody,
  type InputSegment,
  type SegmentHead,
  type StoredSegment,
} from '../../proxy/large-object/manifest.js';
import { bestFormat as reportFormat, reportBody } from '../../proxy/bulk-report.js';
import { pyJson } from '../../proxy/py-json.js';

t.test('a manifest PUT body is refused with the lines Swift 2.30 writes', async (t) => {
  // Expected bodies are Swift's parse_and_validate_input outputs for the same inputs (manifest /c/m).
  const table: Array<[string, string]> = [
    ['nope', 'Manifest must be valid JSON.\n'],
    ['{}', 'Manifest must be a list.\n'],
    ['[{"path":"/c/o","x":1,"a":2}]', 'Index 0: extraneous keys "a", "x"\n'],
    ['[{"path":5}]', 'Index 0: "path" must be a string\n'],
    ['[{"path":"/c/o","etag":5}]', 'Index 0: "etag" must be a string or null (if provided)\n'],
    ['[{"path":"/co"}]', 'Index 0: path does not refer to an object. Path must be of the form /container/object.\n'],
    ['[{"path":"/c/o","size_bytes":"x"}]', 'Index 0: invalid size_bytes\n'],
    ['[{"path":"/c/o","size_bytes":0},{"path":"/c/p"}]', 'Index 0: too small; each segment must be at least 1 byte.\n'],
    ['[{"path":"/c/m"}]', 'Index 0: manifest must not include itself as a segment\n'],
    ['[{"path":"/c/o","range":"x"}]', 'Index 0: invalid range\n'],
    ['[{"path":"/c/o","range":"1-2,4-5"}]', 'Index 0: multiple ranges (only one allowed)\n'],
    ['[{"path":"/c/o","size_bytes":3,"range":"5-"}]', 'Index 0: unsatisfiable range\n'],
    ['[{"data":"!!"}]', 'Index 0: data must be valid base64\nInline data segments require at least one object-backed segment.\n'],
    ['[{"data":""},{"path":"/c/o"}]', 'Index 0: too small; each segment must be at least 1 byte.\n'],
    ['[{"data":"eHl6"}]', 'Inline data segments require at least one object-backed segment.\n'],
    ['[{"data":"x","path":"/c/o"}]', 'Index 0: extraneous keys "path"\nInline data segments require at least one object-backed segment.\n'],
    // Swift answers these two with a 500 (a TypeError in its parser); we say what is wrong.
    ['[1]', 'Index 0: not a JSON object\n'],
    ['[{}]', "Index 0: expected keys to include one of 'data' or 'path'\n"],
  ];
  for (const [input, body] of table) {
    const r = parseManifestInput(input, 'c/m');
    t.equal(r.ok, false, input);
    if (!r.ok) {
      t.equal(r.status, 400, input);
      t.equal(r.body, body, input);
    }
  }
  const ok = parseManifestInput('[{"path":"/c/o","size_bytes":1.7,"etag":null},{"path":"c/p","range":"-2"},{"data":"eHl6"},{"path":"/c/q","size_bytes":0}]', 'c/m');
  t.ok(ok.ok);
  if (ok.ok) {
    t.same(ok.segments[0], { kind: 'object', index: 0, path: '/c/o', sizeBytes: 1 }, 'size_bytes is an int, as Python int() makes it');
    t.same(ok.segments[1], { kind: 'object', index: 1, path: 'c/p', range: { suffix: 2 } });
    t.equal((ok.segments[2] as Extract<InputSegment, { kind: 'data' }>).data.toString(), 'xyz');
    t.equal((ok.segments[3] as Extract<InputSegment, { kind: 'object' }>).sizeBytes, 0, 'the last segment may be empty');
  }
});

const head = (over: Partial<SegmentHead> = {}): SegmentHead => ({
  status: 200,
  statusLine: '200 OK',
  contentLength: 10,
  etag: 'e'.repeat(32),
  contentType: 'application/octet-stream',
  lastModified: 'Tue, 02 Jan 2024 03:04:05 GMT',
  isSlo: false,
  ...over,
});

t.test('each segment is checked against its HEAD as Swift does', async (t) => {
  const seg = (over: Partial<Extract<InputSegment, { kind: 'object' }>> = {}): Extract<InputSegment, { kind: 'object' }> => ({ kind: 'object', index: 0, path: '/c/ö', ...over });
  t.same(checkSegment(seg(), head({ status: 404, statusLine: '404 Not Found' }), false), { length: 0, problems: [['/c/%C3%B6', '404 Not Found']] });
  t.same(checkSegment(seg({ sizeBytes: 9, etag: 'x' }), head(), false).problems, [
    ['/c/%C3%B6', 'Size Mismatch'],
    ['/c/%C3%B6', 'Etag Mismatch'],
  ]);
  t.same(checkSegment(seg(), head({ contentLength: 0 }), false).problems, [['/c/%C3%B6', 'Too small; each segment must be at least 1 byte.']]);
  t.same(checkSegment(seg(), head({ contentLength: 0 }), true).problems, [], 'the last one may be empty');
  t.same(checkSegment(seg({ range: { start: 20 } }), head(), false).problems, [['/c/%C3%B6', 'Unsatisfiable Range']]);
  const ranged = checkSegment(seg({ range: { start: 2, end: 4 } }), head({ isSlo: true }), false);
  t.equal(ranged.length, 3);
  t.same(ranged.stored, { name: '/c/ö', bytes: 10, hash: 'e'.repeat(32), content_type: 'application/octet-stream', last_modified: '2024-01-02T03:04:05.000000', range: '2-4', sub_slo: true });
  const all = checkSegment(seg({ range: { suffix: 50 } }), head(), false);
  t.equal(all.length, 10);
  t.notOk(all.stored && 'range' in all.stored, 'a range of the whole object is dropped');
});

t.test('the stored manifest and the ETags are byte for byte Swift\'s', async (t) => {
  const segs: StoredSegment[] = [
    { name: '/c/s1', bytes: 5, hash: 'a'.repeat(32), content_type: 'application/octet-stream', last_modified: '2024-01-02T03:04:05.000000' },
    { name: '/c/é', bytes: 7, hash: 'b'.repeat(32), content_type: 'text/plain', last_modified: '2024-01-02T03:04:05.000000', range: '1-3' },
    { data: 'eHl6' },
  ];
  // Python: json.dumps(segs) and Swift's slo etag of the same segments.
  t.equal(
    storedManifestBody(segs),
    '[{"name": "/c/s1", "bytes": 5, "hash": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "content_type": "application/octet-stream", "last_modified": "2024-01-02T03:04:05.000000"}, {"name": "/c/\\u00e9", "bytes": 7, "hash": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "content_type": "text/plain", "last_modified": "2024-01-02T03:04:05.000000", "range": "1-3"}, {"data": "eHl6"}]',
  );
  t.equal(sloEtag(segs), 'b80a9fc37d0da75501e881737cc149c9');
  t.equal(sloSize(segs), 5 + 3 + 3);
  t.equal(dloEtag(['a'.repeat(32), `"${'b'.repeat(32)}"`]), '"af6d2490a0fa5d84a8dc051158f8baf2"');
  t.same(parseStoredManifest(storedManifestBody(segs)), segs, 'what is stored reads back');
  t.equal(parseStoredManifest('{"a":1}'), undefined);
  t.equal(parseStoredManifest('[{"name":"/c/o","bytes":-1}]'), undefined);
  t.equal(parseStoredManifest('[{"name":"/c/o","bytes":1,"range":"5-2"}]'), undefined);
  t.equal(
    rawManifestBody(segs),
    '[{"etag": "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "path": "/c/s1", "size_bytes": 5}, {"etag": "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", "path": "/c/\\u00e9", "range": "1-3", "size_bytes": 7}, {"data": "eHl6"}]',
  );
});

t.test('bulk reports in each format, and Accept', async (t) => {
  const fields = { 'Response Status': '400 Bad Request', 'Response Body': '' };
  t.equal(reportBody('text/plain', fields, [['/c/o', '404 Not Found']], 'upload'), 'Response Body: \nResponse Status: 400 Bad Request\nErrors:\n/c/o, 404 Not Found\n');
  t.equal(reportBody('application/json', {}, [['/c/o', 'Etag Mismatch']], 'upload'), '{"Errors": [["/c/o", "Etag Mismatch"]]}');
  t.equal(
    reportBody('application/xml', { 'Number Deleted': 2 }, [['/c/<o>', '409 Conflict']], 'delete'),
    '<delete>\n<number_deleted>2</number_deleted>\n<errors>\n<object><name>/c/&lt;o&gt;</name><status>409 Conflict</status></object>\n</errors>\n</delete>\n',
  );
  t.equal(reportFormat(undefined), 'text/plain');
  t.equal(reportFormat('application/json'), 'application/json');
  t.equal(reportFormat('text/xml;q=0.5, application/json;q=0.9'), 'application/json');
  t.equal(reportFormat('*/*'), 'text/plain');
  t.equal(reportFormat('image/png'), undefined);
});

t.test('fuzz: the parser never throws, and what it accepts is a valid manifest', async (t) => {
  const seed = Number(process.env.SEED ?? 23_2);
  const rnd = new SeededRandom(seed);
  const atoms = ['"/c/o"', '"c/o"', '"/co"', '""', '"/c/m"', '0', '1', '-1', '"12"', '" 7 "', '1.5', 'null', 'true', '"eHl6"', '"!!"', '"1-2"', '"-3"', '"5-"', '"2-1"', '"1-2,3-4"', '[]', '{}', '"\\u00e9"'];
  const keys = ['path', 'etag', 'size_bytes', 'range', 'data', 'name', 'x'];
  const pick = <T>(a: readonly T[]): T => a[rnd.int(a.length)] as T;
  for (let i = 0; i < 3000; i++) {
    const n = rnd.int(5);
    const segs: string[] = [];
    for (let j = 0; j < n; j++) {
      const kv: string[] = [];
      for (let k = rnd.int(4); k >= 0; k--) kv.push(`"${pick(keys)}":${pick(atoms)}`);
      segs.push(rnd.int(10) === 0 ? pick(atoms) : `{${kv.join(',')}}`);
    }
    let body = `[${segs.join(',')}]`;
    // Sometimes cut or corrupt a byte: malformed JSON must be refused as such.
    if (rnd.int(8) === 0) body = body.slice(0, rnd.int(body.length + 1));
    if (rnd.int(8) === 0 && body.length > 0) {
      const at = rnd.int(body.length);
      body = body.slice(0, at) + String.fromCharCode(32 + rnd.int(95)) + body.slice(at + 1);
    }
    let r: ReturnType<typeof parseManifestInput>;
    try {
      r = parseManifestInput(body, 'c/m');
    } catch (e) {
      t.fail(`seed ${seed} case ${i}: threw ${(e as Error).message} on ${body}`);
      continue;
    }
    if (!r.ok) {
      if (r.status !== 400 || !r.body.endsWith('\n')) t.fail(`seed ${seed} case ${i}: bad refusal ${JSON.stringify(r)}`);
      continue;
    }
    for (const s of r.segments) {
      if (s.kind === 'data') {
        if (s.data.length < 1) t.fail(`seed ${seed} case ${i}: empty data segment accepted`);
      } else if (!s.path.replace(/^\/+|\/+$/g, '').includes('/') || s.path.replace(/^\/+/, '') === 'c/m') {
        t.fail(`seed ${seed} case ${i}: bad path accepted: ${body}`);
      }
    }
    if (r.segments.length > 0 && r.segments.every((s) => s.kind === 'data')) t.fail(`seed ${seed} case ${i}: data-only manifest accepted`);
  }
  t.pass(`3000 seeded manifests (seed ${seed})`);
});

t.test('pyJson escapes like Python json.dumps', async (t) => {
  t.equal(pyJson({ a: [1, 'é\u2028"'], b: null }), '{"a": [1, "\\u00e9\\u2028\\""], "b": null}');
  t.equal(pyJson({ b: 1, a: 2 }, true), '{"a": 2, "b": 1}');
});
