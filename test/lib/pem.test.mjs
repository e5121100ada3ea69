// Reading PEM (src/lib/pem.ts): bundles in order, and bad input refused with ERR_CERTPIN_INVALID_INPUT in
// one pass over the text (issue 13 item 5: a lazy regex from every BEGIN line to its END rescanned the
// rest of the text for each BEGIN without an END; 32k such lines took 5.8 s).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spkiPin } from 'certpin';
import { readCertificates, readCryptoObjects } from '../../build/src/lib/pem.js';
import { chainPem, makePki } from '../support/pki.mjs';

const pki = await makePki();

test('32k BEGIN lines without an END are refused as truncated input, not read for seconds', () => {
  const text = '-----BEGIN CERTIFICATE-----\n'.repeat(32 * 1024);
  assert.ok(text.length > 700 * 1024);
  assert.throws(() => spkiPin(text), { code: 'ERR_CERTPIN_INVALID_INPUT', message: /no matching END line/ });
  assert.throws(() => readCertificates(`${pki.leaf.pem}${text}`, 'bundle.pem'), { code: 'ERR_CERTPIN_INVALID_INPUT', message: /^bundle\.pem: a PEM block "CERTIFICATE" has no matching END line/ });
});

test('BEGIN lines of many labels, each without an END, are refused the same way', () => {
  const labels = ['CERTIFICATE', 'PUBLIC KEY', 'PRIVATE KEY', 'X509 CRL'];
  const text = Array.from({ length: 32 * 1024 }, (_, i) => `-----BEGIN ${labels[i % labels.length]}-----\nAAAA\n`).join('');
  assert.throws(() => readCryptoObjects(text), { code: 'ERR_CERTPIN_INVALID_INPUT', message: /no matching END line/ });
});

test('a bundle is read in order; a BEGIN inside a block is damage, not a second block', () => {
  const certs = readCertificates(chainPem(pki.leaf, pki.intermediate, pki.root));
  assert.deepEqual(certs.map((c) => c.fingerprint256), [pki.leaf, pki.intermediate, pki.root].map((e) => e.cert.fingerprint256));
  const [head, tail] = pki.leaf.pem.split('\n-----END CERTIFICATE-----');
  const nested = `${head}\n${pki.intermediate.pem}${tail}`;
  assert.throws(() => readCertificates(nested), { code: 'ERR_CERTPIN_INVALID_INPUT' });
});

test('text around and between blocks is ignored, as openssl does', () => {
  const text = `subject=CN=leaf\n${pki.leaf.pem}\nsome notes\n${pki.intermediate.pem}trailing`;
  assert.equal(readCertificates(text).length, 2);
});
