// Every SERVER case of x509-limbo (C2SP/x509-limbo, Apache-2.0; see test/fixtures/limbo/README.md) run
// through certpin's chain prover: trusted_certs as the anchors, the peer certificate and
// untrusted_intermediates as the served chain, at the case's validation_time (a fixed instant when it
// has none: never today's date) and within its max_chain_depth. "Anchored" must equal limbo's
// expected result, except for the cases listed below, each with the reason.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { X509Certificate } from 'node:crypto';
import { certInfo, PATH_BUDGET, proveChain, TrustStore } from '../../build/src/chain/prove.js';

const limbo = JSON.parse(gunzipSync(readFileSync(new URL('../fixtures/limbo/limbo.json.gz', import.meta.url))).toString('utf8'));
const cases = limbo.testcases.filter((c) => c.validation_kind === 'SERVER');
/** For cases with validation_time null: their certificates are valid from 1970 to 2969. */
const FIXED_TIME = Date.parse('2025-06-01T00:00:00Z');

/** Not the prover's job: Node's checkServerIdentity checks the host name, which runs on every connection too. */
const HOSTNAME_CASES = /::san::|::cn::/;
/** Revocation is out of scope: certpin is given no CRLs (limbo's `crls`), nor is Node's TLS by default. */
const CRL_CASES = /^crl::/;

/**
 * Where certpin deliberately disagrees with limbo. Limbo is stricter than OpenSSL in places (the
 * webpki:: CA/Browser Forum rules, AKI/SKI presence, encodings); certpin follows it except where a
 * real-world chain would break, or where limbo itself lists the case as conflicting with another.
 */
const NOT_FOLLOWED = {
  // Key identifiers: RFC 5280 says CAs MUST include them, but OpenSSL, Go and the browsers build paths
  // without them, and private CAs (old openssl scripts, some appliances) still omit them: refusing
  // would break such chains for no security gain (the signature proves the link).
  'rfc5280::aki::leaf-missing-aki': 'missing AKI accepted (private CAs omit it; OpenSSL accepts)',
  'rfc5280::aki::intermediate-missing-aki': 'missing AKI accepted (private CAs omit it; OpenSSL accepts)',
  'rfc5280::aki::cross-signed-root-missing-aki': 'missing AKI accepted (private CAs omit it; OpenSSL accepts)',
  'rfc5280::ski::root-missing-ski': 'missing SKI accepted (private CAs omit it; OpenSSL accepts)',
  'rfc5280::ski::intermediate-missing-ski': 'missing SKI accepted (private CAs omit it; OpenSSL accepts)',
  // Real roots in Node's own bundle break these rules, so they do not bind trust anchors.
  'rfc5280::root-non-critical-basic-constraints': "a root's basicConstraints may be non-critical: Chunghwa's ePKI Root in Node's bundle has them so (served CAs must mark them critical)",
  'webpki::aki::root-with-aki-authoritycertissuer': "QuoVadis Root CA 2 and 3 and Certigna, in Node's bundle, carry authorityCertIssuer",
  'webpki::aki::root-with-aki-authoritycertserialnumber': "QuoVadis Root CA 2 and 3 and Certigna, in Node's bundle, carry authorityCertSerialNumber",
  'webpki::aki::root-with-aki-all-fields': "QuoVadis Root CA 2 and 3 and Certigna, in Node's bundle, carry all AKI fields",
  // Limbo's own conflicting pairs: one of each must fail.
  'rfc5280::nc::permitted-dns-match-noncritical': 'conflicts with webpki::nc::permitted-dns-match-noncritical, followed: CA/B Forum allows non-critical name constraints, and real constrained CAs use them',
  'webpki::eku::ee-without-eku': 'conflicts with rfc5280::eku::ee-without-eku, followed: private CAs issue leaves without EKU, and RFC 5280 allows it',
  'rfc5280::ca-as-leaf': 'conflicts with webpki::ca-as-leaf, followed: a CA certificate in the leaf position is refused (CA/B Forum BR 7.1.2.7.8, issue 13), unless the certificate is itself the trust anchor',
  'pathlen::validation-ignores-pathlen-in-leaf': 'the same rule as webpki::ca-as-leaf: its leaf is a CA certificate (pathlen 0), refused in the leaf position',
  // Encoding rules relaxed where real private PKIs would break.
  'webpki::v1-cert': 'an X.509 v1 leaf (no extensions) is accepted: `openssl x509 -req` without extensions made them for years, and Node accepts them',
};

function run(c) {
  const parse = (pem) => {
    try {
      return new X509Certificate(pem);
    } catch {
      return undefined; // Node cannot read it: it can be on no path
    }
  };
  const peer = parse(c.peer_certificate);
  const store = new TrustStore(c.trusted_certs.map(parse).filter(Boolean));
  const served = [peer, ...c.untrusted_intermediates.map(parse)].filter(Boolean).map(certInfo);
  if (!peer) return { anchored: false, exhausted: false, work: { signatures: 0, steps: 0, nameComparisons: 0 } };
  const now = c.validation_time ? Date.parse(c.validation_time) : FIXED_TIME;
  return proveChain(served, store, { now, ...(c.max_chain_depth === null ? {} : { maxDepth: c.max_chain_depth }) });
}

test('x509-limbo: every SERVER case runs, nothing throws, and the prover agrees with limbo except where listed', (t) => {
  assert.equal(cases.length, 198);
  const results = [];
  for (const c of cases) {
    const t0 = performance.now();
    let result;
    let error;
    try {
      result = run(c);
    } catch (e) {
      error = e;
    }
    results.push({ c, result, error, ms: performance.now() - t0 });
  }
  const thrown = results.filter((r) => r.error !== undefined).map((r) => `${r.c.id}: ${r.error.message}`);
  assert.deepEqual(thrown, [], 'no case throws');

  const agree = (r) => r.result.anchored === (r.c.expected_result === 'SUCCESS');
  const disagreements = [];
  for (const r of results) {
    const { id } = r.c;
    if (HOSTNAME_CASES.test(id) || CRL_CASES.test(id)) continue;
    if (id in NOT_FOLLOWED) {
      assert.equal(agree(r), false, `${id} is listed as not followed but agrees: take it off the list`);
      continue;
    }
    if (!agree(r)) disagreements.push(`${id}: expected ${r.c.expected_result}, anchored ${r.result.anchored} (${r.result.problem ?? 'no problem'})`);
  }
  assert.deepEqual(disagreements, []);

  const total = results.filter(agree).length;
  const scoped = results.filter((r) => !HOSTNAME_CASES.test(r.c.id) && !CRL_CASES.test(r.c.id));
  const slowest = [...results].sort((a, b) => b.ms - a.ms)[0];
  t.diagnostic(`agreement with limbo: ${total}/${results.length} SERVER cases (baseline 73/198); ${scoped.filter(agree).length}/${scoped.length} in scope`);
  t.diagnostic(`not followed: ${Object.keys(NOT_FOLLOWED).length}; hostname cases (Node's job): ${results.filter((r) => HOSTNAME_CASES.test(r.c.id)).length}; CRL cases (out of scope): ${results.filter((r) => CRL_CASES.test(r.c.id)).length}`);
  t.diagnostic(`slowest case (first run, cold caches, shared machine): ${slowest.c.id} ${slowest.ms.toFixed(1)} ms`);
});

test('x509-limbo: no SUCCESS case is left unanchored, the real-world online:: chains included', () => {
  const online = cases.filter((c) => c.id.startsWith('online::'));
  assert.ok(online.length >= 10);
  const unanchored = cases
    .filter((c) => c.expected_result === 'SUCCESS' && !(c.id in NOT_FOLLOWED))
    .filter((c) => !run(c).anchored)
    .map((c) => c.id);
  assert.deepEqual(unanchored, []);
});

test('x509-limbo: no FAILURE case of the path-structure families is anchored', () => {
  const families = /^(rfc5280::validity::|pathlen::|pathological::|rfc5280::nc::|webpki::nc::|rfc5280::eku::|webpki::eku::|cve::|rfc5280::(intermediate-ca|root-missing|root-inconsistent|ica-ku|leaf-ku|chain-untrusted|unknown-critical)|webpki::(ee-basicconstraints-ca|ca-as-leaf|cryptographydotio))/;
  const failures = cases.filter((c) => c.expected_result === 'FAILURE' && families.test(c.id));
  assert.ok(failures.length >= 60, `${failures.length} cases`);
  const anchored = failures.filter((c) => !(c.id in NOT_FOLLOWED) && run(c).anchored).map((c) => c.id);
  assert.deepEqual(anchored, []);
});

test('x509-limbo: every case stays within the budget, and the pathological ones are cut short or refused cheaply', () => {
  for (const c of cases) {
    const { work } = run(c);
    assert.ok(work.signatures <= PATH_BUDGET.signatures + 1, `${c.id}: ${work.signatures} signature checks`);
    assert.ok(work.steps <= PATH_BUDGET.steps + 1, `${c.id}: ${work.steps} steps`);
    assert.ok(work.nameComparisons <= PATH_BUDGET.nameComparisons, `${c.id}: ${work.nameComparisons} name comparisons`);
  }
  for (const id of ['pathological::nc-dos-1', 'pathological::nc-dos-2', 'pathological::nc-dos-3']) {
    const result = run(cases.find((c) => c.id === id));
    assert.equal(result.anchored, false, id);
    assert.equal(result.exhausted, true, `${id} runs out of name comparisons before doing them`);
    assert.match(result.problem, /budget/);
  }
  const sameSubjectSameKey = run(cases.find((c) => c.id === 'pathological::pathological-chain-same-subject-same-key'));
  assert.equal(sameSubjectSameKey.anchored, false);
  assert.ok(sameSubjectSameKey.work.signatures <= 10, `loop detection by subject and key spares signatures: ${sameSubjectSameKey.work.signatures}`);
});
