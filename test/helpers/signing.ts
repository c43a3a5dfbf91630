import { Agent, type Dispatcher } from 'undici';
import { BACKEND_SIGNATURE_HEADER, backendKeyFrom, signBackendRequest, type BackendKey } from '../../common/backend-auth.js';
import { backendClientOver, type BackendClient } from '../../common/http-client.js';

/** The cluster secret of in-process test nodes. */
export const SECRET = { prefix: 'pre', suffix: 'suf' };

/** The backend key those nodes check (derived from SECRET, as a default config does). */
export const TEST_BACKEND_KEY: BackendKey = backendKeyFrom({ swift_hash_path_prefix: SECRET.prefix, swift_hash_path_suffix: SECRET.suffix });

/** The key a node started from a config with this secret (and no backend_key) checks. */
export function keyForSecret(prefix: string, suffix: string): BackendKey {
  return backendKeyFrom({ swift_hash_path_prefix: prefix, swift_hash_path_suffix: suffix });
}

/**
 * A dispatcher for tests that talk to storage nodes with URL strings: it signs each request over
 * the path undici is about to send (tests of path handling itself use raw sockets instead).
 */
export function signingDispatcher(key: BackendKey = TEST_BACKEND_KEY, opts: Agent.Options = { keepAliveTimeout: 10 }): Dispatcher {
  return new Agent(opts).compose((dispatch) => (o, handler) => {
    const sig = signBackendRequest(key, o.method, o.path, Date.now());
    const h = o.headers;
    const headers = Array.isArray(h) ? [...(h as string[]), BACKEND_SIGNATURE_HEADER, sig] : { ...((h as Record<string, string> | null | undefined) ?? {}), [BACKEND_SIGNATURE_HEADER]: sig };
    return dispatch({ ...o, headers }, handler);
  });
}

/** A backend client for in-process services under test. */
export function testBackendClient(key: BackendKey = TEST_BACKEND_KEY): BackendClient {
  return backendClientOver(new Agent({ keepAliveTimeout: 10 }), key);
}

/** The signature header line for a hand-written request (raw-socket tests). */
export function signatureLine(method: string, path: string, key: BackendKey = TEST_BACKEND_KEY): string {
  return `${BACKEND_SIGNATURE_HEADER}: ${signBackendRequest(key, method, path, Date.now())}\r\n`;
}
