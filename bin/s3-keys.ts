import { parseArgs } from 'node:util';

/**
 * `swiftlet s3 keys create|list|revoke`: the stored S3 key pairs, through a proxy's /s3-keys
 * endpoint (proxy/middleware/s3-keys.ts), so the keys land in the cluster by the same quorum
 * writes as any data and no secret of the cluster is needed here. Credentials: a tempauth login
 * (`--auth`, `--auth-user`, `--auth-key`; ST_AUTH, ST_USER, ST_KEY; the all-in-one's reseller
 * admin by default) or a token (`--token` with `--proxy`; OS_AUTH_TOKEN), e.g. a Keystone one.
 */
export const S3_KEYS_USAGE = `swiftlet s3 keys create [--user ACCOUNT:USER] [auth options] [--json]
swiftlet s3 keys list [--user ACCOUNT:USER] [auth options] [--json]
swiftlet s3 keys revoke ACCESS_KEY_ID [auth options]

auth options (tempauth login, or a token):
  -A, --auth URL        tempauth's login URL (ST_AUTH; default http://127.0.0.1:8080/auth/v1.0)
  -U, --auth-user USER  (ST_USER; default admin:admin, the all-in-one's reseller admin)
  -K, --auth-key KEY    (ST_KEY; default admin)
  --token TOKEN         an X-Auth-Token instead of a login (OS_AUTH_TOKEN), e.g. Keystone's
  --proxy URL           the proxy to send it to (with --token; default the --auth URL's origin)
`;

interface Session {
  proxy: string;
  token: string;
  /** The HTTP client (the global fetch unless a test injects one): it talks to the proxy's public port only, never to a storage node. */
  fetch: typeof globalThis.fetch;
}

async function session(v: Record<string, string | boolean | undefined>, env: NodeJS.ProcessEnv, fetch: typeof globalThis.fetch): Promise<Session> {
  const auth = (v.auth as string | undefined) ?? env.ST_AUTH ?? 'http://127.0.0.1:8080/auth/v1.0';
  const token = (v.token as string | undefined) ?? env.OS_AUTH_TOKEN;
  const proxy = ((v.proxy as string | undefined) ?? new URL(auth).origin).replace(/\/+$/, '');
  if (token) return { proxy, token, fetch };
  const res = await fetch(auth, { headers: { 'x-auth-user': (v['auth-user'] as string | undefined) ?? env.ST_USER ?? 'admin:admin', 'x-auth-key': (v['auth-key'] as string | undefined) ?? env.ST_KEY ?? 'admin' } });
  await res.arrayBuffer();
  const t = res.headers.get('x-auth-token');
  if (res.status !== 200 || !t) throw new CliError(`login at ${auth} failed: ${res.status}`);
  return { proxy, token: t, fetch };
}

class CliError extends Error {}

async function call(s: Session, method: string, path: string): Promise<{ status: number; body: unknown }> {
  const res = await s.fetch(`${s.proxy}${path}`, { method, headers: { 'x-auth-token': s.token } });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    /* not JSON: shown as it came */
  }
  if (res.status >= 300) {
    const why = typeof body === 'object' && body !== null && 'error' in body ? String((body as { error: unknown }).error) : text.trim();
    throw new CliError(`${method} ${path}: ${res.status} ${why}`);
  }
  return { status: res.status, body };
}

export async function s3KeysCli(argv: string[], out: (s: string) => void = (s) => process.stdout.write(s), env = process.env, fetch: typeof globalThis.fetch = globalThis.fetch): Promise<number> {
  const [what, verb, ...rest] = argv;
  if (argv.includes('--help') || argv.includes('-h')) {
    out(S3_KEYS_USAGE);
    return 0;
  }
  if (what !== 'keys' || !verb || !['create', 'list', 'revoke'].includes(verb)) {
    process.stderr.write(S3_KEYS_USAGE);
    return 2;
  }
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      user: { type: 'string' },
      json: { type: 'boolean', default: false },
      auth: { type: 'string', short: 'A' },
      'auth-user': { type: 'string', short: 'U' },
      'auth-key': { type: 'string', short: 'K' },
      token: { type: 'string' },
      proxy: { type: 'string' },
    },
  });
  try {
    const s = await session(values, env, fetch);
    if (verb === 'create') {
      // without --user: a key for the credentials' own user (with keystone, the only choice)
      const { body } = await call(s, 'POST', `/s3-keys${values.user ? `?user=${encodeURIComponent(values.user)}` : ''}`);
      const k = body as { access_key_id: string; secret_access_key: string; user: string; account: string };
      if (values.json) out(`${JSON.stringify(k)}\n`);
      else out(`access_key_id     ${k.access_key_id}\nsecret_access_key ${k.secret_access_key}\nuser              ${k.user} (account ${k.account})\nThe secret is shown only now: keep it.\n`);
      return 0;
    }
    if (verb === 'list') {
      const { body } = await call(s, 'GET', `/s3-keys${values.user ? `?user=${encodeURIComponent(values.user)}` : ''}`);
      const keys = body as Array<{ accessKeyId: string; user: string; created: string }>;
      if (values.json) out(`${JSON.stringify(keys)}\n`);
      else for (const k of keys) out(`${k.accessKeyId}  ${k.created}  ${k.user}\n`);
      return 0;
    }
    const id = positionals[0];
    if (!id) throw new CliError('revoke needs the ACCESS_KEY_ID');
    await call(s, 'DELETE', `/s3-keys/${encodeURIComponent(id)}`);
    out(`revoked ${id}\n`);
    return 0;
  } catch (e) {
    if (!(e instanceof CliError)) throw e;
    process.stderr.write(`swiftlet s3 keys: ${e.message}\n`);
    return 1;
  }
}
