import t from 'tap';
import { Readable } from 'node:stream';
import { SeededRandom } from '../../common/random.js';
import { parseDeleteRequest } from '../../proxy/s3/delete-objects.js';
import { isS3Error } from '../../proxy/s3/errors.js';
import { readXmlBody } from '../../proxy/s3/xml-input.js';

const doc = (objects: string, quiet = ''): string => `<?xml version="1.0" encoding="UTF-8"?>\n<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">\n  ${objects}${quiet}\n</Delete>`;

t.test('a Delete document: keys as sent, entities and character references decoded', async (t) => {
  t.same(parseDeleteRequest(doc('<Object><Key>a</Key></Object>\n  <Object><Key> sp ace </Key></Object><Object><Key>x&amp;y&lt;&#x41;&#66;</Key></Object>', '<Quiet>true</Quiet>')), { quiet: true, keys: ['a', ' sp ace ', 'x&y<AB'] });
  t.same(parseDeleteRequest(doc('<Object><Key>one</Key></Object>')), { quiet: false, keys: ['one'] }, 'a single Object');
  t.same(parseDeleteRequest(doc(Array.from({ length: 1000 }, (_, i) => `<Object><Key>k${i}</Key></Object>`).join(''))).keys.length, 1000);
});

t.test('what S3 refuses: MalformedXML, never a parser exception', async (t) => {
  const code = (xml: string): string => {
    try {
      parseDeleteRequest(xml);
      return 'ok';
    } catch (e) {
      if (isS3Error(e)) return e.code;
      throw e;
    }
  };
  const laughs = '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]><Delete><Object><Key>&lol2;</Key></Object></Delete>';
  t.equal(code(laughs), 'MalformedXML', 'a DOCTYPE (entity expansion) is refused');
  t.equal(code('<?xml version="1.0"?><!DOCTYPE d SYSTEM "file:///etc/passwd"><Delete/>'), 'MalformedXML', 'an external entity');
  t.equal(code(doc(Array.from({ length: 1001 }, (_, i) => `<Object><Key>k${i}</Key></Object>`).join(''))), 'MalformedXML', '1,001 keys');
  t.equal(code(doc('')), 'MalformedXML', 'no key');
  t.equal(code(doc('<Object><Key></Key></Object>')), 'MalformedXML', 'an empty key');
  t.equal(code('<Delete><Object><Key>a</Key></Object>'), 'MalformedXML', 'not closed');
  t.equal(code(''), 'MalformedXML');
  t.equal(code(doc('<Object><Key>a</Key><VersionId>v</VersionId></Object>')), 'NotImplemented', 'a version id');
  const rng = new SeededRandom(31);
  const base = doc('<Object><Key>a&amp;b</Key></Object><Object><Key>c</Key></Object>', '<Quiet>false</Quiet>');
  const noise = '<>/&;#x"\'=!?[]DeleteObjectKey \n';
  for (let i = 0; i < 3000; i++) {
    let s = base;
    for (let k = 1 + rng.int(4); k > 0; k--) {
      const at = rng.int(s.length + 1);
      s = rng.int(2) ? s.slice(0, at) + (noise[rng.int(noise.length)] as string) + s.slice(at) : s.slice(0, at) + s.slice(at + 1);
    }
    const got = code(s);
    t.ok(['ok', 'MalformedXML', 'NotImplemented'].includes(got), `mutation ${i}: ${got}`);
  }
});

t.test('a body longer than the limit is refused after the limit, not read whole', async (t) => {
  let produced = 0;
  const endless = new Readable({
    read() {
      produced += 65536;
      this.push(Buffer.alloc(65536, 'a'));
    },
  });
  await t.rejects(readXmlBody(endless, 1024 * 1024), { code: 'MalformedXML' });
  t.ok(produced <= 2 * 1024 * 1024, `read ${produced} bytes for a 1 MiB limit`);
});
