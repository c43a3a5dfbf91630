#!/usr/bin/env node
// Builds native/swiftlet.c into dist/native/swiftlet.node (common/native.ts loads it). Needs only
// gcc: the Node-API functions it calls are declared in the file, resolved from node at load time.
// Without gcc, or on a CPU other than x86-64, Swiftlet runs on its portable fallbacks: this says
// so and succeeds.
import { execFileSync } from 'node:child_process';
import { mkdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'swiftlet.c');
const target = join(root, 'dist', 'native', 'swiftlet.node');
const mtime = (p) => {
  try {
    return statSync(p).mtimeMs;
  } catch {
    return -1;
  }
};

if (process.arch !== 'x64') {
  console.log(`native sums: not built (${process.arch}; the module is x86-64 only), using the portable fallbacks`);
} else if (mtime(target) >= mtime(source)) {
  // up to date
} else {
  mkdirSync(dirname(target), { recursive: true });
  try {
    execFileSync('gcc', ['-O3', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', '-fvisibility=hidden', '-o', `${target}.tmp`, source, '-lpthread'], { stdio: ['ignore', 'inherit', 'inherit'] });
    execFileSync('mv', ['-f', `${target}.tmp`, target]);
  } catch (err) {
    const why = err && err.code === 'ENOENT' ? 'gcc not found' : 'gcc failed';
    console.log(`native sums: not built (${why}), using the portable fallbacks`);
  }
}
