import t from 'tap';
import { SeededRandom } from '../../common/random.js';
import { algorithmOfHeader, CHECKSUM_ALGORITHMS, checksumHeader, createChecksum, isChecksumValue, type ChecksumAlgorithm } from '../../proxy/s3/checksums.js';

async function of(alg: ChecksumAlgorithm, parts: Buffer[]): Promise<string> {
  const c = createChecksum(alg);
  for (const p of parts) c.update(p);
  return c.digest();
}

t.test("each algorithm's check value (the CRC catalogue's \"123456789\"; FIPS vectors for SHA)", async (t) => {
  const check = Buffer.from('123456789');
  const hex = (h: string): string => Buffer.from(h, 'hex').toString('base64');
  t.equal(await of('CRC32', [check]), hex('cbf43926'));
  t.equal(await of('CRC32C', [check]), hex('e3069283'));
  t.equal(await of('CRC64NVME', [check]), hex('ae8b14860a799888'));
  t.equal(await of('SHA1', [Buffer.from('abc')]), hex('a9993e364706816aba3e25717850c26c9cd0d89d'));
  t.equal(await of('SHA256', [Buffer.from('abc')]), hex('ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad'));
  t.equal(await of('CRC32', []), 'AAAAAA==', 'the empty body');
});

t.test('a value is the same however the body is split (seeded)', async (t) => {
  const rng = new SeededRandom(3);
  const data = Buffer.from(Array.from({ length: 100_000 }, () => rng.int(256)));
  for (const alg of CHECKSUM_ALGORITHMS) {
    const whole = await of(alg, [data]);
    t.ok(isChecksumValue(alg, whole), `${alg} is well-formed`);
    for (let i = 0; i < 5; i++) {
      const cut = rng.int(data.length);
      t.equal(await of(alg, [data.subarray(0, cut), data.subarray(cut)]), whole, `${alg} split at ${cut}`);
    }
  }
});

t.test('header names and value shapes', async (t) => {
  t.equal(checksumHeader('CRC64NVME'), 'x-amz-checksum-crc64nvme');
  t.equal(algorithmOfHeader('X-Amz-Checksum-CRC32C'), 'CRC32C');
  t.equal(algorithmOfHeader('x-amz-checksum-md5'), undefined);
  t.ok(isChecksumValue('CRC32', 'yZRlqg=='));
  t.notOk(isChecksumValue('CRC32', 'yZRlqg='), 'bad padding');
  t.notOk(isChecksumValue('CRC64NVME', 'yZRlqg=='), 'a CRC32-sized value for CRC64NVME');
  t.notOk(isChecksumValue('SHA1', '!!!!'), 'not base64');
});
