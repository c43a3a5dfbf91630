import t from 'tap';
import { backendPath } from '../../common/backend-path.js';
import { Timestamp } from '../../common/timestamp.js';
import { native } from '../../common/native.js';
import type { MemoryReport } from '../../storage-node/memory-report.js';
import { startOneDeviceNode } from '../helpers/one-device-node.js';

/** `GET /recon/memory` of a real storage node: V8's spaces and each open device database's LevelDB memory. */

t.test('recon/memory reports the process, its V8 spaces and LevelDB per open device', async (t) => {
  const { call } = await startOneDeviceNode(t);
  const read = async (): Promise<MemoryReport> => {
    const res = await call('GET', '/recon/memory');
    t.equal(res.status, 200);
    return JSON.parse(res.body) as MemoryReport;
  };

  const before = await read();
  t.same(before.levelDb, {}, 'no database opened yet: nothing from LevelDB');
  t.ok(before.rss > before.heapUsed && before.heapUsed > 0, 'process figures in bytes');
  t.ok(before.v8Spaces.new_space && before.v8Spaces.old_space, 'the young and old generations are listed');
  t.ok(before.v8Spaces.old_space!.physical >= before.v8Spaces.old_space!.used, 'a space holds at least what it uses');
  if (native.mallocInfo) {
    const m = before.malloc!;
    t.ok(m.inUseBytes > 0 && m.heapBytes >= m.inUseBytes, `the C heap: ${m.inUseBytes} of ${m.heapBytes} bytes in use`);
    t.ok(m.freeBytes >= 0 && m.mmappedBytes >= 0);
  } else t.equal(before.malloc, null, 'no native module (or not glibc): the C heap is not known');

  t.equal((await call('PUT', backendPath('sda', 3, 'AUTH_a', 'c'), { 'x-timestamp': Timestamp.now().internal })).status, 201);
  // Rows land in the memtable, so LevelDB's figure grows with them.
  const rows = 300;
  for (let i = 0; i < rows; i++) {
    const res = await call('PUT', backendPath('sda', 3, 'AUTH_a', 'c', `object-with-a-longish-name-${i}`), {
      'x-backend-source': 'object-server',
      'x-timestamp': Timestamp.now().internal,
      'x-size': '4096',
      'x-content-type': 'application/octet-stream',
      'x-etag': 'd41d8cd98f00b204e9800998ecf8427e',
    });
    if (res.status !== 201) t.fail(`row ${i}: ${res.status}`);
  }
  const after = await read();
  t.same(Object.keys(after.levelDb), ['sda'], 'the device whose database is open');
  t.ok(after.levelDb.sda! > rows * 40, `the memtable holds the ${rows} rows (${after.levelDb.sda} bytes)`);
});
