// Start-up (docs/performance.md, issue 16 item 11): `certpin --version` and `--help` load no command and none of
// the library, and a command loads only what it needs. Proved by the modules Node loads (a module
// hook records every URL), not by timing; bench/startup.mjs measures the time itself.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { BIN } from '../support/cli.mjs';
import { COMMANDS } from '../../build/src/cli/commands/index.js';

const dir = mkdtempSync(join(tmpdir(), 'certpin-startup-'));
after(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'hooks.mjs'), `import { appendFileSync } from 'node:fs';
let out;
export function initialize(data) { out = data.out; }
export async function load(url, context, next) { appendFileSync(out, url + '\\n'); return next(url, context); }
`);
writeFileSync(join(dir, 'preload.mjs'), `import { register } from 'node:module';
register(new URL('./hooks.mjs', import.meta.url), { data: { out: process.env.CERTPIN_TEST_LOADED } });
`);

let runs = 0;
/** Runs the CLI and returns its exit code and the certpin modules it loaded (paths under build/src/). */
function loadedBy(args) {
  const out = join(dir, `loaded-${runs++}.txt`);
  writeFileSync(out, '');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', pathToFileURL(join(dir, 'preload.mjs')).href, BIN, ...args], { env: { ...process.env, CERTPIN_TEST_LOADED: out }, stdio: 'ignore' });
    child.on('error', reject);
    child.on('close', (code) => {
      const urls = readFileSync(out, 'utf8').split('\n').filter(Boolean);
      resolve({ code, modules: urls.filter((u) => u.includes('/build/src/')).map((u) => u.slice(u.indexOf('/build/src/') + '/build/src/'.length)), urls });
    });
  });
}

const SHELL = ['cli/command.js', 'cli/commands/index.js', 'cli/main.js', 'cli/output.js', 'cli/suggest.js', 'lib/concurrency.js', 'lib/suggest.js'];

describe('start-up loads only what the command needs', () => {
  for (const args of [['--version'], ['--help'], ['help']]) {
    test(`certpin ${args.join(' ')} loads the CLI shell only`, async () => {
      const { code, modules, urls } = await loadedBy(args);
      assert.equal(code, 0);
      assert.ok(urls.length > 0, 'the hook saw the modules');
      assert.deepEqual([...new Set(modules)].sort(), SHELL);
    });
  }

  test('certpin help expiry loads the expiry command, not the others, nor undici', async () => {
    const { code, modules, urls } = await loadedBy(['help', 'expiry']);
    assert.equal(code, 0);
    assert.ok(modules.includes('cli/commands/expiry.js'), modules.join('\n'));
    for (const other of ['cli/commands/metrics.js', 'cli/commands/demo.js', 'cli/commands/collect.js', 'index.js', 'reports/collector.js', 'transports/undici.js']) {
      assert.ok(!modules.includes(other), `${other} was loaded`);
    }
    assert.ok(!urls.some((u) => u.includes('/node_modules/undici/')), 'undici was loaded');
  });

  test('the registry agrees with every command file (name and summary)', async () => {
    for (const entry of COMMANDS) {
      const command = await entry.load();
      assert.equal(command.name, entry.name);
      assert.equal(command.summary, entry.summary, `update the summary of ${entry.name} in src/cli/commands/index.ts`);
    }
  });
});
