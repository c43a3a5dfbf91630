import t from 'tap';
import { decodeXml, parseJunit } from '../helpers/junit.js';
import { baselineFrom, compareWithBaseline, countAll, countByModule, formatReport, pytestNodeId } from '../helpers/swift-functional-report.js';

/** The pieces of the Swift functional-test harness that read pytest's report and judge a run. */

// Shaped like pytest 7's --junitxml output: self-closing passes, a failure with an escaped
// message, a skip, and a test whose call failed and whose teardown then errored (two entries).
const JUNIT = `<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest" errors="1" failures="2" skipped="1" tests="6">
<testcase classname="test.functional.tests.TestAccount" name="testAccountHead" time="0.553" />
<testcase classname="test.functional.tests.TestAccount" name="testInvalidPath" time="0.009"><failure message="AssertionError: False is not true : Status returned: 412 Expected: 404">self = &lt;test&gt;
    def testInvalidPath(self):</failure></testcase>
<testcase classname="test.functional.test_slo.TestSlo" name="test_slo_get" time="0.001"><skipped type="pytest.skip" message="SLO not enabled">/x/test_slo.py:40: SLO not enabled</skipped></testcase>
<testcase classname="test.functional.test_container.TestContainer" name="test_long_name_content_type" time="0.2"><failure message="AssertionError: &apos;text/plain&apos; != &#39;text/html&#x27;">...</failure></testcase>
<testcase classname="test.functional.test_container.TestContainer" name="test_long_name_content_type" time="0.1"><error message="failed on teardown with &quot;Exception: No result after 5 retries.&quot;">...</error></testcase>
<testcase classname="test.functional.test_object.TestObject" name="test_copy" time="0.1" />
<testcase classname="test.functional.test_object.TestObject" name="test_copy" time="0.1"><error message="failed on teardown with &quot;boom&quot;">...</error></testcase>
</testsuite></testsuites>`;

t.test('decodeXml: named, decimal and hex references', async (t) => {
  t.equal(decodeXml('&lt;a&gt; &amp;&amp; &quot;b&quot; &apos;c&apos; &#39;d&#x27; &unknown;'), `<a> && "b" 'c' 'd' &unknown;`);
});

t.test('parseJunit: one result per test, the worst of its entries, ids from the module on', async (t) => {
  const r = parseJunit(JUNIT, 'test.functional.');
  t.same([...r.keys()].sort(), [
    'test_container.TestContainer.test_long_name_content_type',
    'test_object.TestObject.test_copy',
    'test_slo.TestSlo.test_slo_get',
    'tests.TestAccount.testAccountHead',
    'tests.TestAccount.testInvalidPath',
  ]);
  t.same(r.get('tests.TestAccount.testAccountHead'), { id: 'tests.TestAccount.testAccountHead', outcome: 'passed', message: '' });
  t.same(r.get('tests.TestAccount.testInvalidPath')?.outcome, 'failed');
  t.equal(r.get('tests.TestAccount.testInvalidPath')?.message, 'AssertionError: False is not true : Status returned: 412 Expected: 404');
  t.same(r.get('test_slo.TestSlo.test_slo_get'), { id: 'test_slo.TestSlo.test_slo_get', outcome: 'skipped', message: 'SLO not enabled' });
  // The call's failure is what went wrong first; the teardown error that followed does not replace it.
  t.same(r.get('test_container.TestContainer.test_long_name_content_type'), {
    id: 'test_container.TestContainer.test_long_name_content_type',
    outcome: 'failed',
    message: `AssertionError: 'text/plain' != 'text/html'`,
  });
  // A pass whose teardown errored did not pass.
  t.equal(r.get('test_object.TestObject.test_copy')?.outcome, 'error');
  t.equal(parseJunit(JUNIT).has('test.functional.tests.TestAccount.testAccountHead'), true, 'no prefix: ids as pytest wrote them');
});

t.test('counts: failures and errors together, per module and overall', async (t) => {
  const r = parseJunit(JUNIT, 'test.functional.');
  t.same(countAll(r.values()), { passed: 1, failed: 3, skipped: 1 });
  t.same(Object.fromEntries(countByModule(r.values())), {
    test_container: { passed: 0, failed: 1, skipped: 0 },
    test_object: { passed: 0, failed: 1, skipped: 0 },
    test_slo: { passed: 0, failed: 0, skipped: 1 },
    tests: { passed: 1, failed: 1, skipped: 0 },
  });
});

t.test('compareWithBaseline: a baseline pass that fails, skips or is missing is a regression', async (t) => {
  const r = parseJunit(JUNIT, 'test.functional.');
  const cmp = compareWithBaseline(
    ['tests.TestAccount.testInvalidPath', 'test_slo.TestSlo.test_slo_get', 'tests.TestGone.testGone', 'test_object.TestObject.test_copy'],
    r,
  );
  t.same(
    cmp.regressions.map((x) => [x.id, x.outcome]),
    [
      ['tests.TestAccount.testInvalidPath', 'failed'],
      ['test_slo.TestSlo.test_slo_get', 'skipped'],
      ['tests.TestGone.testGone', 'not run'],
      ['test_object.TestObject.test_copy', 'error'],
    ],
  );
  t.same(cmp.newlyPassing, ['tests.TestAccount.testAccountHead']);
  const clean = compareWithBaseline(['tests.TestAccount.testAccountHead'], r);
  t.same(clean, { regressions: [], newlyPassing: [] });
});

t.test('baselineFrom: the passes, sorted, with counts and the notes kept', async (t) => {
  const r = parseJunit(JUNIT, 'test.functional.');
  const b = baselineFrom(r, { about: 'a', swift: '2.30.1', not_run: { s3api: 'no S3' } });
  t.same(b, { about: 'a', swift: '2.30.1', not_run: { s3api: 'no S3' }, counts: { passed: 1, failed: 3, skipped: 1 }, pass: ['tests.TestAccount.testAccountHead'] });
});

t.test('formatReport: summary table, then failing tests by module with their first message line', async (t) => {
  const text = formatReport(parseJunit(JUNIT, 'test.functional.'));
  const lines = text.split('\n');
  t.equal(lines[0], '1 passed, 3 failed, 1 skipped');
  t.match(text, /^tests\s+1\s+1\s+0$/m);
  t.match(text, /failing in test_container:\n {2}TestContainer\.test_long_name_content_type\n {6}AssertionError: 'text\/plain' != 'text\/html'/);
  t.match(text, /failing in test_object:\n {2}TestObject\.test_copy \(error\)\n {6}failed on teardown with "boom"/);
  t.notMatch(text, /failing in test_slo/, 'skips are not failures');
});

t.test('pytestNodeId: the id pytest takes to run one test again', async (t) => {
  t.equal(pytestNodeId('tests.TestFileUTF8.testZeroByteFile'), 'test/functional/tests.py::TestFileUTF8::testZeroByteFile');
  t.equal(pytestNodeId('test_object.TestObject.test_copy'), 'test/functional/test_object.py::TestObject::test_copy');
});
