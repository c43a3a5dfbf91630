import t from 'tap';
import { createHash } from 'node:crypto';
import { respond, type ProxyResponse } from '../../proxy/pipeline.js';
import { completeMultipartUpload } from '../../proxy/s3/multipart.js';
import type { SwiftCall } from '../../proxy/s3/swift-call.js';

/**
 * CompleteMultipartUpload answers 200 at once and sends spaces while the manifest is written (so
 * a client does not time out on a long Complete, as AWS and Swift's s3api do); what the write
 * ends with — the result or an error — is the rest of the body.
 */
t.test('Complete keeps the client alive with spaces until the manifest is written', async (t) => {
  const id = 'AbCdEfGhIjKlMnOp';
  const etag = createHash('md5').update('part').digest('hex');
  for (const outcome of [201, 412]) {
    let release: (r: ProxyResponse) => void = () => undefined;
    const written = new Promise<ProxyResponse>((resolve) => (release = resolve));
    const calls: string[] = [];
    const swift: SwiftCall = async (method, target, init = {}) => {
      calls.push(`${method} ${target.container ?? ''}/${target.object ?? ''}${init.query?.startsWith('multipart') ? `?${init.query}` : ''}`);
      if (method === 'HEAD') return respond(200, {});
      if (method === 'GET') return respond(200, {}, JSON.stringify([{ name: `k/${id}/1`, hash: etag, bytes: 4, last_modified: '2026-01-01T00:00:00.000000' }]));
      if (method === 'PUT') return written;
      return respond(204);
    };
    const doc = `<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>"${etag}"</ETag></Part></CompleteMultipartUpload>`;
    const res = await completeMultipartUpload(swift, 'b', 'k', new URLSearchParams({ uploadId: id }), {}, doc, { keepAliveMs: 1, location: 'http://h/b/k', requestId: 'tx1' });
    t.equal(res.status, 200, 'the status is sent before the work is done');
    const it = (res.body as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
    t.equal(String((await it.next()).value), '<?xml version="1.0" encoding="UTF-8"?>\n');
    t.equal(String((await it.next()).value), ' ', 'a space while the manifest PUT is still running');
    t.ok(calls.includes('PUT b/k?multipart-manifest=put'), 'the manifest is written as an SLO');
    release(respond(outcome, {}, ''));
    let rest = '';
    for (let r = await it.next(); !r.done; r = await it.next()) rest += String(r.value);
    if (outcome === 201) {
      t.match(rest.trim(), /^<CompleteMultipartUploadResult [^>]*><Location>http:\/\/h\/b\/k<\/Location><Bucket>b<\/Bucket><Key>k<\/Key><ETag>&quot;[0-9a-f]{32}-1&quot;<\/ETag><\/CompleteMultipartUploadResult>$/);
      t.ok(calls.includes(`DELETE b+segments/k/${id}`), 'the upload marker is deleted after');
    } else {
      t.match(rest.trim(), /^<Error><Code>PreconditionFailed<\/Code>.*<RequestId>tx1<\/RequestId><\/Error>$/, 'an error after the 200 is the body');
      t.notOk(calls.includes(`DELETE b+segments/k/${id}`), 'the upload stays');
    }
  }
});
