// docs/cli.md: the CLI runs from a checkout as ./bin/certpin after `npm ci`. The checkout keeps a prepare
// script for that (and for `npm install` from git); the published package drops it
// (test/package-install.test.mjs). This runs the real thing: a copy of the checkout as a clone has it,
// `npm ci`, then ./bin/certpin.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { copyCheckout, NPM_QUIET, sh } from './support/npm.mjs';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const PACKAGE = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));

test('a fresh clone builds on npm ci, so ./bin/certpin runs and npm run demo has its build', { timeout: 170_000 }, async (t) => {
  const clone = await copyCheckout(t, ROOT, 'certpin-clone-');
  assert.ok(!existsSync(join(clone, 'build')) && !existsSync(join(clone, 'node_modules')));
  assert.ok(PACKAGE.scripts.prepare, 'the checkout has a prepare script');
  const ci = await sh('npm', ['ci', ...NPM_QUIET], { cwd: clone });
  assert.equal(ci.code, 0, ci.output);
  assert.ok(existsSync(join(clone, 'build', 'src', 'cli', 'main.js')), 'npm ci built the CLI');
  const version = await sh('./bin/certpin', ['--version'], { cwd: clone });
  assert.equal(version.code, 0, version.output);
  assert.equal(version.stdout.trim(), PACKAGE.version);
});
