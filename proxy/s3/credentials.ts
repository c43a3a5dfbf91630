import type { Identity } from '../auth.js';
import { S3Error } from './errors.js';

/**
 * Where the S3 stage finds an access key's secret and whose identity the request then runs as.
 * Two sources: tempauth's users (Swift's s3api with tempauth: the access key is "account:user",
 * the secret that user's key) and the key pairs stored in the cluster (`swiftlet s3 keys`,
 * proxy/s3/key-store.ts). An access key with a ':' is a tempauth user; any other is a stored key.
 */
export interface S3Credential {
  secret: string;
  identity: Identity;
}

export interface S3CredentialSource {
  /** The credential behind an access key id, or undefined when there is none (InvalidAccessKeyId). */
  lookup(accessKeyId: string): Promise<S3Credential | undefined>;
}

/** tempauth's users as S3 credentials (TempAuth.s3Credential). */
export function tempauthCredentials(auth: { s3Credential(accessKeyId: string): S3Credential | undefined }): S3CredentialSource {
  return { lookup: async (id) => auth.s3Credential(id) };
}

/**
 * The credential sources in order of the access key's shape: "account:user" is tempauth's (when
 * tempauth is the auth stage), anything else a stored key pair.
 */
export function credentialChain(sources: { tempauth?: S3CredentialSource; stored: S3CredentialSource }): S3CredentialSource {
  return {
    lookup: async (id) => {
      if (id.includes(':')) return sources.tempauth?.lookup(id);
      return sources.stored.lookup(id);
    },
  };
}

/** The credential, S3's error when there is none, or when the key store cannot answer. */
export async function lookupCredential(source: S3CredentialSource, accessKeyId: string): Promise<S3Credential> {
  let cred: S3Credential | undefined;
  try {
    cred = await source.lookup(accessKeyId);
  } catch (e) {
    throw new S3Error('ServiceUnavailable', { message: 'The access key could not be looked up; try again.', cause: e });
  }
  if (!cred) throw new S3Error('InvalidAccessKeyId', { extra: [['AWSAccessKeyId', accessKeyId]] });
  return cred;
}
