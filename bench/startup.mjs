// Start-up cost of the certpin CLI against plain `node -e 0` (docs/performance.md: `certpin --version` within
// 1.3x), the time from spawning the process to its exit, median of N interleaved runs, so that the
// load of a shared machine falls on every variant alike. Commands are loaded lazily
// (src/cli/commands/index.ts), so `--version` and `--help` load no command and none of the library.
// certpin/register's own start-up is measured by register-startup.mjs.
//
//   node bench/startup.mjs [--runs 21]
import { fileURLToPath } from 'node:url';
import { median, timeNode as timeRun } from './timing.mjs';

const BIN = fileURLToPath(new URL('../bin/certpin', import.meta.url));
export const TARGET_RATIO = 1.3;

/** Rows `{ name, medianMs, ratio, ok }`; `ok` is whether the ratio to `node -e 0` is within {@link TARGET_RATIO}. */
export function measureCliStartup({ runs = 21 } = {}) {
  const variants = [
    { name: 'node -e 0', args: ['-e', '0'], target: false },
    { name: 'certpin --version', args: [BIN, '--version'], target: true },
    { name: 'certpin --help', args: [BIN, '--help'], target: true },
    { name: 'certpin help expiry (loads one command)', args: [BIN, 'help', 'expiry'], target: false },
  ];
  for (const variant of variants) timeRun(variant.args); // warm the file cache
  const samples = variants.map(() => []);
  for (let i = 0; i < runs; i++) variants.forEach((variant, v) => samples[v].push(timeRun(variant.args)));
  const base = median(samples[0]);
  return variants.map((variant, v) => {
    const medianMs = median(samples[v]);
    const ratio = medianMs / base;
    return { name: variant.name, medianMs, ratio, target: variant.target, ok: !variant.target || ratio <= TARGET_RATIO };
  });
}

export function formatCliStartup(rows, runs) {
  const lines = [`certpin CLI start-up (process spawn to exit, median of ${runs} runs, target ≤ ${TARGET_RATIO}x node -e 0)`];
  const width = Math.max(...rows.map((row) => row.name.length));
  lines.push(`${'variant'.padEnd(width)}  median ms  ratio`);
  for (const row of rows) {
    const ratio = row.name === 'node -e 0' ? '-' : `${row.ratio.toFixed(2)}x${row.target ? (row.ok ? '' : '  OVER TARGET') : ''}`;
    lines.push(`${row.name.padEnd(width)}  ${row.medianMs.toFixed(1).padStart(9)}  ${ratio}`);
  }
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const at = process.argv.indexOf('--runs');
  const runs = at > 0 ? Number(process.argv[at + 1]) : 21;
  const rows = measureCliStartup({ runs });
  console.log(formatCliStartup(rows, runs));
  process.exitCode = rows.every((row) => row.ok) ? 0 : 1;
}
