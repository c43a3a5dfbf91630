import { createHash } from 'node:crypto';
import { runLimited } from '../../common/run-limited.js';
import { discard } from '../middleware/subrequest.js';
import { respond, type ProxyResponse } from '../pipeline.js';
import { S3Error } from './errors.js';
import { deleteKey } from './object.js';
import { errorForSwift, type SwiftCall } from './swift-call.js';
import { parseXml } from './xml-input.js';
import { doc, el, text } from './xml.js';

/** S3's limit on keys per DeleteObjects request. */
export const MAX_DELETE_KEYS = 1000;

export interface DeleteRequest {
  quiet: boolean;
  keys: string[];
}

/**
 * The <Delete> document (S3 API reference, DeleteObjects): at most 1,000 <Object><Key>, <Quiet>.
 * A version id is refused for now (versioning is not built). MalformedXML for anything else.
 */
export function parseDeleteRequest(xml: string): DeleteRequest {
  const root = parseXml(xml, ['Object'])['Delete'];
  if (!root || typeof root !== 'object') throw new S3Error('MalformedXML');
  const d = root as Record<string, unknown>;
  const objects = (d['Object'] ?? []) as unknown[];
  if (objects.length === 0 || objects.length > MAX_DELETE_KEYS) throw new S3Error('MalformedXML');
  const keys = objects.map((o) => {
    const key = o && typeof o === 'object' ? (o as Record<string, unknown>)['Key'] : undefined;
    if (typeof key !== 'string' || key === '') throw new S3Error('MalformedXML');
    if ((o as Record<string, unknown>)['VersionId'] !== undefined) throw new S3Error('NotImplemented', { message: 'Deleting a version is not implemented yet.' });
    return key;
  });
  const quiet = typeof d['Quiet'] === 'string' && d['Quiet'].trim().toLowerCase() === 'true';
  return { quiet, keys };
}

/** DeleteObjects: deleteKey per key (16 at a time); each key's outcome in the result, in order. */
export async function deleteObjects(swift: SwiftCall, bucket: string, headers: Record<string, string>, xml: string): Promise<ProxyResponse> {
  const md5 = headers['content-md5'];
  if (md5 !== undefined && createHash('md5').update(xml, 'utf8').digest('base64') !== md5) throw new S3Error('BadDigest');
  const req = parseDeleteRequest(xml);
  const head = await swift('HEAD', { container: bucket });
  discard(head);
  if (head.status >= 300) throw errorForSwift(head.status, 'bucket');
  const outcome: Array<S3Error | undefined> = new Array(req.keys.length);
  await runLimited(
    req.keys.map((k, i) => ({ k, i })),
    16,
    async ({ k, i }) => {
      // a key that is not there is deleted as far as S3 is concerned; a multipart object goes with its parts
      const gone = await deleteKey(swift, bucket, k);
      outcome[i] = gone instanceof S3Error ? gone : undefined;
    },
  );
  const children = req.keys.flatMap((k, i) => {
    const e = outcome[i];
    if (e) return [el('Error', [text('Key', k), text('Code', e.code), text('Message', e.message)])];
    return req.quiet ? [] : [el('Deleted', text('Key', k))];
  });
  return respond(200, { 'Content-Type': 'application/xml' }, doc('DeleteResult', children));
}
