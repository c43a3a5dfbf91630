import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { parseConfig } from '../../common/config.js';
import { isSwiftletError } from '../../common/errors.js';
import { parsePolicyIndex, parseStoragePolicies, policyString } from '../../common/storage-policy.js';
import { createClusterRings } from '../../ring-builder/bootstrap.js';
import { RingBuilder } from '../../ring-builder/builder.js';
import { objectRingName, ringFile, writeRingFile } from '../../ring-builder/ring.js';
import { openRings } from '../../ring-builder/rings.js';
import { proxySpec } from '../../proxy/config.js';
import { storageNodeSpec } from '../../storage-node/config.js';

const SECRET = { prefix: 'p', suffix: 's' };

/** The options refused with a CONFIG error saying `why`. */
function refusal(raw: unknown): { code?: string; message: string } | undefined {
  try {
    parseStoragePolicies(raw);
    return undefined;
  } catch (e) {
    return { code: isSwiftletError(e) ? e.code : 'not a SwiftletError', message: (e as Error).message };
  }
}

t.test('no policies configured: the single Policy-0, default', async (t) => {
  for (const raw of [undefined, []]) {
    const p = parseStoragePolicies(raw);
    t.equal(p.size, 1);
    t.match(p.default, { index: 0, name: 'Policy-0', isDefault: true, deprecated: false });
    t.same(p.info(), [{ name: 'Policy-0', aliases: 'Policy-0', default: true }], "Swift's /info entry");
  }
});

t.test('two policies: lookups by index, name and alias, case-insensitively', async (t) => {
  const p = parseStoragePolicies([
    { index: 1, name: 'scratch', aliases: ['tmp', 'SCRATCH'] },
    { index: 0, name: 'gold', default: true },
    { index: 2, name: 'old', deprecated: true },
  ]);
  t.same(
    p.all().map((x) => x.index),
    [0, 1, 2],
    'listed by index',
  );
  t.equal(p.default.name, 'gold');
  t.equal(p.byName('GOLD')?.index, 0);
  t.equal(p.byName('Tmp')?.index, 1, 'an alias');
  t.equal(p.byName('nope'), undefined);
  t.equal(p.byIndex(2)?.deprecated, true);
  t.equal(p.byIndex(3), undefined);
  t.same(p.byIndex(1)?.aliases, ['scratch', 'tmp'], 'the name first, an alias spelled like it only once');
  t.same(
    p.info(),
    [
      { name: 'gold', aliases: 'gold', default: true },
      { name: 'scratch', aliases: 'scratch, tmp' },
    ],
    '/info leaves the deprecated policy out',
  );
  t.equal(parseStoragePolicies([{ index: 0, name: 'only' }]).default.name, 'only', 'a lone policy is the default');
});

t.test("Swift's rules are enforced", async (t) => {
  t.match(refusal({ index: 0, name: 'x' }), { code: 'CONFIG', message: /list/ }, 'not a list');
  t.match(refusal([{ index: 1, name: 'one', default: true }]), { code: 'CONFIG', message: /index 0 must be defined/ }, 'no policy 0');
  t.match(refusal([{ index: -1, name: 'neg' }]), { code: 'CONFIG', message: /invalid index/ }, 'a negative index');
  t.match(refusal([{ index: 1.5, name: 'half' }]), { code: 'CONFIG', message: /invalid index/ }, 'a fractional index');
  t.match(refusal([{ index: '0', name: 'str' }]), { code: 'CONFIG', message: /invalid index/ }, 'an index given as a string');
  t.match(refusal([{ index: 0, name: 'a', default: true }, { index: 0, name: 'b' }]), { code: 'CONFIG', message: /duplicate index 0/ }, 'a duplicate index');
  t.match(refusal([{ index: 0, name: 'a', default: true }, { index: 1, name: 'A' }]), { code: 'CONFIG', message: /duplicate name/ }, 'names differ only by case');
  t.match(refusal([{ index: 0, name: 'a', default: true }, { index: 1, name: 'b', aliases: ['a'] }]), { code: 'CONFIG', message: /duplicate name/ }, 'an alias taken by another policy');
  t.match(refusal([{ index: 0, name: '' }]), { code: 'CONFIG', message: /non-empty/ }, 'an empty name');
  t.match(refusal([{ index: 0, name: 'has space' }]), { code: 'CONFIG', message: /invalid name/ }, 'a space in a name');
  t.match(refusal([{ index: 0, name: 'ok', aliases: ['b@d'] }]), { code: 'CONFIG', message: /invalid alias/ }, 'a bad alias');
  t.match(refusal([{ index: 0, name: 'a', default: true }, { index: 1, name: 'policy-0' }]), { code: 'CONFIG', message: /reserved/ }, 'Policy-0 for another index');
  t.match(refusal([{ index: 0, name: 'a' }, { index: 1, name: 'b' }]), { code: 'CONFIG', message: /no default/ }, 'two policies, no default');
  t.match(refusal([{ index: 0, name: 'a', default: true }, { index: 1, name: 'b', default: true }]), { code: 'CONFIG', message: /more than one default/ }, 'two defaults');
  t.match(refusal([{ index: 0, name: 'a', default: true, deprecated: true }]), { code: 'CONFIG', message: /deprecated policy cannot be the default/ }, 'a deprecated default');
  t.match(refusal([{ index: 0, name: 'a', deprecated: true }]), { code: 'CONFIG', message: /deprecated/ }, 'every policy deprecated');
  t.match(refusal([{ index: 0, name: 'a', default: 'yes' }]), { code: 'CONFIG', message: /true or false/ }, 'a non-boolean flag');
  t.match(refusal([{ index: 0, name: 'a', policy_type: 'erasure_coding' }]), { code: 'CONFIG', message: /not supported/ }, 'erasure coding');
  t.match(refusal([{ index: 0, name: 'a', replicas: 2 }]), { code: 'CONFIG', message: /unknown key "replicas"/ }, 'an unknown key (replicas belong to the ring)');
  t.equal(parseStoragePolicies([{ index: 0, name: 'Policy-0', policy_type: 'replication' }]).default.name, 'Policy-0', 'Policy-0 for index 0 is fine');
});

t.test('every service config takes storage_policies; the type is checked', async (t) => {
  const base = { swift_hash_path_suffix: 's' };
  const policies = [{ index: 0, name: 'gold', default: true }];
  t.same(parseConfig(proxySpec, { ...base, storage_policies: policies }).storage_policies, policies);
  t.same(parseConfig(storageNodeSpec, { ...base, storage_policies: policies }).storage_policies, policies);
  t.same(parseConfig(proxySpec, base).storage_policies, [], 'default: none (Policy-0)');
  t.throws(() => parseConfig(proxySpec, { ...base, storage_policies: { index: 0 } }), /must be object\[\]/);
  t.throws(() => parseConfig(proxySpec, { ...base, storage_policies: ['gold'] }), /must be object\[\]/);
});

t.test('names of per-policy things', async (t) => {
  t.equal(policyString('objects', 0), 'objects');
  t.equal(policyString('objects', 3), 'objects-3');
  t.equal(objectRingName(0), 'object');
  t.equal(objectRingName(2), 'object-2');
  t.equal(parsePolicyIndex(undefined), 0, 'absent: policy 0');
  t.equal(parsePolicyIndex(''), 0);
  t.equal(parsePolicyIndex('12'), 12);
  t.equal(parsePolicyIndex('-1'), undefined);
  t.equal(parsePolicyIndex('1.0'), undefined);
  t.equal(parsePolicyIndex('gold'), undefined);
});

t.test("openRings loads every policy's object ring (object-N.ring.gz) with its own replica count", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'swiftlet-policy-rings-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const devices = [1, 2, 3, 4].map((i) => ({ region: 1, zone: i, ip: '127.0.0.1', port: 6200 + i, device: `d${i}`, weight: 100 }));
  createClusterRings(dir, devices, { partPower: 4, replicas: 3, minPartHours: 0, seed: 1 });
  const policies = parseStoragePolicies([
    { index: 0, name: 'gold', default: true },
    { index: 1, name: 'scratch' },
  ]);
  t.throws(() => openRings(dir, SECRET, {}, policies), { code: 'RING_INVALID', message: /object-1\.ring\.gz/ }, 'a policy without its ring: the service does not start');
  const b = new RingBuilder(4, 2, 0);
  for (const d of devices) b.addDevice(d);
  b.rebalance({ seed: 5, now: 0 });
  writeRingFile(ringFile(dir, objectRingName(1)), b.toRingData());
  const rings = openRings(dir, SECRET, {}, policies);
  t.teardown(() => rings.stop());
  t.equal(rings.object().replicaCount, 3, 'policy 0: object.ring.gz');
  t.equal(rings.object(0).replicaCount, 3);
  t.equal(rings.object(1).replicaCount, 2, 'policy 1: object-1.ring.gz');
  t.throws(() => rings.object(2), /no storage policy with index 2/);
});
