// One error shape per failure: a misused argument is a TypeError naming the call, a missing pin file
// is the same CertpinError whoever reads it, a held lock has a code of the union, and
// isCertpinError recognises them by code (so across two copies of the package too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import axios from 'axios';
import { CertpinError, isCertpinError, lintPinFile, loadPolicy, pinnedAgent, pinnedAxiosConfig, pinnedDispatcher, pinnedFetch, pinnedGotOptions, pinnedProxyAgent, pinnedTlsOptions, readPinFile } from 'certpin';

const NOT_POLICIES = [undefined, null, {}, 'pins.json', { hosts: {} }];

test('every pinned transport refuses what is not a policy, naming the call', () => {
  const calls = {
    pinnedAgent: (p) => pinnedAgent(p),
    pinnedDispatcher: (p) => pinnedDispatcher(p),
    pinnedFetch: (p) => pinnedFetch(p),
    pinnedTlsOptions: (p) => pinnedTlsOptions(p),
    pinnedGotOptions: (p) => pinnedGotOptions(p),
    pinnedAxiosConfig: (p) => pinnedAxiosConfig(p, axios),
    pinnedProxyAgent: (p) => pinnedProxyAgent(p, false),
  };
  for (const [name, call] of Object.entries(calls)) {
    for (const value of NOT_POLICIES) {
      assert.throws(() => call(value), { name: 'TypeError', message: new RegExp(`expects a policy from createPolicy\\(\\) or loadPolicy\\(\\)`) }, `${name}(${String(value)})`);
    }
  }
  assert.throws(() => pinnedDispatcher({}), { message: /^pinnedDispatcher expects a policy/ });
});

test('a missing pin file is one CertpinError for loadPolicy, readPinFile and lintPinFile', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'certpin-errors-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const missing = join(dir, 'pins.json');
  for (const read of [() => loadPolicy(missing), () => readPinFile(missing), () => lintPinFile(missing)]) {
    await assert.rejects(read(), (error) => {
      assert.ok(error instanceof CertpinError, String(error));
      assert.equal(error.code, 'ERR_CERTPIN_INVALID_INPUT');
      assert.match(error.message, /^cannot read .*pins\.json: no such file$/);
      assert.equal(error.cause?.code, 'ENOENT');
      return true;
    });
  }
});

test('isCertpinError knows every code by its value, not by its class', () => {
  const foreign = Object.assign(new Error('from another copy of certpin'), { code: 'ERR_CERTPIN_LOCKED' });
  assert.equal(isCertpinError(foreign), true);
  assert.equal(isCertpinError(foreign, 'ERR_CERTPIN_LOCKED'), true);
  assert.equal(isCertpinError(foreign, 'ERR_CERTPIN_MISMATCH'), false);
  assert.equal(isCertpinError(Object.assign(new Error('x'), { code: 'ELOCKED' })), false);
  assert.equal(isCertpinError({ code: 'ERR_CERTPIN_MISMATCH' }), false, 'not an Error');
});
