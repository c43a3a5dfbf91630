import type { Readable } from 'node:stream';
import { XMLParser, XMLValidator } from 'fast-xml-parser';
import { S3Error } from './errors.js';

/**
 * Client XML (CreateBucketConfiguration, Delete, CompleteMultipartUpload, Tagging...), parsed by
 * fast-xml-parser with a DOCTYPE refused outright (no entity expansion, no
 * external references), after reading at most `limit` bytes. Anything that is not well-formed is
 * S3's MalformedXML.
 */
export const MAX_XML_BYTES = 1024 * 1024;

/**
 * Values kept as sent (an S3 key may start or end with spaces; whitespace between elements shows
 * up as '#text' members, which readers ignore). The XML entities and character references are
 * decoded; a DOCTYPE never gets this far, so no entity is ever defined by the client.
 */
function parserFor(arrays: readonly string[]): XMLParser {
  return new XMLParser({ processEntities: true, htmlEntities: true, ignoreAttributes: true, ignoreDeclaration: true, parseTagValue: false, trimValues: false, removeNSPrefix: true, isArray: (name) => arrays.includes(name) });
}

/** The body as text, refusing more than `limit` bytes (MalformedXML, as AWS answers an over-size document). */
export async function readXmlBody(body: Readable, limit = MAX_XML_BYTES): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  for await (const c of body as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > limit) {
      body.destroy();
      throw new S3Error('MalformedXML', { message: 'The XML you provided was larger than the maximum allowed size.' });
    }
    parts.push(c);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** The document as plain objects (element → string or object; the elements named in `arrays` always arrays). */
export function parseXml(text: string, arrays: readonly string[] = []): Record<string, unknown> {
  if (/<!DOCTYPE|<!ENTITY/i.test(text)) throw new S3Error('MalformedXML');
  if (text.trim() === '' || XMLValidator.validate(text) !== true) throw new S3Error('MalformedXML');
  try {
    return parserFor(arrays).parse(text) as Record<string, unknown>;
  } catch (e) {
    throw new S3Error('MalformedXML', { cause: e });
  }
}
