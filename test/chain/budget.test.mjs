// Issue 13 item 3: served certificates that can all issue each other (same subject, same key: anyone
// can make them without a CA) made the search exponential. The prover now has a fixed budget, detects
// loops by subject and key, and fails closed with a clear message; the tests count its work.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createPolicy } from 'certpin';
import { certInfo, PATH_BUDGET, proveChain, TrustStore } from '../../build/src/chain/prove.js';
import { createCertificate } from '../../build/src/lib/x509.js';
import { makePki } from '../support/pki.mjs';

const pki = await makePki();
const HOST = 'api.example.test';
const ecKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

/** `n` CA certificates with one subject and one key, each self-issued, so each verifies under every other; and a leaf under them. */
function loop(n, { issuer } = {}) {
  const key = ecKey();
  const subject = 'CN=certpin Loop CA';
  const cas = Array.from({ length: n }, () => createCertificate({
    subject, publicKey: key, ca: true,
    issuer: issuer ?? { subject, privateKey: key },
  }).certificate);
  const leaf = createCertificate({ subject: `CN=${HOST}`, publicKey: ecKey(), issuer: { subject, privateKey: key }, dnsNames: [HOST] }).certificate;
  return [leaf, ...cas];
}

for (const n of [12, 20, 50]) {
  test(`${n} self-issuing certificates with one subject and key: refused within the budget, no throw`, () => {
    const served = loop(n);
    const proof = proveChain(served.map(certInfo), TrustStore.from(pki.root.pem));
    assert.equal(proof.anchored, false);
    assert.ok(proof.work.signatures <= PATH_BUDGET.signatures + 1, `${proof.work.signatures} signature checks`);
    assert.ok(proof.work.steps <= PATH_BUDGET.steps + 1, `${proof.work.steps} steps`);
    // Loop detection: a CA (subject and key) at most once per path, so each is tried once under the leaf.
    assert.ok(proof.work.signatures <= n, `${proof.work.signatures} signature checks for ${n} candidates`);
    const result = createPolicy({ ca: pki.root.pem, hosts: { [HOST]: { pins: [pki.root.pin] } } }).check(HOST, served);
    assert.equal(result.ok, false);
    assert.equal(result.error.code, 'ERR_CERTPIN_MISMATCH');
  });
}

test('the same loop issued by a trusted CA: valid paths are found and counted, the search stays bounded', () => {
  const served = loop(50, { issuer: { subject: pki.root.subject, privateKey: pki.root.key } });
  const policy = (pins) => createPolicy({ ca: pki.root.pem, hosts: { [HOST]: { pins } } });
  const proof = proveChain(served.map(certInfo), TrustStore.from(pki.root.pem));
  assert.equal(proof.anchored, true);
  assert.ok(proof.paths.length <= PATH_BUDGET.paths);
  assert.ok(proof.work.signatures <= PATH_BUDGET.signatures + 1);
  assert.ok(proof.work.steps <= PATH_BUDGET.steps + 1);
  assert.equal(policy([pki.root.pin]).check(HOST, served).ok, true, 'a pin on a valid path counts');
  const other = policy([pki.intermediate.pin]).check(HOST, served);
  assert.equal(other.ok, false);
});

test('when the budget runs out before any valid path, the check fails closed and says so', () => {
  // 120 distinct keys under one name: each candidate costs a signature check, 100 is the budget.
  const subject = 'CN=certpin Crowd CA';
  const key = ecKey();
  const crowd = Array.from({ length: 120 }, () => createCertificate({ subject, publicKey: ecKey(), ca: true, issuer: { subject: pki.root.subject, privateKey: pki.root.key }, omitKeyIdentifiers: true }).certificate);
  const real = createCertificate({ subject, publicKey: key, ca: true, issuer: { subject: pki.root.subject, privateKey: pki.root.key }, omitKeyIdentifiers: true }).certificate;
  const leaf = createCertificate({ subject: `CN=${HOST}`, publicKey: ecKey(), issuer: { subject, privateKey: key }, dnsNames: [HOST], omitKeyIdentifiers: true }).certificate;
  const served = [leaf, ...crowd, real];
  const proof = proveChain(served.map(certInfo), TrustStore.from(pki.root.pem));
  assert.equal(proof.exhausted, true);
  assert.equal(proof.anchored, false);
  assert.equal(proof.work.signatures, PATH_BUDGET.signatures + 1);
  const result = createPolicy({ ca: pki.root.pem, hosts: { [HOST]: { pins: [pki.root.pin] } } }).check(HOST, served);
  assert.equal(result.ok, false);
  assert.match(result.error.message, /ran out of its budget \(100 signature checks/);
  // The same chain without the crowd proves.
  assert.equal(createPolicy({ ca: pki.root.pem, hosts: { [HOST]: { pins: [pki.root.pin] } } }).check(HOST, [leaf, real]).ok, true);
});

test('a chain proven once is answered from the cache: same result object, no new work', () => {
  const store = TrustStore.from([pki.root.pem]);
  const served = [pki.leaf.cert, pki.intermediate.cert].map(certInfo);
  const first = proveChain(served, store);
  assert.equal(first.anchored, true);
  assert.equal(proveChain(served, store), first);
  assert.notEqual(proveChain(served, TrustStore.from([pki.root.pem])), first, 'the cache is per trust store');
});
