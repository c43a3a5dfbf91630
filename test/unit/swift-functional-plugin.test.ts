import t from 'tap';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

/**
 * scripts/swift-functional/swiftlet_pytest_plugin.py caps the waits of Swift's test client
 * between retries (test.functional's `sleep`, swift_test_client's `time.sleep`) and nothing else.
 * Checked on a stand-in for Swift's test package with the same module names and imports, under
 * Debian's python3 and pytest, as the harness runs them.
 */
const run = promisify(execFile);
const PYTHON = '/usr/bin/python3';
const hasPytest = existsSync(PYTHON) && existsSync('/usr/lib/python3/dist-packages/pytest');

const FAKE_TEST = `
import time
import test.functional as tf
from test.functional import swift_test_client as client


def test_retry_waits_are_capped(monkeypatch):
    real_sleep = time.sleep
    slept = []
    monkeypatch.setattr(time, 'sleep', slept.append)
    tf.sleep(1)
    client.time.sleep(1.5)
    client.listing_wait(2)
    time.sleep(3)
    assert slept == [0.2, 0.2, 0.2, 3]
    # the rest of the time module is the real one
    assert client.time.time is time.time
    assert real_sleep.__name__ == 'sleep'
`;

t.test('the pytest plugin caps only the retry waits', { skip: hasPytest ? false : 'python3-pytest not installed' }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'swift-func-plugin-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  await mkdir(join(dir, 'test/functional'), { recursive: true });
  await writeFile(join(dir, 'test/__init__.py'), '');
  // As in Swift: test/functional/__init__.py binds sleep by name; swift_test_client imports time.
  await writeFile(join(dir, 'test/functional/__init__.py'), 'from time import time, sleep\n');
  await writeFile(join(dir, 'test/functional/swift_test_client.py'), 'import time\n\n\ndef listing_wait(s):\n    time.sleep(s)\n');
  await writeFile(join(dir, 'test/functional/test_fake.py'), FAKE_TEST);
  const pytest = (plugin: boolean) =>
    run(PYTHON, ['-m', 'pytest', '-q', '-p', 'no:cacheprovider', ...(plugin ? ['-p', 'swiftlet_pytest_plugin'] : []), 'test/functional/test_fake.py'], {
      cwd: dir,
      env: { ...process.env, PYTHONPATH: resolve('scripts/swift-functional'), PYTHONDONTWRITEBYTECODE: '1' },
    });
  const { stdout } = await pytest(true);
  t.match(stdout, /1 passed/);
  // Without the plugin the same test fails (the waits are Swift's own).
  const without = await pytest(false).then(
    () => 'passed',
    (err: { stdout?: string }) => err.stdout ?? '',
  );
  t.match(without, /1 failed/);
});
