/**
 * S3's errors: a code, the HTTP status AWS gives it, a message, and the extra elements some carry
 * (SignatureDoesNotMatch's StringToSign, RequestTimeTooSkewed's ServerTime...). The S3 layer's
 * cores throw these; the edge renders them as S3's XML error document with the request id and
 * resource (AWS S3 API reference, "Error responses").
 */

/** Each code this layer answers, with AWS's status and its default message. */
const CODES = {
  AccessDenied: [403, 'Access Denied'],
  AuthorizationHeaderMalformed: [400, 'The authorization header is malformed.'],
  AuthorizationQueryParametersError: [400, 'Error parsing the X-Amz-Credential parameter.'],
  BucketAlreadyOwnedByYou: [409, 'Your previous request to create the named bucket succeeded and you already own it.'],
  BucketNotEmpty: [409, 'The bucket you tried to delete is not empty'],
  EntityTooLarge: [400, 'Your proposed upload exceeds the maximum allowed size'],
  InternalError: [500, 'We encountered an internal error. Please try again.'],
  InvalidBucketName: [400, 'The specified bucket is not valid.'],
  InvalidLocationConstraint: [400, 'The specified location constraint is not valid.'],
  InvalidRange: [416, 'The requested range is not satisfiable'],
  KeyTooLongError: [400, 'Your key is too long'],
  MethodNotAllowed: [405, 'The specified method is not allowed against this resource.'],
  NoSuchBucket: [404, 'The specified bucket does not exist'],
  NoSuchKey: [404, 'The specified key does not exist.'],
  NotImplemented: [501, 'A header you provided implies functionality that is not implemented'],
  PreconditionFailed: [412, 'At least one of the pre-conditions you specified did not hold'],
  ServiceUnavailable: [503, 'Please reduce your request rate.'],
  BadDigest: [400, 'The Content-MD5 or checksum value that you specified did not match what the server received.'],
  IncompleteBody: [400, 'You did not provide the number of bytes specified by the Content-Length HTTP header.'],
  InvalidAccessKeyId: [403, 'The AWS Access Key Id you provided does not exist in our records.'],
  InvalidArgument: [400, 'Invalid Argument'],
  InvalidChunkSizeError: [403, 'Only the last chunk is allowed to have a size less than 8192 bytes'],
  InvalidDigest: [400, 'The Content-MD5 or checksum value that you specified is not valid.'],
  InvalidRequest: [400, 'Invalid Request'],
  MalformedXML: [400, 'The XML you provided was not well-formed or did not validate against our published schema.'],
  MissingContentLength: [411, 'You must provide the Content-Length HTTP header.'],
  MissingSecurityHeader: [400, 'Your request is missing a required header.'],
  RequestTimeTooSkewed: [403, "The difference between the request time and the server's time is too large."],
  SignatureDoesNotMatch: [403, 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'],
  XAmzContentSHA256Mismatch: [400, "The provided 'x-amz-content-sha256' header does not match what was computed."],
  // multipart uploads
  EntityTooSmall: [400, 'Your proposed upload is smaller than the minimum allowed object size.'],
  InvalidPart: [400, 'One or more of the specified parts could not be found. The part might not have been uploaded, or the specified entity tag might not have matched the part\'s entity tag.'],
  InvalidPartNumber: [416, 'The requested partnumber is not satisfiable'],
  InvalidPartOrder: [400, 'The list of parts was not in ascending order. The parts list must be specified in order by part number.'],
  NoSuchUpload: [404, 'The specified multipart upload does not exist. The upload ID might be invalid, or the multipart upload might have been aborted or completed.'],
} as const satisfies Record<string, readonly [number, string]>;

export type S3ErrorCode = keyof typeof CODES;

export class S3Error extends Error {
  readonly code: S3ErrorCode;
  readonly status: number;
  /** Extra elements of the error document, in order (e.g. ServerTime, MaxAllowedSkewMilliseconds). */
  readonly extra: ReadonlyArray<readonly [string, string]>;
  constructor(code: S3ErrorCode, opts: { message?: string; extra?: ReadonlyArray<readonly [string, string]>; cause?: unknown } = {}) {
    super(opts.message ?? CODES[code][1], opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'S3Error';
    this.code = code;
    this.status = CODES[code][0];
    this.extra = opts.extra ?? [];
  }
}

export function isS3Error(e: unknown, code?: S3ErrorCode): e is S3Error {
  return e instanceof S3Error && (code === undefined || e.code === code);
}

const XML_ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' };

/** Text for an XML element: the five entities escaped, and characters XML 1.0 cannot carry as &#…; (AWS does the same). */
export function xmlText(s: string): string {
  return s.replace(/[&<>"']/g, (c) => XML_ESCAPES[c] as string).replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, (c) => `&#x${c.charCodeAt(0).toString(16)};`);
}

/** S3's error document: <Error><Code/><Message/>[extra…]<Resource/><RequestId/></Error>. */
export function errorXml(e: S3Error, resource: string, requestId: string): string {
  const extra = e.extra.map(([k, v]) => `<${k}>${xmlText(v)}</${k}>`).join('');
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${e.code}</Code><Message>${xmlText(e.message)}</Message>${extra}<Resource>${xmlText(resource)}</Resource><RequestId>${xmlText(requestId)}</RequestId></Error>`;
}
