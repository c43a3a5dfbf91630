import t from 'tap';
import { SeededRandom } from '../../common/random.js';
import { segmentLength, type StoredSegment } from '../../proxy/large-object/manifest.js';
import { mapDloPage, mapSloRange, type Piece } from '../../proxy/large-object/segment-map.js';

/** Objects by name, and the bytes a list of pieces stands for (nested SLOs resolved by a model). */
function bytesOf(pieces: Piece[], objects: Map<string, Buffer>, manifests: Map<string, StoredSegment[]>): Buffer {
  const parts: Buffer[] = [];
  for (const p of pieces) {
    if (p.kind === 'data') parts.push(p.bytes);
    else if (p.kind === 'object') parts.push((objects.get(p.name) as Buffer).subarray(p.first, p.last + 1));
    else parts.push(bytesOf(mapSloRange(manifests.get(p.name) as StoredSegment[], p.first, p.last), objects, manifests));
  }
  return Buffer.concat(parts);
}

/** The whole large object, by the model: every segment's bytes in order. */
function wholeOf(segs: StoredSegment[], objects: Map<string, Buffer>, manifests: Map<string, StoredSegment[]>): Buffer {
  return bytesOf(mapSloRange(segs, 0, Number.MAX_SAFE_INTEGER), objects, manifests);
}

t.test('a client range maps onto segment slices across boundaries, inner ranges, data and nesting', async (t) => {
  const seed = Number(process.env.SEED ?? 2302);
  const rnd = new SeededRandom(seed);
  for (let round = 0; round < 300; round++) {
    const objects = new Map<string, Buffer>();
    const manifests = new Map<string, StoredSegment[]>();
    let names = 0;
    const makeSegs = (depth: number): StoredSegment[] => {
      const segs: StoredSegment[] = [];
      for (let i = 1 + rnd.int(5); i > 0; i--) {
        const kind = rnd.int(depth < 2 ? 5 : 4);
        if (kind === 0) {
          segs.push({ data: Buffer.from(Array.from({ length: 1 + rnd.int(5) }, () => rnd.int(256))).toString('base64') });
          continue;
        }
        const name = `/c/o${names++}`;
        if (kind === 4) {
          const sub = makeSegs(depth + 1);
          manifests.set(name, sub);
          const size = sub.reduce((n, s) => n + segmentLength(s), 0);
          if (size === 0) continue;
          segs.push({ name, bytes: size, hash: 'h', content_type: 'x', last_modified: '', sub_slo: true });
          continue;
        }
        const size = 1 + rnd.int(20);
        objects.set(name, Buffer.from(Array.from({ length: size }, () => rnd.int(256))));
        const seg: StoredSegment = { name, bytes: size, hash: 'h', content_type: 'x', last_modified: '' };
        if (kind === 3) {
          const a = rnd.int(size);
          seg.range = `${a}-${a + rnd.int(size - a)}`;
        }
        segs.push(seg);
      }
      return segs;
    };
    const segs = makeSegs(0);
    const whole = wholeOf(segs, objects, manifests);
    const total = segs.reduce((n, s) => n + segmentLength(s), 0);
    t.equal(whole.length, total, `seed ${seed} round ${round}: lengths add up`);
    for (let k = 0; k < 10; k++) {
      const first = rnd.int(total + 2);
      const last = first + rnd.int(total + 2) - 1;
      const pieces = mapSloRange(segs, first, last);
      const got = bytesOf(pieces, objects, manifests);
      if (!got.equals(whole.subarray(first, last + 1))) {
        t.fail(`seed ${seed} round ${round}: bytes ${first}-${last} wrong`);
        return;
      }
      for (const p of pieces) if (p.kind !== 'data' && p.last < p.first) t.fail(`seed ${seed}: empty piece ${JSON.stringify(p)}`);
    }
  }
  t.pass(`seed ${seed}`);
});

t.test('an inner range of a segment offsets the slice inside the object', async (t) => {
  const segs: StoredSegment[] = [
    { name: '/c/a', bytes: 10, hash: 'x', content_type: '', last_modified: '' },
    { name: '/c/b', bytes: 100, hash: 'y', content_type: '', last_modified: '', range: '50-59' },
  ];
  t.same(mapSloRange(segs, 8, 12), [
    { kind: 'object', name: '/c/a', etag: 'x', size: 10, first: 8, last: 9 },
    { kind: 'object', name: '/c/b', etag: 'y', size: 100, first: 50, last: 52 },
  ]);
  t.same(mapSloRange(segs, 25, 30), [], 'past the end: nothing');
});

t.test('DLO pages keep the range position from page to page', async (t) => {
  const page1 = [
    { name: 'p/1', bytes: 4, hash: 'a' },
    { name: 'p/2', bytes: 0, hash: 'b' },
    { name: 'p/3', bytes: 4, hash: 'c' },
  ];
  const a = mapDloPage(page1, 'segs', 2, 9);
  t.same(
    a.pieces.map((p) => [p.name, p.first, p.last]),
    [
      ['/segs/p/1', 2, 3],
      ['/segs/p/3', 0, 3],
    ],
  );
  t.same(a.rest, { first: 0, last: 1 });
  const b = mapDloPage([{ name: 'p/4', bytes: 4, hash: 'd' }], 'segs', a.rest.first, a.rest.last);
  t.same(b.pieces.map((p) => [p.name, p.first, p.last]), [['/segs/p/4', 0, 1]]);
  t.ok(b.rest.last < 0, 'nothing more wanted');
});
