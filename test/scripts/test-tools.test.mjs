// `npm test` starts with scripts/test-tools.mjs: with a tool missing it must stop before any test
// runs, with one line naming each missing tool and the package that provides it, and it must find
// the tools on PATH (wherever they are installed), not at fixed paths.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const script = new URL('../../scripts/test-tools.mjs', import.meta.url).pathname;

/** Runs the check with PATH holding only `tools` (each a stub that exits 0), and no install attempt. */
function checkWith(t, tools) {
  const dir = mkdtempSync(join(tmpdir(), 'certpin-tools-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  for (const tool of tools) {
    writeFileSync(join(dir, tool), '#!/bin/sh\nexit 0\n');
    chmodSync(join(dir, tool), 0o755);
  }
  symlinkSync(process.execPath, join(dir, 'node'));
  return spawnSync(process.execPath, [script], { env: { PATH: dir, CERTPIN_TEST_NO_INSTALL: '1' }, encoding: 'utf8' });
}

test('all tools on PATH, in a folder of their own: the check passes silently', (t) => {
  const result = checkWith(t, ['openssl', 'curl', 'tinyproxy', 'mitmdump', 'xmllint', 'promtool', 'javac', 'java', 'python3']);
  assert.equal(result.stderr, '');
  assert.equal(result.status, 0);
});

test('missing tools: exit 1 and one line naming each tool and its package', (t) => {
  const result = checkWith(t, ['openssl', 'curl', 'tinyproxy', 'javac', 'java', 'python3']);
  assert.equal(result.status, 1);
  const lines = result.stderr.trim().split('\n');
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0], /^npm test: missing tools the tests run: mitmdump \(package mitmproxy\), xmllint \(package libxml2-utils\), promtool \(package prometheus\); install them \(Debian\/Ubuntu: sudo apt-get install mitmproxy libxml2-utils prometheus\)/);
});
