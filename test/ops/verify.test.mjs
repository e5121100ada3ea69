// verifyPins (src/ops/verify.ts): the verdict `certpin verify` prints, as a library function. Each
// outcome against a real TLS server on loopback: pinned, mismatch (also report-only), untrusted,
// unpinned, pins-expired, unreachable; and what is a misuse rather than a result.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPolicy, isCertpinError, PinMismatchError, verifyPins } from 'certpin';
import { makePki } from '../support/pki.mjs';
import { startPlainTcpServer, startTlsServer } from '../support/servers.mjs';

const pki = await makePki();
const ca = pki.root.pem;
const servers = {};
let refusedPort;
before(async () => {
  servers.good = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
  servers.rogue = await startTlsServer({ cert: [pki.rogueLeaf, pki.rogueIntermediate] });
  const closed = await startPlainTcpServer('silent');
  refusedPort = closed.port;
  await closed.close();
});
after(() => Promise.all(Object.values(servers).map((s) => s.close())));
const at = (name) => `127.0.0.1:${servers[name].port}`;

describe('verifyPins with a list of pins', () => {
  test('pinned: the verified chain carries one of them (any spelling); the matched pin and the chain', async () => {
    const curlSpelling = pki.intermediate.pin.replace('sha256/', 'sha256//');
    const result = await verifyPins(at('good'), [pki.rogueIntermediate.pin, curlSpelling], { ca });
    assert.deepEqual(result, {
      target: at('good'),
      host: '127.0.0.1',
      port: servers.good.port,
      ok: true,
      matched: pki.intermediate.pin,
      chain: [
        { pin: pki.leaf.pin, subject: 'CN=api.example.test, O=certpin tests' },
        { pin: pki.intermediate.pin, subject: 'CN=certpin Test Intermediate' },
        { pin: pki.root.pin, subject: 'CN=certpin Test Root' },
      ],
      error: null,
      outcome: 'pinned',
      expected: [pki.rogueIntermediate.pin, pki.intermediate.pin],
    });
  });

  test('mismatch: the PinMismatchError message and the verified chain, nothing matched', async () => {
    const result = await verifyPins(at('good'), [pki.intermediate2.pin], { ca });
    assert.equal(result.outcome, 'mismatch');
    assert.equal(result.ok, false);
    assert.equal(result.matched, null);
    assert.equal(result.error, new PinMismatchError('127.0.0.1', result.chain, [pki.intermediate2.pin]).message);
    assert.deepEqual(result.chain.map((c) => c.pin), [pki.leaf.pin, pki.intermediate.pin, pki.root.pin]);
  });

  test("untrusted: standard validation fails, even with the server's own pin", async () => {
    const result = await verifyPins(at('rogue'), [pki.rogueLeaf.pin], { ca });
    assert.equal(result.outcome, 'untrusted');
    assert.equal(result.ok, false);
    assert.deepEqual(result.chain, []);
    assert.match(result.error, /^the server's certificate failed standard validation: unable to get local issuer certificate/);
  });

  test('the pins are for the name the certificate is checked against: servername, through resolve', async () => {
    const port = servers.good.port;
    const result = await verifyPins(`api.example.test:${port}`, [pki.leaf.pin], { ca, resolve: [`api.example.test:${port}:127.0.0.1`] });
    assert.equal(result.outcome, 'pinned', result.error);
    assert.equal(result.host, 'api.example.test');
    const other = await verifyPins(at('good'), [pki.leaf.pin], { ca, servername: 'other.example.org' });
    assert.equal(other.outcome, 'untrusted');
    assert.match(other.error, /other\.example\.org/);
  });

  test('unreachable: a result saying where, not an error', async () => {
    const result = await verifyPins(`127.0.0.1:${refusedPort}`, [pki.leaf.pin], { ca, timeout: 5000 });
    assert.equal(result.outcome, 'unreachable');
    assert.equal(result.ok, false);
    assert.match(result.error, /connection refused by 127\.0\.0\.1/);
    assert.deepEqual(result.expected, [pki.leaf.pin]);
  });
});

describe('verifyPins with a policy', () => {
  const entry = (pins, extra = {}) => createPolicy({ ca, hosts: { '127.0.0.1': { port: servers.good.port, pins, ...extra } } });

  test("a target without a port is checked at the port of the host's entry", async () => {
    const result = await verifyPins('127.0.0.1', entry([pki.intermediate.pin, { pin: pki.intermediate2.pin, status: 'backup' }]));
    assert.equal(result.port, servers.good.port);
    assert.equal(result.outcome, 'pinned', result.error);
    assert.deepEqual(result.expected, [pki.intermediate.pin, pki.intermediate2.pin]);
  });

  test('only trusted statuses count; a report-only host that mismatches is still a mismatch', async () => {
    const pending = await verifyPins(at('good'), entry([{ pin: pki.intermediate.pin, status: 'pending_review' }, { pin: pki.rogueIntermediate.pin, status: 'backup' }]));
    assert.equal(pending.outcome, 'mismatch');
    assert.deepEqual(pending.expected, [pki.rogueIntermediate.pin]);
    const reportOnly = await verifyPins(at('good'), entry([pki.rogueLeaf.pin], { enforce: false }));
    assert.equal(reportOnly.outcome, 'mismatch');
    assert.match(reportOnly.error, /^Certificate pinning failure for 127\.0\.0\.1/);
    assert.deepEqual(reportOnly.chain.map((c) => c.pin), [pki.leaf.pin, pki.intermediate.pin, pki.root.pin]);
  });

  test('pins-expired: the pin set is past its expires date; unpinned: the policy has no pins for the host', async () => {
    const expired = await verifyPins(at('good'), entry([pki.rogueLeaf.pin], { expires: '2001-01-01' }));
    assert.equal(expired.outcome, 'pins-expired');
    assert.match(expired.error, /past their "expires" date/);
    const unpinned = await verifyPins(at('good'), createPolicy({ ca, hosts: { 'other.example': { pins: [pki.leaf.pin] } } }));
    assert.equal(unpinned.outcome, 'unpinned');
    assert.equal(unpinned.ok, false);
    assert.deepEqual(unpinned.expected, []);
  });
});

describe('verifyPins: misuse throws, before any connection', () => {
  test('no pins, neither pins nor a policy, ca beside a policy, a bad timeout: TypeError', async () => {
    const before = servers.good.connections();
    await assert.rejects(verifyPins(at('good'), []), { name: 'TypeError', message: /at least one pin/ });
    await assert.rejects(verifyPins(at('good'), { hosts: {} }), { name: 'TypeError', message: /expects a policy/ });
    await assert.rejects(verifyPins(at('good'), createPolicy({ hosts: {} }), { ca }), { name: 'TypeError', message: /own ca/ });
    await assert.rejects(verifyPins(at('good'), [pki.leaf.pin], { timeout: 0 }), { name: 'TypeError', message: /timeout/ });
    assert.equal(servers.good.connections(), before, 'no connection was made');
  });

  test('a bad pin, a bad target, a file, a bad resolve entry: CertpinError', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'certpin-verify-'));
    after(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, 'leaf.pem');
    writeFileSync(file, pki.leaf.pem);
    const code = (expected) => (error) => isCertpinError(error, expected);
    const before = servers.good.connections();
    await assert.rejects(verifyPins(at('good'), ['sha256/short']), code('ERR_CERTPIN_INVALID_PIN'));
    await assert.rejects(verifyPins('127.0.0.1:99999', [pki.leaf.pin]), code('ERR_CERTPIN_INVALID_INPUT'));
    await assert.rejects(verifyPins(file, [pki.leaf.pin]), (error) => isCertpinError(error, 'ERR_CERTPIN_INVALID_INPUT') && /is a file/.test(error.message));
    await assert.rejects(verifyPins(at('good'), [pki.leaf.pin], { resolve: ['nonsense'] }), code('ERR_CERTPIN_INVALID_INPUT'));
    assert.equal(servers.good.connections(), before, 'no connection was made');
  });
});
