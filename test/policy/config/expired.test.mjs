// An `expires` already past when the configuration is loaded (issue 14 item 4): the host runs
// unpinned, so createPolicy, loadPolicy and certpin/register warn once (CertpinWarning, code
// CERTPIN_PINS_EXPIRED), without needing a report sink.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { createPolicy, loadPolicy } from 'certpin';
import { makePki } from '../../support/pki.mjs';

const run = promisify(execFile);
// The hook by its built file: the register harness's package links do not resolve on Node 24.
const REGISTER = new URL('../../../build/src/register.js', import.meta.url).href;
const pki = await makePki();
const writePinFile = (path, document) => writeFileSync(path, JSON.stringify(document, null, 2));
const dir = mkdtempSync(join(tmpdir(), 'certpin-expired-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const NOW = Date.parse('2027-03-01T12:00:00.000Z');
const pins = () => [pki.intermediate.pin, { pin: pki.intermediate2.pin, status: 'backup' }];

/**
 * The CertpinWarnings emitted while `fn` runs. Warnings are delivered on a later tick, in order, so a
 * sentinel warning emitted last proves that none of ours is still on its way.
 */
async function warningsDuring(fn) {
  const seen = [];
  const sentinel = `sentinel ${Math.random()}`;
  let done;
  const finished = new Promise((resolve) => { done = resolve; });
  const listener = (warning) => {
    if (warning.message === sentinel) done();
    else if (warning.name === 'CertpinWarning') seen.push(warning);
  };
  process.on('warning', listener);
  try {
    await fn();
    process.emitWarning(sentinel, { type: 'TestSentinel' });
    await finished;
  } finally {
    process.off('warning', listener);
  }
  return seen;
}

describe('expired pins warn at load', () => {
  test('createPolicy: once per host, with a code, naming the host, the date and the consequence', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: NOW });
    const config = {
      hosts: {
        'old.expired.test': { pins: pins(), expires: '2027-02-28' },
        'live.expired.test': { pins: pins(), expires: '2027-03-01' }, // to the end of today: still enforced
      },
    };
    const warnings = await warningsDuring(() => {
      const policy = createPolicy(config);
      createPolicy(config);
      policy.update(config);
    });
    assert.equal(warnings.length, 1, warnings.map((w) => w.message).join('\n'));
    assert.equal(warnings[0].code, 'CERTPIN_PINS_EXPIRED');
    assert.equal(warnings[0].message,
      'certpin: the pins of old.expired.test expired on 2027-02-28 (hosts["old.expired.test"].expires): they are no longer enforced and every connection to it runs unpinned');
  });

  test('policy.update: an entry that is already past when applied warns too', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: NOW });
    const policy = createPolicy({ hosts: { 'update.expired.test': { pins: pins(), expires: '2027-06-30' } } });
    const warnings = await warningsDuring(() => policy.update({ hosts: { 'update.expired.test': { pins: pins(), expires: '2027-01-31' } } }));
    assert.deepEqual(warnings.map((w) => w.code), ['CERTPIN_PINS_EXPIRED']);
    assert.match(warnings[0].message, /update\.expired\.test expired on 2027-01-31/);
  });

  test('loadPolicy: the warning names the pin file', async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: NOW });
    const path = join(dir, 'pins.json');
    writeFileSync(path, JSON.stringify({ version: 1, hosts: { 'file.expired.test': { pins: pins(), expires: '2026-12-31' } } }));
    const warnings = await warningsDuring(async () => {
      (await loadPolicy(path)).close();
    });
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0].code, 'CERTPIN_PINS_EXPIRED');
    assert.ok(warnings[0].message.startsWith(`${path}: the pins of file.expired.test expired on 2026-12-31`), warnings[0].message);
  });

  test('certpin/register: warns once at start-up, and the application runs', async (t) => {
    const appDir = mkdtempSync(join(tmpdir(), 'certpin-hook-'));
    t.after(() => rmSync(appDir, { recursive: true, force: true }));
    const pinFile = join(appDir, 'pins.json');
    // A date long past whatever the clock says: this child's clock cannot be frozen from here.
    writePinFile(pinFile, { version: 1, hosts: { 'register.expired.test': { pins: pins(), expires: '2001-01-01' } } });
    const env = { ...process.env, CERTPIN_CONFIG: pinFile };
    delete env.NODE_TEST_CONTEXT;
    delete env.NODE_OPTIONS;
    const { stdout, stderr } = await run(process.execPath, ['--import', REGISTER, '-e', 'console.log("ran")'], { cwd: appDir, env });
    assert.equal(stdout, 'ran\n');
    const lines = stderr.split('\n').filter((line) => line.includes('CertpinWarning'));
    assert.equal(lines.length, 1, stderr);
    assert.match(lines[0], /\[CERTPIN_PINS_EXPIRED\] CertpinWarning: .*pins\.json: the pins of register\.expired\.test expired on 2001-01-01/);
  });
});
