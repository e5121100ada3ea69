// Strict keys (docs/policy.md, issue 14 item 1): a misspelled key is ERR_CERTPIN_INVALID_CONFIG naming the
// key, where it is and the nearest known key, in createPolicy, policy.update, loadPolicy (the pin
// file) and certpin/register; annotations (`note`, `x-…`) are accepted at every level.
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
const dir = mkdtempSync(join(tmpdir(), 'certpin-strict-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const PINS = [pki.intermediate.pin, { pin: pki.intermediate2.pin, status: 'backup' }];
const HOST = 'api.example.com';
const entry = (extra = {}) => ({ pins: structuredClone(PINS), ...extra });
const escape = (text) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

// The typos of the issue, each with where it must be named and what it must be taken for.
const TYPOS = [
  ['includeSubdomain', { hosts: { [HOST]: entry({ includeSubdomain: true }) } }, `hosts["${HOST}"].includeSubdomain`, 'includeSubdomains'],
  ['include_subdomains', { hosts: { [HOST]: entry({ include_subdomains: true }) } }, `hosts["${HOST}"].include_subdomains`, 'includeSubdomains'],
  ['enforse', { hosts: { [HOST]: entry({ enforse: false }) } }, `hosts["${HOST}"].enforse`, 'enforce'],
  ['reportURI', { hosts: { [HOST]: entry({ reportURI: 'https://reports.example.net/pin' }) } }, `hosts["${HOST}"].reportURI`, 'reportUri'],
  ['top-level unpinned', { unpinned: 'deny', hosts: { [HOST]: entry() } }, 'unpinned', 'settings.unpinned'],
  ['settings.unPinned', { settings: { unPinned: 'deny' }, hosts: { [HOST]: entry() } }, 'settings.unPinned', 'unpinned'],
  ['a pin\'s notes', { hosts: { [HOST]: { pins: [pki.intermediate.pin, { pin: pki.intermediate2.pin, status: 'backup', notes: 'safe 3' }] } } }, `hosts["${HOST}"].pins[1].notes`, 'note'],
  ['a pin status on the host entry', { hosts: { [HOST]: entry({ status: 'backup' }) } }, `hosts["${HOST}"].status`, 'hosts[…].pins[…].status'],
  ['settings.pinlevel', { settings: { pinlevel: 'leaf' }, hosts: {} }, 'settings.pinlevel', 'pinLevel'],
  ['hots', { hots: {}, hosts: {} }, 'hots', 'hosts'],
];

function assertTypo(error, where, suggestion) {
  assert.equal(error.code, 'ERR_CERTPIN_INVALID_CONFIG', error.stack);
  assert.match(error.message, new RegExp(`^(.*: )?${escape(where)}: unknown key `));
  assert.ok(error.message.includes(`did you mean ${suggestion}?`), error.message);
  assert.match(error.message, /"x-"/, 'the message says where annotations go');
  return true;
}

describe('createPolicy refuses unknown keys', () => {
  for (const [name, config, where, suggestion] of TYPOS) {
    test(name, () => {
      assert.throws(() => createPolicy(config), (error) => assertTypo(error, where, suggestion));
    });
  }

  test('a key near nothing known lists the known keys of its level', () => {
    assert.throws(() => createPolicy({ hosts: { [HOST]: entry({ colour: 'blue' }) } }), (error) => {
      assert.equal(error.code, 'ERR_CERTPIN_INVALID_CONFIG');
      assert.match(error.message, /^hosts\["api\.example\.com"\]\.colour: unknown key "colour" \(known keys here: pins, enforce, expires, reportUri, includeSubdomains, /);
      return true;
    });
  });

  test('policy.update refuses them too, leaving the policy in force', () => {
    const policy = createPolicy({ ca: pki.root.pem, hosts: { [HOST]: entry() } });
    const version = policy.version;
    assert.throws(() => policy.update({ ca: pki.root.pem, hosts: { [HOST]: entry({ enforse: false }) } }), (error) => assertTypo(error, `hosts["${HOST}"].enforse`, 'enforce'));
    assert.equal(policy.version, version);
    assert.equal(policy.rules[0].enforce, true);
  });

  test('an unknown option is a TypeError with the nearest option', () => {
    assert.throws(() => createPolicy({ hosts: {} }, { onViolaton: () => {} }), { name: 'TypeError', message: /unknown option "onViolaton" \(did you mean onViolation\?\)/ });
    assert.throws(() => createPolicy({ hosts: {} }, 'strict'), { name: 'TypeError', message: /options must be an object/ });
  });

  test('annotations are accepted at every level, with any JSON value, and kept in policy.config', () => {
    const config = {
      $schema: 'https://example.test/pins.schema.json',
      note: 'payments team',
      'x-owner': { team: 'payments', oncall: ['a', 'b'] },
      settings: { unpinned: 'allow', 'x-reviewed': '2026-11-01', note: 'defaults' },
      hosts: {
        [HOST]: {
          'x-ticket': 'SEC-42',
          note: 'the public API',
          pins: [
            { pin: pki.intermediate.pin, status: 'active', subject: 'CN=Int', firstSeen: '2026-01-01T00:00:00.000Z', lastSeen: '2026-02-01T00:00:00.000Z', 'x-seenBy': 'rotate@ci' },
            { pin: pki.intermediate2.pin, status: 'backup', note: 'offline key, safe 3', 'x-': null },
          ],
          port: 8443,
          lastChecked: '2026-02-01T00:00:00.000Z',
        },
      },
    };
    const policy = createPolicy(config);
    assert.equal(policy.config, config);
    assert.equal(policy.rules[0].pins[1].note, 'offline key, safe 3');
    assert.equal(policy.rules[0].pins[0]['x-seenBy'], 'rotate@ci');
  });

  test('annotations must be annotations: a note that is not text is refused', () => {
    assert.throws(() => createPolicy({ hosts: { [HOST]: entry({ note: 42 }) } }), { code: 'ERR_CERTPIN_INVALID_CONFIG', message: /^hosts\["api\.example\.com"\]\.note: expected a string, got 42/ });
  });
});

describe('the pin file refuses unknown keys', () => {
  let n = 0;
  const write = (document) => {
    const path = join(dir, `pins-${++n}.json`);
    writeFileSync(path, JSON.stringify(document, null, 2));
    return path;
  };

  for (const [name, config, where, suggestion] of TYPOS) {
    test(`loadPolicy: ${name}`, async () => {
      const path = write({ version: 1, ...config });
      await assert.rejects(loadPolicy(path), (error) => {
        assert.ok(error.message.startsWith(`${path}: `), error.message);
        return assertTypo(error, where, suggestion);
      });
    });
  }

  test('a ca or onViolation in the file is refused: the file cannot carry them, and a ca there was silently dropped', async () => {
    await assert.rejects(loadPolicy(write({ version: 1, ca: pki.root.pem, hosts: {} })), {
      code: 'ERR_CERTPIN_INVALID_CONFIG',
      message: /: ca: not part of the pin file, and never read from it: give loadPolicy its ca option, or name a PEM bundle in settings\.caFile/,
    });
    await assert.rejects(loadPolicy(write({ version: 1, onViolation: 'log', hosts: {} })), { code: 'ERR_CERTPIN_INVALID_CONFIG', message: /: onViolation: not part of the pin file/ });
  });

  test('the fields tooling writes are known: $schema, port, lastChecked, probeHost, subject, firstSeen, lastSeen, caFile', async () => {
    const caPath = join(dir, 'root.pem');
    writeFileSync(caPath, pki.root.pem);
    const path = write({
      $schema: './node_modules/certpin/schema/pins.schema.json',
      version: 1,
      settings: { unpinned: 'allow', pinLevel: 'intermediate', expireUnseenAfterDays: 90, caFile: 'root.pem' },
      hosts: {
        '*.example.com': {
          port: 443,
          probeHost: 'www.example.com',
          lastChecked: '2026-11-28T10:00:00.000Z',
          pins: [
            { pin: pki.intermediate.pin, status: 'active', subject: 'CN=Int', firstSeen: '2026-01-01T00:00:00.000Z', lastSeen: '2026-11-28T10:00:00.000Z' },
            { pin: pki.intermediate2.pin, status: 'backup', note: 'offline key' },
          ],
        },
      },
    });
    // settings.caFile is the trust store: loadPolicy refuses a ca option beside it.
    const policy = await loadPolicy(path);
    assert.equal(policy.rules.length, 1);
    policy.close();
  });
});

describe('certpin/register refuses unknown keys', () => {
  test('a misspelled key stops the process before the application runs, naming file, key and fix', async (t) => {
    const appDir = mkdtempSync(join(tmpdir(), 'certpin-hook-'));
    t.after(() => rmSync(appDir, { recursive: true, force: true }));
    const pinFile = join(appDir, 'pins.json');
    writePinFile(pinFile, { version: 1, settings: { unPinned: 'deny' }, hosts: { [HOST]: entry() } });
    const env = { ...process.env, CERTPIN_CONFIG: pinFile };
    delete env.NODE_TEST_CONTEXT;
    delete env.NODE_OPTIONS;
    const outcome = await run(process.execPath, ['--import', REGISTER, '-e', 'console.log("the application ran")'], { cwd: appDir, env }).then(
      () => ({ code: 0, stdout: 'the application ran', stderr: '' }),
      (error) => error,
    );
    assert.equal(outcome.code, 78, outcome.stderr);
    assert.equal(outcome.stdout, '');
    assert.match(outcome.stderr, /^certpin: invalid pin file \(CERTPIN_CONFIG\): .*pins\.json: settings\.unPinned: unknown key "unPinned" \(did you mean unpinned\?\)/);
  });
});
