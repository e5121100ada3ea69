import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const bin = fileURLToPath(new URL('../../bin/certpin', import.meta.url));

test('certpin demo runs offline to a zero exit, and every step is shown behaving as claimed', () => {
  const run = spawnSync(process.execPath, [bin, 'demo'], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, NO_COLOR: '1' } });
  assert.equal(run.status, 0, run.stdout + run.stderr);
  assert.doesNotMatch(run.stdout, /✘/);
  for (const step of [/pinned request/, /corporate TLS-inspecting proxy/, /DNS hijack/, /leaf renewal/, /new intermediate/]) assert.match(run.stdout, step);
  // The attacks were real: the ordinary client was fooled both times, the pinned one refused both times.
  assert.equal(run.stdout.match(/ordinary client: 200/g)?.length, 2);
  assert.equal(run.stdout.match(/Certificate pinning failure for api\.example\.test/g)?.length, 2);
  assert.match(run.stdout, /new_pin_detected sha256\//);
  assert.match(run.stdout, /picked up the approval without a restart/);
  assert.ok(!run.stdout.includes("\u001b["), "no colour codes without a TTY");
});
