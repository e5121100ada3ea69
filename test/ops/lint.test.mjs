// Lint (docs/policy.md, 9): what is legal in a pin file but dangerous, each finding with a one-line fix.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isPublicSuffix, lintPinFile, lintPolicy } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startTlsServer } from '../support/servers.mjs';

const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-lint-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const NOW = Date.parse('2026-03-01T00:00:00Z');
const A = pki.intermediate.pin;
const B = pki.intermediate2.pin;
const GOOD = { pins: [{ pin: A, status: 'active' }, { pin: B, status: 'backup' }], expires: '2026-12-31' };
const rulesOf = (findings) => findings.map((f) => `${f.host}:${f.rule}`).sort();
const lint = (hosts, options = {}) => lintPolicy({ version: 1, hosts }, { now: NOW, ...options });

describe('lintPolicy', () => {
  test('a good entry has no findings; every finding carries a one-line fix', () => {
    assert.deepEqual(lint({ 'api.example.com': GOOD }), []);
    const findings = lint({ 'a.example.com': { pins: [A] }, '**.com': { pins: ['sha256/abc'] } });
    assert.ok(findings.length > 0);
    for (const f of findings) {
      assert.ok(f.fix.length > 0 && !f.fix.includes('\n'), JSON.stringify(f));
      assert.ok(!f.message.includes('\n'), JSON.stringify(f));
    }
  });

  test('fewer than two trusted pins, and no backup pin', () => {
    const findings = lint({
      'one.example.com': { pins: [A], expires: '2026-12-31' },
      'pending.example.com': { pins: [A, { pin: B, status: 'pending_review' }], expires: '2026-12-31' },
      'two-active.example.com': { pins: [A, B], expires: '2026-12-31' },
    });
    assert.deepEqual(rulesOf(findings), ['one.example.com:too-few-pins', 'pending.example.com:too-few-pins', 'two-active.example.com:no-backup']);
    assert.match(findings.find((f) => f.host === 'one.example.com').fix, /certpin keygen --type ec-p256 .*--host one\.example\.com/);
  });

  test('malformed pins are reported one by one, quoting the input; the rest of the entry is still checked', () => {
    const findings = lint({ 'api.example.com': { pins: [A, 'sha256/abc', { pin: 'sha1/AAAA', status: 'backup' }, { pin: B, status: 'backup' }], expires: '2026-12-31' } });
    assert.deepEqual(rulesOf(findings), ['api.example.com:malformed-pin', 'api.example.com:malformed-pin']);
    assert.match(findings[0].message, /pins\[1\].*"sha256\/abc"/);
    assert.match(findings[1].message, /pins\[2\].*SHA-1/);
  });

  test('expires in the past or more than a year ahead', () => {
    const findings = lint({
      'old.example.com': { ...GOOD, expires: '2026-02-27' },
      'far.example.com': { ...GOOD, expires: '2028-01-01' },
      'ok.example.com': { ...GOOD, expires: '2027-02-28' },
    });
    assert.deepEqual(rulesOf(findings), ['far.example.com:expires-far', 'old.example.com:expires-past']);
    assert.match(findings.find((f) => f.rule === 'expires-past').message, /2026-02-27.*no longer enforced/);
    // within 30 days: an info finding, the host is about to run unpinned
    const soon = lint({ 'soon.example.com': { ...GOOD, expires: '2026-03-20' }, 'today.example.com': { ...GOOD, expires: '2026-03-01' } });
    assert.deepEqual(soon.map((f) => [f.host, f.rule, f.severity]), [['soon.example.com', 'expires-soon', 'info'], ['today.example.com', 'expires-soon', 'info']]);
    assert.match(soon[0].message, /expire on 2026-03-20, in 19 days: after that the host runs unpinned/);
    assert.match(soon[1].message, /in less than a day/);
  });

  test('leaf pins without a backup key held, by stored subject', () => {
    const findings = lint({
      'api.example.com': { pins: [{ pin: A, status: 'active', subject: 'CN=api.example.com, O=Example' }, { pin: B, status: 'active', subject: 'CN=Example CA' }], expires: '2026-12-31' },
      '*.example.org': { pins: [{ pin: A, status: 'active', subject: 'CN=*.example.org' }, { pin: B, status: 'active', subject: 'CN=www.example.org' }], expires: '2026-12-31' },
      'own.example.net': { pins: [{ pin: A, status: 'active', subject: 'CN=own.example.net' }, { pin: B, status: 'backup' }], expires: '2026-12-31' },
    });
    assert.deepEqual(rulesOf(findings), [
      '*.example.org:leaf-pin', '*.example.org:leaf-pin', '*.example.org:no-backup', 'api.example.com:leaf-pin', 'api.example.com:no-backup',
    ]);
  });

  test('includeSubdomains, *. or **. on a public suffix', () => {
    const findings = lint({
      '**.com': GOOD,
      '*.co.uk': GOOD,
      'github.io': { ...GOOD, includeSubdomains: true },
      'com': GOOD,
      '**.example.co.uk': GOOD,
    });
    assert.deepEqual(rulesOf(findings), ['**.com:public-suffix', '*.co.uk:public-suffix', 'github.io:public-suffix']);
    assert.equal(isPublicSuffix('com'), true);
    assert.equal(isPublicSuffix('herokuapp.com'), true);
    assert.equal(isPublicSuffix('example.com'), false);
  });

  test('invalid fields and patterns are findings; a document without hosts is an error', () => {
    const findings = lint({ 'a*.example.com': GOOD, 'port.example.com': { ...GOOD, port: 70000 }, 'x.example.com': 'nope' });
    assert.deepEqual(rulesOf(findings), ['a*.example.com:invalid-entry', 'port.example.com:invalid-entry', 'x.example.com:invalid-entry']);
    assert.match(findings.find((f) => f.host === 'port.example.com').message, /port.*70000/);
    assert.throws(() => lintPolicy({ pins: [] }), { code: 'ERR_CERTPIN_INVALID_CONFIG' });
    assert.throws(() => lintPolicy([]), { code: 'ERR_CERTPIN_INVALID_CONFIG' });
  });
});

describe('lintPolicy: every configuration that runs a pinned host unpinned', () => {
  test('each unknown key is a finding of its own, with where it is and the nearest known key; the rest is still linted', () => {
    const findings = lintPolicy({
      version: 1,
      unpinned: 'deny',
      settings: { unPinned: 'deny', 'x-reviewed': true },
      hosts: {
        'api.example.com': { ...GOOD, includeSubdomain: true, enforse: false, 'x-ticket': 'SEC-1', note: 'public API' },
        'b.example.com': { ...GOOD, include_subdomains: true, reportURI: 'https://r.example.net/', pins: [A, { pin: B, status: 'backup', notes: 'safe 3' }] },
        'c.example.com': { pins: [A], colour: 'blue', expires: '2026-12-31' },
      },
    }, { now: NOW });
    const unknown = findings.filter((f) => f.rule === 'unknown-key');
    assert.deepEqual(unknown.map((f) => [f.host, f.message.split(':')[0], f.fix]), [
      [null, 'unpinned', 'rename it to settings.unpinned'],
      [null, 'settings.unPinned', 'rename it to unpinned'],
      ['api.example.com', 'hosts["api.example.com"].includeSubdomain', 'rename it to includeSubdomains'],
      ['api.example.com', 'hosts["api.example.com"].enforse', 'rename it to enforce'],
      ['b.example.com', 'hosts["b.example.com"].include_subdomains', 'rename it to includeSubdomains'],
      ['b.example.com', 'hosts["b.example.com"].reportURI', 'rename it to reportUri'],
      ['b.example.com', 'hosts["b.example.com"].pins[1].notes', 'rename it to note'],
      ['c.example.com', 'hosts["c.example.com"].colour', 'remove it, or rename it "x-colour" if it is your own annotation'],
    ]);
    assert.ok(unknown.every((f) => f.severity === 'warning'));
    // c.example.com's single pin is still found, despite its unknown key
    assert.ok(findings.some((f) => f.host === 'c.example.com' && f.rule === 'too-few-pins'));
  });

  test('no trusted pin at all: only pending_review, rejected or expired pins, or none', () => {
    const findings = lint({
      'pending.example.com': { pins: [{ pin: A, status: 'pending_review' }, { pin: B, status: 'rejected' }], expires: '2026-12-31' },
      'empty.example.com': { pins: [], expires: '2026-12-31' },
      'quiet.example.com': { pins: [{ pin: A, status: 'expired' }], enforce: false, expires: '2026-12-31' },
    });
    assert.deepEqual(rulesOf(findings), ['empty.example.com:no-trusted-pin', 'pending.example.com:no-trusted-pin', 'quiet.example.com:no-trusted-pin', 'quiet.example.com:report-only']);
    assert.match(findings.find((f) => f.host === 'pending.example.com').message, /only pending_review\/rejected pins, none of them trusted .*every connection to pending\.example\.com is refused/);
    assert.match(findings.find((f) => f.host === 'quiet.example.com' && f.rule === 'no-trusted-pin').message, /report-only host it goes ahead anyway: it runs unpinned/);
  });

  test('report-only hosts are an info finding that names where the reports go', () => {
    const findings = lint({
      'a.example.com': { ...GOOD, enforce: false },
      'b.example.com': { ...GOOD, enforce: false, reportUri: 'https://reports.example.net/pin' },
      'c.example.com': { ...GOOD, enforce: true },
    });
    assert.deepEqual(findings.map((f) => [f.host, f.rule, f.severity]), [['a.example.com', 'report-only', 'info'], ['b.example.com', 'report-only', 'info']]);
    assert.match(findings[0].message, /runs unpinned; violations are reported only to onViolation and the certpin:violation channel \(no reportUri\)/);
    assert.match(findings[1].message, /reported to https:\/\/reports\.example\.net\/pin/);
  });

  test('every finding carries a severity', () => {
    const findings = lint({ 'a.example.com': { pins: [A], expires: '2020-01-01', enforce: false, enforse: 1 }, '**.com': GOOD });
    assert.ok(findings.length >= 4);
    for (const f of findings) assert.ok(f.severity === 'warning' || f.severity === 'info', JSON.stringify(f));
  });
});

describe('lintPinFile', () => {
  test('unreadable or non-JSON files are errors (exit 2 in the CLI), not findings', async () => {
    await assert.rejects(lintPinFile(join(dir, 'missing.json')), { code: 'ERR_CERTPIN_INVALID_INPUT', message: /no such file/ });
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{ "hosts": ');
    await assert.rejects(lintPinFile(bad), { code: 'ERR_CERTPIN_INVALID_CONFIG', message: /not valid JSON/ });
    // what only the pin file checks (probeHost) is a finding too: a file lint passes is one certpin loads
    const probeHost = join(dir, 'probehost.json');
    writeFileSync(probeHost, JSON.stringify({ hosts: { 'api.example.com': { ...GOOD, expires: '2099-01-01', probeHost: 'elsewhere.example.org' } } }));
    const findings = await lintPinFile(probeHost, { maxExpiresDays: 100_000 });
    assert.deepEqual(findings.map((f) => [f.host, f.rule]), [[null, 'invalid-entry']]);
    assert.match(findings[0].message, /probeHost/);
    // ...also when the only other finding is an info one
    writeFileSync(probeHost, JSON.stringify({ hosts: { 'api.example.com': { ...GOOD, enforce: false, expires: '2099-01-01', probeHost: 'elsewhere.example.org' } } }));
    assert.deepEqual((await lintPinFile(probeHost, { maxExpiresDays: 100_000 })).map((f) => [f.host, f.rule, f.severity]), [['api.example.com', 'report-only', 'info'], [null, 'invalid-entry', 'warning']]);
  });

  test('--live: no trusted pin outside the live chain, leaf pins by role, mismatch and unreachable hosts', async (t) => {
    const server = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
    t.after(() => server.close());
    const down = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
    const downPort = down.port;
    await down.close();
    const file = join(dir, 'live.json');
    const expires = new Date(Date.now() + 100 * 24 * 60 * 60 * 1000).toISOString().slice(0, 10);
    writeFileSync(file, JSON.stringify({
      version: 1,
      hosts: {
        // both trusted pins are in the chain: a backup in name only
        '127.0.0.1': { port: server.port, expires, pins: [{ pin: pki.intermediate.pin, status: 'active' }, { pin: pki.root.pin, status: 'backup' }] },
        // a leaf pin with a backup key held outside the chain: the setup for a server you run, no finding
        'localhost': { port: server.port, expires, pins: [{ pin: pki.leaf.pin, status: 'active' }, { pin: pki.intermediate2.pin, status: 'backup' }] },
        // leaf pin, no backup status: flagged by role
        'api.example.test': { port: server.port, expires, pins: [{ pin: pki.leaf.pin, status: 'active' }, { pin: pki.leaf2.pin, status: 'active' }] },
        // pins that do not match what the server presents
        '*.example.test': { port: server.port, probeHost: 'www.example.test', expires, pins: [{ pin: pki.rogueIntermediate.pin, status: 'active' }, { pin: pki.rogueRoot.pin, status: 'backup' }] },
        'down.example.test': { port: downPort, expires, pins: [{ pin: pki.intermediate.pin, status: 'active' }, { pin: pki.intermediate2.pin, status: 'backup' }] },
      },
    }));
    const resolve = ['localhost', 'api.example.test', 'www.example.test'].map((name) => `${name}:${server.port}:127.0.0.1`).concat(`down.example.test:${downPort}:127.0.0.1`);
    const findings = await lintPinFile(file, { live: true, ca: pki.root.pem, resolve, timeout: 3000 });
    assert.deepEqual(rulesOf(findings), [
      '*.example.test:live-mismatch',
      '127.0.0.1:no-pin-outside-chain',
      'api.example.test:leaf-pin',
      'down.example.test:live-probe-failed',
    ]);
    // without --live the same file looks fine on paper, but for the missing backup status
    const offline = await lintPinFile(file);
    assert.deepEqual(rulesOf(offline), ['api.example.test:no-backup']);
  });
});
