// The certificate and CSR builder is only worth its tests if a real X.509 implementation accepts what it
// writes, so every check here goes through openssl (and, for certificates, Node's own verifier too).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spkiPin } from 'certpin';
import { createCertificate, createCsr } from '../../build/src/lib/x509.js';
import { independentPin, makePki, writePki } from '../support/pki.mjs';

const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-x509-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files;
before(async () => {
  files = await writePki(dir);
});

const DAY = 24 * 60 * 60 * 1000;
const EMPTY_SHA256 = createHash('sha256').digest('base64');

/** Runs openssl in the work directory; openssl missing throws, so the test fails rather than skips. */
function openssl(args) {
  const result = spawnSync('openssl', args, { cwd: dir });
  if (result.error) throw result.error;
  return { status: result.status, out: `${result.stdout}${result.stderr}` };
}

function verify(name, { ca = 'root', untrusted = 'intermediate', extra = [] } = {}) {
  return openssl(['verify', '-CAfile', files[ca].cert, ...(untrusted ? ['-untrusted', files[untrusted].cert] : []), ...extra, files[name].cert]);
}

function assertVerifies(name, options) {
  const { status, out } = verify(name, options);
  assert.equal(status, 0, `openssl verify rejected ${name}: ${out}`);
  assert.match(out, /: OK\s*$/);
}

function assertRejected(name, options, reason) {
  const { status, out } = verify(name, options);
  assert.notEqual(status, 0, `openssl verify accepted ${name}`);
  assert.match(out, reason);
}

describe('certificates from the builder, checked by openssl verify', () => {
  for (const name of ['leaf', 'leaf2', 'soonLeaf', 'leaf20', 'rsaLeaf', 'ecP384Leaf', 'ed25519Leaf']) {
    test(`${name} chains to the root through the intermediate`, () => {
      assertVerifies(name, { extra: ['-purpose', 'sslserver'] });
      assert.ok(pki[name].cert.checkIssued(pki.intermediate.cert));
      assert.ok(pki[name].cert.verify(pki.intermediate.cert.publicKey));
    });
  }

  test('leafOnInt2 chains through intermediate2, not intermediate', () => {
    assertVerifies('leafOnInt2', { untrusted: 'intermediate2' });
    assertRejected('leafOnInt2', { untrusted: 'intermediate' }, /unable to get local issuer certificate/);
    assert.notEqual(pki.intermediate2.pin, pki.intermediate.pin);
  });

  test('the intermediates are CAs under the root', () => {
    assertVerifies('intermediate', { untrusted: null });
    assertVerifies('intermediate2', { untrusted: null });
    assert.equal(pki.root.cert.ca, true);
    assert.equal(pki.intermediate.cert.ca, true);
    assert.equal(pki.leaf.cert.ca, false);
    assert.equal(pki.root.cert.subject, 'CN=certpin Test Root');
    assert.equal(pki.root.cert.issuer, 'CN=certpin Test Root');
  });

  test('a renewed leaf has a new key', () => {
    assert.notEqual(pki.leaf2.pin, pki.leaf.pin);
    assert.equal(pki.leaf2.cert.subject, pki.leaf.cert.subject);
  });

  test('the expired leaf is refused as expired', () => {
    assertRejected('expiredLeaf', {}, /certificate has expired/);
    assert.ok(new Date(pki.expiredLeaf.cert.validTo) < new Date());
  });

  test('the near-expiry leaves expire in 5 and 20 days', () => {
    const daysLeft = (entry) => (Date.parse(entry.cert.validTo) - Date.now()) / DAY;
    assert.ok(Math.abs(daysLeft(pki.soonLeaf) - 5) < 0.1);
    assert.ok(Math.abs(daysLeft(pki.leaf20) - 20) < 0.1);
    assert.ok(daysLeft(pki.leaf) > 300);
  });

  test('the rogue leaf chains only to the rogue root', () => {
    assertVerifies('rogueLeaf', { ca: 'rogueRoot', untrusted: 'rogueIntermediate' });
    assertRejected('rogueLeaf', { untrusted: 'rogueIntermediate' }, /unable to get (local issuer|issuer) certificate/);
    assertRejected('rogueLeaf', {}, /unable to get local issuer certificate/);
  });

  test('the forged leaf names the real intermediate but its signature does not verify', () => {
    assert.equal(pki.forgedLeaf.cert.issuer, pki.intermediate.cert.subject);
    assertRejected('forgedLeaf', {}, /certificate signature failure/);
    assert.equal(pki.forgedLeaf.cert.verify(pki.intermediate.cert.publicKey), false);
  });

  test('server certificates carry the test names, wildcard and IP addresses included', () => {
    for (const hostname of ['localhost', 'api.example.test', 'other.example.test']) {
      assertVerifies('leaf', { extra: ['-verify_hostname', hostname] });
    }
    for (const ip of ['127.0.0.1', '::1']) assertVerifies('leaf', { extra: ['-verify_ip', ip] });
    assertRejected('leaf', { extra: ['-verify_hostname', 'a.b.example.test'] }, /hostname mismatch/);
    assertRejected('leaf', { extra: ['-verify_hostname', 'example.test'] }, /hostname mismatch/);
    assertRejected('leaf', { extra: ['-verify_ip', '127.0.0.2'] }, /IP address mismatch/);
    assert.equal(pki.leaf.cert.checkIP('::1'), '::1');
    assert.equal(pki.leaf.cert.checkHost('x.example.test'), '*.example.test');
  });

  test('every entry has a key, a certificate for it, PEM, DER and an independent pin', () => {
    for (const entry of Object.values(pki)) {
      assert.equal(entry.key.type, 'private');
      assert.ok(entry.cert.checkPrivateKey(entry.key), entry.name);
      assert.deepEqual(entry.cert.raw, entry.der);
      assert.equal(entry.pem, entry.cert.toString());
      assert.equal(entry.pin, independentPin(createPublicKey(entry.key)));
    }
    assert.equal(pki.rsaLeaf.key.asymmetricKeyDetails.modulusLength, 2048);
    assert.equal(pki.ecP384Leaf.key.asymmetricKeyDetails.namedCurve, 'secp384r1');
    assert.equal(pki.leaf.key.asymmetricKeyDetails.namedCurve, 'prime256v1');
    assert.equal(pki.ed25519Leaf.key.asymmetricKeyType, 'ed25519');
  });
});

describe('certificates signed by each key type', () => {
  const signers = [
    ['RSA', 'rsa', { modulusLength: 2048 }, /sha256WithRSAEncryption/],
    ['EC P-256', 'ec', { namedCurve: 'P-256' }, /ecdsa-with-SHA256/],
    ['EC P-384', 'ec', { namedCurve: 'P-384' }, /ecdsa-with-SHA384/],
    ['Ed25519', 'ed25519', {}, /ED25519/],
  ];
  for (const [label, type, options, algorithm] of signers) {
    test(`a ${label} CA signs a leaf openssl accepts`, () => {
      const caKey = generateKeyPairSync(type, options).privateKey;
      const leafKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
      const ca = createCertificate({ subject: `CN=${label} CA`, publicKey: caKey, ca: true, pathLength: 0 });
      const leaf = createCertificate({
        subject: 'CN=signed.example.test', publicKey: leafKey, issuer: { subject: `CN=${label} CA`, privateKey: caKey }, dnsNames: ['signed.example.test'],
      });
      const name = `signed-by-${type}-${label.length}`;
      writeFileSync(join(dir, `${name}-ca.pem`), ca.pem);
      writeFileSync(join(dir, `${name}.pem`), leaf.pem);
      const result = openssl(['verify', '-CAfile', `${name}-ca.pem`, '-verify_hostname', 'signed.example.test', `${name}.pem`]);
      assert.equal(result.status, 0, result.out);
      const text = openssl(['x509', '-in', `${name}.pem`, '-noout', '-text']).out;
      assert.match(text, new RegExp(`Signature Algorithm: ${algorithm.source}`));
      assert.match(openssl(['x509', '-in', `${name}-ca.pem`, '-noout', '-text']).out, /CA:TRUE, pathlen:0/);
    });
  }

  test('dates from 2050 on are written as GeneralizedTime and read back exactly', () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const notAfter = new Date(Date.UTC(2051, 0, 2, 3, 4, 5));
    const { pem, certificate } = createCertificate({ subject: 'CN=far future', publicKey: key, notAfter });
    writeFileSync(join(dir, 'far-future.pem'), pem);
    assert.match(openssl(['x509', '-in', 'far-future.pem', '-noout', '-enddate']).out, /notAfter=Jan {2}2 03:04:05 2051 GMT/);
    assert.equal(Date.parse(certificate.validTo), notAfter.getTime());
  });
});

describe('CSRs from createCsr, checked by openssl req -verify', () => {
  const keyTypes = [
    ['EC P-256', 'ec', { namedCurve: 'P-256' }],
    ['EC P-384', 'ec', { namedCurve: 'P-384' }],
    ['RSA 2048', 'rsa', { modulusLength: 2048 }],
    ['Ed25519', 'ed25519', {}],
  ];
  for (const [label, type, options] of keyTypes) {
    test(`a ${label} CSR has a valid self-signature, its subject and the key's pin`, () => {
      const key = generateKeyPairSync(type, options).privateKey;
      const csr = createCsr('CN=csr.example.test,O=certpin tests', key);
      const file = `csr-${label.replace(/\W/g, '')}.pem`;
      writeFileSync(join(dir, file), csr);
      // OpenSSL 3.0 exits 0 even when the signature fails, so read what it says.
      const checked = openssl(['req', '-in', file, '-verify', '-noout', '-subject', '-nameopt', 'RFC2253']);
      assert.equal(checked.status, 0, checked.out);
      assert.match(checked.out, /verify OK/);
      assert.doesNotMatch(checked.out, /verify fail/i);
      assert.match(checked.out, /^subject=CN=csr\.example\.test,O=certpin tests$/m);
      const pipeline = `openssl req -in ${file} -pubkey -noout | openssl pkey -pubin -outform DER | openssl dgst -sha256 -binary | base64`;
      const fromOpenssl = spawnSync('sh', ['-c', pipeline], { cwd: dir }).stdout.toString().trim();
      assert.notEqual(fromOpenssl, EMPTY_SHA256);
      assert.equal(`sha256/${fromOpenssl}`, independentPin(key));
      assert.equal(spkiPin(csr), independentPin(key));
    });
  }

  test('a CSR with a damaged signature is reported as failing verification', () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const der = Buffer.from(createCsr('CN=tampered.example.test', key).replace(/-----[^-]+-----|\s/g, ''), 'base64');
    der[der.length - 5] ^= 0xff;
    writeFileSync(join(dir, 'tampered.csr'), der);
    const checked = openssl(['req', '-in', 'tampered.csr', '-inform', 'DER', '-verify', '-noout']);
    assert.doesNotMatch(checked.out, /verify OK/);
  });
});
