// inspect(): the data behind `certpin pins`. Files of every kind, and real TLS servers on loopback:
// the verified chain when trusted, the served chain with the reason when not, certificates off the
// proven path, and one clear error for every way a server can fail to be one.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { connect as tcpConnect } from 'node:net';
import { inspect, spkiPin } from 'certpin';
import { createCsr } from '../../build/src/lib/x509.js';
import { chainPem, makePki } from '../support/pki.mjs';
import { startBrokenPeers, startPlainTcpServer, startTlsServer } from '../support/servers.mjs';
import { refusedIpv6Port, startIpv6TlsServer } from '../support/cli.mjs';

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
  let broken;
  before(async () => {
    broken = await startBrokenPeers();
  });
  after(() => broken.close());

  const cases = [
    ['an unknown host', () => 'no-such-host.invalid:443', 'ENOTFOUND', /cannot resolve host "no-such-host\.invalid"/],
    ['a refused port', () => `127.0.0.1:${broken.refusedPort}`, 'ECONNREFUSED', /connection refused by 127\.0\.0\.1:\d+/],
    ['a server that never answers', () => `127.0.0.1:${broken.silent.port}`, 'ETIMEDOUT', /no TLS handshake with 127\.0\.0\.1:\d+ within 300 ms/],
    ['plain HTTP on the port', () => `127.0.0.1:${broken.http.port}`, 'ERR_SSL_WRONG_VERSION_NUMBER', /does not speak TLS.*plain-text port, such as HTTP/],
    ['a close mid-handshake', () => `127.0.0.1:${broken.closing.port}`, 'ECONNRESET', /closed the connection during the TLS handshake/],
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

describe('inspect() with curl-style resolve: * hosts, several addresses, brackets', () => {
  // `v4` serves the real chain on 127.0.0.1:P; `rogue` a chain from another CA on 127.0.0.1:Q, with the
  // real chain on [::1]:Q behind it; nothing listens on [::1]:P, so that address is refused.
  const s = {};
  before(async () => {
    s.v4 = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
    await refusedIpv6Port(s.v4.port);
    s.rogue = await startTlsServer({ cert: [pki.rogueLeaf, pki.rogueIntermediate] });
    s.behindRogue = await startIpv6TlsServer([pki.leaf, pki.intermediate], { port: s.rogue.port });
  });
  after(() => Promise.all(Object.values(s).map((server) => server.close())));

  test('* stands for any host on its port, IP targets too; not for another port', async () => {
    const P = s.v4.port;
    const byName = await inspect(`api.example.test:${P}`, { ca, resolve: [`*:${P}:127.0.0.1`] });
    assert.equal(byName.trusted, true, byName.error);
    assert.equal(byName.address, '127.0.0.1');
    assert.equal(byName.host, 'api.example.test');
    // As curl: connected to 127.0.0.1, but checked as the IP the target names (the certificate has no 192.0.2.1).
    const byIp = await inspect(`192.0.2.1:${P}`, { ca, resolve: [`*:${P}:127.0.0.1`] });
    assert.equal(byIp.address, '127.0.0.1');
    assert.equal(byIp.trusted, false);
    assert.match(byIp.error, /192\.0\.2\.1/);
    assert.equal(byIp.chain[0].pin, pki.leaf.pin, 'the server was reached');
    await assert.rejects(inspect(`no-such-host.invalid:${P}`, { resolve: [`*:${P + 1 > 65535 ? P - 1 : P + 1}:127.0.0.1`], timeout: 5000 }), { code: 'ENOTFOUND' });
  });

  test('an entry naming the host wins over *, in either order; a later entry for the same host replaces an earlier one', async () => {
    const P = s.v4.port;
    const exact = `api.example.test:${P}:127.0.0.1`;
    const star = `*:${P}:[::1]`; // refused, if it were used
    for (const resolve of [[exact, star], [star, exact], [`API.Example.Test.:${P}:[::1]`, `api.example.test:${P}:127.0.0.1`]]) {
      const result = await inspect(`api.example.test:${P}`, { ca, resolve, timeout: 5000 });
      assert.equal(result.trusted, true, `${resolve}: ${result.error}`);
      assert.equal(result.address, '127.0.0.1', String(resolve));
    }
    await assert.rejects(inspect(`api.example.test:${P}`, { ca, resolve: [exact, `api.example.test:${P}:[::1]`] }), { code: 'ECONNREFUSED' }, 'the last entry is the one used');
  });

  test('several addresses are tried in order: a refused first address gives way to the next', async () => {
    const P = s.v4.port;
    const result = await inspect(`api.example.test:${P}`, { ca, resolve: [`api.example.test:${P}:[::1],127.0.0.1`] });
    assert.equal(result.trusted, true, result.error);
    assert.equal(result.address, '127.0.0.1');
    assert.equal(result.chain[0].pin, pki.leaf.pin);
  });

  test('when no address answers, one error names each attempt', async () => {
    const closed = await startPlainTcpServer('silent');
    const port = closed.port;
    await closed.close();
    await refusedIpv6Port(port);
    await assert.rejects(inspect(`api.example.test:${port}`, { resolve: [`api.example.test:${port}:[::1],127.0.0.1`] }), (error) => {
      assert.equal(error.code, 'ECONNREFUSED');
      assert.match(error.message, /^none of the 2 addresses of api\.example\.test:\d+ could be reached: connection refused by api\.example\.test:\d+ \(\[::1\]\).*; connection refused by api\.example\.test:\d+ \(127\.0\.0\.1\)/);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
  });

  test('a server reached at the first address is the answer: a bad certificate there does not fall over to the next', async () => {
    const Q = s.rogue.port;
    const result = await inspect(`api.example.test:${Q}`, { ca, resolve: [`api.example.test:${Q}:127.0.0.1,[::1]`] });
    assert.equal(result.trusted, false);
    assert.equal(result.address, '127.0.0.1');
    assert.equal(result.chain[0].pin, pki.rogueLeaf.pin);
    assert.equal(s.behindRogue.connections(), 0, 'the second address was never tried');
    // Control: the second address does serve the real chain.
    const direct = await inspect(`api.example.test:${Q}`, { ca, resolve: [`api.example.test:${Q}:[::1],127.0.0.1`] });
    assert.equal(direct.trusted, true, direct.error);
    assert.equal(direct.address, '::1');
    assert.equal(s.behindRogue.connections(), 1);
  });

  test('IPv6 addresses with or without brackets, and an IPv6 host in brackets', async () => {
    const Q = s.behindRogue.port;
    for (const resolve of [`api.example.test:${Q}:[::1]`, `*:${Q}:::1`, `[::1]:${Q}:[0:0::1]`]) {
      const target = resolve.startsWith('[') ? `[::1]:${Q}` : `api.example.test:${Q}`;
      const result = await inspect(target, { ca, resolve: [resolve] });
      assert.equal(result.trusted, true, `${resolve}: ${result.error}`);
      assert.equal(result.address, resolve.startsWith('[') ? '0:0::1' : '::1', resolve);
    }
  });
});

/**
 * 127.0.0.1:PORT where a TCP connection is never answered: a listener (backlog 1) in a child process
 * that is then stopped, its accept queue filled, so the kernel drops later SYNs, as
 * a firewalled or dead address does. `stop()` kills the child.
 */
async function unansweredPort() {
  const child = spawn(process.execPath, ['-e', "require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () { console.log(this.address().port) })"], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve, reject) => {
    child.stdout.setEncoding('utf8').once('data', (line) => resolve(Number(line.trim())));
    child.once('error', reject);
  });
  child.kill('SIGSTOP');
  // Linux queues backlog + 1 connections; Node reads a backlog of 0 as its default (511), so 1 it is.
  const fillers = [0, 1].map(() => tcpConnect(port, '127.0.0.1').on('error', () => {}));
  await Promise.all(fillers.map((filler) => new Promise((resolve) => filler.once('connect', resolve))));
  return {
    port,
    stop: () => {
      for (const filler of fillers) filler.destroy();
      child.kill('SIGKILL');
    },
  };
}

describe('inspect() with an address that never answers', { timeout: 30_000 }, () => {
  let dead;
  let real;
  before(async () => {
    dead = await unansweredPort();
    real = await startIpv6TlsServer([pki.leaf, pki.intermediate], { port: dead.port });
  });
  after(async () => {
    dead.stop();
    await real.close();
  });

  test('it gets its share of the timeout, then the next address is tried', async () => {
    const resolve = [`api.example.test:${dead.port}:127.0.0.1,[::1]`];
    const result = await inspect(`api.example.test:${dead.port}`, { ca, resolve, timeout: 2000 });
    assert.equal(result.trusted, true, result.error);
    assert.equal(result.address, '::1');
    // Control: alone, the address does time out (so the result above came from the second address).
    await assert.rejects(inspect(`api.example.test:${dead.port}`, { ca, resolve: [`api.example.test:${dead.port}:127.0.0.1`], timeout: 500 }), {
      code: 'ETIMEDOUT',
      message: /^no connection to api\.example\.test:\d+ \(127\.0\.0\.1\) within 500 ms \(ETIMEDOUT\)$/,
    });
  });
});
