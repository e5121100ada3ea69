// Expiry (docs/cli.md): the earliest notAfter of the whole chain, Nagios states, against real TLS servers
// on loopback with certificates made at test time.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkExpiry, formatNagiosExpiry, judgeExpiry, worstExpiryStatus, EXPIRY_EXIT_CODES } from 'certpin';
import { chainPem, makePki } from '../support/pki.mjs';
import { shortIntermediateChain } from './fixtures.mjs';
import { startTlsServer } from '../support/servers.mjs';

const DAY = 24 * 60 * 60 * 1000;
const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-expiry-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function serve(t, options) {
  const server = await startTlsServer(options);
  t.after(() => server.close());
  return `127.0.0.1:${server.port}`;
}

const entry = (role, notAfter, subject = `CN=${role}`) => ({ role, subject, issuer: null, notBefore: null, notAfter, daysLeft: null, pin: 'sha256/x', fingerprint256: null });
const inspected = (chain, extra = {}) => ({ target: 'h:443', host: 'h', port: 443, trusted: true, error: null, chain, unproven: [], ...extra });
const NOW = Date.parse('2026-01-01T00:00:00Z');

describe('formatNagiosExpiry (frozen clock)', () => {
  test('the plugin status line: worst state, text, days left with warn;crit as perfdata', () => {
    const warning = judgeExpiry(inspected([entry('leaf', new Date(NOW + 12.5 * DAY).toISOString(), 'CN=api')], { target: 'api.example.com:443' }), { now: NOW });
    assert.equal(formatNagiosExpiry([warning]), 'CERTPIN EXPIRY WARNING - api.example.com:443 expires in 12 days (2026-01-13T12:00:00Z, leaf CN=api) | days=12;30;7');
    assert.equal(formatNagiosExpiry([warning], { warn: 10, critical: 5 }).split(' | ')[1], 'days=12;10;5');
    const down = judgeExpiry(inspected([], { target: 'down|host:443', trusted: false, error: 'connect ECONNREFUSED' }), { now: NOW });
    // no perfdata for a target without a date, and a '|' in the text cannot start perfdata early
    assert.equal(formatNagiosExpiry([down]), 'CERTPIN EXPIRY UNKNOWN - down/host:443 connect ECONNREFUSED');
    const two = formatNagiosExpiry([warning, down]);
    assert.equal(two, 'CERTPIN EXPIRY WARNING - 2 targets: 1 warning, 1 unknown; first to expire: api.example.com:443 expires in 12 days (2026-01-13T12:00:00Z, leaf CN=api) | days_api.example.com:443=12;30;7');
  });
});

describe('judgeExpiry (frozen clock)', () => {
  test('the earliest notAfter of the chain counts, whichever certificate it is', () => {
    const result = judgeExpiry(inspected([entry('leaf', '2026-06-01T00:00:00Z'), entry('intermediate', '2026-01-20T12:00:00Z'), entry('root', '2030-01-01T00:00:00Z')]), { now: NOW });
    assert.deepEqual(
      { status: result.status, daysLeft: result.daysLeft, notAfter: result.notAfter, role: result.role, subject: result.subject },
      { status: 'warning', daysLeft: 19, notAfter: '2026-01-20T12:00:00.000Z', role: 'intermediate', subject: 'CN=intermediate' },
    );
  });

  test('daysLeft is rounded down and the thresholds are strict (< warn, < critical)', () => {
    const at = (days) => judgeExpiry(inspected([entry('leaf', new Date(NOW + days * DAY).toISOString())]), { now: NOW, warn: 30, critical: 7 });
    assert.deepEqual([at(30).status, at(30).daysLeft], ['ok', 30]);
    assert.deepEqual([at(29.99).status, at(29.99).daysLeft], ['warning', 29]);
    assert.deepEqual([at(7).status, at(7).daysLeft], ['warning', 7]);
    assert.deepEqual([at(6.5).status, at(6.5).daysLeft], ['critical', 6]);
    assert.deepEqual([at(0.5).status, at(0.5).daysLeft], ['critical', 0]);
    assert.deepEqual([at(-0.001).status, at(-0.001).daysLeft], ['critical', -1]);
    // --critical 0 still makes an expired certificate critical
    assert.equal(judgeExpiry(inspected([entry('leaf', new Date(NOW - 1000).toISOString())]), { now: NOW, warn: 0, critical: 0 }).status, 'critical');
  });

  test('nothing to date is unknown; an untrusted chain with good dates is unknown; files are judged by dates', () => {
    assert.equal(judgeExpiry(inspected([], { trusted: false, error: 'connect ECONNREFUSED' }), { now: NOW }).status, 'unknown');
    assert.equal(judgeExpiry(inspected([entry('key', null)], { host: null, port: null, trusted: false }), { now: NOW }).status, 'unknown');
    const untrusted = judgeExpiry(inspected([entry('leaf', '2027-01-01T00:00:00Z')], { trusted: false, error: 'unable to get local issuer certificate' }), { now: NOW });
    assert.deepEqual([untrusted.status, untrusted.error], ['unknown', 'unable to get local issuer certificate']);
    const file = judgeExpiry(inspected([entry('leaf', '2027-01-01T00:00:00Z')], { host: null, port: null, trusted: false }), { now: NOW });
    assert.equal(file.status, 'ok');
  });

  test('bad thresholds are refused', () => {
    // a warning threshold below the critical one could never warn
    assert.throws(() => judgeExpiry(inspected([]), { warn: 5, critical: 10 }), { name: 'TypeError', message: /warn \(5 days\) must not be smaller than critical \(10 days\)/ });
    assert.throws(() => formatNagiosExpiry([], { warn: 1 }), { name: 'TypeError', message: /smaller than critical/ });
    assert.throws(() => judgeExpiry(inspected([]), { warn: -1 }), { name: 'TypeError', message: /warn must be a number of days/ });
    assert.throws(() => judgeExpiry(inspected([]), { critical: Number.NaN }), { name: 'TypeError', message: /critical/ });
  });

  test('worst status: critical > warning > unknown > ok, and the Nagios exit codes', () => {
    assert.equal(worstExpiryStatus([]), 'ok');
    assert.equal(worstExpiryStatus(['ok', 'unknown']), 'unknown');
    assert.equal(worstExpiryStatus(['unknown', 'warning', 'ok']), 'warning');
    assert.equal(worstExpiryStatus(['warning', 'critical', 'unknown']), 'critical');
    assert.deepEqual(EXPIRY_EXIT_CODES, { ok: 0, warning: 1, critical: 2, unknown: 3 });
  });
});

describe('checkExpiry against live servers', () => {
  const ca = pki.root.pem;

  test('a leaf expiring in 5 days is critical', async (t) => {
    const target = await serve(t, { cert: [pki.soonLeaf, pki.intermediate] });
    const result = await checkExpiry(target, { ca });
    assert.deepEqual([result.status, result.daysLeft, result.role, result.trusted], ['critical', 4, 'leaf', true]);
    assert.equal(result.notAfter, new Date(pki.soonLeaf.cert.validTo).toISOString());
  });

  test('a leaf expiring in 20 days is a warning', async (t) => {
    const target = await serve(t, { cert: [pki.leaf20, pki.intermediate] });
    const result = await checkExpiry(target, { ca });
    assert.deepEqual([result.status, result.daysLeft, result.role], ['warning', 19, 'leaf']);
  });

  test('an expired leaf is critical, not a connection error: its dates are read and shown', async (t) => {
    const target = await serve(t, { cert: [pki.expiredLeaf, pki.intermediate] });
    const result = await checkExpiry(target, { ca });
    assert.equal(result.status, 'critical');
    assert.equal(result.trusted, false);
    assert.ok(result.daysLeft < 0, `daysLeft ${result.daysLeft}`);
    assert.equal(result.notAfter, new Date(pki.expiredLeaf.cert.validTo).toISOString());
    assert.equal(result.subject, 'CN=api.example.test, O=certpin tests');
    assert.match(result.error, /expired/i);
  });

  test('an intermediate that expires before the leaf decides the chain', async (t) => {
    const chain = shortIntermediateChain();
    const target = await serve(t, chain);
    const result = await checkExpiry(target, { ca });
    assert.deepEqual([result.status, result.role, result.subject, result.daysLeft], ['warning', 'intermediate', 'CN=certpin Short Intermediate', 9]);
    assert.equal(result.notAfter, new Date(chain.intermediate.certificate.validTo).toISOString());
  });

  test('a healthy chain is ok; an unreachable one is unknown', async (t) => {
    const target = await serve(t, { cert: [pki.leaf, pki.intermediate] });
    assert.equal((await checkExpiry(target, { ca })).status, 'ok');
    const closed = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
    const port = closed.port;
    await closed.close();
    const down = await checkExpiry(`127.0.0.1:${port}`, { ca, timeout: 2000 });
    assert.deepEqual([down.status, down.daysLeft], ['unknown', null]);
    assert.match(down.error, /ECONNREFUSED|refused/i);
  });

  test('a certificate bundle file is read, whole chain included', async () => {
    const path = join(dir, 'bundle.pem');
    writeFileSync(path, chainPem(pki.leaf20, pki.soonLeaf));
    const result = await checkExpiry(path, { now: Date.now() });
    assert.deepEqual([result.status, result.host, result.daysLeft], ['critical', null, 4]);
  });
});
