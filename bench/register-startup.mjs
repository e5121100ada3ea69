// Startup cost of `node --import certpin/register` against plain `node`, on an application that does
// nothing: the time from spawning the process to its exit, median of N runs each. The hook reads and
// validates the pin file and replaces tls.connect; the trust store is loaded only by the first
// connection to a pinned host, so it is not part of this cost. Target: under 30 ms.
//
//   node bench/register-startup.mjs [--runs 21] [--register /other/build/src/register.js]
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, timeNode } from './timing.mjs';

// `--register PATH` measures another build's hook (e.g. a base commit built elsewhere), for side-by-side runs.
const at = process.argv.indexOf('--register');
const REGISTER = at > 0 ? resolve(process.argv[at + 1]) : fileURLToPath(new URL('../build/src/register.js', import.meta.url));
export const TARGET_MS = 30;

function pinFile(dir, hostCount) {
  const hosts = {};
  for (let i = 0; i < hostCount; i++) {
    hosts[`api${i}.example.com`] = { pins: [`sha256/${randomBytes(32).toString('base64')}`, { pin: `sha256/${randomBytes(32).toString('base64')}`, status: 'backup' }] };
  }
  const path = join(dir, `pins-${hostCount}.json`);
  writeFileSync(path, JSON.stringify({ version: 1, settings: { unpinned: 'allow' }, hosts }));
  return path;
}

function emptyModule(dir) {
  const path = join(dir, 'empty.mjs');
  writeFileSync(path, '');
  return path;
}

/** One run of an application that does nothing (`-e ''`), with the hook's flags. */
const timeRun = (args, env) => timeNode([...args, '-e', ''], env);

/**
 * Runs the measurement and returns rows `{ name, medianMs, overheadMs, ok }`; `ok` is whether the
 * overhead over plain node is under {@link TARGET_MS}. Runs are interleaved so that machine load
 * falls on every variant alike.
 */
export function measureRegisterStartup({ runs = 21 } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'certpin-bench-register-'));
  try {
    const variants = [
      { name: 'node (no hook)', args: [], env: {} },
      // Any --import starts Node's ES module loader: the part of the cost that is not certpin's.
      { name: '--import of an empty module', args: ['--import', emptyModule(dir)], env: {} },
      { name: '--import certpin/register, 10 hosts', args: ['--import', REGISTER], env: { CERTPIN_CONFIG: pinFile(dir, 10) } },
      { name: '--import certpin/register, 1,000 hosts', args: ['--import', REGISTER], env: { CERTPIN_CONFIG: pinFile(dir, 1000) } },
      { name: '--require certpin/register, 10 hosts', args: ['--require', REGISTER], env: { CERTPIN_CONFIG: pinFile(dir, 10) } },
      { name: '--require certpin/register, 1,000 hosts', args: ['--require', REGISTER], env: { CERTPIN_CONFIG: pinFile(dir, 1000) } },
    ];
    for (const variant of variants) timeRun(variant.args, variant.env); // warm the file cache
    const samples = variants.map(() => []);
    for (let i = 0; i < runs; i++) variants.forEach((variant, v) => samples[v].push(timeRun(variant.args, variant.env)));
    const base = median(samples[0]);
    return variants.map((variant, v) => {
      const medianMs = median(samples[v]);
      const overheadMs = medianMs - base;
      return { name: variant.name, medianMs, overheadMs, ok: v === 0 || overheadMs < TARGET_MS };
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export function formatRegisterStartup(rows, runs) {
  const lines = [`certpin/register startup (process spawn to exit, median of ${runs} runs, target overhead < ${TARGET_MS} ms)`];
  const width = Math.max(...rows.map((row) => row.name.length));
  lines.push(`${'variant'.padEnd(width)}  median ms  overhead ms`);
  for (const row of rows) {
    const overhead = row.overheadMs === 0 && row.name.startsWith('node') ? '-' : `${row.overheadMs >= 0 ? '+' : ''}${row.overheadMs.toFixed(1)}${row.ok ? '' : '  OVER TARGET'}`;
    lines.push(`${row.name.padEnd(width)}  ${row.medianMs.toFixed(1).padStart(9)}  ${overhead.padStart(11)}`);
  }
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const runsAt = process.argv.indexOf('--runs');
  const runs = runsAt > 0 ? Number(process.argv[runsAt + 1]) : 21;
  const rows = measureRegisterStartup({ runs });
  console.log(formatRegisterStartup(rows, runs));
  process.exitCode = rows.every((row) => row.ok) ? 0 : 1;
}
