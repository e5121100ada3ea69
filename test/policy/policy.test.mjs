// The policy: validation, matching, unpinned hosts, expiry, report-only, mismatch errors (docs/guarantees.md C4, 4, 6).
import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { createPolicy, PinMismatchError } from 'certpin';
import { makePki } from '../support/pki.mjs';

const pki = await makePki();
const chain = [pki.leaf.cert, pki.intermediate.cert];
const ca = [pki.root.pem];
const policyOf = (hosts, extra = {}) => createPolicy({ ca, hosts, ...extra });

test('a chain carrying a trusted pin passes; leaf, intermediate and root pins all count', () => {
  for (const entry of [pki.leaf, pki.intermediate, pki.root]) {
    const result = policyOf({ 'api.example.test': { pins: [entry.pin] } }).check('api.example.test', chain);
    assert.equal(result.ok, true, entry.name);
    assert.equal(result.outcome, 'pinned');
    assert.equal(result.matchedPin, entry.pin);
  }
});

test('only active and backup pins are trusted', () => {
  for (const status of ['pending_review', 'rejected', 'expired']) {
    const result = policyOf({ 'api.example.test': { pins: [{ pin: pki.intermediate.pin, status }, pki.intermediate2.pin] } }).check('api.example.test', chain);
    assert.equal(result.ok, false, status);
  }
  const backup = policyOf({ 'api.example.test': { pins: [pki.intermediate2.pin, { pin: pki.intermediate.pin, status: 'backup' }] } });
  assert.equal(backup.check('api.example.test', chain).ok, true);
});

test('the union of the pins of every matching pattern applies', () => {
  const policy = policyOf({
    'api.example.test': { pins: [pki.intermediate2.pin] },
    '*.example.test': { pins: [pki.intermediate.pin] },
    '**.test': { pins: [pki.rogueRoot.pin] },
  });
  const result = policy.check('API.example.test.', chain);
  assert.equal(result.ok, true);
  assert.deepEqual(new Set(result.expectedPins), new Set([pki.intermediate2.pin, pki.intermediate.pin, pki.rogueRoot.pin]));
  assert.equal(policy.check('other.example.test', chain).ok, true);
  assert.equal(policyOf({ 'api.example.test': { pins: [pki.intermediate2.pin] } }).check('api.example.test', chain).ok, false);
});

test('includeSubdomains is the same as also listing **.host', () => {
  const policy = policyOf({ 'example.test': { pins: [pki.intermediate2.pin], includeSubdomains: true } });
  assert.equal(policy.check('a.b.example.test', chain).outcome, 'mismatch');
  assert.equal(policyOf({ 'example.test': { pins: [pki.intermediate2.pin] } }).check('a.b.example.test', chain).outcome, 'unpinned');
});

test('hostname normalisation: case, trailing dot, IDN, IPv6', () => {
  const policy = policyOf({ 'bücher.example.test': { pins: [pki.intermediate2.pin] }, '::1': { pins: [pki.intermediate2.pin] } });
  for (const host of ['Bücher.Example.Test.', 'xn--bcher-kva.example.test', 'XN--BCHER-KVA.EXAMPLE.TEST']) {
    assert.equal(policy.check(host, chain).outcome, 'mismatch', host);
  }
  assert.equal(policy.check('[0:0:0:0:0:0:0:1]', chain).outcome, 'mismatch');
});

test('unpinned hosts: allowed by default, refused with unpinned: deny', () => {
  const hosts = { 'api.example.test': { pins: [pki.intermediate.pin] } };
  const allowed = policyOf(hosts).check('other.test', chain);
  assert.equal(allowed.ok, true);
  assert.equal(allowed.outcome, 'unpinned');
  assert.equal(allowed.violation, false);
  const denied = policyOf(hosts, { settings: { unpinned: 'deny' } }).check('other.test', chain);
  assert.equal(denied.ok, false);
  assert.equal(denied.outcome, 'unpinned-denied');
  assert.equal(denied.error.code, 'ERR_CERTPIN_UNPINNED_HOST');
  assert.match(denied.error.message, /other\.test/);
});

test('expires: a bare date is enforced to the end of that day (UTC), then the host runs unpinned and is reported', (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: Date.parse('2030-06-30T23:59:59.000Z') });
  const policy = policyOf({ 'api.example.test': { pins: [pki.intermediate2.pin], expires: '2030-06-30' } });
  const before = policy.check('api.example.test', chain);
  assert.equal(before.ok, false);
  assert.equal(before.outcome, 'mismatch');
  t.mock.timers.tick(2000);
  const after = policy.check('api.example.test', chain);
  assert.equal(after.ok, true);
  assert.equal(after.outcome, 'pins-expired');
  assert.equal(after.violation, true, 'enforcement never ends silently');
  assert.equal(after.enforced, false);
});

test('expires with a date-time is taken as written', () => {
  const past = policyOf({ 'api.example.test': { pins: [pki.intermediate2.pin], expires: '2000-01-01T00:00:00Z' } });
  assert.equal(past.check('api.example.test', chain).outcome, 'pins-expired');
  const future = policyOf({ 'api.example.test': { pins: [pki.intermediate2.pin], expires: '2999-01-01T00:00:00Z' } });
  assert.equal(future.check('api.example.test', chain).outcome, 'mismatch');
});

test('report-only (enforce: false): a mismatch is allowed but reported with its error', () => {
  const result = policyOf({ 'api.example.test': { pins: [pki.intermediate2.pin], enforce: false } }).check('api.example.test', chain);
  assert.equal(result.ok, true);
  assert.equal(result.outcome, 'mismatch');
  assert.equal(result.enforced, false);
  assert.equal(result.violation, true);
  assert.ok(result.error instanceof PinMismatchError);
});

test('mismatch error: hostname, peer pins leaf first, expected pins, and the message of the PinMismatchError layout', () => {
  const backup = pki.rogueRoot.pin;
  const result = policyOf({ 'api.example.test': { pins: [pki.intermediate2.pin, { pin: backup, status: 'backup' }] } }).check('API.Example.Test', chain);
  const error = result.error;
  assert.ok(error instanceof PinMismatchError);
  assert.equal(error.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(error.hostname, 'api.example.test');
  assert.deepEqual(error.peerPins.map((p) => p.pin), [pki.leaf.pin, pki.intermediate.pin, pki.root.pin]);
  assert.deepEqual(error.expectedPins, [pki.intermediate2.pin, backup]);
  assert.equal(error.message, [
    'Certificate pinning failure for api.example.test',
    '  Peer certificate chain:',
    `    ${pki.leaf.pin} ${error.peerPins[0].subject}`,
    `    ${pki.intermediate.pin} ${error.peerPins[1].subject}`,
    `    ${pki.root.pin} ${error.peerPins[2].subject}`,
    '  Pinned certificates for api.example.test:',
    `    ${pki.intermediate2.pin}`,
    `    ${backup}`,
  ].join('\n'));
  assert.match(error.peerPins[0].subject, /CN=api\.example\.test/);
  assert.match(error.peerPins[1].subject, /CN=certpin Test Intermediate/);
});

test('validation errors name the field and the value at fault', () => {
  const cases = [
    [{ 'api.example.com': { pins: [pki.leaf.pin, pki.root.pin, { pin: 'sha256/abc', status: 'backup' }] } }, /^hosts\["api\.example\.com"\]\.pins\[2\]\.pin: .*"sha256\/abc"/],
    [{ 'api.example.com': { pins: [pki.leaf.pin, pki.root.pin, 'sha256/abc'] } }, /^hosts\["api\.example\.com"\]\.pins\[2\](\.pin)?: .*"sha256\/abc"/],
    [{ 'api.example.com': { pins: [{ pin: 'sha1/AAAA', status: 'active' }] } }, /^hosts\["api\.example\.com"\]\.pins\[0\]\.pin: /],
    [{ 'api.example.com': { pins: [{ pin: pki.leaf.pin, status: 'trusted' }] } }, /^hosts\["api\.example\.com"\]\.pins\[0\]\.status: .*"trusted"/],
    [{ 'api.example.com': { pins: [pki.leaf.pin, pki.leaf.pin] } }, /^hosts\["api\.example\.com"\]\.pins\[1\]\.pin: /],
    [{ 'api.example.com': { pins: [pki.leaf.pin], enforce: 'yes' } }, /^hosts\["api\.example\.com"\]\.enforce: /],
    [{ 'api.example.com': { pins: [pki.leaf.pin], expires: 'next year' } }, /^hosts\["api\.example\.com"\]\.expires: .*"next year"/],
    [{ 'api.example.com': { pins: 'sha256/x' } }, /^hosts\["api\.example\.com"\]\.pins: /],
    [{ 'api.*.com': { pins: [pki.leaf.pin] } }, /^hosts\["api\.\*\.com"\]: /],
  ];
  for (const [hosts, message] of cases) {
    assert.throws(() => createPolicy({ hosts }), (error) => {
      assert.equal(error.code, 'ERR_CERTPIN_INVALID_CONFIG');
      assert.match(error.message, message);
      return true;
    });
  }
  assert.throws(() => createPolicy({ hosts: {}, settings: { unpinned: 'maybe' } }), { code: 'ERR_CERTPIN_INVALID_CONFIG', message: /^settings\.unpinned: / });
});

test('a reportUri under the same host entry is refused', () => {
  const refused = [
    ['api.example.com', 'https://api.example.com/report'],
    ['*.example.com', 'https://reports.example.com/pin'],
    ['**.example.com', 'https://example.com/pin'],
    ['example.com', 'https://reports.example.com/pin', true],
  ];
  for (const [pattern, reportUri, includeSubdomains] of refused) {
    assert.throws(() => createPolicy({ hosts: { [pattern]: { pins: [pki.leaf.pin], reportUri, ...(includeSubdomains ? { includeSubdomains } : {}) } } }), {
      code: 'ERR_CERTPIN_INVALID_CONFIG',
      message: new RegExp(`^hosts\\["${pattern.replace(/[.*]/g, '\\$&')}"\\]\\.reportUri: `),
    }, `${pattern} ${reportUri}`);
  }
  assert.doesNotThrow(() => createPolicy({ hosts: { 'api.example.com': { pins: [pki.leaf.pin], reportUri: 'https://reports.example.net/pin' } } }));
});

test('update swaps atomically and bumps the version; an invalid update leaves the policy as it was', () => {
  const policy = policyOf({ 'api.example.test': { pins: [pki.intermediate.pin] } });
  const v = policy.version;
  assert.throws(() => policy.update({ ca, hosts: { 'api.example.test': { pins: ['nope'] } } }), { code: 'ERR_CERTPIN_INVALID_CONFIG' });
  assert.equal(policy.version, v);
  assert.equal(policy.check('api.example.test', chain).ok, true);
  policy.update({ ca, hosts: { 'api.example.test': { pins: [pki.intermediate2.pin] } } });
  assert.equal(policy.version, v + 1);
  assert.equal(policy.check('api.example.test', chain).ok, false);
});

test('check is pure: it does not call onViolation', () => {
  const onViolation = mock.fn();
  const policy = createPolicy({ ca, hosts: { 'api.example.test': { pins: [pki.intermediate2.pin] } } }, { onViolation });
  assert.equal(policy.check('api.example.test', chain).violation, true);
  assert.equal(onViolation.mock.callCount(), 0);
});
