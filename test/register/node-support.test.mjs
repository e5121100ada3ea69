// Which Nodes can run certpin/register (docs/register.md): its heavy parts load at the first TLS
// connection through require() of ES modules, so a Node without it is refused at start, with a
// message, rather than failing at that connection. Decided from what Node says, or from its version
// where it does not say (before 22.10).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { canLoadLater } from '../../build/src/register/load-sync.js';

const node = (version, features = {}, flags = '') => ({ version, features, flags });

test('what process.features says is taken as said', () => {
  assert.equal(canLoadLater(node('22.10.0', { require_module: false })), false);
  assert.equal(canLoadLater(node('22.11.0', { require_module: true })), true);
  assert.equal(canLoadLater(node('24.22.3', { require_module: true })), true);
  assert.equal(canLoadLater(node('20.20.2', { require_module: false })), false, '--no-experimental-require-module');
});

test('before Node said: on in 20.19+, off in 22.0-22.11 unless --experimental-require-module', () => {
  assert.equal(canLoadLater(node('20.19.0')), true);
  assert.equal(canLoadLater(node('20.18.1')), false);
  assert.equal(canLoadLater(node('22.9.0')), false);
  assert.equal(canLoadLater(node('22.9.0', {}, '--experimental-require-module --import certpin/register')), true);
  assert.equal(canLoadLater(node('22.9.0', {}, '--experimental-require-modules')), false, 'only the flag itself');
  assert.equal(canLoadLater(node('22.12.0')), true);
});

test('this Node, which CI runs (20.19+, 22.12+, 24), can', () => {
  assert.equal(canLoadLater(), true);
});
