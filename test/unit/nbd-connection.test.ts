import t from 'tap';
import { encodeClientFlags, encodeOption, encodeRequest, type NbdRequest } from '../../volume-gateway/nbd/codec.js';
import { BASE_ALLOCATION_ID, NbdConnection, transmissionFlags, type ConnectionOptions } from '../../volume-gateway/nbd/connection.js';
import { CMD, CMD_FLAG, FLAG_C_FIXED_NEWSTYLE, FLAG_C_NO_ZEROES, INFO, NBD_ERR, OPT, REP, REPLY_FLAG_DONE, REPLY_TYPE, STATE_HOLE, STATE_ZERO, TF } from '../../volume-gateway/nbd/protocol.js';
import { StaticCatalog } from '../../volume-gateway/catalog.js';
import type { BlockVolume } from '../../volume-gateway/volume.js';
import { SeededRandom } from '../../common/random.js';
import { FailingVolume, FakeIo, FakeTlsIo, GatedVolume, MemoryVolume, parseOptionReplies, parseReplies, settle, type Reply } from '../helpers/nbd-wire.js';
import { seededBytes } from '../helpers/client-tools.js';

const MiB = 1024 * 1024;

function nameAndInfos(name: string, infos: number[]): Buffer {
  const n = Buffer.from(name);
  const b = Buffer.alloc(4 + n.length + 2 + 2 * infos.length);
  b.writeUInt32BE(n.length, 0);
  n.copy(b, 4);
  b.writeUInt16BE(infos.length, 4 + n.length);
  infos.forEach((x, i) => b.writeUInt16BE(x, 6 + n.length + 2 * i));
  return b;
}

function metaQuery(name: string, queries: string[]): Buffer {
  const parts = [Buffer.alloc(4), Buffer.from(name), Buffer.alloc(4)];
  parts[0]!.writeUInt32BE(Buffer.byteLength(name), 0);
  parts[2]!.writeUInt32BE(queries.length, 0);
  for (const q of queries) {
    const l = Buffer.alloc(4);
    l.writeUInt32BE(Buffer.byteLength(q), 0);
    parts.push(l, Buffer.from(q));
  }
  return Buffer.concat(parts);
}

function setup(volumes: Record<string, BlockVolume>, opts: Partial<ConnectionOptions> = {}) {
  const io = new FakeIo();
  const catalog = new StaticCatalog(
    Object.entries(volumes).map(([name, volume]) => ({ name, volume, description: `the ${name} disk` })),
    Object.keys(volumes)[0],
  );
  const conn = new NbdConnection(io, { catalog, ...opts });
  conn.start();
  return { io, conn };
}

/** Client flags, structured replies (unless plain), base:allocation, GO: the connection in transmission. */
async function connect(volumes: Record<string, BlockVolume>, o: { structured?: boolean; meta?: boolean; export?: string } & Partial<ConnectionOptions> = {}) {
  const { io, conn } = setup(volumes, o);
  const name = o.export ?? Object.keys(volumes)[0]!;
  const opts = [encodeClientFlags(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES)];
  if (o.structured !== false) opts.push(encodeOption(OPT.STRUCTURED_REPLY));
  if (o.structured !== false && o.meta !== false) opts.push(encodeOption(OPT.SET_META_CONTEXT, metaQuery(name, ['base:allocation'])));
  opts.push(encodeOption(OPT.GO, nameAndInfos(name, [])));
  conn.receive(Buffer.concat(opts));
  await settle();
  io.take();
  return { io, conn };
}

async function ask(conn: NbdConnection, io: FakeIo, ...reqs: NbdRequest[]): Promise<Reply[]> {
  conn.receive(Buffer.concat(reqs.map(encodeRequest)));
  await settle();
  const lens = new Map(reqs.filter((r) => r.command === CMD.READ).map((r) => [r.handle, r.length] as const));
  return parseReplies(io.take(), lens);
}

const req = (command: number, handle: bigint, offset: number, length: number, flags = 0, data?: Buffer): NbdRequest => ({ command, handle, offset: BigInt(offset), length, flags, data });
const errnoOfChunk = (r: Reply | undefined): number | undefined => (r?.kind === 'chunk' && r.type === REPLY_TYPE.ERROR ? r.payload.readUInt32BE(0) : r?.kind === 'simple' ? r.error : undefined);

t.test('greeting: NBDMAGIC, IHAVEOPT, FIXED_NEWSTYLE|NO_ZEROES', async (t) => {
  const { io } = setup({ disk: new MemoryVolume(MiB) });
  t.equal(io.take().toString('hex'), '4e42444d41474943' + '49484156454f5054' + '0003');
});

t.test('handshake transcript: unknown option, STARTTLS, LIST, INFO and GO agree', async (t) => {
  const vol = new MemoryVolume(8 * MiB);
  const { io, conn } = setup({ disk: vol, other: new MemoryVolume(MiB, true) });
  io.take();
  conn.receive(encodeClientFlags(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES));
  conn.receive(encodeOption(4242, Buffer.from('??')));
  await settle();
  t.match(parseOptionReplies(io.take()), [{ option: 4242, type: REP.ERR_UNSUP }]);
  conn.receive(encodeOption(OPT.STARTTLS));
  await settle();
  t.match(parseOptionReplies(io.take()), [{ option: OPT.STARTTLS, type: REP.ERR_UNSUP }]);
  conn.receive(encodeOption(OPT.LIST));
  await settle();
  const list = parseOptionReplies(io.take());
  t.same(
    list.map((r) => [r.type, r.data.length > 4 ? r.data.toString('utf8', 4, 4 + r.data.readUInt32BE(0)) : '']),
    [
      [REP.SERVER, 'disk'],
      [REP.SERVER, 'other'],
      [REP.ACK, ''],
    ],
  );
  conn.receive(encodeOption(OPT.LIST, Buffer.from('x')));
  await settle();
  t.match(parseOptionReplies(io.take()), [{ type: REP.ERR_INVALID }]);
  conn.receive(encodeOption(OPT.INFO, nameAndInfos('nope', [])));
  await settle();
  t.match(parseOptionReplies(io.take()), [{ type: REP.ERR_UNKNOWN }], 'an unknown export is ERR_UNKNOWN, and the connection goes on');
  conn.receive(encodeOption(OPT.INFO, Buffer.from([0, 0, 0, 9, 1])));
  await settle();
  t.match(parseOptionReplies(io.take()), [{ type: REP.ERR_INVALID }], 'a short INFO is ERR_INVALID');

  conn.receive(encodeOption(OPT.INFO, nameAndInfos('disk', [INFO.NAME, INFO.DESCRIPTION, INFO.BLOCK_SIZE])));
  await settle();
  const info = parseOptionReplies(io.take());
  conn.receive(encodeOption(OPT.GO, nameAndInfos('disk', [INFO.NAME, INFO.DESCRIPTION, INFO.BLOCK_SIZE])));
  await settle();
  const go = parseOptionReplies(io.take());
  t.same(
    go.map((r) => [r.type, r.data.toString('hex')]),
    info.map((r) => [r.type, r.data.toString('hex')]),
    'GO answers what INFO answered',
  );
  const byInfo = new Map(info.filter((r) => r.type === REP.INFO).map((r) => [r.data.readUInt16BE(0), r.data.subarray(2)] as const));
  t.equal(byInfo.get(INFO.NAME)?.toString(), 'disk');
  t.equal(byInfo.get(INFO.DESCRIPTION)?.toString(), 'the disk disk');
  t.same([byInfo.get(INFO.BLOCK_SIZE)?.readUInt32BE(0), byInfo.get(INFO.BLOCK_SIZE)?.readUInt32BE(4), byInfo.get(INFO.BLOCK_SIZE)?.readUInt32BE(8)], [1, 4096, 32 * MiB]);
  const ex = byInfo.get(INFO.EXPORT)!;
  t.equal(Number(ex.readBigUInt64BE(0)), 8 * MiB);
  t.equal(ex.readUInt16BE(8), transmissionFlags(vol, false));
  t.equal(info[info.length - 1]?.type, REP.ACK);
  // In transmission now: a FLUSH gets a simple reply.
  t.match(await ask(conn, io, req(CMD.FLUSH, 7n, 0, 0)), [{ kind: 'simple', handle: 7n, error: 0 }]);
  t.equal(vol.flushes, 1);
});

t.test('transmission flags: read-only, structured (DF), multi-conn', async (t) => {
  const rw = new MemoryVolume(MiB);
  const ro = new MemoryVolume(MiB, true);
  const f = transmissionFlags(rw, true);
  for (const flag of [TF.HAS_FLAGS, TF.SEND_FLUSH, TF.SEND_FUA, TF.SEND_TRIM, TF.SEND_WRITE_ZEROES, TF.SEND_DF, TF.CAN_MULTI_CONN, TF.SEND_CACHE, TF.SEND_FAST_ZERO]) t.ok(f & flag, `flag ${flag}`);
  t.notOk(f & TF.READ_ONLY);
  t.notOk(transmissionFlags(rw, false) & TF.SEND_DF, 'DF only with structured replies');
  const r = transmissionFlags(ro, true);
  t.ok(r & TF.READ_ONLY);
  t.notOk(r & (TF.SEND_TRIM | TF.SEND_WRITE_ZEROES));
});

t.test('EXPORT_NAME: 10 bytes with NO_ZEROES, 134 without; unknown name hangs up', async (t) => {
  const a = setup({ disk: new MemoryVolume(MiB) });
  a.io.take();
  a.conn.receive(Buffer.concat([encodeClientFlags(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES), encodeOption(OPT.EXPORT_NAME, Buffer.from('disk'))]));
  await settle();
  const r = a.io.take();
  t.equal(r.length, 10);
  t.equal(Number(r.readBigUInt64BE(0)), MiB);
  const b = setup({ disk: new MemoryVolume(MiB) });
  b.io.take();
  b.conn.receive(Buffer.concat([encodeClientFlags(0), encodeOption(OPT.EXPORT_NAME, Buffer.from(''))]));
  await settle();
  t.equal(b.io.take().length, 134, 'the default export, with the 124 zeroes');
  const c = setup({ disk: new MemoryVolume(MiB) });
  c.conn.receive(Buffer.concat([encodeClientFlags(FLAG_C_FIXED_NEWSTYLE), encodeOption(OPT.EXPORT_NAME, Buffer.from('nope'))]));
  await settle();
  t.ok(c.io.destroyed);
});

t.test('plain newstyle client: any option but EXPORT_NAME hangs up; ABORT is acknowledged', async (t) => {
  const a = setup({ disk: new MemoryVolume(MiB) });
  a.conn.receive(Buffer.concat([encodeClientFlags(0), encodeOption(OPT.LIST)]));
  await settle();
  t.ok(a.io.destroyed);
  const b = setup({ disk: new MemoryVolume(MiB) });
  b.io.take();
  b.conn.receive(Buffer.concat([encodeClientFlags(FLAG_C_FIXED_NEWSTYLE), encodeOption(OPT.ABORT)]));
  await settle();
  t.match(parseOptionReplies(b.io.take()), [{ option: OPT.ABORT, type: REP.ACK }]);
  t.ok(b.io.ended);
});

t.test('meta contexts: need structured replies; LIST gives id 0, SET its id; others are not selected', async (t) => {
  const { io, conn } = setup({ disk: new MemoryVolume(MiB) });
  io.take();
  conn.receive(Buffer.concat([encodeClientFlags(FLAG_C_FIXED_NEWSTYLE), encodeOption(OPT.SET_META_CONTEXT, metaQuery('disk', ['base:allocation']))]));
  await settle();
  t.match(parseOptionReplies(io.take()), [{ type: REP.ERR_INVALID }]);
  conn.receive(Buffer.concat([encodeOption(OPT.STRUCTURED_REPLY), encodeOption(OPT.LIST_META_CONTEXT, metaQuery('disk', []))]));
  await settle();
  const listed = parseOptionReplies(io.take());
  t.match(listed, [{ type: REP.ACK }, { type: REP.META_CONTEXT }, { type: REP.ACK }]);
  t.equal(listed[1]!.data.readUInt32BE(0), 0);
  t.equal(listed[1]!.data.toString('utf8', 4), 'base:allocation');
  conn.receive(encodeOption(OPT.SET_META_CONTEXT, metaQuery('disk', ['x-foo:bar', 'base:allocation'])));
  await settle();
  const set = parseOptionReplies(io.take());
  t.match(set, [{ type: REP.META_CONTEXT }, { type: REP.ACK }]);
  t.equal(set[0]!.data.readUInt32BE(0), BASE_ALLOCATION_ID);
  conn.receive(encodeOption(OPT.SET_META_CONTEXT, metaQuery('nope', ['base:allocation'])));
  await settle();
  t.match(parseOptionReplies(io.take()), [{ type: REP.ERR_UNKNOWN }]);
});

t.test('READ, structured: holes as OFFSET_HOLE, data as OFFSET_DATA, DONE on the last chunk; DF gives one chunk', async (t) => {
  const vol = new MemoryVolume(MiB);
  const { io, conn } = await connect({ disk: vol });
  const data = seededBytes(4096, 1);
  t.match(await ask(conn, io, req(CMD.WRITE, 1n, 8192, 4096, 0, data)), [{ kind: 'simple', handle: 1n, error: 0 }]);
  const chunks = await ask(conn, io, req(CMD.READ, 2n, 0, 16384));
  t.same(
    chunks.map((c) => (c.kind === 'chunk' ? [c.type, c.flags, Number(c.payload.readBigUInt64BE(0))] : c.kind)),
    [
      [REPLY_TYPE.OFFSET_HOLE, 0, 0],
      [REPLY_TYPE.OFFSET_DATA, 0, 8192],
      [REPLY_TYPE.OFFSET_HOLE, REPLY_FLAG_DONE, 12288],
    ],
  );
  t.ok(chunks[1]?.kind === 'chunk' && chunks[1].payload.subarray(8).equals(data));
  t.equal(chunks[0]?.kind === 'chunk' && chunks[0].payload.readUInt32BE(8), 8192);
  const df = await ask(conn, io, req(CMD.READ, 3n, 4096, 8192, CMD_FLAG.DF));
  t.equal(df.length, 1);
  const only = df[0]!;
  t.ok(only.kind === 'chunk' && only.type === REPLY_TYPE.OFFSET_DATA && only.flags === REPLY_FLAG_DONE);
  t.ok(only.kind === 'chunk' && only.payload.subarray(8).equals(Buffer.concat([Buffer.alloc(4096), data])));
});

t.test('READ without structured replies: one simple reply with the bytes; DF is EINVAL', async (t) => {
  const vol = new MemoryVolume(MiB);
  const { io, conn } = await connect({ disk: vol }, { structured: false });
  const data = seededBytes(1000, 2);
  await ask(conn, io, req(CMD.WRITE, 1n, 100, 1000, CMD_FLAG.FUA, data));
  t.equal(vol.fuaWrites, 1);
  const [r] = await ask(conn, io, req(CMD.READ, 2n, 100, 1000));
  t.ok(r?.kind === 'simple' && r.error === 0 && r.data?.equals(data));
  t.match(await ask(conn, io, req(CMD.READ, 3n, 0, 10, CMD_FLAG.DF)), [{ kind: 'simple', error: NBD_ERR.EINVAL }]);
  t.match(await ask(conn, io, req(CMD.BLOCK_STATUS, 4n, 0, 10)), [{ kind: 'simple', error: NBD_ERR.EINVAL }], 'no BLOCK_STATUS without a context');
});

t.test('BLOCK_STATUS: data never ZERO, holes HOLE|ZERO, REQ_ONE gives one extent', async (t) => {
  const vol = new MemoryVolume(MiB);
  const { io, conn } = await connect({ disk: vol });
  await ask(conn, io, req(CMD.WRITE, 1n, 0, 4096, 0, Buffer.alloc(4096))); // zero bytes, but written: data
  const [bs] = await ask(conn, io, req(CMD.BLOCK_STATUS, 2n, 0, 65536));
  t.ok(bs?.kind === 'chunk' && bs.type === REPLY_TYPE.BLOCK_STATUS && bs.flags === REPLY_FLAG_DONE);
  const p = (bs as Extract<Reply, { kind: 'chunk' }>).payload;
  t.equal(p.readUInt32BE(0), BASE_ALLOCATION_ID);
  t.same([p.readUInt32BE(4), p.readUInt32BE(8), p.readUInt32BE(12), p.readUInt32BE(16)], [4096, 0, 61440, STATE_HOLE | STATE_ZERO]);
  const [one] = await ask(conn, io, req(CMD.BLOCK_STATUS, 3n, 0, 65536, CMD_FLAG.REQ_ONE));
  t.equal((one as Extract<Reply, { kind: 'chunk' }>).payload.length, 12);
});

t.test('out of range, empty, unknown, bad flags, read-only: errors, and the connection goes on', async (t) => {
  const vol = new MemoryVolume(MiB);
  const { io, conn } = await connect({ disk: vol, ro: new MemoryVolume(MiB, true) });
  const table: Array<[string, NbdRequest, number]> = [
    ['read past the end', req(CMD.READ, 1n, MiB - 10, 20), NBD_ERR.EINVAL],
    ['write past the end', req(CMD.WRITE, 2n, MiB, 1, 0, Buffer.from([1])), NBD_ERR.ENOSPC],
    ['zeroes past the end', req(CMD.WRITE_ZEROES, 3n, MiB - 1, 2), NBD_ERR.ENOSPC],
    ['trim past the end', req(CMD.TRIM, 4n, MiB, 1), NBD_ERR.EINVAL],
    ['offset near 2^64', { command: CMD.READ, handle: 5n, offset: 2n ** 64n - 1n, length: 1, flags: 0 }, NBD_ERR.EINVAL],
    ['empty read', req(CMD.READ, 6n, 0, 0), NBD_ERR.EINVAL],
    ['unknown command', req(77, 7n, 0, 1), NBD_ERR.EINVAL],
    ['REQ_ONE on a read', req(CMD.READ, 8n, 0, 1, CMD_FLAG.REQ_ONE), NBD_ERR.EINVAL],
    ['NO_HOLE on a write', req(CMD.WRITE, 9n, 0, 1, CMD_FLAG.NO_HOLE, Buffer.from([1])), NBD_ERR.EINVAL],
    ['a read over 32 MiB', req(CMD.READ, 10n, 0, 33 * MiB), NBD_ERR.EINVAL],
  ];
  for (const [what, r, errno] of table) {
    const replies = await ask(conn, io, r);
    t.equal(replies.length, 1, what);
    t.equal(errnoOfChunk(replies[0]), errno, what);
    t.equal(replies[0]?.kind === 'chunk' && replies[0].flags, REPLY_FLAG_DONE, `${what}: one error chunk, DONE`);
  }
  t.match(await ask(conn, io, req(CMD.READ, 11n, 0, 1)), [{ kind: 'chunk', type: REPLY_TYPE.OFFSET_HOLE }], 'still serving');
  const ro = await connect({ ro: new MemoryVolume(MiB, true) });
  for (const r of [req(CMD.WRITE, 1n, 0, 1, 0, Buffer.from([1])), req(CMD.TRIM, 2n, 0, 1), req(CMD.WRITE_ZEROES, 3n, 0, 1)]) {
    t.equal(errnoOfChunk((await ask(ro.conn, ro.io, r))[0]), NBD_ERR.EPERM);
  }
});

t.test('an oversize WRITE gets EINVAL and the next request is served', async (t) => {
  const { io, conn } = await connect({ disk: new MemoryVolume(64 * MiB) });
  const header = encodeRequest(req(CMD.WRITE, 1n, 0, 40 * MiB)).subarray(0, 28);
  conn.receive(header);
  // The payload streams in and is dropped.
  const piece = Buffer.alloc(MiB, 0xee);
  for (let i = 0; i < 40; i++) conn.receive(piece);
  conn.receive(encodeRequest(req(CMD.READ, 2n, 0, 8)));
  await settle();
  const replies = parseReplies(io.take());
  t.equal(errnoOfChunk(replies[0]), NBD_ERR.EINVAL);
  t.match(replies[1], { kind: 'chunk', handle: 2n, type: REPLY_TYPE.OFFSET_HOLE }, 'nothing of the skipped payload was written');
});

t.test('write failures map to NBD errors; FAST_ZERO that cannot be fast is ENOTSUP', async (t) => {
  const { io, conn } = await connect({ disk: new FailingVolume(MiB, 'ENOSPC') });
  t.equal(errnoOfChunk((await ask(conn, io, req(CMD.WRITE, 1n, 0, 1, 0, Buffer.from([1]))))[0]), NBD_ERR.ENOSPC);
  const b = await connect({ disk: new FailingVolume(MiB, 'EIO') });
  t.equal(errnoOfChunk((await ask(b.conn, b.io, req(CMD.WRITE, 1n, 0, 1, 0, Buffer.from([1]))))[0]), NBD_ERR.EIO);
});

t.test('replies in completion order, not request order', async (t) => {
  const vol = new GatedVolume(MiB);
  const { io, conn } = await connect({ disk: vol });
  conn.receive(Buffer.concat([encodeRequest(req(CMD.READ, 1n, 0, 10)), encodeRequest(req(CMD.READ, 2n, 10, 10)), encodeRequest(req(CMD.WRITE, 3n, 0, 1, 0, Buffer.from([1])))]));
  await settle();
  t.equal(vol.waiting.length, 3, 'all three in flight at once');
  vol.waiting[2]!.release();
  await settle();
  vol.waiting[1]!.release();
  await settle();
  vol.waiting[0]!.release();
  await settle();
  t.same(
    parseReplies(io.take()).map((r) => r.handle),
    [3n, 2n, 1n],
  );
});

t.test('backpressure: past the in-flight limits the socket is paused, and resumed below them', async (t) => {
  const vol = new GatedVolume(MiB);
  const { io, conn } = await connect({ disk: vol }, { maxInFlightRequests: 2 });
  conn.receive(Buffer.concat([1n, 2n, 3n, 4n, 5n].map((h) => encodeRequest(req(CMD.WRITE, h, 0, 4, 0, Buffer.from('abcd'))))));
  await settle();
  t.equal(vol.waiting.length, 2, 'only two taken from the buffer');
  t.ok(io.paused);
  t.same(conn.pending, { requests: 2, bytes: 8 });
  vol.waiting[0]!.release();
  await settle();
  t.equal(vol.waiting.length, 3, 'one done, one more started');
  for (let i = 1; i < 5; i++) {
    vol.waiting[i]!.release();
    await settle();
  }
  t.equal(parseReplies(io.take()).length, 5);
  t.notOk(io.paused);
  // Bytes: two 4-byte writes fill a 6-byte budget.
  const b = await connect({ disk: new GatedVolume(MiB) }, { maxInFlightBytes: 6 });
  b.conn.receive(Buffer.concat([1n, 2n, 3n].map((h) => encodeRequest(req(CMD.WRITE, h, 0, 4, 0, Buffer.from('abcd'))))));
  await settle();
  t.equal(b.conn.pending.requests, 2);
  t.ok(b.io.paused);
  // A full socket buffer stops reading too.
  const c = await connect({ disk: new MemoryVolume(MiB) });
  c.io.full = true;
  c.conn.receive(encodeRequest(req(CMD.READ, 1n, 0, 4)));
  await settle();
  c.conn.receive(encodeRequest(req(CMD.READ, 2n, 0, 4)));
  await settle();
  t.equal(parseReplies(c.io.take()).length, 1, 'one reply, then the connection waits for drain');
  t.ok(c.io.paused);
  c.io.full = false;
  c.conn.onDrain();
  await settle();
  t.equal(parseReplies(c.io.take()).length, 1);
  t.notOk(c.io.paused);
});

t.test('DISC: in-flight requests finish and are answered, then the connection ends', async (t) => {
  const vol = new GatedVolume(MiB);
  const { io, conn } = await connect({ disk: vol });
  conn.receive(Buffer.concat([encodeRequest(req(CMD.WRITE, 1n, 0, 1, 0, Buffer.from([9]))), encodeRequest(req(CMD.DISC, 2n, 0, 0)), encodeRequest(req(CMD.READ, 3n, 0, 1))]));
  await settle();
  t.notOk(io.ended, 'waits for the write');
  vol.waiting[0]!.release();
  await settle();
  t.ok(io.ended);
  t.same(parseReplies(io.take()).map((r) => r.handle), [1n], 'the write answered; nothing after DISC served');
  t.equal(vol.blocks.get(0)?.[0], 9);
});

t.test('seeded fuzz: garbage never throws, never leaves a rejection, never touches another export', async (t) => {
  const rejections: unknown[] = [];
  const onRejection = (e: unknown): void => void rejections.push(e);
  process.on('unhandledRejection', onRejection);
  t.teardown(() => void process.off('unhandledRejection', onRejection));
  const other = new MemoryVolume(MiB);
  await other.write(0, seededBytes(65536, 3), { fua: false });
  const before = Buffer.concat((await other.read(0, MiB)).map((e) => (e.kind === 'data' ? e.data : Buffer.alloc(e.length))));
  const rnd = new SeededRandom(0xf0e2);
  const valid = Buffer.concat([
    encodeClientFlags(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES),
    encodeOption(OPT.STRUCTURED_REPLY),
    encodeOption(OPT.SET_META_CONTEXT, metaQuery('fuzz', ['base:allocation'])),
    encodeOption(OPT.GO, nameAndInfos('fuzz', [INFO.BLOCK_SIZE])),
    encodeRequest(req(CMD.WRITE, 1n, 10, 100, CMD_FLAG.FUA, seededBytes(100, 4))),
    encodeRequest(req(CMD.READ, 2n, 0, 200, CMD_FLAG.DF)),
    encodeRequest(req(CMD.BLOCK_STATUS, 3n, 0, 4096, CMD_FLAG.REQ_ONE)),
    encodeRequest(req(CMD.WRITE_ZEROES, 4n, 0, 8192, CMD_FLAG.FAST_ZERO)),
    encodeRequest(req(CMD.TRIM, 5n, 4096, 4096)),
    encodeRequest(req(CMD.DISC, 6n, 0, 0)),
  ]);
  let hungUp = 0;
  for (let run = 0; run < 1500; run++) {
    const input = run % 3 === 0 ? seededBytes(4 + rnd.int(300), run) : Buffer.from(valid);
    if (run % 3 !== 0) for (let k = 1 + rnd.int(6); k > 0; k--) input[rnd.int(input.length)] = rnd.int(256);
    const io = new FakeIo();
    const conn = new NbdConnection(io, { catalog: new StaticCatalog([{ name: 'fuzz', volume: new MemoryVolume(MiB) }, { name: 'other', volume: other }]) });
    conn.start();
    for (let at = 0; at < input.length && !io.destroyed; ) {
      const n = 1 + rnd.int(80);
      conn.receive(input.subarray(at, at + n));
      at += n;
      if (rnd.int(4) === 0) await settle();
    }
    await settle();
    if (io.destroyed) hungUp++;
  }
  const after = Buffer.concat((await other.read(0, MiB)).map((e) => (e.kind === 'data' ? e.data : Buffer.alloc(e.length))));
  t.ok(after.equals(before), 'the other export is untouched');
  t.same(rejections, []);
  t.ok(hungUp > 0, `${hungUp} fuzzed connections were hung up on`);
});

t.test('with TLS credentials (FORCEDTLS): nothing but STARTTLS and ABORT before TLS', async (t) => {
  const catalog = new StaticCatalog([{ name: 'disk', volume: new MemoryVolume(MiB) }]);
  const io = new FakeTlsIo();
  const conn = new NbdConnection(io, { catalog });
  conn.start();
  io.take();
  conn.receive(Buffer.concat([encodeClientFlags(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES), encodeOption(OPT.LIST)]));
  await settle();
  t.match(parseOptionReplies(io.take()), [{ option: OPT.LIST, type: REP.ERR_TLS_REQD }]);
  conn.receive(encodeOption(OPT.GO, nameAndInfos('disk', [])));
  await settle();
  t.match(parseOptionReplies(io.take()), [{ option: OPT.GO, type: REP.ERR_TLS_REQD }]);
  conn.receive(encodeOption(OPT.STARTTLS));
  await settle();
  t.match(parseOptionReplies(io.take()), [{ option: OPT.STARTTLS, type: REP.ACK }]);
  t.equal(io.tlsStarted, 1);
  t.ok(conn.tls);
  // From here receive() carries the plaintext from inside TLS.
  conn.receive(encodeOption(OPT.STARTTLS));
  await settle();
  t.match(parseOptionReplies(io.take()), [{ type: REP.ERR_INVALID }], 'STARTTLS twice is invalid');
  conn.receive(encodeOption(OPT.LIST));
  await settle();
  t.match(parseOptionReplies(io.take()), [{ type: REP.SERVER }, { type: REP.ACK }]);
  conn.receive(encodeOption(OPT.GO, nameAndInfos('disk', [])));
  await settle();
  t.equal(parseOptionReplies(io.take()).pop()?.type, REP.ACK);

  const b = new FakeTlsIo();
  const c2 = new NbdConnection(b, { catalog });
  c2.receive(Buffer.concat([encodeClientFlags(FLAG_C_FIXED_NEWSTYLE), encodeOption(OPT.EXPORT_NAME, Buffer.from('disk'))]));
  await settle();
  t.ok(b.destroyed, 'EXPORT_NAME before TLS cannot be refused politely: hang up');

  const c = new FakeTlsIo();
  const c3 = new NbdConnection(c, { catalog });
  c3.receive(Buffer.concat([encodeClientFlags(FLAG_C_FIXED_NEWSTYLE), encodeOption(OPT.STARTTLS), Buffer.from([0x16, 3, 1])]));
  await settle();
  t.ok(c.destroyed, 'bytes sent before the ACK to STARTTLS: hang up');
  t.equal(c.tlsStarted, 0);
});
