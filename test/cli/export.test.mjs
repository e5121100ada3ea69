// `certpin export` (docs/cli.md): stdout holds only the export, caveats go to stderr; real xmllint and curl.
// In this process through main() (runMain), but for the curl case, which runs the binary: its stdout is
// what a shell pipes on.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki } from '../support/pki.mjs';
import { startHttpsServer } from '../support/servers.mjs';
import { assertOneLineError, runCli, runMain, runProgram } from '../support/cli.mjs';

const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-cli-export-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const config = join(dir, 'pins.json');
writeFileSync(config, JSON.stringify({
  version: 1,
  hosts: {
    'api.example.test': { pins: [pki.leaf.pin, { pin: pki.leaf2.pin, status: 'backup' }, { pin: pki.rogueLeaf.pin, status: 'pending_review' }] },
    '*.cdn.example.test': { pins: [pki.intermediate.pin, { pin: pki.intermediate2.pin, status: 'backup' }] },
  },
}));

describe('certpin export', () => {
  test('curl: host TAB value on stdout, the leaf-only caveat on stderr, and real curl connects with it', async (t) => {
    const server = await startHttpsServer({ cert: [pki.leaf, pki.intermediate] }, (_req, res) => res.end('hello'));
    t.after(() => server.close());
    const result = await runCli(['export', '--config', config, '--format', 'curl', '--host', 'api.example.test']);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.stdout, `api.example.test\tsha256//${pki.leaf.pin.slice(7)};sha256//${pki.leaf2.pin.slice(7)}\n`);
    assert.match(result.stderr, /curl --pinnedpubkey checks only the server's own \(leaf\) key/);
    const rootFile = join(dir, 'root.pem');
    writeFileSync(rootFile, pki.root.pem);
    const value = result.stdout.trim().split('\t')[1];
    const curl = (pinned) => runProgram('curl', ['-sS', '--max-time', '10', '--cacert', rootFile, '--resolve', `api.example.test:${server.port}:127.0.0.1`, '--pinnedpubkey', pinned, `https://api.example.test:${server.port}/`]);
    const ok = await curl(value);
    assert.deepEqual([ok.code, ok.stdout], [0, 'hello'], ok.stderr);
    const wrong = await curl(`sha256//${pki.rogueLeaf.pin.slice(7)}`);
    assert.equal(wrong.code, 90, wrong.stderr);
  });

  test('android: xmllint accepts it; the *. widening is said on stderr', async () => {
    const result = await runMain(['export', '--config', config, '--format', 'android']);
    assert.equal(result.code, 0, result.stderr);
    const file = join(dir, 'nsc.xml');
    writeFileSync(file, result.stdout);
    const lint = await runProgram('xmllint', ['--noout', file]);
    assert.equal(lint.code, 0, lint.stderr);
    assert.match(result.stdout, /<domain includeSubdomains="true">cdn\.example\.test<\/domain>/);
    assert.ok(!result.stdout.includes(pki.rogueLeaf.pin.slice(7)), 'pending pins are not exported');
    assert.match(result.stderr, /\*\.cdn\.example\.test: Android cannot say "exactly one label": widened to cdn\.example\.test/);
  });

  test('okhttp, trustkit and hpkp', async () => {
    const okhttp = await runMain(['export', '--config', config, '--format', 'okhttp']);
    assert.match(okhttp.stdout, /^\/\/ certpin export: OkHttp CertificatePinner\nval certificatePinner = CertificatePinner\.Builder\(\)\n {4}\.add\("api\.example\.test", "sha256\//);
    assert.match(okhttp.stdout, /\.add\("\*\.cdn\.example\.test", /);
    assert.equal(okhttp.stderr, '');
    const trustkit = await runMain(['export', '--config', config, '--format', 'trustkit']);
    assert.match(trustkit.stdout, /kTSKPinnedDomains: \[\n {8}"api\.example\.test": \[/);
    assert.match(trustkit.stdout, /kTSKDisableDefaultReportUri: true,/);
    assert.match(trustkit.stderr, /TrustKit cannot say "exactly one label"/);
    const hpkp = await runMain(['export', '--config', config, '--format', 'hpkp', '--json']);
    const json = JSON.parse(hpkp.stdout);
    assert.equal(json.format, 'hpkp');
    assert.match(json.text, /^api\.example\.test\tpin-sha256="[^"]+"; pin-sha256="[^"]+"; max-age=5184000\n/);
    assert.match(json.text, /cdn\.example\.test\t.*; includeSubdomains\n/);
    assert.ok(json.notes.some((n) => /HPKP cannot say "exactly one label"/.test(n)));
  });

  test('okhttp --language java --okhttp-version 3.14.9: Java for an OkHttp without **., the gap said on stderr', async () => {
    const file = join(dir, 'subdomains.json');
    writeFileSync(file, JSON.stringify({ hosts: { '**.example.test': { pins: [pki.leaf.pin, pki.leaf2.pin] } } }));
    const modern = await runMain(['export', '--config', file, '--format', 'okhttp', '--language', 'java']);
    assert.equal(modern.code, 0, modern.stderr);
    assert.match(modern.stdout, /^\/\/ certpin export: needs OkHttp 4\.3\.0 or later \(\*\*\. patterns\)\nCertificatePinner certificatePinner = new CertificatePinner\.Builder\(\)\n {4}\.add\("\*\*\.example\.test", /);
    assert.match(modern.stdout, /\.build\(\);\n$/);
    assert.match(modern.stderr, /certpin: note: OkHttp: this export needs OkHttp 4\.3\.0 or later/);
    const legacy = await runMain(['export', '--config', file, '--format', 'okhttp', '--language', 'java', '--okhttp-version', '3.14.9']);
    assert.equal(legacy.code, 0, legacy.stderr);
    assert.ok(!legacy.stdout.includes('**'));
    assert.match(legacy.stdout, /\.add\("example\.test", [^\n]+\)\n {4}\.add\("\*\.example\.test", /);
    assert.match(legacy.stderr, /\*\*\.example\.test: OkHttp 3\.14\.9 has no "\*\*\." pattern .*a\.b\.example\.test.* stay unpinned there/);
  });

  test('apple: an NSPinnedDomains property list that plistlib reads', async () => {
    const result = await runMain(['export', '--config', config, '--format', 'apple']);
    assert.equal(result.code, 0, result.stderr);
    const parsed = await runProgram('python3', ['-c', 'import json, plistlib, sys; print(json.dumps(plistlib.loads(sys.stdin.buffer.read())))'], { input: result.stdout });
    assert.equal(parsed.code, 0, parsed.stderr);
    const domains = JSON.parse(parsed.stdout).NSAppTransportSecurity.NSPinnedDomains;
    assert.deepEqual(Object.keys(domains), ['api.example.test', 'cdn.example.test']);
    assert.equal(domains['cdn.example.test'].NSIncludesSubdomains, true);
    assert.equal(domains['api.example.test'].NSPinnedCAIdentities.length, 2);
    assert.match(result.stderr, /\*\.cdn\.example\.test: App Transport Security cannot say "exactly one label"/);
  });

  test('usage and input errors exit 2 with one line', async () => {
    assertOneLineError(await runMain(['export', '--config', config]), { pattern: /--format is required/ });
    assertOneLineError(await runMain(['export', '--config', config, '--format', 'yaml']), { pattern: /okhttp, android, trustkit, apple, curl, hpkp/ });
    assertOneLineError(await runMain(['export', '--config', config, '--format', 'curl', '--language', 'java']), { pattern: /--okhttp-version and --language go with --format okhttp, not curl/ });
    assertOneLineError(await runMain(['export', '--config', config, '--format', 'okhttp', '--language', 'swift']), { pattern: /--language must be kotlin or java, got "swift"/ });
    assertOneLineError(await runMain(['export', '--config', config, '--format', 'okhttp', '--okhttp-version', 'latest']), { pattern: /--okhttp-version takes a version such as 3\.14\.9/ });
    assertOneLineError(await runMain(['export', '--config', config, '--format', 'curl', '--host', 'nope.example.org']), { pattern: /no host entry matches/ });
    assertOneLineError(await runMain(['export', '--config', join(dir, 'missing.json'), '--format', 'curl']), { pattern: /no such file/ });
    const invalid = join(dir, 'invalid.json');
    writeFileSync(invalid, JSON.stringify({ hosts: { 'x.example': { pins: ['sha256/abc'] } } }));
    assertOneLineError(await runMain(['export', '--config', invalid, '--format', 'curl']), { pattern: /not a SHA-256 pin/ });
  });
});
