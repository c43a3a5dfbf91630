import t from 'tap';
import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { startNbdServer } from '../../volume-gateway/server.js';
import { StaticCatalog } from '../../volume-gateway/catalog.js';
import { FileVolume } from '../../volume-gateway/file-volume.js';
import { encodeClientFlags, encodeOption } from '../../volume-gateway/nbd/codec.js';
import { FLAG_C_FIXED_NEWSTYLE, FLAG_C_NO_ZEROES, OPT, REP } from '../../volume-gateway/nbd/protocol.js';
import { seededBytes } from '../helpers/client-tools.js';
import { parseOptionReplies } from '../helpers/nbd-wire.js';

const run = promisify(execFile);
const MiB = 1024 * 1024;
// Debian's nbdsh runs `python3 -m nbd`: the system Python has the binding.
const env = { ...process.env, PATH: `/usr/bin:${process.env.PATH ?? ''}` };
const TOOLS = ['/usr/bin/openssl', '/usr/bin/nbdinfo', '/usr/bin/nbdsh', '/usr/bin/nbdcopy', '/usr/bin/qemu-img', '/usr/bin/qemu-io', '/usr/bin/nbdkit'];
const missing = TOOLS.filter((p) => !existsSync(p));
const skip = missing.length > 0 ? `${missing.join(', ')} not installed (.ci/run installs libnbd-bin, python3-libnbd, qemu-utils, nbdkit)` : false;

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** `nbdinfo --can X` / `--is X`: exit 0 true, 2 false. */
async function nbdinfoFlag(args: string[], uri: string): Promise<boolean> {
  try {
    await run('nbdinfo', [...args, uri], { env });
    return true;
  } catch (e) {
    if ((e as { code?: number }).code === 2) return false;
    throw e;
  }
}

t.test('real NBD clients against the gateway (file-backed dev volumes)', { skip }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'nbd-clients-'));
  // A local raw image for the copies: 8 MiB, data in some places, holes elsewhere.
  const image = Buffer.alloc(8 * MiB);
  for (const at of [0, 3 * MiB + 12345, 7 * MiB]) seededBytes(300_000, at).copy(image, at);
  await writeFile(join(dir, 'src.raw'), image);
  const disk = await FileVolume.open(join(dir, 'disk'), { size: 64 * MiB });
  const dst = await FileVolume.open(join(dir, 'dst'), { size: 8 * MiB });
  const copy = await FileVolume.open(join(dir, 'copy'), { size: 8 * MiB });
  await writeFile(join(dir, 'ro'), seededBytes(MiB, 9));
  const ro = await FileVolume.open(join(dir, 'ro'), { readOnly: true });
  const events: unknown[] = [];
  const server = await startNbdServer({
    catalog: new StaticCatalog([
      { name: 'disk', volume: disk, description: 'a 64 MiB disk' },
      { name: 'dst', volume: dst },
      { name: 'copy', volume: copy },
      { name: 'ro', volume: ro, description: 'read-only' },
    ]),
    port: 0,
    socketPath: join(dir, 'nbd.sock'),
    onEvent: (e) => {
      if (e.kind !== 'export') events.push(e);
    },
  });
  t.teardown(async () => {
    await server.close();
    for (const v of [disk, dst, copy, ro]) await v.close();
    await rm(dir, { recursive: true, force: true });
  });
  const tcp = (name: string): string => `nbd://127.0.0.1:${server.port}/${name}`;
  const unix = (name: string): string => `nbd+unix:///${name}?socket=${join(dir, 'nbd.sock')}`;

  t.test('nbdinfo: size, flags, block sizes, description; --list; --can/--is', async (t) => {
    const info = JSON.parse((await run('nbdinfo', ['--json', tcp('disk')], { env })).stdout) as { protocol: string; structured: boolean; exports: Array<Record<string, unknown>> };
    t.equal(info.protocol, 'newstyle-fixed');
    t.equal(info.structured, true);
    t.match(info.exports[0], {
      'export-name': 'disk',
      description: 'a 64 MiB disk',
      'export-size': 64 * MiB,
      contexts: ['base:allocation'],
      is_read_only: false,
      can_cache: true,
      can_df: true,
      can_fast_zero: true,
      can_flush: true,
      can_fua: true,
      can_multi_conn: true,
      can_trim: true,
      can_zero: true,
      block_size_minimum: 1,
      block_size_preferred: 4096,
      block_size_maximum: 32 * MiB,
    });
    const list = JSON.parse((await run('nbdinfo', ['--list', '--json', unix('')], { env })).stdout) as { exports: Array<{ 'export-name': string; 'export-size': number }> };
    t.same(
      list.exports.map((e) => [e['export-name'], e['export-size']]),
      [
        ['disk', 64 * MiB],
        ['dst', 8 * MiB],
        ['copy', 8 * MiB],
        ['ro', MiB],
      ],
    );
    for (const can of ['flush', 'fua', 'trim', 'zero', 'fast-zero', 'multi-conn', 'df', 'cache']) t.ok(await nbdinfoFlag(['--can', can], unix('disk')), `--can ${can}`);
    t.notOk(await nbdinfoFlag(['--is', 'read-only'], unix('disk')));
    t.ok(await nbdinfoFlag(['--is', 'read-only'], unix('ro')));
    t.notOk(await nbdinfoFlag(['--can', 'trim'], unix('ro')));
  });

  t.test('qemu-io: patterns, FUA, flush, discard, zeroes, unaligned, concurrent aio', async (t) => {
    const cmds = [
      'write -P 0xab 0 1M',
      'read -P 0xab 0 1M',
      'write -P 0xcd -f 2M 64k', // FUA
      'flush',
      'read -P 0xcd 2M 64k',
      'write -P 0xee 4M 1M',
      'discard 4M 1M',
      'read -P 0 4M 1M',
      'write -P 0xee 6M 1M',
      'write -z 6M 512k', // WRITE_ZEROES with NO_HOLE
      'write -z -u 6656k 512k', // may unmap
      'read -P 0 6M 1M',
      'write -P 0x5a 12345 777', // unaligned
      'read -P 0x5a 12345 777',
      'read -P 0xab 0 12345',
      'read -P 0xab 13122 1035454',
      'aio_write -P 0x11 16M 64k',
      'aio_write -P 0x22 17M 64k',
      'aio_write -P 0x33 18M 1M',
      'aio_flush',
      'read -P 0x11 16M 64k',
      'read -P 0x22 17M 64k',
      'read -P 0x33 18M 1M',
    ];
    const { stdout, stderr } = await run('qemu-io', ['-f', 'raw', ...cmds.flatMap((c) => ['-c', c]), unix('disk')], { env });
    t.notMatch(stdout + stderr, /Pattern verification failed|error|failed/i, 'every pattern read back');
    t.equal((stdout.match(/^(read|wrote|discard) /gm) ?? []).length, cmds.length - 2, 'every command ran (aio_flush and flush print nothing)');
    const map = JSON.parse((await run('nbdinfo', ['--map', '--json', tcp('disk')], { env })).stdout) as Array<{ offset: number; length: number; type: number }>;
    const at = (off: number) => map.find((e) => e.offset <= off && off < e.offset + e.length)?.type;
    t.equal(at(0), 0, 'written: data (never zero)');
    t.equal(at(4 * MiB), 3, 'discarded: hole,zero');
    t.equal(at(6656 * 1024), 3, 'zeroed with unmap: hole,zero');
    t.equal(at(40 * MiB), 3, 'never written: hole,zero');
    const failed = await run('qemu-io', ['-f', 'raw', '-c', 'write -P 1 0 4k', unix('ro')], { env }).then(
      (r) => r.stdout + r.stderr,
      (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}`,
    );
    // qemu sees READ_ONLY in the flags and will not open it for writing.
    t.match(failed, /Permission denied|Operation not permitted|read-only/i, 'a read-only export is not writable');
    const read = await run('qemu-io', ['-r', '-f', 'raw', '-c', 'read 0 4k', unix('ro')], { env });
    t.match(read.stdout, /^read 4096\/4096 bytes at offset 0/m, 'and reads fine');
  });

  t.test('qemu-img info, convert in and out, compare', async (t) => {
    const info = JSON.parse((await run('qemu-img', ['info', '--output=json', tcp('disk')], { env })).stdout) as { 'virtual-size': number; format: string };
    t.same([info['virtual-size'], info.format], [64 * MiB, 'raw']);
    await run('qemu-img', ['convert', '-n', '-f', 'raw', '-O', 'raw', join(dir, 'src.raw'), unix('dst')], { env });
    await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', join(dir, 'src.raw'), tcp('dst')], { env });
    await run('qemu-img', ['convert', '-f', 'raw', '-O', 'raw', tcp('dst'), join(dir, 'out.raw')], { env });
    t.equal(sha(await readFile(join(dir, 'out.raw'))), sha(image));
    const map = JSON.parse((await run('qemu-img', ['map', '-f', 'raw', '--output=json', unix('dst')], { env })).stdout) as Array<{ start: number; length: number; data: boolean }>;
    t.ok(map.some((e) => !e.data), 'the copy kept holes');
    t.ok(map.some((e) => e.data && e.start <= 3 * MiB + 12345 && 3 * MiB + 12345 < e.start + e.length));
  });

  t.test('nbdcopy in and out (with --flush), checksums equal', async (t) => {
    await run('nbdcopy', ['--flush', join(dir, 'src.raw'), tcp('copy')], { env });
    await run('nbdcopy', [unix('copy'), join(dir, 'back.raw')], { env });
    t.equal(sha(await readFile(join(dir, 'back.raw'))), sha(image));
    // Export to export, several connections (CAN_MULTI_CONN).
    await run('nbdcopy', ['--connections=2', unix('copy'), tcp('dst')], { env });
    await run('qemu-img', ['compare', '-f', 'raw', '-F', 'raw', join(dir, 'src.raw'), tcp('dst')], { env });
  });

  t.test('nbdsh: option mode, structured replies, block status, out-of-range errors (and nbdkit memory passes the same script)', async (t) => {
    const script = ['-c', `exec(open(${JSON.stringify(join(process.cwd(), 'test/interop/nbd-checks.py'))}).read())`];
    const ours = await run('nbdsh', script, { env: { ...env, NBD_URI: unix('disk'), NBD_EXPORT: 'disk', NBD_NAMED_EXPORTS: '1' } });
    t.match(ours.stdout, /ok unknown export refused by INFO[\s\S]*ok out-of-range errors, connection alive[\s\S]*ok simple replies/);
    const sock = join(dir, 'kit.sock');
    const kit = spawn('nbdkit', ['-f', '-U', sock, 'memory', '64M'], { stdio: 'ignore' });
    t.teardown(() => void kit.kill('SIGKILL'));
    for (let i = 0; i < 200 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 25));
    const ref = await run('nbdsh', script, { env: { ...env, NBD_URI: `nbd+unix:///?socket=${sock}`, NBD_EXPORT: '' } });
    t.same(
      ref.stdout.split('\n').filter((l) => l.startsWith('ok ')).length,
      ours.stdout.split('\n').filter((l) => l.startsWith('ok ')).length - 1,
      'the reference passes every check but the named-export one',
    );
  });

  t.test('raw socket: unknown option, then GO, on one connection', async (t) => {
    const sock = connect(server.port as number, '127.0.0.1');
    t.teardown(() => void sock.destroy());
    const got: Buffer[] = [];
    sock.on('data', (d: Buffer) => got.push(d));
    const waitFor = async (n: number): Promise<Buffer> => {
      for (let i = 0; i < 400 && Buffer.concat(got).length < n; i++) await new Promise((r) => setTimeout(r, 10));
      const all = Buffer.concat(got);
      got.length = 0;
      return all;
    };
    t.equal((await waitFor(18)).length, 18);
    const go = Buffer.alloc(4 + 4 + 2);
    go.writeUInt32BE(4, 0);
    go.write('disk', 4);
    sock.write(Buffer.concat([encodeClientFlags(FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES), encodeOption(0x7777)]));
    const unsup = parseOptionReplies(await waitFor(20 + 20));
    t.match(unsup, [{ option: 0x7777, type: REP.ERR_UNSUP }]);
    sock.write(encodeOption(OPT.GO, go));
    const replies = parseOptionReplies(await waitFor(34 + 32 + 20));
    t.match(replies[replies.length - 1], { option: OPT.GO, type: REP.ACK });
  });

  t.test('TLS: x509 and PSK through STARTTLS (nbdinfo, nbdcopy); plain clients refused', async (t) => {
    const pki = join(dir, 'pki');
    const ossl = (...args: string[]) => run('openssl', args, { cwd: pki });
    await run('mkdir', ['-p', pki]);
    await ossl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca-key.pem', '-out', 'ca-cert.pem', '-days', '2', '-subj', '/CN=test-ca');
    await writeFile(join(pki, 'server.ext'), 'subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
    await writeFile(join(pki, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
    for (const [who, cn] of [['server', 'localhost'], ['client', 'alice']] as const) {
      await ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${who}-key.pem`, '-out', `${who}.csr`, '-subj', `/CN=${cn}`);
      await ossl('x509', '-req', '-in', `${who}.csr`, '-CA', 'ca-cert.pem', '-CAkey', 'ca-key.pem', '-CAcreateserial', '-out', `${who}-cert.pem`, '-days', '2', '-extfile', `${who}.ext`);
    }
    const key = seededBytes(32, 77);
    await writeFile(join(dir, 'psk.txt'), `alice:${key.toString('hex')}\n`);
    await writeFile(join(dir, 'wrong-psk.txt'), `alice:${seededBytes(32, 78).toString('hex')}\n`);
    const secure = await startNbdServer({
      catalog: new StaticCatalog([{ name: 'copy', volume: copy }]),
      port: 0,
      tls: {
        cert: await readFile(join(pki, 'server-cert.pem')),
        key: await readFile(join(pki, 'server-key.pem')),
        ca: await readFile(join(pki, 'ca-cert.pem')),
        psk: new Map([['alice', key]]),
      },
    });
    t.teardown(() => secure.close());
    const x509 = `nbds://localhost:${secure.port}/copy?tls-certificates=${pki}`;
    const psk = `nbds://alice@127.0.0.1:${secure.port}/copy?tls-psk-file=${join(dir, 'psk.txt')}`;
    for (const uri of [x509, psk]) {
      const info = JSON.parse((await run('nbdinfo', ['--json', uri], { env })).stdout) as { TLS: boolean; exports: Array<{ 'export-size': number }> };
      t.same([info.TLS, info.exports[0]?.['export-size']], [true, 8 * MiB], uri.split('?')[1] ?? '');
    }
    // qemu's own credential objects: tls-creds-psk (a dir with keys.psk) and tls-creds-x509.
    await run('mkdir', ['-p', join(dir, 'qpsk')]);
    await writeFile(join(dir, 'qpsk', 'keys.psk'), `alice:${key.toString('hex')}\n`);
    const qinfo = await run('qemu-img', ['info', '--output=json', '--object', `tls-creds-psk,id=tls0,dir=${join(dir, 'qpsk')},endpoint=client,username=alice`, '--image-opts', `driver=nbd,host=127.0.0.1,port=${secure.port},export=copy,tls-creds=tls0`], { env });
    t.equal((JSON.parse(qinfo.stdout) as { 'virtual-size': number })['virtual-size'], 8 * MiB, 'qemu-img over tls-creds-psk');
    const qio = await run('qemu-io', ['--object', `tls-creds-x509,id=tls0,dir=${pki},endpoint=client`, '-c', 'read -P 0 4M 4k', '--image-opts', `driver=nbd,host=localhost,port=${secure.port},export=copy,tls-creds=tls0`], { env });
    t.match(qio.stdout, /^read 4096\/4096 bytes at offset 4194304/m, 'qemu-io over tls-creds-x509 (a hole of the copy reads as zeroes)');
    await run('nbdcopy', [psk, join(dir, 'via-tls.raw')], { env });
    t.equal(sha(await readFile(join(dir, 'via-tls.raw'))), sha(image), 'nbdcopy through TLS-PSK');
    const refused = async (uri: string): Promise<boolean> => run('nbdinfo', [uri], { env }).then(() => false, () => true);
    t.ok(await refused(`nbd://127.0.0.1:${secure.port}/copy`), 'a client without TLS gets no export');
    t.ok(await refused(`nbds://alice@127.0.0.1:${secure.port}/copy?tls-psk-file=${join(dir, 'wrong-psk.txt')}`), 'a wrong PSK is refused');
  });

  t.test('no protocol errors were logged by the server', async (t) => {
    t.same(events, []);
  });
});
