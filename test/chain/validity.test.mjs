// docs/guarantees.md C1, C2 / issue 13: pins count only on a path that is valid under RFC 5280 at the time of the check.
// Certificates are made at test time; the checks pass `now`, so nothing depends on today's date (the
// real-server test uses certificates valid around the real clock, since OpenSSL checks against it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createPolicy, pinnedTlsOptions, spkiPin } from 'certpin';
import { createCertificate } from '../../build/src/lib/x509.js';
import { makePki, SERVER_NAMES } from '../support/pki.mjs';
import { startTlsServer } from '../support/servers.mjs';
import { tlsExchange } from '../support/transport-fixtures.mjs';

const exchange = async (options) => (await tlsExchange(options)).reply;

const pki = await makePki();
const DAY = 24 * 60 * 60 * 1000;
const T = Date.parse('2030-01-01T00:00:00Z');
const ecKey = () => generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const HOST = 'api.example.test';

/** A CA or leaf entry `{ subject, key, cert, pem }` issued by `issuer` (an entry) or self-signed. */
function make(subject, { issuer, key = ecKey(), ca = false, from = T - 100 * DAY, to = T + 100 * DAY, ...options } = {}) {
  const { certificate, pem } = createCertificate({
    subject,
    publicKey: key,
    ...(issuer ? { issuer: { subject: issuer.subject, privateKey: issuer.key } } : {}),
    ca,
    notBefore: new Date(from),
    notAfter: new Date(to),
    ...(ca ? {} : { dnsNames: [HOST] }),
    ...options,
  });
  return { subject, key, cert: certificate, pem, pin: spkiPin(certificate) };
}

const root = make('CN=Validity Root', { ca: true, from: T - 1000 * DAY, to: T + 1000 * DAY });
const policyFor = (pins, ...anchors) => createPolicy({ ca: (anchors.length ? anchors : [root]).map((a) => a.pem), hosts: { [HOST]: { pins } } });

test('an intermediate is valid from notBefore to notAfter inclusive, at the time the check is given', () => {
  const intermediate = make('CN=Validity Intermediate', { issuer: root, ca: true, from: T - 10 * DAY, to: T });
  const leaf = make(`CN=${HOST}`, { issuer: intermediate, from: T - 10 * DAY, to: T + 10 * DAY });
  const policy = policyFor([intermediate.pin]);
  const at = (now) => policy.check(HOST, [leaf.cert, intermediate.cert], { now });
  assert.equal(at(T).ok, true, 'notAfter itself is inside');
  assert.equal(at(T + 999).ok, true, 'validity has whole seconds');
  const expired = at(T + 1000);
  assert.equal(expired.ok, false);
  assert.equal(expired.anchored, false);
  assert.match(expired.error.message, /could not be proven to a trust anchor: CN=Validity Intermediate cannot issue .*expired on 2030-01-01T00:00:00.000Z/);
  assert.equal(at(T - 10 * DAY).ok, true, 'notBefore itself is inside');
  assert.equal(at(T - 10 * DAY - 1).ok, false, 'one millisecond before notBefore is outside');
});

test('an expired leaf, an expired root and a root not yet valid do not anchor', () => {
  const intermediate = make('CN=Validity Intermediate B', { issuer: root, ca: true });
  const expiredLeaf = make(`CN=${HOST}`, { issuer: intermediate, from: T - 10 * DAY, to: T - DAY });
  assert.equal(policyFor([root.pin]).check(HOST, [expiredLeaf.cert, intermediate.cert], { now: T }).anchored, false);
  const youngRoot = make('CN=Young Root', { ca: true, from: T + DAY, to: T + 100 * DAY });
  const leafOfYoung = make(`CN=${HOST}`, { issuer: youngRoot });
  const result = policyFor([youngRoot.pin], youngRoot).check(HOST, [leafOfYoung.cert], { now: T });
  assert.equal(result.anchored, false);
  assert.match(result.error.message, /not valid before/);
});

test('the cache never outlives a validity verdict: the same chain checked later is re-proven', () => {
  const intermediate = make('CN=Validity Intermediate C', { issuer: root, ca: true, to: T + DAY });
  const leaf = make(`CN=${HOST}`, { issuer: intermediate });
  const policy = policyFor([intermediate.pin]);
  assert.equal(policy.check(HOST, [leaf.cert, intermediate.cert], { now: T }).ok, true);
  assert.equal(policy.check(HOST, [leaf.cert, intermediate.cert], { now: T + 2 * DAY }).ok, false);
  assert.equal(policy.check(HOST, [leaf.cert, intermediate.cert], { now: T }).ok, true);
});

test('every issuer must be a CA with keyCertSign, within its pathLenConstraint', () => {
  const notCa = make('CN=Not A CA', { issuer: root, ca: false, dnsNames: [] });
  const leafOfNotCa = make(`CN=${HOST}`, { issuer: notCa });
  assert.equal(policyFor([root.pin]).check(HOST, [leafOfNotCa.cert, notCa.cert], { now: T }).anchored, false);

  const noKeyCertSign = make('CN=CA without keyCertSign', { issuer: root, ca: true, keyCertSign: false });
  const leafOfNoSign = make(`CN=${HOST}`, { issuer: noKeyCertSign });
  const refused = policyFor([root.pin]).check(HOST, [leafOfNoSign.cert, noKeyCertSign.cert], { now: T });
  assert.equal(refused.anchored, false, 'OpenSSL\'s own issuer check already refuses it (X509_check_issued tests keyCertSign)');

  const pathLen0 = make('CN=PathLen 0', { issuer: root, ca: true, pathLength: 0 });
  const below = make('CN=Below PathLen 0', { issuer: pathLen0, ca: true });
  const leafBelow = make(`CN=${HOST}`, { issuer: below });
  const tooDeep = policyFor([root.pin]).check(HOST, [leafBelow.cert, below.cert, pathLen0.cert], { now: T });
  assert.equal(tooDeep.anchored, false);
  assert.match(tooDeep.error.message, /pathLenConstraint of 0/);
  const leafDirect = make(`CN=${HOST}`, { issuer: pathLen0 });
  assert.equal(policyFor([root.pin]).check(HOST, [leafDirect.cert, pathLen0.cert], { now: T }).ok, true, 'pathLen 0 may still issue the leaf');
});

test('a leaf with an extendedKeyUsage must be fit for serverAuth; a CA certificate in the leaf position is refused', () => {
  const clientOnly = make(`CN=${HOST}`, { issuer: root, extKeyUsage: ['1.3.6.1.5.5.7.3.2'] });
  const result = policyFor([root.pin]).check(HOST, [clientOnly.cert], { now: T });
  assert.equal(result.anchored, false);
  assert.match(result.error.message, /does not include serverAuth/);
  const noEku = make(`CN=${HOST}`, { issuer: root, extKeyUsage: [] });
  assert.equal(policyFor([root.pin]).check(HOST, [noEku.cert], { now: T }).ok, true, 'no EKU at all is fine (RFC 5280 4.2.1.12)');

  const caLeaf = make(`CN=${HOST}`, { issuer: root, ca: true, dnsNames: [HOST] });
  const refused = policyFor([root.pin]).check(HOST, [caLeaf.cert], { now: T });
  assert.equal(refused.anchored, false);
  assert.match(refused.error.message, /CA certificate in the leaf position/);
  // A self-signed CA certificate trusted as itself (what `openssl req -x509` makes) is its own anchor.
  const selfTrusted = make(`CN=${HOST}`, { ca: true, dnsNames: [HOST] });
  assert.equal(policyFor([selfTrusted.pin], selfTrusted).check(HOST, [selfTrusted.cert], { now: T }).ok, true);
});

test('name constraints bind the leaf names, and a pin on the path that breaks them never counts', () => {
  // Two paths from the same leaf: via a constrained intermediate that excludes the host, and via a
  // cross-sign of the same key that carries no constraints. Only the second is valid.
  const interKey = ecKey();
  const constrained = make('CN=Shared Intermediate', { issuer: root, ca: true, key: interKey, nameConstraints: { excludedDns: ['example.test'] } });
  const otherRoot = make('CN=Other Validity Root', { ca: true, from: T - 1000 * DAY, to: T + 1000 * DAY });
  const cross = make('CN=Shared Intermediate', { issuer: otherRoot, ca: true, key: interKey });
  const leaf = make(`CN=${HOST}`, { issuer: { subject: 'CN=Shared Intermediate', key: interKey } });
  const served = [leaf.cert, constrained.cert, cross.cert];
  const both = (pins) => policyFor(pins, root, otherRoot).check(HOST, served, { now: T });
  assert.equal(both([otherRoot.pin]).ok, true, 'the pin on the valid path counts');
  assert.equal(both([root.pin]).ok, false, 'the pin on the constrained path does not');
  assert.ok(both([root.pin]).unproven.some((c) => c.pin === constrained.pin), 'the constrained intermediate is on no valid path');

  const permits = make('CN=Permits Example', { issuer: root, ca: true, nameConstraints: { permittedDns: ['example.test'] } });
  const inside = make(`CN=${HOST}`, { issuer: permits });
  const outside = make('CN=www.elsewhere.test', { issuer: permits, dnsNames: ['www.elsewhere.test'] });
  assert.equal(policyFor([permits.pin]).check(HOST, [inside.cert, permits.cert], { now: T }).ok, true);
  const broken = policyFor([permits.pin]).check(HOST, [outside.cert, permits.cert], { now: T });
  assert.equal(broken.anchored, false);
  assert.match(broken.error.message, /outside its permitted subtrees/);
});

test('cross-signed roots: a pin on either valid path counts', () => {
  const interKey = ecKey();
  const otherRoot = make('CN=Cross Root', { ca: true, from: T - 1000 * DAY, to: T + 1000 * DAY });
  const viaRoot = make('CN=Cross Intermediate', { issuer: root, ca: true, key: interKey });
  const viaOther = make('CN=Cross Intermediate', { issuer: otherRoot, ca: true, key: interKey });
  const leaf = make(`CN=${HOST}`, { issuer: { subject: 'CN=Cross Intermediate', key: interKey } });
  for (const pin of [root.pin, otherRoot.pin, viaRoot.pin]) {
    const result = policyFor([pin], root, otherRoot).check(HOST, [leaf.cert, viaRoot.cert, viaOther.cert], { now: T });
    assert.equal(result.ok, true, pin);
    assert.ok(result.chain.some((c) => c.pin === pin), 'the chain reported is the path the pin is on');
  }
});

test('an empty subject (a leaf named by its SAN) can be checked, pinned and shown', () => {
  const leaf = make('', { issuer: root });
  // Node 20 gives an empty subject as undefined (docs/node-tls.md N17), Node 24 as ''.
  assert.ok(leaf.cert.subject === undefined || leaf.cert.subject === '', `subject ${JSON.stringify(leaf.cert.subject)}`);
  const pinned = policyFor([root.pin]).check(HOST, [leaf.cert], { now: T });
  assert.equal(pinned.ok, true);
  assert.equal(pinned.chain[0].subject, `(empty subject; DNS:${HOST})`);
  const mismatch = policyFor([pki.intermediate.pin]).check(HOST, [leaf.cert], { now: T });
  assert.equal(mismatch.ok, false);
  assert.match(mismatch.error.message, /\(empty subject; DNS:api\.example\.test\)/);
});

test('issue 13 item 1: an expired sub-CA of the pinned intermediate and its time-valid twin from a trusted rogue CA', { timeout: 30_000 }, async (t) => {
  // The attacker holds a trusted rogue CA and the key of an old sub-CA that the pinned intermediate
  // once signed. OpenSSL validates leaf -> twin -> rogue root; a prover that ignores validity dates
  // finds leaf -> expired sub-CA -> pinned intermediate -> root, and the pin.
  const now = Date.now();
  const subKey = ecKey();
  const pinnedRoot = make('CN=certpin Long Root', { ca: true, from: now - 1000 * DAY, to: now + 1000 * DAY });
  const intermediate = make('CN=certpin Pinned Intermediate', { issuer: pinnedRoot, ca: true, from: now - 900 * DAY, to: now + 900 * DAY });
  const rogueRoot = { subject: pki.rogueRoot.subject, key: pki.rogueRoot.key };
  const expiredSub = make('CN=certpin Old Sub-CA', { issuer: intermediate, key: subKey, ca: true, from: now - 400 * DAY, to: now - 30 * DAY });
  const twin = make('CN=certpin Old Sub-CA', { issuer: rogueRoot, key: subKey, ca: true, from: now - DAY, to: now + 100 * DAY });
  const leafKey = ecKey();
  const leaf = make(`CN=${HOST}`, {
    issuer: { subject: 'CN=certpin Old Sub-CA', key: subKey }, key: leafKey, from: now - 100 * DAY, to: now + 100 * DAY,
    dnsNames: [...SERVER_NAMES.dnsNames], ipAddresses: [...SERVER_NAMES.ipAddresses],
  });
  const config = { ca: [pinnedRoot.pem, pki.rogueRoot.pem], hosts: { [HOST]: { pins: [intermediate.pin] } } };
  const policy = createPolicy(config);
  const served = [leaf.cert, expiredSub.cert, twin.cert, intermediate.cert];

  const result = policy.check(HOST, served, { now });
  assert.equal(result.anchored, true, 'the rogue path is valid');
  assert.equal(result.ok, false);
  assert.deepEqual(result.chain.map((c) => c.pin), [leaf.pin, twin.pin, pki.rogueRoot.pin]);
  assert.ok(result.unproven.some((c) => c.pin === intermediate.pin), 'the pinned intermediate is on no valid path');
  assert.equal(policy.check(HOST, served, { now: now - 60 * DAY }).ok, true, 'while the sub-CA was valid, its path did carry the pin');

  const server = await startTlsServer({ cert: [leaf.pem, expiredSub.pem, twin.pem, intermediate.pem], key: leafKey, onConnection: (socket) => socket.on('data', () => socket.end('pong')) });
  t.after(() => server.close());
  const target = { host: '127.0.0.1', port: server.port, servername: HOST };
  assert.equal(await exchange({ ...target, ca: config.ca }), 'pong', 'control: an unpinned client trusting the rogue CA is fooled');
  const before = server.bytesReceived();
  assert.ok(before > 0);
  const error = await exchange(pinnedTlsOptions(policy, target)).then(() => null, (e) => e);
  assert.equal(error?.code, 'ERR_CERTPIN_MISMATCH');
  assert.equal(server.connections(), 2, 'the pinned client did reach the server');
  assert.equal(server.bytesReceived(), before, 'and sent it zero application bytes');
});

test('a time that is not a time is refused, never read as "every certificate is valid"', () => {
  const intermediate = make('CN=Validity Intermediate D', { issuer: root, ca: true, to: T });
  const leaf = make(`CN=${HOST}`, { issuer: intermediate });
  assert.throws(() => policyFor([intermediate.pin]).check(HOST, [leaf.cert, intermediate.cert], { now: Number.NaN }), TypeError);
});
