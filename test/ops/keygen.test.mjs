// Backup keys (docs/cli.md keygen): PKCS#8 PEM, mode 0600 whatever the umask, never over an existing file,
// and a CSR that real openssl verifies and that carries the key's pin.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createPrivateKey } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createBackupKey, KEY_TYPES, spkiPin } from 'certpin';
import { independentPin } from '../support/pki.mjs';

const dir = mkdtempSync(join(tmpdir(), 'certpin-keygen-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
const path = (ext) => join(dir, `k${++n}.${ext}`);

/** Runs openssl; not being able to start it fails the test. */
function openssl(args) {
  const result = spawnSync('openssl', args, { encoding: 'utf8' });
  if (result.error) throw result.error;
  return result;
}

const EXPECTED = {
  'ec-p256': ['ec', { namedCurve: 'prime256v1' }],
  'ec-p384': ['ec', { namedCurve: 'secp384r1' }],
  'rsa-2048': ['rsa', { modulusLength: 2048 }],
  'rsa-3072': ['rsa', { modulusLength: 3072 }],
  'rsa-4096': ['rsa', { modulusLength: 4096 }],
  ed25519: ['ed25519', {}],
};

describe('createBackupKey', () => {
  for (const type of KEY_TYPES) {
    test(`${type}: PKCS#8 PEM, mode 0600 even with umask 000, and the pin of its public key`, async () => {
      const out = path('key');
      const previous = process.umask(0o000);
      let key;
      try {
        key = await createBackupKey({ type, out });
      } finally {
        process.umask(previous);
      }
      assert.equal(statSync(out).mode & 0o777, 0o600);
      const pem = readFileSync(out, 'utf8');
      assert.match(pem, /^-----BEGIN PRIVATE KEY-----\n/);
      const privateKey = createPrivateKey(pem);
      const [kind, details] = EXPECTED[type];
      assert.equal(privateKey.asymmetricKeyType, kind);
      for (const [name, value] of Object.entries(details)) assert.equal(privateKey.asymmetricKeyDetails[name], value);
      assert.equal(key.pin, independentPin(privateKey));
      assert.deepEqual({ keyPath: key.keyPath, csrPath: key.csrPath, type: key.type }, { keyPath: out, csrPath: null, type });
    });
  }

  test('0600 under a restrictive umask too (fchmod, not the umask, decides)', async () => {
    const out = path('key');
    const previous = process.umask(0o077);
    try {
      await createBackupKey({ type: 'ec-p256', out });
    } finally {
      process.umask(previous);
    }
    assert.equal(statSync(out).mode & 0o777, 0o600);
  });

  test('never writes over an existing file or through a symlink', async () => {
    const out = path('key');
    writeFileSync(out, 'precious');
    await assert.rejects(createBackupKey({ type: 'ec-p256', out }), { code: 'ERR_CERTPIN_INVALID_INPUT', message: /already exists.*never overwrites/ });
    assert.equal(readFileSync(out, 'utf8'), 'precious');
    const target = path('target');
    writeFileSync(target, 'precious too');
    const link = path('link');
    symlinkSync(target, link);
    await assert.rejects(createBackupKey({ type: 'ec-p256', out: link }), { code: 'ERR_CERTPIN_INVALID_INPUT' });
    assert.equal(readFileSync(target, 'utf8'), 'precious too');
  });

  test('a CSR signed by the key verifies with openssl req -verify and has the same pin', async () => {
    for (const type of ['ec-p256', 'ec-p384', 'rsa-2048', 'ed25519']) {
      const out = path('key');
      const csr = path('csr');
      const key = await createBackupKey({ type, out, csr: { path: csr, subject: 'CN=api.example.com,O=Example\\, Inc.,C=DE' } });
      assert.equal(key.csrPath, csr);
      const verify = openssl(['req', '-in', csr, '-noout', '-verify', '-subject', '-nameopt', 'RFC2253']);
      assert.equal(verify.status, 0, verify.stderr);
      assert.match(`${verify.stdout}${verify.stderr}`, /verify OK/i);
      assert.match(verify.stdout, /subject=CN=api\.example\.com,O=Example\\, Inc\.,C=DE/);
      assert.equal(spkiPin(readFileSync(csr)), key.pin, type);
      // openssl agrees the CSR's public key is the key's
      const fromCsr = openssl(['req', '-in', csr, '-noout', '-pubkey']).stdout;
      const fromKey = openssl(['pkey', '-in', out, '-pubout']).stdout;
      assert.equal(fromCsr, fromKey);
    }
  });

  test('a bad subject or an existing CSR file leaves nothing behind', async () => {
    const out = path('key');
    await assert.rejects(createBackupKey({ type: 'ec-p256', out, csr: { path: path('csr'), subject: 'api.example.com' } }), { name: 'TypeError', message: /RFC 4514/ });
    assert.equal(existsSync(out), false);
    const csr = path('csr');
    writeFileSync(csr, 'old csr');
    await assert.rejects(createBackupKey({ type: 'ec-p256', out, csr: { path: csr, subject: 'CN=x' } }), { code: 'ERR_CERTPIN_INVALID_INPUT', message: /already exists/ });
    assert.equal(existsSync(out), false, 'the key is removed when its CSR cannot be written');
    assert.equal(readFileSync(csr, 'utf8'), 'old csr');
  });

  test('an unknown key type is a TypeError', async () => {
    await assert.rejects(createBackupKey({ type: 'dsa-1024', out: path('key') }), { name: 'TypeError', message: /ec-p256, ec-p384, rsa-2048/ });
  });
});
