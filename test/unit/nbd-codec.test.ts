import t from 'tap';
import { NbdDecoder, encodeClientFlags, encodeOption, encodeRequest, type Inbound } from '../../volume-gateway/nbd/codec.js';
import { CMD, CMD_FLAG, FLAG_C_FIXED_NEWSTYLE, FLAG_C_NO_ZEROES, OPT } from '../../volume-gateway/nbd/protocol.js';
import { SeededRandom } from '../../common/random.js';
import { seededBytes } from '../helpers/client-tools.js';

/** A GO for "disk" asking for NAME and BLOCK_SIZE. */
function goData(name: string): Buffer {
  const n = Buffer.from(name);
  const b = Buffer.alloc(4 + n.length + 2 + 4);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  b.writeUInt16BE(2, 4 + n.length);
  b.writeUInt16BE(1, 6 + n.length);
  b.writeUInt16BE(3, 8 + n.length);
  return b;
}

const payload = seededBytes(700, 7);
const stream = Buffer.concat([
  encodeClientFlags(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES),
  encodeOption(OPT.STRUCTURED_REPLY),
  encodeOption(99, Buffer.from('whatever')),
  encodeOption(OPT.GO, goData('disk')),
  encodeRequest({ flags: CMD_FLAG.FUA, command: CMD.WRITE, handle: 1n, offset: 4096n, length: payload.length, data: payload }),
  encodeRequest({ flags: 0, command: CMD.READ, handle: 2n, offset: 0n, length: 65536 }),
  encodeRequest({ flags: 0, command: CMD.WRITE, handle: 3n, offset: 0n, length: 1, data: Buffer.from([0xab]) }),
  encodeRequest({ flags: 0, command: CMD.DISC, handle: 4n, offset: 0n, length: 0 }),
]);

/** Feeds pieces, pulling after each; switches to transmission after GO, as the connection does. */
function decodeAll(pieces: Buffer[], d = new NbdDecoder()): Inbound[] {
  const out: Inbound[] = [];
  for (const p of pieces) {
    d.push(p);
    for (let m = d.next(); m !== null; m = d.next()) {
      out.push(m);
      if (m.kind === 'option' && m.option === OPT.GO) d.startTransmission();
    }
  }
  return out;
}

/** Comparable form (Buffers as hex). */
function plain(ms: Inbound[]): unknown {
  const hex = (v: unknown): unknown => (typeof v === 'object' && v !== null && (v as { type?: string }).type === 'Buffer' ? Buffer.from((v as { data: number[] }).data).toString('hex') : v);
  return JSON.parse(JSON.stringify(ms, (_k, v: unknown) => (typeof v === 'bigint' ? `${v}n` : hex(v))));
}

t.test('whole stream: client flags, options, requests with payloads', async (t) => {
  const ms = decodeAll([stream]);
  t.same(
    ms.map((m) => m.kind),
    ['client-flags', 'option', 'option', 'option', 'request', 'request', 'request', 'request'],
  );
  const w = ms[4];
  t.ok(w?.kind === 'request' && w.request.data?.equals(payload) && w.request.offset === 4096n && w.request.flags === CMD_FLAG.FUA);
  const o = ms[2];
  t.ok(o?.kind === 'option' && o.option === 99 && o.data.toString() === 'whatever');
});

t.test('split at every offset (two pieces) decodes the same messages', async (t) => {
  const whole = plain(decodeAll([stream]));
  let mismatches = 0;
  for (let i = 0; i <= stream.length; i++) {
    if (JSON.stringify(plain(decodeAll([stream.subarray(0, i), stream.subarray(i)]))) !== JSON.stringify(whole)) mismatches++;
  }
  t.equal(mismatches, 0);
});

t.test('one byte at a time decodes the same messages', async (t) => {
  const pieces: Buffer[] = [];
  for (let i = 0; i < stream.length; i++) pieces.push(stream.subarray(i, i + 1));
  t.same(plain(decodeAll(pieces)), plain(decodeAll([stream])));
});

t.test('three pieces at seeded offsets decode the same messages', async (t) => {
  const rnd = new SeededRandom(25);
  const whole = JSON.stringify(plain(decodeAll([stream])));
  for (let n = 0; n < 300; n++) {
    const a = rnd.int(stream.length + 1);
    const b = a + rnd.int(stream.length + 1 - a);
    t.equal(JSON.stringify(plain(decodeAll([stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)])) ), whole, `split at ${a}, ${b}`);
  }
});

t.test('unknown client flags are an error, and nothing follows it', async (t) => {
  const d = new NbdDecoder();
  d.push(Buffer.concat([encodeClientFlags(1 << 5), encodeOption(OPT.LIST)]));
  t.match(d.next(), { kind: 'error', reason: 'bad-client-flags' });
  t.equal(d.next(), null);
  d.push(encodeOption(OPT.LIST));
  t.equal(d.next(), null);
});

t.test('an option without IHAVEOPT is refused as soon as 8 bytes are here', async (t) => {
  const d = new NbdDecoder();
  d.push(encodeClientFlags(FLAG_C_FIXED_NEWSTYLE));
  t.match(d.next(), { kind: 'client-flags' });
  d.push(Buffer.from('GET / HT'));
  t.match(d.next(), { kind: 'error', reason: 'bad-option-magic' });
});

t.test('an option larger than the limit ends the stream without waiting for its data', async (t) => {
  const d = new NbdDecoder({ maxOptionData: 100 });
  const big = encodeOption(OPT.GO, Buffer.alloc(101));
  d.push(Buffer.concat([encodeClientFlags(FLAG_C_FIXED_NEWSTYLE), big.subarray(0, 16)]));
  t.match(d.next(), { kind: 'client-flags' });
  t.match(d.next(), { kind: 'error', reason: 'option-too-large' });
});

t.test('a request without its magic is an error', async (t) => {
  const d = new NbdDecoder();
  d.push(encodeClientFlags(0));
  d.next();
  d.startTransmission();
  d.push(Buffer.alloc(28));
  t.match(d.next(), { kind: 'error', reason: 'bad-request-magic' });
});

t.test('an oversize WRITE comes out as its header; its payload is skipped, never buffered', async (t) => {
  const d = new NbdDecoder({ maxPayload: 1024 });
  d.push(encodeClientFlags(0));
  d.next();
  d.startTransmission();
  const big = encodeRequest({ flags: 0, command: CMD.WRITE, handle: 9n, offset: 0n, length: 100_000, data: Buffer.alloc(100_000, 1) });
  const after = encodeRequest({ flags: 0, command: CMD.FLUSH, handle: 10n, offset: 0n, length: 0 });
  const all = Buffer.concat([big, after]);
  const seen: Inbound[] = [];
  let maxBuffered = 0;
  for (let i = 0; i < all.length; i += 4096) {
    d.push(all.subarray(i, i + 4096));
    for (let m = d.next(); m !== null; m = d.next()) seen.push(m);
    maxBuffered = Math.max(maxBuffered, d.buffered);
  }
  t.match(seen, [{ kind: 'oversize', request: { handle: 9n, length: 100_000 } }, { kind: 'request', request: { handle: 10n, command: CMD.FLUSH } }]);
  t.ok(maxBuffered < 4096, `buffered at most ${maxBuffered} bytes`);
});

t.test('seeded fuzz: garbage and mutated streams never throw; after an error only null', async (t) => {
  const rnd = new SeededRandom(0x5eed);
  let errors = 0;
  for (let run = 0; run < 2000; run++) {
    let input: Buffer;
    if (run % 2 === 0) {
      input = seededBytes(4 + rnd.int(400), run);
    } else {
      input = Buffer.from(stream);
      for (let k = 1 + rnd.int(4); k > 0; k--) input[rnd.int(input.length)] = rnd.int(256);
    }
    const d = new NbdDecoder({ maxPayload: 4096, maxOptionData: 1024 });
    let dead = false;
    for (let at = 0; at < input.length; ) {
      const n = 1 + rnd.int(64);
      d.push(input.subarray(at, at + n));
      at += n;
      for (let m = d.next(); m !== null; m = d.next()) {
        if (dead) t.fail(`message after an error (seed run ${run})`);
        if (m.kind === 'error') {
          dead = true;
          errors++;
        }
        if (m.kind === 'option' && rnd.int(2) === 0) d.startTransmission();
      }
    }
  }
  t.ok(errors > 0, `${errors} streams ended with a decode error`);
});
