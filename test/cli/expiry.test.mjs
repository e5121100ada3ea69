// `certpin expiry` (docs/cli.md): Nagios states and exit codes over real loopback servers.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki } from '../support/pki.mjs';
import { startTlsServer } from '../support/servers.mjs';
import { assertOneLineError, runCli, runMain } from '../support/cli.mjs';
import { shortIntermediateChain } from '../ops/fixtures.mjs';
import { main } from '../../build/src/cli/main.js';

const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-cli-expiry-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const rootFile = join(dir, 'root.pem');
writeFileSync(rootFile, pki.root.pem);

const servers = {};
for (const [name, cert] of Object.entries({
  ok: [pki.leaf, pki.intermediate],
  warning: [pki.leaf20, pki.intermediate],
  critical: [pki.soonLeaf, pki.intermediate],
  expired: [pki.expiredLeaf, pki.intermediate],
})) {
  servers[name] = await startTlsServer({ cert });
}
const shortChain = shortIntermediateChain();
servers.shortIntermediate = await startTlsServer(shortChain);
after(() => Promise.all(Object.values(servers).map((s) => s.close())));
const target = (name) => `127.0.0.1:${servers[name].port}`;
// In this process through main(); the binary runs where its exit status is the point (Nagios reads it).
const expiry = (...args) => runMain(['expiry', ...args, '--ca', rootFile, '--timeout', '3000']);
const expiryBinary = (...args) => runCli(['expiry', ...args, '--ca', rootFile, '--timeout', '3000']);

async function closedTarget() {
  const s = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
  const { port } = s;
  await s.close();
  return `127.0.0.1:${port}`;
}

describe('certpin expiry', () => {
  test('exit codes 0 OK, 1 WARNING, 2 CRITICAL (5 days), with the state first on the line', async () => {
    for (const [name, code, status] of [['ok', 0, 'OK'], ['warning', 1, 'WARNING'], ['critical', 2, 'CRITICAL']]) {
      const result = await expiryBinary(target(name));
      assert.equal(result.code, code, `${name}: ${result.stdout}${result.stderr}`);
      const [nagios, line, ...rest] = result.stdout.split('\n');
      // Nagios/Icinga read the first line: state, text, and days left with both thresholds as perfdata.
      assert.match(nagios, new RegExp(`^CERTPIN EXPIRY ${status} - ${target(name).replace(/\./g, '\\.')} expires in (\\d+) days? \\([^|]*\\) \\| days=(\\d+);30;7$`));
      const [, days, perfDays] = /expires in (\d+) .*days=(\d+);/.exec(nagios);
      assert.equal(days, perfDays);
      assert.match(line, new RegExp(`^${status}\\s+${target(name).replace(/\./g, '\\.')}\\s+expires in \\d+ days? \\(`));
      assert.deepEqual(rest, ['']);
      assert.equal(result.stderr, '');
    }
  });

  test('an expired certificate is CRITICAL (exit 2) with its dates shown, not a connection error', async () => {
    const result = await expiry(target('expired'), '--json');
    assert.equal(result.code, 2, result.stderr);
    const [r] = JSON.parse(result.stdout).results;
    assert.equal(r.status, 'critical');
    assert.equal(r.notAfter, new Date(pki.expiredLeaf.cert.validTo).toISOString());
    assert.ok(r.daysLeft < 0);
    assert.deepEqual([r.subject, r.role], ['CN=api.example.test, O=certpin tests', 'leaf']);
    const text = await expiry(target('expired'));
    assert.match(text.stdout, /^CERTPIN EXPIRY CRITICAL - \S+ EXPIRED .* \| days=-\d+;30;7\n/);
    assert.match(text.stdout, /^CRITICAL\s+\S+\s+EXPIRED \(\d{4}-\d\d-\d\dT[\d:]+Z, leaf CN=api\.example\.test/m);
  });

  test('the whole chain counts: an intermediate expiring before the leaf', async () => {
    const result = await expiry(target('shortIntermediate'), '--json');
    assert.equal(result.code, 1);
    const [r] = JSON.parse(result.stdout).results;
    assert.deepEqual({ status: r.status, role: r.role, subject: r.subject, daysLeft: r.daysLeft }, { status: 'warning', role: 'intermediate', subject: 'CN=certpin Short Intermediate', daysLeft: 9 });
  });

  test('--warn and --critical move the thresholds; daysLeft < threshold, rounded down', async () => {
    assert.equal((await expiry(target('warning'), '--warn', '19')).code, 0);
    assert.equal((await expiry(target('warning'), '--warn', '20')).code, 1);
    assert.equal((await expiry(target('warning'), '--critical', '20')).code, 2);
    assert.equal((await expiry(target('critical'), '--critical', '4', '--warn', '5')).code, 1);
  });

  test('several targets exit with the worst: critical > warning > unknown > ok', async () => {
    const down = await closedTarget();
    const check = async (names, code) => {
      const targets = names.map((n) => (n === 'down' ? down : target(n)));
      const result = await expiry(...targets, '--json');
      assert.equal(result.code, code, `${names}: ${result.stdout}${result.stderr}`);
      return JSON.parse(result.stdout).results;
    };
    await check(['ok', 'ok'], 0);
    const text = await expiry(target('ok'), target('warning'), down);
    assert.equal(text.code, 1);
    const lines = text.stdout.trimEnd().split('\n');
    // one line per target in the order given (streamed), then the status line of the worst state
    assert.equal(lines.length, 4);
    assert.deepEqual(lines.slice(0, 3).map((l) => l.split(/\s+/)[0]), ['OK', 'WARNING', 'UNKNOWN']);
    const nagios = lines[3];
    assert.match(nagios, /^CERTPIN EXPIRY WARNING - 3 targets: 1 warning, 1 unknown, 1 ok; first to expire: \S+ expires in 19 days .* \| days_127\.0\.0\.1:\d+=\d+;30;7 days_127\.0\.0\.1:\d+=19;30;7$/);
    const results = await check(['ok', 'down'], 3);
    assert.deepEqual(results.map((r) => r.status), ['ok', 'unknown']);
    assert.deepEqual(Object.keys(results[1]).filter((k) => ['target', 'status', 'daysLeft', 'notAfter', 'subject', 'role'].includes(k)), ['target', 'status', 'daysLeft', 'notAfter', 'subject', 'role']);
    assert.equal(results[1].daysLeft, null);
    await check(['down', 'warning', 'ok'], 1);
    await check(['warning', 'critical', 'down'], 2);
  });

  test('--config checks the hosts of a pin file; files work as targets', async () => {
    const config = join(dir, 'pins.json');
    writeFileSync(config, JSON.stringify({
      version: 1,
      hosts: {
        '127.0.0.1': { port: servers.ok.port, pins: [pki.intermediate.pin] },
        'api.example.test': { port: servers.warning.port, pins: [pki.intermediate.pin] },
        '*.example.test': { pins: [pki.intermediate.pin] },
      },
    }));
    const result = await expiry('--config', config, '--json', '--resolve', `api.example.test:${servers.warning.port}:127.0.0.1`);
    assert.equal(result.code, 1, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout).results.map((r) => [r.target, r.status]), [[target('ok'), 'ok'], [`api.example.test:${servers.warning.port}`, 'warning']]);
    assert.match(result.stderr, /skipped \*\.example\.test: .*probeHost/);
    const file = join(dir, 'soon.pem');
    writeFileSync(file, pki.soonLeaf.pem);
    const fromFile = await runMain(['expiry', file]);
    assert.equal(fromFile.code, 2, fromFile.stdout);
  });

  test('usage errors exit 3 (UNKNOWN) with one line', async () => {
    assertOneLineError(await runCli(['expiry']), { code: 3, pattern: /TARGET/ });
    assertOneLineError(await runMain(['expiry', target('ok'), '--warn', 'soon']), { code: 3, pattern: /--warn/ });
    assertOneLineError(await runMain(['expiry', target('ok'), '--bogus']), { code: 3 });
    // --warn below --critical could never warn: refused as a usage error, Nagios UNKNOWN.
    assertOneLineError(await runMain(['expiry', target('ok'), '--warn', '5', '--critical', '10']), { code: 3, pattern: /--warn 5 is smaller than --critical 10/ });
    assertOneLineError(await runMain(['expiry', target('ok'), '--warn', '3']), { code: 3, pattern: /smaller than --critical 7/ });
    assertOneLineError(await runMain(['expiry', '--config', join(dir, 'missing.json')]), { code: 3, pattern: /no such file/ });
  });

  test('many targets run concurrently (bounded) and no progress bar is drawn when stderr is not a TTY', async () => {
    const targets = Array.from({ length: 12 }, (_, i) => target(['ok', 'warning', 'critical'][i % 3]));
    const started = Date.now();
    const result = await expiry(...targets, '--concurrency', '4', '--json');
    assert.equal(result.code, 2);
    assert.equal(JSON.parse(result.stdout).results.length, 12);
    assert.equal(result.stderr, '');
    assert.ok(Date.now() - started < 20_000);
    assertOneLineError(await runMain(['expiry', target('ok'), '--concurrency', '0']), { code: 3, pattern: /--concurrency/ });
  });

  test('on a TTY a progress bar is drawn on stderr, and cleared; stdout stays clean', async () => {
    const sink = (isTTY) => ({ text: '', isTTY, columns: 100, write(chunk) { this.text += chunk; return true; } });
    const stdout = sink(false);
    const stderr = sink(true);
    const code = await main(['expiry', target('ok'), target('ok'), target('ok'), '--ca', rootFile, '--json'], { stdout, stderr, env: {} });
    assert.equal(code, 0);
    assert.equal(JSON.parse(stdout.text).results.length, 3);
    assert.match(stderr.text, /expiry \[#*\.*\] [0-3]\/3/);
    assert.ok(stderr.text.endsWith('\r\x1b[2K'), JSON.stringify(stderr.text));
  });
});
