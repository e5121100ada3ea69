// Only the proven path counts (docs/guarantees.md C1, C2): the appended-certificate bypass (CVE-2016-2402 class) and
// path building with backtracking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createPolicy } from 'certpin';
import { createCertificate } from '../../build/src/lib/x509.js';
import { makePki } from '../support/pki.mjs';

const pki = await makePki();
const ecKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

/** Both roots trusted, as in a store where another CA can issue for the host. */
const policyPinning = (...pins) => createPolicy({ ca: [pki.root.pem, pki.rogueRoot.pem], hosts: { 'api.example.test': { pins } } });

test('a leaf from another trusted CA served with the genuinely pinned intermediate appended is rejected', () => {
  const served = [pki.rogueLeaf.cert, pki.rogueIntermediate.cert, pki.intermediate.cert];
  const result = policyPinning(pki.intermediate.pin).check('api.example.test', served);
  assert.equal(result.anchored, true, 'the rogue chain itself validates');
  assert.equal(result.ok, false);
  assert.equal(result.outcome, 'mismatch');
  assert.deepEqual(result.chain.map((c) => c.pin), [pki.rogueLeaf.pin, pki.rogueIntermediate.pin, pki.rogueRoot.pin]);
  assert.deepEqual(result.unproven.map((c) => c.pin), [pki.intermediate.pin], 'the pinned intermediate shows as unproven');
  assert.ok(!result.error.peerPins.some((p) => p.pin === pki.intermediate.pin), 'and is not listed as part of the peer chain');
});

test('a leaf naming the pinned intermediate as issuer but signed by another key does not prove', () => {
  const result = policyPinning(pki.intermediate.pin).check('api.example.test', [pki.forgedLeaf.cert, pki.intermediate.cert]);
  assert.equal(result.ok, false);
  assert.equal(result.anchored, false);
  assert.deepEqual(result.unproven.map((c) => c.pin), [pki.intermediate.pin]);
  assert.match(result.error.message, /could not be proven/);
});

test('a same-name candidate whose signature fails is skipped for the next one', () => {
  // Same subject as the real intermediate, its own key, issued by the trusted root: a valid CA, but
  // not the leaf's issuer. Served first, so a prover that links by name alone takes it.
  const decoy = createCertificate({ subject: pki.intermediate.subject, publicKey: ecKey(), issuer: { subject: pki.root.subject, privateKey: pki.root.key }, ca: true, omitKeyIdentifiers: true });
  const served = [pki.leaf.cert, decoy.certificate, pki.intermediate.cert];
  const proven = policyPinning(pki.intermediate.pin).check('api.example.test', served);
  assert.equal(proven.ok, true);
  assert.deepEqual(proven.chain.map((c) => c.pin), [pki.leaf.pin, pki.intermediate.pin, pki.root.pin]);
  const decoyPinned = policyPinning(proven.unproven[0].pin).check('api.example.test', served);
  assert.equal(decoyPinned.ok, false, 'the decoy never counts, even when pinned');
});

test('a branch that verifies but leads nowhere is abandoned for one that reaches an anchor (backtracking)', () => {
  // The real intermediate's key, cross-signed by a root nobody trusts: the leaf verifies under it, but
  // the path dead-ends. Served first.
  const otherRootKey = ecKey();
  const cross = createCertificate({ subject: pki.intermediate.subject, publicKey: pki.intermediate.key, issuer: { subject: 'CN=certpin Untrusted Root', privateKey: otherRootKey }, ca: true });
  const served = [pki.leaf.cert, cross.certificate, pki.intermediate.cert];
  const result = policyPinning(pki.root.pin).check('api.example.test', served);
  assert.equal(result.anchored, true);
  assert.equal(result.ok, true);
  assert.deepEqual(result.chain.map((c) => c.pin).at(-1), pki.root.pin);
  assert.equal(result.chain.length, 3);
});

test('served order does not matter, a missing intermediate does', () => {
  const policy = policyPinning(pki.intermediate.pin);
  assert.equal(policy.check('api.example.test', [pki.leaf.cert, pki.root.cert, pki.intermediate.cert]).ok, true);
  const missing = policy.check('api.example.test', [pki.leaf.cert]);
  assert.equal(missing.ok, false);
  assert.equal(missing.anchored, false);
});

test('an anchor outside the policy trust store does not count', () => {
  const onlyRogue = createPolicy({ ca: [pki.rogueRoot.pem], hosts: { 'api.example.test': { pins: [pki.intermediate.pin] } } });
  const result = onlyRogue.check('api.example.test', [pki.leaf.cert, pki.intermediate.cert, pki.root.cert]);
  assert.equal(result.anchored, false);
  assert.equal(result.ok, false);
});
