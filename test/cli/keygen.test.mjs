// `certpin keygen` (SPEC 9): a backup key written 0600, never over an existing file, its pin printed,
// a CSR openssl verifies, and the pin added to the pin file as a backup.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spkiPin } from 'certpin';
import { independentPin, makePki } from '../support/pki.mjs';
import { assertOneLineError, runCli, runProgram } from '../support/cli.mjs';

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
    assertOneLineError(await runCli(['keygen', '--type', 'ec-p256', '--out', out]), { code: 2, pattern: /already exists/ });
    assert.equal(readFileSync(out, 'utf8'), 'existing key');
  });

  test('--csr --subject: a CSR that openssl req -verify accepts, with the key\'s pin', async () => {
    const out = fresh('key');
    const csr = fresh('csr');
    const result = await runCli(['keygen', '--type', 'rsa-2048', '--out', out, '--csr', csr, '--subject', 'CN=api.example.com,O=Example', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(result.stdout);
    assert.deepEqual({ ...json, pin: undefined }, { pin: undefined, type: 'rsa-2048', keyPath: out, csrPath: csr, host: null });
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
    const result = await runCli(['keygen', '--type', 'ec-p384', '--out', out, '--config', config, '--host', 'API.example.com']);
    assert.equal(result.code, 0, result.stderr);
    const pin = result.stdout.trim();
    const pins = JSON.parse(readFileSync(config, 'utf8')).hosts['api.example.com'].pins;
    assert.equal(pins.length, 2);
    assert.equal(pins[0]['x-custom'], 'kept');
    assert.deepEqual([pins[1].pin, pins[1].status], [pin, 'backup']);
    // a host the file does not have: refused before any key is written
    const orphan = fresh('key');
    assertOneLineError(await runCli(['keygen', '--type', 'ec-p256', '--out', orphan, '--config', config, '--host', 'other.example.com']), { code: 2, pattern: /no entry for other\.example\.com/ });
    assert.equal(existsSync(orphan), false);
  });

  test('usage errors', async () => {
    assertOneLineError(await runCli(['keygen', '--out', fresh('key')]), { pattern: /--type is required/ });
    assertOneLineError(await runCli(['keygen', '--type', 'dsa', '--out', fresh('key')]), { pattern: /ec-p256, ec-p384, rsa-2048, rsa-3072, rsa-4096, ed25519/ });
    assertOneLineError(await runCli(['keygen', '--type', 'ec-p256']), { pattern: /--out/ });
    assertOneLineError(await runCli(['keygen', '--type', 'ec-p256', '--out', fresh('key'), '--csr', fresh('csr')]), { pattern: /--subject/ });
    assertOneLineError(await runCli(['keygen', '--type', 'ec-p256', '--out', fresh('key'), '--host', 'x.example']), { pattern: /--config/ });
    const out = fresh('key');
    assertOneLineError(await runCli(['keygen', '--type', 'ec-p256', '--out', out, '--csr', fresh('csr'), '--subject', 'no equals sign']), { pattern: /RFC 4514/ });
    assert.equal(existsSync(out), false);
  });
});
