#!/usr/bin/env node
// Runs every compiled test file under tap and ends with the line CI reads: "N passed, N failed".
// Usage: node scripts/run-tests.mjs [file-or-dir-filter ...]
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function listTests(dir) {
  const out = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...listTests(p));
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = listTests('dist/test').filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)));
// tap given no file runs every test it finds: a filter that matches nothing must not mean "all"
if (files.length === 0) {
  console.error(`no test file under dist/test matches ${filters.join(' ')}`);
  console.log('0 passed, 1 failed');
  process.exit(1);
}
const args = ['tap', '-R', 'tap', '--disable-coverage', '--allow-empty-coverage', '--timeout=600', '--jobs=2', ...files];
const child = spawn('npx', args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, FORCE_COLOR: '0' } });
let tail = '';
child.stdout.on('data', (d) => {
  process.stdout.write(d);
  tail = (tail + d.toString()).slice(-4096);
});
child.on('close', (code) => {
  const m = /# \{ total: (\d+)(?:, pass: (\d+))?(?:, fail: (\d+))?[^}]*\}/.exec(tail);
  const total = m ? Number(m[1]) : 0;
  const passed = m && m[2] ? Number(m[2]) : 0;
  let failed = m && m[3] ? Number(m[3]) : 0;
  if (!m || (code !== 0 && failed === 0)) failed = Math.max(failed, 1);
  const skipped = total - passed - failed > 0 && m ? total - passed - failed : 0;
  console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
  process.exit(code === 0 && failed === 0 ? 0 : 1);
});
