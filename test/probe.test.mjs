// inspect(): the data behind `certpin pins`. Files of every kind, and real TLS servers on loopback:
// the verified chain when trusted, the served chain with the reason when not, certificates off the
// proven path, and one clear error for every way a server can fail to be one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect, spkiPin } from 'certpin';
import { createCsr } from '../build/src/lib/x509.js';
import { chainPem, makePki } from './support/pki.mjs';
import { startPlainTcpServer, startTlsServer } from './support/servers.mjs';
import { startIpv6TlsServer } from './support/cli.mjs';

const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-probe-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ca = pki.root.pem;

function file(name, content) {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

const subjects = (entries) => entries.map((e) => e.subject);
const roles = (entries) => entries.map((e) => e.role);

describe('inspect() on files', () => {
  test('a bundle: roles in file order, pins, dates, fingerprints, no host', async () => {
    const path = file('bundle.pem', chainPem(pki.leaf, pki.intermediate, pki.root));
    const result = await inspect(path);
    assert.equal(result.target, path);
    assert.equal(result.host, null);
    assert.equal(result.port, null);
    assert.equal(result.trusted, false);
    assert.equal(result.error, null);
    assert.deepEqual(roles(result.chain), ['leaf', 'intermediate', 'root']);
    assert.deepEqual(result.chain.map((e) => e.pin), [pki.leaf.pin, pki.intermediate.pin, pki.root.pin]);
    assert.deepEqual(subjects(result.chain), ['CN=api.example.test, O=certpin tests', 'CN=certpin Test Intermediate', 'CN=certpin Test Root']);
    assert.equal(result.chain[0].issuer, 'CN=certpin Test Intermediate');
    assert.equal(result.chain[0].fingerprint256, pki.leaf.cert.fingerprint256);
    assert.equal(result.chain[0].notAfter, new Date(pki.leaf.cert.validTo).toISOString());
    assert.equal(result.chain[0].notBefore, new Date(pki.leaf.cert.validFrom).toISOString());
    assert.ok(result.chain[0].daysLeft >= 364 && result.chain[0].daysLeft <= 366, `daysLeft ${result.chain[0].daysLeft}`);
    assert.deepEqual(result.unproven, []);
  });

  test('daysLeft is rounded down, and negative once expired', async () => {
    const [expired] = (await inspect(file('expired.pem', pki.expiredLeaf.pem))).chain;
    assert.equal(expired.daysLeft, Math.floor((new Date(pki.expiredLeaf.cert.validTo) - Date.now()) / 86_400_000));
    assert.ok(expired.daysLeft < 0);
    const [soon] = (await inspect(file('soon.pem', pki.soonLeaf.pem))).chain;
    assert.ok(soon.daysLeft === 4 || soon.daysLeft === 5, `soon: ${soon.daysLeft}`);
  });

  test('DER certificates, public and private keys of every type, and CSRs', async () => {
    const der = await inspect(file('leaf.der', pki.leaf.der));
    assert.deepEqual(roles(der.chain), ['leaf']);
    assert.equal(der.chain[0].pin, pki.leaf.pin);
    for (const [type, entry] of Object.entries(pki.byKeyType)) {
      const privateKey = await inspect(file(`${type}.key`, entry.keyPem));
      assert.equal(privateKey.chain[0].role, 'key', type);
      assert.equal(privateKey.chain[0].pin, entry.pin, type);
      assert.match(privateKey.chain[0].subject, /private key/, type);
      assert.equal(privateKey.chain[0].notAfter, null);
      assert.equal(privateKey.chain[0].fingerprint256, null);
      const publicKey = await inspect(file(`${type}.pub`, entry.cert.publicKey.export({ type: 'spki', format: 'der' })));
      assert.equal(publicKey.chain[0].pin, entry.pin, type);
      assert.match(publicKey.chain[0].subject, /public key/, type);
    }
    const csr = await inspect(file('leaf.csr', createCsr('CN=csr.example.test,O=certpin tests', pki.leaf.key)));
    assert.deepEqual(csr.chain.map(({ role, subject, pin, issuer }) => ({ role, subject, pin, issuer })), [
      { role: 'csr', subject: 'CN=csr.example.test, O=certpin tests', pin: pki.leaf.pin, issuer: null },
    ]);
  });

  test('bad files are ERR_CERTPIN_INVALID_INPUT naming the file', async () => {
    const cases = {
      missing: join(dir, 'does-not-exist.pem'),
      directory: dir,
      text: file('notes.txt', 'hello, this is not a certificate\n'),
      truncated: file('truncated.pem', pki.leaf.pem.slice(0, pki.leaf.pem.indexOf('-----END'))),
      garbage: file('garbage.pem', '-----BEGIN CERTIFICATE-----\n!!!! not base64 ****\n-----END CERTIFICATE-----\n'),
      damaged: file('damaged.pem', `-----BEGIN CERTIFICATE-----\n${pki.leaf.der.subarray(0, 100).toString('base64')}\n-----END CERTIFICATE-----\n`),
      der: file('random.der', Buffer.from([0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02])),
      empty: file('empty.pem', ''),
    };
    for (const [name, path] of Object.entries(cases)) {
      await assert.rejects(inspect(path), (error) => {
        assert.equal(error.code, 'ERR_CERTPIN_INVALID_INPUT', `${name}: ${error.message}`);
        assert.ok(error.message.includes(path), `${name}: ${error.message}`);
        return true;
      });
    }
  });
});

describe('inspect() on servers', () => {
  const servers = {};
  before(async () => {
    servers.good = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
    servers.appended = await startTlsServer({ cert: [pki.leaf, pki.intermediate, pki.intermediate2, pki.rogueRoot] });
    servers.rogue = await startTlsServer({ cert: [pki.rogueLeaf, pki.rogueIntermediate, pki.rogueRoot] });
    servers.expired = await startTlsServer({ cert: [pki.expiredLeaf, pki.intermediate] });
    servers.noIntermediate = await startTlsServer({ cert: [pki.leaf] });
    servers.forged = await startTlsServer({ cert: [pki.forgedLeaf, pki.intermediate] });
    servers.v6 = await startIpv6TlsServer([pki.leaf, pki.intermediate]);
  });
  after(() => Promise.all(Object.values(servers).map((s) => s.close())));

  test('a trusted server: the verified chain, leaf to anchor, and what was connected to', async () => {
    const result = await inspect(`127.0.0.1:${servers.good.port}`, { ca });
    assert.equal(result.trusted, true, result.error);
    assert.equal(result.error, null);
    assert.equal(result.host, '127.0.0.1');
    assert.equal(result.port, servers.good.port);
    assert.deepEqual(roles(result.chain), ['leaf', 'intermediate', 'root']);
    assert.deepEqual(result.chain.map((e) => e.pin), [pki.leaf.pin, pki.intermediate.pin, pki.root.pin]);
    assert.equal(result.chain[0].pin, spkiPin(pki.leaf.cert));
    assert.deepEqual(result.unproven, []);
    assert.equal(servers.good.bytesReceived(), 0, 'no application data is sent');
  });

  test('hostnames through resolve, https:// URLs, servername', async () => {
    const port = servers.good.port;
    const resolve = [`api.example.test:${port}:127.0.0.1`];
    const byName = await inspect(`api.example.test:${port}`, { ca, resolve });
    assert.equal(byName.trusted, true, byName.error);
    assert.equal(byName.host, 'api.example.test');
    assert.equal(byName.address, '127.0.0.1');
    const byUrl = await inspect(`https://api.example.test:${port}/some/path?q=1`, { ca, resolve });
    assert.equal(byUrl.trusted, true, byUrl.error);
    assert.equal(byUrl.port, port);
    const wrongName = await inspect(`127.0.0.1:${port}`, { ca, servername: 'other.example.org' });
    assert.equal(wrongName.trusted, false);
    assert.match(wrongName.error, /other\.example\.org.*ERR_TLS_CERT_ALTNAME_INVALID/);
    assert.deepEqual(roles(wrongName.chain), ['leaf', 'intermediate'], 'the chain as served');
  });

  test('an IPv6 server, [::1]:port', async () => {
    const result = await inspect(`[::1]:${servers.v6.port}`, { ca });
    assert.equal(result.trusted, true, result.error);
    assert.equal(result.host, '::1');
    assert.equal(result.port, servers.v6.port);
    assert.equal(result.chain[0].pin, pki.leaf.pin);
  });

  test('certificates appended off the proven path are listed as unproven, never in the chain', async () => {
    const result = await inspect(`127.0.0.1:${servers.appended.port}`, { ca });
    assert.equal(result.trusted, true, result.error);
    assert.deepEqual(result.chain.map((e) => e.pin), [pki.leaf.pin, pki.intermediate.pin, pki.root.pin]);
    assert.deepEqual(result.unproven.map((e) => e.pin).sort(), [pki.intermediate2.pin, pki.rogueRoot.pin].sort());
  });

  test('untrusted servers: the chain as served, trusted false, and why', async () => {
    const cases = [
      ['rogue', ca, /self-signed certificate in certificate chain/, ['leaf', 'intermediate', 'root'], pki.rogueLeaf.pin],
      ['good', undefined, /unable to get local issuer certificate/, ['leaf', 'intermediate'], pki.leaf.pin],
      ['expired', ca, /certificate has expired/, ['leaf', 'intermediate'], pki.expiredLeaf.pin],
      ['noIntermediate', ca, /unable to verify the first certificate/, ['leaf'], pki.leaf.pin],
      ['forged', ca, /certificate signature failure/, ['leaf', 'intermediate'], pki.forgedLeaf.pin],
    ];
    for (const [name, trust, reason, expectedRoles, leafPin] of cases) {
      const result = await inspect(`127.0.0.1:${servers[name].port}`, trust === undefined ? {} : { ca: trust });
      assert.equal(result.trusted, false, name);
      assert.match(result.error, reason, name);
      assert.deepEqual(roles(result.chain), expectedRoles, name);
      assert.equal(result.chain[0].pin, leafPin, name);
    }
  });

  test('a forged leaf (right issuer name, wrong signature) cannot reach the real intermediate', async () => {
    const result = await inspect(`127.0.0.1:${servers.forged.port}`, { ca });
    assert.deepEqual(result.unproven.map((e) => e.pin), [pki.intermediate.pin]);
  });

  test('several servers at once', async () => {
    const targets = [servers.good, servers.appended, servers.rogue, servers.expired].map((s) => `127.0.0.1:${s.port}`);
    const results = await Promise.all(targets.map((target) => inspect(target, { ca })));
    assert.deepEqual(results.map((r) => r.trusted), [true, true, false, false]);
  });
});

describe('inspect() errors for servers that cannot be inspected', () => {
  const broken = {};
  before(async () => {
    broken.http = await startPlainTcpServer('http');
    broken.close = await startPlainTcpServer('close');
    broken.silent = await startPlainTcpServer('silent');
    const closed = await startPlainTcpServer('silent');
    broken.refusedPort = closed.port;
    await closed.close();
  });
  after(() => Promise.all([broken.http, broken.close, broken.silent].map((s) => s.close())));

  const cases = [
    ['an unknown host', () => 'no-such-host.invalid:443', 'ENOTFOUND', /cannot resolve host "no-such-host\.invalid"/],
    ['a refused port', () => `127.0.0.1:${broken.refusedPort}`, 'ECONNREFUSED', /connection refused by 127\.0\.0\.1:\d+/],
    ['a server that never answers', () => `127.0.0.1:${broken.silent.port}`, 'ETIMEDOUT', /no TLS handshake with 127\.0\.0\.1:\d+ within 300 ms/],
    ['plain HTTP on the port', () => `127.0.0.1:${broken.http.port}`, 'ERR_SSL_WRONG_VERSION_NUMBER', /does not speak TLS.*plain-text port, such as HTTP/],
    ['a close mid-handshake', () => `127.0.0.1:${broken.close.port}`, 'ECONNRESET', /closed the connection during the TLS handshake/],
  ];
  for (const [name, target, code, message] of cases) {
    test(name, async () => {
      const started = Date.now();
      await assert.rejects(inspect(target(), { timeout: 300 }), (error) => {
        assert.equal(error.code, code, error.message);
        assert.match(error.message, message);
        assert.doesNotMatch(error.message, /\n/);
        return true;
      });
      assert.ok(Date.now() - started < 5000, 'fails promptly');
    });
  }

  test('bad targets and options', async () => {
    for (const target of ['', 'host:99999', 'host:http', '[not-v6]:443', 'ftp://example.test/', 'bad host:443']) {
      await assert.rejects(inspect(target), { code: 'ERR_CERTPIN_INVALID_INPUT' }, target);
    }
    await assert.rejects(inspect('x.invalid:443', { resolve: ['x.invalid:443:not-an-ip'] }), { code: 'ERR_CERTPIN_INVALID_INPUT', message: /--resolve/ });
    await assert.rejects(inspect('x.invalid:443', { timeout: -1 }), TypeError);
  });
});
