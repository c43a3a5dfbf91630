import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Readable } from 'node:stream';
import { SeededRandom } from '../../common/random.js';
import { titleCase } from '../../common/headers.js';
import { checkStart, FormReadError, formParts, parseContentDisposition, readValue } from '../../proxy/middleware/formpost/form.js';

const B = 'bnd';
const BODY = Buffer.from(
  `\r\n--${B}\r\nContent-Disposition: form-data; name="redirect"\r\n\r\nhttps://x/y\r\n` +
    `--${B}\r\nContent-Disposition: form-data; name="file1"; filename="dir/é.txt"\r\nContent-Type: text/x-a\r\n\r\n${'a'.repeat(5000)}\r\n` +
    `--${B}\r\nContent-Disposition: form-data; name="file2"; filename="b"\r\n\r\n\r\n--${B}--\r\n`,
);

/** Every part of a body fed in the given pieces: headers, attributes, data (or the error). */
async function parse(pieces: Buffer[]): Promise<unknown> {
  const out: unknown[] = [];
  try {
    for await (const p of formParts(Readable.from(pieces), B)) {
      const chunks: Buffer[] = [];
      for await (const c of p.body as AsyncIterable<Buffer>) chunks.push(c);
      out.push({ disposition: p.disposition, attrs: p.attrs, type: p.headers['content-type'], data: Buffer.concat(chunks).toString('latin1'), broken: p.broken() });
    }
  } catch (e) {
    out.push(e instanceof FormReadError ? `${e.kind}` : `other: ${(e as Error).message}`);
  }
  return out;
}

t.test('a form parses the same whatever the pieces it arrives in', async (t) => {
  const whole = await parse([BODY]);
  t.same(whole, [
    { disposition: 'form-data', attrs: { name: 'redirect' }, type: undefined, data: 'https://x/y', broken: false },
    { disposition: 'form-data', attrs: { name: 'file1', filename: 'dir/é.txt' }, type: 'text/x-a', data: 'a'.repeat(5000), broken: false },
    { disposition: 'form-data', attrs: { name: 'file2', filename: 'b' }, type: undefined, data: '', broken: false },
  ]);
  for (let at = 0; at <= BODY.length; at += 7) t.same(await parse([BODY.subarray(0, at), BODY.subarray(at)]), whole, `split at ${at}`);
  const rng = new SeededRandom(5);
  const bytes: Buffer[] = [];
  for (let i = 0; i < BODY.length; ) {
    const n = 1 + rng.int(40);
    bytes.push(BODY.subarray(i, i + n));
    i += n;
  }
  t.same(await parse(bytes), whole, 'in small random pieces');
});

t.test('a bad start, a body that breaks off', async (t) => {
  t.same(await parse([Buffer.from(`--other\r\n\r\n`)]), ['boundary']);
  t.same(await parse([Buffer.from(`x--${B}\r\n`)]), ['boundary']);
  t.same(await parse([Buffer.from(`--${B}`)]), ['boundary'], 'ends before the first line does');
  t.same(await parse([]), ['boundary'], 'empty');
  const cut = await parse([BODY.subarray(0, 300)]);
  t.match(cut, [{ attrs: { name: 'redirect' } }, { attrs: { name: 'file1' }, broken: true }, 'malformed'], 'the file that broke off says so');
  t.equal(checkStart(Buffer.from(`\r\n\r\n--${B} \r\n`), B), 4, 'blank lines first, whitespace stripped');
  t.equal(checkStart(Buffer.from(`--${B}xx\r\n`), B), false);
  t.equal(checkStart(Buffer.from(`--${B}`), B), undefined, 'needs more');
});

t.test('field values: the first 4096 bytes', async (t) => {
  t.equal(await readValue(Readable.from([Buffer.alloc(3000, 0x61), Buffer.alloc(3000, 0x62)]), 4096), 'a'.repeat(3000) + 'b'.repeat(1096));
  t.equal(titleCase('max file count exceeded'), 'Max File Count Exceeded');
  t.equal(titleCase('max_file_size 2x'), 'Max_File_Size 2X');
});

t.test('Content-Disposition / Content-Type as Swift parses them (seeded, against swift.common.utils)', { skip: existsSync('/usr/lib/python3/dist-packages/swift/common/utils.py') ? false : 'python3-swift not installed' }, async (t) => {
  const rng = new SeededRandom(Number(process.env.FUZZ_SEED ?? 9));
  const pieces = ['form-data', 'multipart/form-data', ';', '; ', 'name=', 'filename=', 'boundary=', '"', 'a b', 'x', '=', ' ', '\t', 'é', '""', ';;'];
  const inputs = Array.from({ length: 2000 }, () => Array.from({ length: rng.int(9) }, () => pieces[rng.int(pieces.length)]).join(''));
  const ours = inputs.map((h) => parseContentDisposition(h));
  const py = 'import json,sys\nfrom swift.common.utils import parse_content_disposition as p\njson.dump([list(p(h)) for h in json.load(sys.stdin)], sys.stdout)';
  const theirs = JSON.parse(execFileSync('/usr/bin/python3', ['-c', py], { input: JSON.stringify(inputs) }).toString()) as unknown[];
  const differ = ours.map((o, i) => [inputs[i], o, theirs[i]]).filter(([, a, b]) => JSON.stringify(a) !== JSON.stringify(b));
  t.equal(differ.length, 0, JSON.stringify(differ.slice(0, 3)));
});
