// Each lint rule on its own (src/ops/lint.ts ENTRY_RULES): one entry it fires on, one it passes.
// lintPolicy's tests (test/ops/lint.test.mjs) cover the rules together, and live probes of real servers.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ENTRY_RULES, entryContext } from '../../../build/src/ops/lint.js';
import { validateConfig } from '../../../build/src/policy/config.js';
import { lintPolicy } from 'certpin';

const pinOf = (byte) => `sha256/${Buffer.alloc(32, byte).toString('base64')}`;
const A = pinOf(1);
const B = pinOf(2);
const C = pinOf(3);
const NOW = Date.parse('2026-03-01T00:00:00Z');
const GOOD = { pins: [{ pin: A, status: 'active' }, { pin: B, status: 'backup' }], expires: '2026-12-31' };
/** What a probe of the entry found: a proven chain (leaf first), or a failure. */
const proven = (...pins) => ({ target: 'api.example.com:443', host: 'api.example.com', port: 443, trusted: true, error: null, chain: pins.map((pin, i) => ({ role: i === 0 ? 'leaf' : 'intermediate', pin })), unproven: [] });
const failed = (error) => ({ target: 'api.example.com:443', host: 'api.example.com', port: 443, trusted: false, error, chain: [], unproven: [] });

/** The problems one rule finds in one entry, as lintEntry would hand it the entry. */
function check(id, entry, { key = 'api.example.com', live, ...options } = {}) {
  const rule = ENTRY_RULES.find((r) => r.id === id);
  assert.ok(rule, `no rule ${id}`);
  const [hostRule] = validateConfig({ hosts: { [key]: entry } }).rules;
  const lintOptions = { configPath: 'conf/pins.json', ...options };
  if (live !== undefined) lintOptions.live = new Map([[key, live]]);
  return rule.check(entryContext(hostRule, lintOptions, NOW));
}

test('the table lists each rule once, in the order lintPolicy reports them, with its severity', () => {
  assert.deepEqual(ENTRY_RULES.map((r) => [r.id, r.severity]), [
    ['no-trusted-pin', 'warning'], ['too-few-pins', 'warning'], ['no-pin-outside-chain', 'warning'], ['no-backup', 'warning'],
    ['live-probe-failed', 'warning'], ['live-mismatch', 'warning'], ['report-only', 'info'],
    ['expires-past', 'warning'], ['expires-soon', 'info'], ['expires-far', 'warning'], ['leaf-pin', 'warning'], ['public-suffix', 'warning'],
  ]);
});

test('the findings of one entry come in table order, after its malformed pins', () => {
  const findings = lintPolicy({ hosts: { '**.com': { pins: ['sha256/abc', { pin: A, status: 'active', subject: 'CN=www.example.com' }], enforce: false, expires: '2026-02-01' } } }, { now: NOW });
  assert.deepEqual(findings.map((f) => [f.rule, f.severity]), [
    ['malformed-pin', 'warning'], ['too-few-pins', 'warning'], ['report-only', 'info'], ['expires-past', 'warning'], ['leaf-pin', 'warning'], ['public-suffix', 'warning'],
  ]);
});

describe('each rule on its own', () => {
  test('no-trusted-pin: no active or backup pin', () => {
    const [problem, ...more] = check('no-trusted-pin', { pins: [{ pin: A, status: 'pending_review' }] });
    assert.deepEqual(more, []);
    assert.equal(problem.message, 'api.example.com has only pending_review pins, none of them trusted (only active and backup are): every connection to api.example.com is refused (unless another entry covering it has trusted pins)');
    assert.equal(problem.fix, 'approve the pin the server uses (`certpin approve api.example.com PIN --config conf/pins.json`) and pin a backup key: certpin keygen --type ec-p256 --out backup.key --config conf/pins.json --host api.example.com');
    assert.match(check('no-trusted-pin', { pins: [], enforce: false })[0].message, /has no pins, .*report-only host it goes ahead anyway/);
    assert.deepEqual(check('no-trusted-pin', { pins: [A] }), []);
  });

  test('too-few-pins: exactly one trusted pin', () => {
    assert.deepEqual(check('too-few-pins', { pins: [A, { pin: B, status: 'rejected' }] }).map((p) => p.message), [
      'api.example.com has only one trusted pin; one key change (a renewal with a new key, a new CA, a compromise) locks clients out',
    ]);
    assert.deepEqual(check('too-few-pins', { pins: [A, B] }), []);
    assert.deepEqual(check('too-few-pins', { pins: [] }), [], 'no trusted pin at all is no-trusted-pin');
  });

  test('no-pin-outside-chain: with a live chain, every trusted pin is in it', () => {
    assert.equal(check('no-pin-outside-chain', GOOD, { live: proven(C, A, B) }).length, 1);
    assert.deepEqual(check('no-pin-outside-chain', GOOD, { live: proven(C, A) }), []);
    assert.deepEqual(check('no-pin-outside-chain', GOOD), [], 'without a live chain it cannot tell');
    assert.deepEqual(check('no-pin-outside-chain', GOOD, { live: { ...proven(A, B), trusted: false } }), [], 'an unproven chain does not count');
  });

  test('no-backup: two trusted pins, none of them "backup", and no live chain to judge by', () => {
    assert.deepEqual(check('no-backup', { pins: [A, B] }).map((p) => p.fix), ['generate an offline backup key and pin it: certpin keygen --type ec-p256 --out backup.key --config conf/pins.json --host api.example.com']);
    assert.deepEqual(check('no-backup', GOOD), []);
    assert.deepEqual(check('no-backup', { pins: [A, B] }, { live: proven(C) }), [], 'with a live chain no-pin-outside-chain decides');
    assert.deepEqual(check('no-backup', { pins: [A] }), [], 'one trusted pin is too-few-pins');
  });

  test('live-probe-failed: the probe did not prove a chain', () => {
    assert.deepEqual(check('live-probe-failed', GOOD, { live: failed('connect ECONNREFUSED 127.0.0.1:443') }), [{
      message: 'api.example.com: api.example.com:443: connect ECONNREFUSED 127.0.0.1:443',
      fix: 'check that api.example.com:443 is reachable and valid (`certpin pins api.example.com:443`), or pass --ca/--resolve',
    }]);
    assert.match(check('live-probe-failed', GOOD, { live: failed(null) })[0].message, /the chain did not pass validation$/);
    assert.deepEqual(check('live-probe-failed', GOOD, { live: proven(A) }), []);
    assert.deepEqual(check('live-probe-failed', GOOD, { live: null }), [], 'an entry that was not probed');
  });

  test('live-mismatch: no trusted pin in the proven chain', () => {
    assert.deepEqual(check('live-mismatch', GOOD, { live: proven(C) }).map((p) => p.message), ['no trusted pin of api.example.com is in its live chain: pinned clients fail against it now']);
    assert.deepEqual(check('live-mismatch', GOOD, { live: proven(C, B) }), []);
    assert.deepEqual(check('live-mismatch', GOOD, { live: failed('timeout') }), [], 'a failed probe is live-probe-failed');
  });

  test('report-only: "enforce": false, naming where the reports go', () => {
    assert.match(check('report-only', { ...GOOD, enforce: false, reportUri: 'https://r.example.net/p' })[0].message, /runs unpinned; violations are reported to https:\/\/r\.example\.net\/p$/);
    assert.deepEqual(check('report-only', { ...GOOD, enforce: true }), []);
  });

  test('expires-past: expires before now', () => {
    assert.deepEqual(check('expires-past', { ...GOOD, expires: '2026-02-28' }), [{
      message: 'the pins of api.example.com expired on 2026-02-28: they are no longer enforced and every connection runs unpinned',
      fix: 'check the pins, then move "expires" forward (at most a year, e.g. "2026-08-28")',
    }]);
    assert.deepEqual(check('expires-past', { ...GOOD, expires: '2026-03-01' }), [], 'expiring today is not past yet');
  });

  test('expires-soon: within 30 days', () => {
    assert.deepEqual(check('expires-soon', { ...GOOD, expires: '2026-03-02' }).map((p) => p.message), ['the pins of api.example.com expire on 2026-03-02, in 1 day: after that the host runs unpinned']);
    assert.deepEqual(check('expires-soon', { ...GOOD, expires: '2026-03-31' }), []);
    assert.deepEqual(check('expires-soon', { ...GOOD, expires: '2026-02-28' }), [], 'past is expires-past');
  });

  test('expires-far: further away than maxExpiresDays, and not soon', () => {
    assert.deepEqual(check('expires-far', { ...GOOD, expires: '2027-03-03' }).map((p) => p.message), ['the pins of api.example.com expire on 2027-03-03, more than 366 days away: clients that cannot be updated stay pinned that long']);
    assert.deepEqual(check('expires-far', { ...GOOD, expires: '2027-03-01' }), []);
    assert.equal(check('expires-far', { ...GOOD, expires: '2026-06-01' }, { maxExpiresDays: 60 }).length, 1);
    assert.deepEqual(check('expires-far', { ...GOOD, expires: '2026-03-20' }, { maxExpiresDays: 10 }), [], 'within 30 days is expires-soon');
    assert.deepEqual(check('expires-far', { pins: GOOD.pins }), [], 'no expires');
  });

  test('leaf-pin: a pin of the server\'s own key, by subject or live role, and no backup key held', () => {
    const pins = [{ pin: A, status: 'active', subject: 'CN=api.example.com, O=Example' }, { pin: B, status: 'active', subject: 'CN=Example CA' }, { pin: C, status: 'active' }];
    assert.deepEqual(check('leaf-pin', { pins }).map((p) => p.message), [
      `api.example.com pins the server's own certificate key ${A} (CN=api.example.com, O=Example), and no backup key is held for it: a server you do not run can change that key at any renewal`,
    ]);
    assert.deepEqual(check('leaf-pin', { pins }, { live: proven(C, B) }).map((p) => / key (sha256\/[^ ,(]+)/.exec(p.message)[1]), [A, C], 'one finding per leaf pin, in pin order');
    assert.deepEqual(check('leaf-pin', { pins: [...pins, { pin: pinOf(4), status: 'backup' }] }), [], 'a backup key is held');
    assert.deepEqual(check('leaf-pin', { pins: [{ pin: A, status: 'active', subject: 'CN=other.example.org' }, B] }), []);
  });

  test('public-suffix: a wildcard or includeSubdomains on a public suffix', () => {
    assert.deepEqual(check('public-suffix', GOOD, { key: '*.co.uk' }), [{
      message: '*.co.uk: the pattern *.co.uk covers every site under the public suffix "co.uk", most of them not yours',
      fix: 'pin the domains you mean, e.g. "**.example.co.uk", and drop the wildcard',
    }]);
    assert.match(check('public-suffix', { ...GOOD, includeSubdomains: true }, { key: 'github.io' })[0].fix, /drop includeSubdomains$/);
    assert.deepEqual(check('public-suffix', GOOD, { key: 'github.io' }), [], 'the exact name alone');
    assert.deepEqual(check('public-suffix', GOOD, { key: '**.example.co.uk' }), []);
  });
});
