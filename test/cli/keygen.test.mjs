// `certpin keygen` (docs/cli.md): a backup key written 0600, never over an existing file, its pin printed,
// a CSR openssl verifies, and the pin added to the pin file as a backup. In this process through main()
// (runMain); the binary runs for a key and its pin alone on stdout, and under a umask of 000.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spkiPin } from 'certpin';
import { createCertificate } from '../../build/src/lib/x509.js';
import { startHttpsServer } from '../support/servers.mjs';
import { independentPin, makePki } from '../support/pki.mjs';
import { assertOneLineError, runCli, runMain, runProgram } from '../support/cli.mjs';

const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-cli-keygen-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const fresh = (ext) => join(dir, `f${++n}.${ext}`);

describe('certpin keygen', () => {
  test('writes a 0600 PKCS#8 key and prints its pin alone on stdout', async () => {
    const out = fresh('key');
    const result = await runCli(['keygen', '--type', 'ec-p256', '--out', out]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(statSync(out).mode & 0o777, 0o600);
    const key = createPrivateKey(readFileSync(out));
    assert.equal(result.stdout, `${independentPin(key)}\n`);
    assert.match(result.stderr, /mode 0600/);
  });

  test('0600 even when the umask would allow more', async () => {
    const out = fresh('key');
    const result = await runProgram('sh', ['-c', `umask 000 && "${process.execPath}" bin/certpin keygen --type ed25519 --out "${out}"`]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(statSync(out).mode & 0o777, 0o600);
  });

  test('refuses to overwrite an existing file (exit 2, file untouched)', async () => {
    const out = fresh('key');
    writeFileSync(out, 'existing key');
    assertOneLineError(await runMain(['keygen', '--type', 'ec-p256', '--out', out]), { code: 2, pattern: /already exists/ });
    assert.equal(readFileSync(out, 'utf8'), 'existing key');
  });

  test('--csr --subject: a CSR that openssl req -verify accepts, with the key\'s pin', async () => {
    const out = fresh('key');
    const csr = fresh('csr');
    const result = await runMain(['keygen', '--type', 'rsa-2048', '--out', out, '--csr', csr, '--subject', 'CN=api.example.com,O=Example', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout);
    assert.deepEqual({ ...json, pin: undefined }, { pin: undefined, type: 'rsa-2048', keyPath: out, csrPath: csr, publicKeyPath: out.replace(/\.key$/, '.pub.pem'), host: null });
    const verify = await runProgram('openssl', ['req', '-in', csr, '-noout', '-verify', '-subject']);
    assert.equal(verify.code, 0, verify.stderr);
    assert.match(`${verify.stdout}${verify.stderr}`, /verify OK/i);
    assert.match(verify.stdout, /CN\s*=\s*api\.example\.com/);
    assert.equal(spkiPin(readFileSync(csr)), json.pin);
    assert.equal(spkiPin(readFileSync(out)), json.pin);
  });

  test('--config --host adds the pin as a backup of that host', async () => {
    const config = fresh('json');
    writeFileSync(config, `${JSON.stringify({ version: 1, hosts: { 'api.example.com': { pins: [{ pin: pki.intermediate.pin, status: 'active', 'x-custom': 'kept' }] } } }, null, 2)}\n`);
    const out = fresh('key');
    const result = await runMain(['keygen', '--type', 'ec-p384', '--out', out, '--config', config, '--host', 'API.example.com']);
    assert.equal(result.code, 0, result.stderr);
    const pin = result.stdout.trim();
    const pins = JSON.parse(readFileSync(config, 'utf8')).hosts['api.example.com'].pins;
    assert.equal(pins.length, 2);
    assert.equal(pins[0]['x-custom'], 'kept');
    assert.deepEqual([pins[1].pin, pins[1].status], [pin, 'backup']);
    // a host the file does not have: refused before any key is written
    const orphan = fresh('key');
    assertOneLineError(await runMain(['keygen', '--type', 'ec-p256', '--out', orphan, '--config', config, '--host', 'other.example.com']), { code: 2, pattern: /no entry for other\.example\.com/ });
    assert.equal(existsSync(orphan), false);
  });

  test('usage errors', async () => {
    assertOneLineError(await runMain(['keygen', '--out', fresh('key')]), { pattern: /--type is required/ });
    assertOneLineError(await runMain(['keygen', '--type', 'dsa', '--out', fresh('key')]), { pattern: /ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096, ed25519/ });
    assertOneLineError(await runMain(['keygen', '--type', 'ec-p256']), { pattern: /--out/ });
    assertOneLineError(await runMain(['keygen', '--type', 'ec-p256', '--out', fresh('key'), '--csr', fresh('csr')]), { pattern: /--subject/ });
    assertOneLineError(await runMain(['keygen', '--type', 'ec-p256', '--out', fresh('key'), '--host', 'x.example']), { pattern: /--config/ });
    const out = fresh('key');
    assertOneLineError(await runMain(['keygen', '--type', 'ec-p256', '--out', out, '--csr', fresh('csr'), '--subject', 'no equals sign']), { pattern: /RFC 4514/ });
    assert.equal(existsSync(out), false);
  });

  test('writes the public key PEM beside the key: curl --pinnedpubkey accepts it for a server on that key, refuses another', async (t) => {
    const out = fresh('key');
    const result = await runMain(['keygen', '--type', 'ec-p256', '--out', out, '--json']);
    assert.equal(result.code, 0, result.stderr);
    const { pin, publicKeyPath } = JSON.parse(result.stdout);
    assert.equal(publicKeyPath, out.replace(/\.key$/, '.pub.pem'));
    const publicPem = readFileSync(publicKeyPath, 'utf8');
    assert.match(publicPem, /^-----BEGIN PUBLIC KEY-----\n/);
    assert.doesNotMatch(publicPem, /PRIVATE/);
    assert.equal(spkiPin(publicPem), pin);
    // A server whose certificate is for the new key (the day the backup key goes live).
    const key = createPrivateKey(readFileSync(out));
    const cert = createCertificate({ subject: 'CN=api.example.test', publicKey: key, issuer: { subject: pki.intermediate.subject, privateKey: pki.intermediate.key }, dnsNames: ['api.example.test'], ipAddresses: ['127.0.0.1'] });
    const onNewKey = await startHttpsServer({ key, cert: [cert.pem, pki.intermediate.pem] });
    t.after(() => onNewKey.close());
    const onOldKey = await startHttpsServer({ cert: [pki.leaf, pki.intermediate] });
    t.after(() => onOldKey.close());
    const caFile = fresh('pem');
    writeFileSync(caFile, pki.root.pem);
    const curl = (port) => runProgram('curl', ['--silent', '--show-error', '--cacert', caFile, '--pinnedpubkey', publicKeyPath, `https://127.0.0.1:${port}/`]);
    const accepted = await curl(onNewKey.port);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.equal(accepted.stdout, 'ok');
    const refused = await curl(onOldKey.port);
    assert.equal(refused.code, 90, `curl exit 90 is CURLE_SSL_PINNEDPUBKEYNOTMATCH: ${refused.stderr}`);
    assert.equal(onOldKey.requests.length, 0, 'curl sent no request to the server on another key');
    // and curl reading the private key file itself is what did not work before
    const withPrivate = await runProgram('curl', ['--silent', '--cacert', caFile, '--pinnedpubkey', out, `https://127.0.0.1:${onNewKey.port}/`]);
    assert.notEqual(withPrivate.code, 0);
  });

  test('--pub FILE, never over an existing file, and nothing left behind when it exists', async () => {
    const out = fresh('key');
    const pub = fresh('pem');
    assert.equal((await runMain(['keygen', '--type', 'ed25519', '--out', out, '--pub', pub])).code, 0);
    assert.equal(spkiPin(readFileSync(pub)), spkiPin(readFileSync(out)));
    const out2 = fresh('key');
    assertOneLineError(await runMain(['keygen', '--type', 'ed25519', '--out', out2, '--pub', pub]), { pattern: /already exists/ });
    assert.equal(existsSync(out2), false, 'the private key is removed when its public key cannot be written');
  });

  test('--san puts DNS names and IP addresses in the CSR (openssl reads them); a bad name is refused', async () => {
    const out = fresh('key');
    const csr = fresh('csr');
    const result = await runMain(['keygen', '--type', 'ec-p256', '--out', out, '--csr', csr, '--subject', 'CN=api.example.com', '--san', 'api.example.com', '--san', '*.api.example.com', '--san', '192.0.2.7', '--san', '2001:db8::1']);
    assert.equal(result.code, 0, result.stderr);
    const text = await runProgram('openssl', ['req', '-in', csr, '-noout', '-verify', '-text']);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /X509v3 Subject Alternative Name:\s*\n\s*DNS:api\.example\.com, DNS:\*\.api\.example\.com, IP Address:192\.0\.2\.7, IP Address:2001:DB8:0:0:0:0:0:1/);
    const bad = fresh('key');
    assertOneLineError(await runMain(['keygen', '--type', 'ec-p256', '--out', bad, '--csr', fresh('csr'), '--subject', 'CN=x', '--san', 'not a name']), { pattern: /not a DNS name or IP address for the CSR: "not a name"/ });
    assert.equal(existsSync(bad), false);
    assertOneLineError(await runMain(['keygen', '--type', 'ec-p256', '--out', fresh('key'), '--san', 'x.example']), { pattern: /--san goes with --csr/ });
  });

  test('--out into a missing folder: one clear line, nothing written', async () => {
    const missing = join(dir, 'no-such-folder', 'backup.key');
    const line = assertOneLineError(await runMain(['keygen', '--type', 'ec-p256', '--out', missing]), { pattern: /cannot write .*backup\.key: the folder .*no-such-folder does not exist/ });
    assert.doesNotMatch(line, /ENOENT/);
    assert.ok(!readdirSync(dir).includes('no-such-folder'));
  });
});
