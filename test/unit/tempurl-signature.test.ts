import t from 'tap';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { SeededRandom } from '../../common/random.js';
import {
  checkTempUrl,
  dispositionFormat,
  extractDigest,
  formPostHmac,
  headerRemover,
  ipInRange,
  parseExpires,
  readTempUrlParams,
  tempUrlDisposition,
  tempUrlHmac,
  type ScopedKey,
  type TempUrlParams,
} from '../../proxy/middleware/tempurl/signature.js';

const NOW_MS = 1_700_000_000_000;
const OPTS = { allowedDigests: ['sha1', 'sha256', 'sha512'], methods: ['GET', 'HEAD', 'PUT', 'POST', 'DELETE'] };

t.test('HMACs equal Swift 2.30 get_hmac (vectors made with swift.common.digest)', async (t) => {
  t.equal(tempUrlHmac('sha1', 'k', 'GET', 1700000000, '/v1/AUTH_a/c/o'), '0f0c0f39d6ab8be658d01c698826343d80886bb0');
  t.equal(tempUrlHmac('sha256', 'k', 'GET', 1700000000, '/v1/AUTH_a/c/o'), 'dcf9b6bdb511ee7112f2e394fd85d88436cd9b32d5d746e0726885db83421f38');
  t.equal(
    tempUrlHmac('sha512', 'k2', 'PUT', 1700000000, 'prefix:/v1/AUTH_a/c/pre'),
    '64e83abce19730b543e9ee43641e73f14c03639696422849aa2123b99b6a796f0acdff16e83d203a20e73351b94ac3ad3009488fea1d4c931328ab15d694b4ad',
  );
  t.equal(tempUrlHmac('sha256', 'kö', 'GET', 1700000000, '/v1/AUTH_a/c/ö', '10.0.0.0/8'), '16950b5eb5c0c6e6ad1912cd5a6e12e7bd524432316cd7df9db299fbc583756c');
  t.equal(
    formPostHmac('sha256', 'k', { path: '/v1/AUTH_a/c/pfx', redirect: 'https://x/y', maxFileSize: '1024', maxFileCount: '3', expires: '1700000000' }),
    '60b2f802f8ae2d1cadf4c4e5429c947372d70fba2b70c70d804f9904e1377b4f',
  );
});

t.test('signature forms: hex by length, <digest>:<base64> standard or url-safe, padded or not', async (t) => {
  const hex = tempUrlHmac('sha512', 'k', 'GET', 1, '/v1/a/c/o');
  const b64 = Buffer.from(hex, 'hex').toString('base64');
  t.same(extractDigest(hex), { algorithm: 'sha512', hex });
  t.same(extractDigest(`sha512:${b64}`), { algorithm: 'sha512', hex });
  t.same(extractDigest(`sha512:${b64.replace(/=+$/, '')}`), { algorithm: 'sha512', hex });
  t.same(extractDigest(`sha512:${b64.replace(/\+/g, '-').replace(/\//g, '_')}`), { algorithm: 'sha512', hex });
  t.same(extractDigest('a'.repeat(40)), { algorithm: 'sha1', hex: 'a'.repeat(40) });
  t.same(extractDigest('A'.repeat(64)), { algorithm: 'sha256', hex: 'A'.repeat(64) }, 'upper-case hex parses (and then never matches)');
  t.equal(extractDigest('a'.repeat(41)), undefined, 'odd length');
  t.equal(extractDigest('a'.repeat(42)), undefined, 'no digest has this length');
  t.equal(extractDigest('g'.repeat(40)), undefined, 'not hex');
  t.equal(extractDigest('sha1:ab!c'), undefined, 'not base64');
  t.equal(extractDigest('sha1:abcde'), undefined, 'a lone sixth bit group');
  t.same(extractDigest('md5:AAAA'), { algorithm: 'md5', hex: '000000' }, 'any name parses; the allowed list decides');
});

t.test('expiry: unix seconds or ISO 8601 as strptime reads it; past or malformed is 0', async (t) => {
  t.equal(parseExpires('1700000000'), 1700000000);
  t.equal(parseExpires(' +1_700_000_000 '), 1700000000, "Python's int()");
  t.equal(parseExpires('2026-12-31T00:00:00Z'), Date.UTC(2026, 11, 31) / 1000);
  t.equal(parseExpires('2026-1-2T3:4:5Z'), Date.UTC(2026, 0, 2, 3, 4, 5) / 1000, 'one-digit fields');
  t.equal(parseExpires('2024-02-29T00:00:00Z'), Date.UTC(2024, 1, 29) / 1000, 'leap day');
  t.equal(parseExpires('2026-02-29T00:00:00Z'), undefined, 'no such day');
  t.equal(parseExpires('2026-12-31 00:00:00Z'), undefined);
  t.equal(parseExpires('2026-12-31T00:00:00+00:00'), undefined);
  t.equal(parseExpires('soon'), undefined);
  t.equal(readTempUrlParams(new URLSearchParams('temp_url_sig=x&temp_url_expires=1699999999'), NOW_MS).expires, 0, 'past');
  t.equal(readTempUrlParams(new URLSearchParams('temp_url_sig=x&temp_url_expires=1700000000'), NOW_MS).expires, 1700000000, 'this very second');
  t.equal(readTempUrlParams(new URLSearchParams('temp_url_expires=bad'), NOW_MS).expires, 0);
  t.same(readTempUrlParams(new URLSearchParams('inline&filename=a+b'), NOW_MS), { inline: true, filename: 'a b' });
});

t.test('checkTempUrl: the method, the path, the prefix, the range and the key all count', async (t) => {
  const keys: ScopedKey[] = [
    { key: 'acct', scope: 'account' },
    { key: 'cont', scope: 'container' },
  ];
  const exp = 1700000100;
  const target = { method: 'GET', account: 'AUTH_a', container: 'c', object: 'o' };
  const sig = (key: string, method: string, path = '/v1/AUTH_a/c/o', ip?: string) => tempUrlHmac('sha256', key, method, exp, path, ip);
  const p = (s: string, extra: Partial<TempUrlParams> = {}): TempUrlParams => ({ sig: s, expires: exp, inline: false, ...extra });
  t.equal(checkTempUrl(p(sig('acct', 'GET')), target, keys, OPTS), 'account');
  t.equal(checkTempUrl(p(sig('cont', 'GET')), target, keys, OPTS), 'container');
  t.equal(checkTempUrl(p(sig('other', 'GET')), target, keys, OPTS), undefined, 'unknown key');
  t.equal(checkTempUrl(p(sig('acct', 'GET')), target, [], OPTS), undefined, 'no keys at all');
  t.equal(checkTempUrl(p(sig('acct', 'PUT')), target, keys, OPTS), undefined, 'PUT signature used for GET');
  for (const m of ['GET', 'PUT', 'POST', 'HEAD']) t.equal(checkTempUrl(p(sig('acct', m)), { ...target, method: 'HEAD' }, keys, OPTS), 'account', `HEAD with a ${m} signature`);
  t.equal(checkTempUrl(p(sig('acct', 'DELETE')), { ...target, method: 'HEAD' }, keys, OPTS), undefined, 'HEAD with a DELETE signature');
  t.equal(checkTempUrl(p(sig('acct', 'GET')), { ...target, object: 'o2' }, keys, OPTS), undefined, 'another object');
  t.equal(checkTempUrl(p(sig('acct', 'GET')), { ...target, container: 'c2' }, keys, OPTS), undefined, 'another container');
  t.equal(checkTempUrl(p(sig('acct', 'GET')), { ...target, method: 'COPY' }, keys, OPTS), undefined, 'a method temp URLs do not take');
  t.equal(checkTempUrl(p(sig('acct', 'GET')), target, keys, { ...OPTS, allowedDigests: ['sha512'] }), undefined, 'digest not allowed');
  t.equal(checkTempUrl({ ...p(sig('acct', 'GET')), expires: 0 }, target, keys, OPTS), undefined, 'expired');
  // Prefixes.
  const pre = sig('acct', 'GET', 'prefix:/v1/AUTH_a/c/dir/');
  t.equal(checkTempUrl(p(pre, { prefix: 'dir/' }), { ...target, object: 'dir/x/y' }, keys, OPTS), 'account');
  t.equal(checkTempUrl(p(pre, { prefix: 'dir/' }), { ...target, object: 'other/x' }, keys, OPTS), undefined, 'outside the prefix');
  t.equal(checkTempUrl(p(pre, { prefix: 'd' }), { ...target, object: 'dir/x' }, keys, OPTS), undefined, 'a shorter prefix than signed');
  t.equal(checkTempUrl(p(pre), { ...target, object: 'dir/' }, keys, OPTS), undefined, 'a prefix signature without temp_url_prefix');
  // Address ranges: signed, and checked against the client.
  const ip = sig('acct', 'GET', '/v1/AUTH_a/c/o', '10.1.0.0/16');
  t.equal(checkTempUrl(p(ip, { ipRange: '10.1.0.0/16' }), { ...target, remoteAddr: '10.1.2.3' }, keys, OPTS), 'account');
  t.equal(checkTempUrl(p(ip, { ipRange: '10.1.0.0/16' }), { ...target, remoteAddr: '::ffff:10.1.2.3' }, keys, OPTS), 'account', 'IPv4-mapped');
  t.equal(checkTempUrl(p(ip, { ipRange: '10.1.0.0/16' }), { ...target, remoteAddr: '10.2.0.1' }, keys, OPTS), undefined, 'outside');
  t.equal(checkTempUrl(p(ip, { ipRange: '10.0.0.0/8' }), { ...target, remoteAddr: '10.1.2.3' }, keys, OPTS), undefined, 'a wider range than signed');
  t.equal(checkTempUrl(p(ip), { ...target, remoteAddr: '10.1.2.3' }, keys, OPTS), undefined, 'range signed but not given');
  t.equal(checkTempUrl(p(ip, { ipRange: '10.1.0.0/16' }), target, keys, OPTS), undefined, 'no client address');
});

t.test('address ranges as Python ipaddress reads them', async (t) => {
  t.equal(ipInRange('1.2.3.4', '1.2.3.4'), true);
  t.equal(ipInRange('1.2.3.0/24', '1.2.3.200'), true);
  t.equal(ipInRange('1.2.3.0/24', '1.2.4.1'), false);
  t.equal(ipInRange('1.2.3.4/24', '1.2.3.4'), undefined, 'host bits set');
  t.equal(ipInRange('0.0.0.0/0', '9.9.9.9'), true);
  t.equal(ipInRange('2001:db8::/32', '2001:db8:1::5'), true);
  t.equal(ipInRange('2001:db8::/32', '2001:db9::5'), false);
  t.equal(ipInRange('2001:db8::/32', '1.2.3.4'), false, 'other family');
  t.equal(ipInRange('::ffff:1.2.3.0/120', '::ffff:1.2.3.9'), true);
  t.equal(ipInRange('1.2.3.0/33', '1.2.3.4'), undefined);
  t.equal(ipInRange('01.2.3.4', '1.2.3.4'), undefined, 'leading zeros');
  t.equal(ipInRange('nope', '1.2.3.4'), undefined);
});

t.test('Content-Disposition and header filters as Swift', async (t) => {
  t.equal(dispositionFormat('attachment', 'a b/é.txt'), `attachment; filename="a b/%C3%A9.txt"; filename*=UTF-8''a%20b/%C3%A9.txt`);
  t.equal(tempUrlDisposition({ inline: true }, 'attachment', 'd/o'), 'inline');
  t.equal(tempUrlDisposition({ inline: true, filename: 'f' }, undefined, 'd/o'), `inline; filename="f"; filename*=UTF-8''f`);
  t.equal(tempUrlDisposition({ inline: false, filename: 'f' }, 'x', 'd/o'), `attachment; filename="f"; filename*=UTF-8''f`);
  t.equal(tempUrlDisposition({ inline: false }, 'attachment; filename=own', 'd/o'), 'attachment; filename=own', "the object's own");
  t.equal(tempUrlDisposition({ inline: false }, undefined, 'dir/sub/name.txt/'), `attachment; filename="name.txt"; filename*=UTF-8''name.txt`);
  t.equal(tempUrlDisposition({ inline: false }, 'a\nb', 'o'), 'a%0Ab');
  const remove = headerRemover(['x-object-meta-*', 'x-timestamp'], ['x-object-meta-public-*']);
  t.equal(remove('X-Object-Meta-Secret'), true);
  t.equal(remove('X-Object-Meta-Public-Color'), false);
  t.equal(remove('x-timestamp'), true);
  t.equal(remove('x-timestamps'), false);
  t.equal(remove('Content-Type'), false);
});

/** Random strings from an alphabet, lengths 0..max. */
function randomString(rng: SeededRandom, alphabet: string, max: number): string {
  let s = '';
  const n = rng.int(max + 1);
  for (let i = 0; i < n; i++) s += alphabet[rng.int(alphabet.length)];
  return s;
}

/** Inputs near the valid forms: mutations of good values, so the fuzz reaches every branch. */
function fuzzInputs(seed: number, n: number): { sigs: string[]; expires: string[]; ranges: Array<[string, string]> } {
  const rng = new SeededRandom(seed);
  const mutate = (s: string, alphabet: string): string => {
    const chars = [...s];
    const edits = rng.int(3);
    for (let e = 0; e < edits; e++) {
      const at = rng.int(chars.length + 1);
      const op = rng.int(3);
      const c = alphabet[rng.int(alphabet.length)] as string;
      if (op === 0) chars.splice(at, 0, c);
      else if (op === 1) chars.splice(at, 1);
      else chars[at] = c;
    }
    return chars.join('');
  };
  const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_=:!';
  const sigs: string[] = [];
  const expires: string[] = [];
  const ranges: Array<[string, string]> = [];
  for (let i = 0; i < n; i++) {
    const bytes = [20, 32, 64][rng.int(3)] as number;
    const raw = Buffer.from(Array.from({ length: bytes }, () => rng.int(256)));
    const forms = [raw.toString('hex'), `sha${[1, 256, 512][rng.int(3)]}:${raw.toString('base64')}`, `sha512:${raw.toString('base64url')}`, randomString(rng, B64, 12)];
    sigs.push(mutate(forms[rng.int(forms.length)] as string, B64));
    const y = 1990 + rng.int(60);
    const iso = `${y}-${1 + rng.int(12)}-${1 + rng.int(31)}T${rng.int(24)}:${rng.int(60)}:${rng.int(62)}Z`;
    const good = [String(rng.int(2 ** 31)), iso, ` ${rng.int(1000)}_${rng.int(1000)} `, iso.toLowerCase()];
    expires.push(mutate(good[rng.int(good.length)] as string, '0123456789-T:Z _+'));
    // A network (host bits cleared, mostly) and an address inside it or anywhere.
    const six = rng.int(2) === 1;
    const groups = Array.from({ length: six ? 8 : 4 }, () => rng.int(six ? 65536 : 256));
    const width = six ? 16 : 8;
    const prefix = rng.int(groups.length * width + 2);
    const masked = groups.map((g, k) => (rng.int(8) === 0 ? g : g & (((1 << width) - 1) << Math.max(0, Math.min(width, (k + 1) * width - prefix)) & ((1 << width) - 1))));
    const show = (gs: number[]) => (six ? gs.map((g) => g.toString(16)).join(':').replace(/(^|:)0(:0)+(:|$)/, '::') : gs.join('.'));
    const inside = masked.map((g, k) => (rng.int(2) ? g : g | (rng.int(1 << width) & ((1 << Math.max(0, Math.min(width, (k + 1) * width - prefix))) - 1))));
    const anywhere = groups.map(() => rng.int(1 << width));
    const addr = rng.int(3) ? show(inside) : rng.int(2) ? show(anywhere) : rng.int(2) ? '1.2.3.4' : '2001:db8::1';
    ranges.push([mutate(`${show(masked)}/${prefix}`, rng.int(3) ? '' : '0123456789abcdef.:/'), mutate(addr, rng.int(4) ? '' : '0123456789.:')]);
  }
  return { sigs, expires, ranges };
}

const PY_REFERENCE = `
import json, sys
from calendar import timegm
from time import strptime
from ipaddress import ip_address, ip_network
from swift.common.digest import extract_digest_and_algorithm
data = json.load(sys.stdin)
def sig(v):
    try:
        a, h = extract_digest_and_algorithm(v)
        return [a, h]
    except (ValueError, TypeError):
        return None
def exp(v):
    try:
        return int(v)
    except ValueError:
        try:
            return timegm(strptime(v, '%Y-%m-%dT%H:%M:%SZ'))
        except ValueError:
            return None
def rng(r, a):
    try:
        return ip_address(a) in ip_network(r)
    except ValueError:
        return None
json.dump({'sigs': [sig(v) for v in data['sigs']], 'expires': [exp(v) for v in data['expires']],
           'ranges': [rng(r, a) for r, a in data['ranges']]}, sys.stdout)
`;

const SWIFT_PY = '/usr/lib/python3/dist-packages/swift/common/digest.py';

t.test("seeded fuzz: every parser answers (never throws) and agrees with Swift's own code", { skip: existsSync(SWIFT_PY) ? false : 'python3-swift not installed (.ci/run installs it)' }, async (t) => {
  const seed = Number(process.env.FUZZ_SEED ?? 2023);
  t.comment(`seed ${seed}`);
  const inputs = fuzzInputs(seed, 3000);
  const ours = {
    sigs: inputs.sigs.map((v) => {
      const d = extractDigest(v);
      return d ? [d.algorithm, d.hex] : null;
    }),
    expires: inputs.expires.map((v) => parseExpires(v) ?? null),
    ranges: inputs.ranges.map(([r, a]) => ipInRange(r, a) ?? null),
  };
  const swift = JSON.parse(execFileSync('/usr/bin/python3', ['-c', PY_REFERENCE], { input: JSON.stringify(inputs), maxBuffer: 64 << 20 }).toString()) as typeof ours;
  for (const [name, list] of Object.entries(ours) as Array<[keyof typeof ours, unknown[]]>) {
    const theirs = swift[name] as unknown[];
    const differ = list.map((v, i) => [i, v, theirs[i]] as const).filter(([, a, b]) => JSON.stringify(a) !== JSON.stringify(b));
    const shown = differ.slice(0, 5).map(([i, a, b]) => `${JSON.stringify((inputs[name] as unknown[])[i])}: ours ${JSON.stringify(a)}, Swift ${JSON.stringify(b)}`);
    t.equal(differ.length, 0, `${name}: ${list.length} inputs, ${list.filter((x) => x !== null).length} valid; ${shown.join('; ')}`);
  }
  // The whole check on random parameters and targets never throws, and never accepts without the key.
  const rng = new SeededRandom(seed + 1);
  let accepted = 0;
  for (let i = 0; i < 2000; i++) {
    const params: TempUrlParams = { sig: inputs.sigs[i] as string, expires: rng.int(2) ? 1700000100 : 0, inline: false };
    if (rng.int(3) === 0) params.prefix = inputs.sigs[(i + 1) % 3000]?.slice(0, 3) as string;
    if (rng.int(3) === 0) params.ipRange = (inputs.ranges[i] as [string, string])[0];
    const target = { method: ['GET', 'HEAD', 'PUT', 'COPY'][rng.int(4)] as string, account: 'AUTH_a', container: 'c', object: inputs.sigs[(i + 2) % 3000] as string, remoteAddr: (inputs.ranges[i] as [string, string])[1] };
    if (checkTempUrl(params, target, [{ key: 'k', scope: 'account' }], OPTS) !== undefined) accepted++;
  }
  t.equal(accepted, 0, '2000 random URLs: none accepted, none threw');
});
