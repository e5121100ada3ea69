// Every way the CLI can be given something unusable ends the same way (docs/cli.md): one clear line on
// stderr starting `certpin: `, no stack trace, exit 2. Broken peers are real sockets on loopback; the
// unknown host is under `.invalid`, which never resolves (RFC 2606), so no real network is touched.
// The cases run in this process through main() (runMain); the real binary is run where the process is
// what is tested (another user, no command at all) and for one case of each kind, whose output must
// be the in-process output exactly.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki } from '../support/pki.mjs';
import { startBrokenPeers } from '../support/servers.mjs';
import { assertOneLineError, runCli, runMain } from '../support/cli.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-cli-errors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name, content, mode) {
  const path = join(dir, name);
  writeFileSync(path, content);
  if (mode !== undefined) chmodSync(path, mode);
  return path;
}

describe('bad files', () => {
  const cases = [
    ['a missing file', () => join(dir, 'missing.pem'), /cannot read .*missing\.pem: no such file/],
    ['a directory', () => {
      mkdirSync(join(dir, 'certs.d'), { recursive: true });
      return join(dir, 'certs.d');
    }, /cannot read .*certs\.d: it is a directory/],
    ['not a certificate', () => file('notes.txt', 'just some notes\nnothing to see\n'), /notes\.txt is neither PEM nor DER|notes\.txt is not a certificate/],
    ['a truncated PEM', () => file('truncated.pem', pki.leaf.pem.slice(0, pki.leaf.pem.indexOf('-----END'))), /truncated\.pem: .*(no matching END|truncated)/],
    ['a PEM cut short inside its base64', () => file('cut.pem', `${pki.leaf.pem.slice(0, 200)}\n-----END CERTIFICATE-----\n`), /cut\.pem: .*(damaged or truncated|not valid base64)/],
    ['garbage inside PEM armour', () => file('garbage.pem', '-----BEGIN CERTIFICATE-----\n%%% this is not base64 %%%\n-----END CERTIFICATE-----\n'), /garbage\.pem: the PEM block "CERTIFICATE" is not valid base64/],
    ['DER that is not X.509', () => file('random.der', Buffer.from('3082000a020101020102020103a000', 'hex')), /random\.der is not a certificate, public key, private key or CSR/],
    ['an empty file', () => file('empty.crt', ''), /empty\.crt is empty|empty\.crt/],
  ];
  for (const [name, make, pattern] of cases) {
    test(name, async () => {
      assertOneLineError(await runMain(['pins', make()]), { pattern });
      const json = await runMain(['pins', '--json', make()]);
      assert.equal(json.code, 2);
      const [result] = JSON.parse(json.stdout).results;
      assert.match(result.error, pattern, 'the JSON result carries the same error');
      assert.deepEqual(result.chain, []);
    });
  }

  test('an unreadable file (permission denied)', async () => {
    const path = file('secret.pem', pki.leaf.pem, 0o000);
    // root reads any file, so run the CLI as an unprivileged user when the tests run as root.
    // The checkout may sit where that user cannot go (under /root, say), so it runs a copy of the CLI
    // placed beside the file.
    const asRoot = process.getuid?.() === 0;
    let options = {};
    if (asRoot) {
      chmodSync(dir, 0o755);
      const copy = join(dir, 'certpin');
      for (const part of ['bin', 'build', 'package.json']) cpSync(join(ROOT, part), join(copy, part), { recursive: true });
      options = { uid: 65534, gid: 65534, cwd: dir, bin: join(copy, 'bin', 'certpin') };
    }
    const result = await runCli(['pins', path], options);
    assertOneLineError(result, { pattern: /cannot read .*secret\.pem: permission denied/ });
  });
});

describe('bad pins, targets and options', () => {
  const cases = [
    ['a pin of the wrong length', ['verify', '127.0.0.1:1', '--pin', 'sha256/AAAA'], /not a SHA-256 pin: "sha256\/AAAA" \(decodes to 3 bytes/],
    ['a pin outside the base64 alphabet', ['verify', '127.0.0.1:1', '--pin', `sha256/${'!'.repeat(43)}=`], /not a SHA-256 pin: .*not valid base64/],
    ['a SHA-1 pin', ['verify', '127.0.0.1:1', '--pin', 'sha1/AAAAAAAAAAAAAAAAAAAAAAAAAAA='], /SHA-1 pins are not accepted/],
    ['a bad port', ['pins', 'example.test:99999'], /not a target: "example\.test:99999": the port must be/],
    ['a non-https URL', ['pins', 'http://example.test/'], /only https:\/\/ URLs/],
    ['a bad --resolve', ['pins', 'example.test', '--resolve', 'example.test:443'], /bad --resolve "example\.test:443"/],
    ['a bad --timeout', ['pins', 'example.test', '--timeout', 'soon'], /--timeout takes a positive number/],
    ['a missing --ca', ['pins', 'example.test', '--ca', join(dir, 'nope.pem')], /cannot read --ca .*nope\.pem: no such file/],
    ['an unknown option', ['pins', '--colour', 'example.test'], /pins: unknown option --colour \(see 'certpin help pins'\)/],
    ['an option without its value', ['verify', 'example.test', '--pin'], /verify: --pin needs a value/],
    ['no target', ['pins'], /give at least one TARGET/],
    ['verify without pins', ['verify', 'example.test'], /give the pins to expect with --pin/],
    ['an unknown command', ['pinz'], /unknown command "pinz" \(did you mean pins\?\)/],
    ['help on an unknown command', ['help', 'nothing'], /unknown command "nothing"/],
  ];
  for (const [name, args, pattern] of cases) {
    test(name, async () => assertOneLineError(await runMain(args), { pattern }));
  }

  test('no command at all prints the usage on stderr, exit 2', async () => {
    const result = await runCli([]);
    assert.equal(result.code, 2);
    assert.equal(result.stdout, '');
    assert.match(result.stderr, /^Usage: certpin COMMAND/);
  });
});

describe('servers that cannot be inspected', () => {
  let broken;
  before(async () => {
    broken = await startBrokenPeers();
  });
  after(() => broken.close());

  const cases = [
    ['an unknown host', () => 'no-such-host.invalid', /cannot resolve host "no-such-host\.invalid": no such host/],
    ['a refused port', () => `127.0.0.1:${broken.refusedPort}`, /connection refused by 127\.0\.0\.1:\d+/],
    ['a server that accepts and never answers', () => `127.0.0.1:${broken.silent.port}`, /no TLS handshake with 127\.0\.0\.1:\d+ within 300 ms/],
    ['plain HTTP on the port', () => `127.0.0.1:${broken.http.port}`, /127\.0\.0\.1:\d+ does not speak TLS .*such as HTTP/],
    ['a close mid-handshake', () => `127.0.0.1:${broken.closing.port}`, /127\.0\.0\.1:\d+ closed the connection during the TLS handshake/],
  ];
  for (const [name, target, pattern] of cases) {
    test(`${name}: pins and verify`, async () => {
      const started = Date.now();
      assertOneLineError(await runMain(['pins', target(), '--timeout', '300']), { pattern });
      assert.ok(Date.now() - started < 5000, 'fails promptly');
      assertOneLineError(await runMain(['verify', target(), '--timeout', '300', '--pin', pki.leaf.pin]), { pattern, stdoutAllowed: true });
      const json = await runMain(['verify', '--json', target(), '--timeout', '300', '--pin', pki.leaf.pin]);
      assert.equal(json.code, 2);
      const [result] = JSON.parse(json.stdout).results;
      assert.equal(result.ok, false);
      assert.match(result.error, pattern);
    });
  }

  test('the binary prints what main() prints: a bad file, a bad option and a refused port', async () => {
    const missing = join(dir, 'missing.pem');
    for (const args of [['pins', missing], ['pins', '--json', missing], ['verify', '127.0.0.1:1', '--pin', 'sha256/AAAA'], ['pins', `127.0.0.1:${broken.refusedPort}`, '--timeout', '300']]) {
      const binary = await runCli(args);
      assert.deepEqual(binary, await runMain(args), args.join(' '));
      assert.equal(binary.code, 2);
      assert.match(binary.stderr, /^certpin: \S/);
    }
  });
});
