import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';

/**
 * By construction, every request a service sends to a storage node goes through the one backend
 * client (common/http-client.ts: an origin and a BackendPath, never a URL string, always signed)
 * or, for the proxy's object PUTs over node:http, carries `ctx.backend.sign(...)`. A URL string
 * would be normalized by the client ("x/../.." resolved, "%2E%2E" too) into a path nobody
 * authorized. This scans the services' sources so a new call site cannot slip past.
 */
const SERVICE_DIRS = ['common', 'proxy', 'storage-node', 'replicator', 'ring-builder', 'bin', 'volume-gateway'];

function sources(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const name of names) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...sources(p));
    else if (name.endsWith('.ts')) out.push(p);
  }
  return out;
}

t.test('services reach storage nodes only through the signing backend client', async (t) => {
  const files = SERVICE_DIRS.flatMap(sources);
  t.ok(files.length > 50, `${files.length} service sources scanned`);
  const problems: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const lines = text.split('\n');
    lines.forEach((line, i) => {
      const at = `${file}:${i + 1}: ${line.trim()}`;
      if (file !== join('common', 'http-client.ts')) {
        if (/import\s*\{[^}]*\b(request|fetch|stream|pipeline)\b[^}]*\}\s*from\s*'undici'/.test(line) && !/import\s+type/.test(line)) problems.push(`undici request function imported: ${at}`);
        if (/\.request\(/.test(line) && !/\bbackend\.request\(/.test(line)) problems.push(`a dispatcher's request() outside the backend client: ${at}`);
      }
      // The global fetch (a parameter named fetch, as in the info cache, is no request).
      if (/(^|[^.\w])fetch\(/.test(line) && !/\bfetch\??\s*:|(const|let|function)\s+fetch\b/.test(text)) problems.push(`fetch(): ${at}`);
      if (/\b(httpRequest|http\.request|https\.request)\(/.test(line)) {
        // node:http is allowed for the proxy's object PUTs (100-continue, upgrades), signed.
        const call = lines.slice(i, i + 12).join('\n');
        if (file !== join('proxy', 'object-put.ts') || !/ctx\.backend\.sign\(/.test(call)) problems.push(`node:http request not signed by the backend client: ${at}`);
      }
    });
  }
  t.same(problems, [], problems.join('\n'));
});
