// Export (SPEC 9): the trusted pins in OkHttp, Android, TrustKit, curl and HPKP syntax, checked with
// the real tools: xmllint for Android's XML, and curl itself connecting with the exported value.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportPins } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startHttpsServer } from '../support/servers.mjs';
import { runProgram } from '../support/cli.mjs';

const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-export-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const NOW = Date.parse('2026-03-01T00:00:00Z');
const b64 = (entry) => entry.pin.slice('sha256/'.length);

/** Runs a program; one that cannot be started (not installed) fails the test. */
function run(command, args, input) {
  const result = spawnSync(command, args, { encoding: 'utf8', input });
  if (result.error) throw result.error;
  return result;
}

const CONFIG = {
  version: 1,
  hosts: {
    'api.example.com': {
      expires: '2026-09-30',
      reportUri: 'https://reports.example.net/pin',
      pins: [
        { pin: pki.intermediate.pin, status: 'active' },
        { pin: pki.intermediate2.pin, status: 'backup' },
        { pin: pki.rogueRoot.pin, status: 'pending_review' },
        { pin: pki.rogueIntermediate.pin, status: 'rejected' },
      ],
    },
    '*.cdn.example.com': { pins: [pki.leaf.pin, { pin: pki.leaf2.pin, status: 'backup' }] },
    '**.static.example.com': { pins: [pki.leaf.pin, pki.root.pin] },
    'www.example.com': { includeSubdomains: true, pins: [pki.root.pin, { pin: pki.intermediate.pin, status: 'expired' }] },
    'old.example.com': { expires: '2026-01-01', pins: [pki.root.pin, pki.leaf.pin] },
  },
};

describe('exportPins', () => {
  test('only trusted pins (active, backup) are exported, and pin sets past expires are left out', () => {
    for (const format of ['okhttp', 'android', 'trustkit', 'curl', 'hpkp']) {
      const { text, notes } = exportPins(CONFIG, format, { now: NOW });
      assert.ok(text.includes(b64(pki.intermediate)) && text.includes(b64(pki.intermediate2)), format);
      assert.ok(!text.includes(b64(pki.rogueRoot)) && !text.includes(b64(pki.rogueIntermediate)), `${format}: untrusted pins leaked`);
      assert.ok(!text.includes('old.example.com'), format);
      assert.ok(notes.some((n) => /old\.example\.com: left out: its pins expired on 2026-01-01/.test(n)), format);
    }
  });

  test('okhttp: CertificatePinner.Builder() with the patterns as they are', () => {
    const { text } = exportPins(CONFIG, 'okhttp', { now: NOW });
    assert.equal(text, [
      'val certificatePinner = CertificatePinner.Builder()',
      `    .add("api.example.com", "${pki.intermediate.pin}", "${pki.intermediate2.pin}")`,
      `    .add("*.cdn.example.com", "${pki.leaf.pin}", "${pki.leaf2.pin}")`,
      `    .add("**.static.example.com", "${pki.leaf.pin}", "${pki.root.pin}")`,
      `    .add("www.example.com", "${pki.root.pin}")`,
      `    .add("**.www.example.com", "${pki.root.pin}")`,
      '    .build()',
      '',
    ].join('\n'));
  });

  test('android: well-formed network_security_config.xml (xmllint), *. widened with a note', () => {
    const { text, notes } = exportPins(CONFIG, 'android', { now: NOW });
    const file = join(dir, 'network_security_config.xml');
    writeFileSync(file, text);
    const lint = run('xmllint', ['--noout', file]);
    assert.equal(lint.status, 0, lint.stderr);
    const xpath = (expr) => run('xmllint', ['--xpath', expr, file]).stdout.trim();
    assert.equal(xpath('string(//domain-config[domain="api.example.com"]/pin-set/@expiration)'), '2026-09-30');
    assert.equal(xpath('count(//domain-config[domain="api.example.com"]/pin-set/pin[@digest="SHA-256"])'), '2');
    assert.equal(xpath('string(//domain[.="cdn.example.com"]/@includeSubdomains)'), 'true');
    assert.equal(xpath('string(//domain[.="api.example.com"]/@includeSubdomains)'), 'false');
    assert.equal(xpath('string(//domain[.="www.example.com"]/@includeSubdomains)'), 'true');
    assert.ok(notes.some((n) => /\*\.cdn\.example\.com: Android cannot say "exactly one label": widened to cdn\.example\.com/.test(n)), notes.join('\n'));
  });

  test('android: x and a widened *.x share one domain-config, with the union of their pins', () => {
    const { text, notes } = exportPins({ hosts: { 'example.com': { pins: [pki.root.pin] }, '*.example.com': { pins: [pki.leaf.pin] } } }, 'android');
    assert.equal(text.match(/<domain /g).length, 1);
    assert.ok(text.includes(b64(pki.root)) && text.includes(b64(pki.leaf)));
    assert.ok(notes.some((n) => /merged/.test(n)));
  });

  test('trustkit: a Swift dictionary with the kTSK keys; fewer than two pins is noted', () => {
    const { text, notes } = exportPins(CONFIG, 'trustkit', { now: NOW, host: 'api.example.com' });
    assert.equal(text, [
      'let trustKitConfig: [String: Any] = [',
      '    kTSKSwizzleNetworkDelegates: false,',
      '    kTSKPinnedDomains: [',
      '        "api.example.com": [',
      '            kTSKEnforcePinning: true,',
      '            kTSKIncludeSubdomains: false,',
      '            kTSKExpirationDate: "2026-09-30",',
      '            kTSKReportUris: ["https://reports.example.net/pin"],',
      '            kTSKPublicKeyHashes: [',
      `                "${b64(pki.intermediate)}",`,
      `                "${b64(pki.intermediate2)}",`,
      '            ],',
      '        ],',
      '    ],',
      ']',
      '',
    ].join('\n'));
    assert.deepEqual(notes, []);
    assert.ok(exportPins(CONFIG, 'trustkit', { now: NOW, host: 'www.example.com' }).notes.some((n) => /fewer than two pins/.test(n)));
  });

  test('hpkp: the Public-Key-Pins value, max-age from expires, includeSubdomains, report-uri', () => {
    const { text, notes } = exportPins(CONFIG, 'hpkp', { now: NOW });
    const lines = Object.fromEntries(text.trim().split('\n').map((l) => l.split('\t')));
    const maxAge = (Date.parse('2026-09-30T23:59:59.999Z') - NOW) / 1000;
    assert.equal(lines['api.example.com'], `pin-sha256="${b64(pki.intermediate)}"; pin-sha256="${b64(pki.intermediate2)}"; max-age=${Math.floor(maxAge)}; report-uri="https://reports.example.net/pin"`);
    assert.equal(lines['cdn.example.com'], `pin-sha256="${b64(pki.leaf)}"; pin-sha256="${b64(pki.leaf2)}"; max-age=5184000; includeSubdomains`);
    assert.ok(notes.some((n) => /\*\.cdn\.example\.com: HPKP cannot say "exactly one label"/.test(n)));
    assert.ok(notes.some((n) => /www\.example\.com: RFC 7469 requires a backup pin/.test(n)));
  });

  test('--host selects by pattern or by a host name the entries match; no match is an error', () => {
    assert.equal(exportPins(CONFIG, 'curl', { host: 'a.cdn.example.com' }).text.split('\n')[0].split('\t')[0], '*.cdn.example.com');
    assert.throws(() => exportPins(CONFIG, 'curl', { host: 'nothing.example.org' }), { code: 'ERR_CERTPIN_INVALID_INPUT', message: /no host entry matches/ });
    assert.throws(() => exportPins(CONFIG, 'yaml'), { name: 'TypeError', message: /okhttp, android, trustkit, curl, hpkp/ });
    assert.throws(() => exportPins({ hosts: { 'x.com': { pins: ['sha256/abc'] } } }, 'curl'), { code: 'ERR_CERTPIN_INVALID_CONFIG' });
  });

  test('curl: the exported --pinnedpubkey value lets real curl connect, and a wrong one fails', async (t) => {
    const server = await startHttpsServer({ cert: [pki.leaf, pki.intermediate] }, (_req, res) => res.end('pinned hello'));
    t.after(() => server.close());
    const config = { hosts: { 'api.example.test': { pins: [pki.leaf.pin, { pin: pki.leaf2.pin, status: 'backup' }] }, 'other.example.test': { pins: [pki.rogueLeaf.pin] } } };
    const { text, notes } = exportPins(config, 'curl');
    assert.ok(notes.some((n) => /curl --pinnedpubkey checks only the server's own \(leaf\) key/.test(n)));
    const values = Object.fromEntries(text.trim().split('\n').map((l) => l.split('\t')));
    assert.equal(values['api.example.test'], `sha256//${b64(pki.leaf)};sha256//${b64(pki.leaf2)}`);
    const rootFile = join(dir, 'root.pem');
    writeFileSync(rootFile, pki.root.pem);
    // curl runs asynchronously: the server lives in this process and must keep answering.
    const curl = (pinned) => runProgram('curl', ['-sS', '--max-time', '10', '--cacert', rootFile, '--resolve', `api.example.test:${server.port}:127.0.0.1`, '--pinnedpubkey', pinned, `https://api.example.test:${server.port}/`]);
    const good = await curl(values['api.example.test']);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stdout, 'pinned hello');
    const bad = await curl(values['other.example.test']);
    assert.equal(bad.code, 90, `curl exits 90 (CURLE_SSL_PINNEDPUBKEYNOTMATCH) on a wrong pin: ${bad.stderr}`);
    assert.equal(server.requests.length, 1, 'the mismatched connection sent no request');
  });
});
