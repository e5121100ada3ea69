// `certpin verify`: the CI check. Exit 0 when the verified chain carries a trusted pin, 1 when it does
// not or when standard validation fails (the identity was not accepted), 2 when the server cannot be
// reached or the command line or input is bad. Real TLS servers on loopback. In this process through
// main() (runMain); the binary (runCli) where its exit status and what it prints are what CI reads:
// a mismatch (exit 1) and an unreachable server among several (exit 2, JSON on stdout).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makePki, writePki } from '../support/pki.mjs';
import { startPlainTcpServer, startTlsServer } from '../support/servers.mjs';
import { assertOneLineError, refusedIpv6Port, runCli, runMain, startIpv6TlsServer } from '../support/cli.mjs';

const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-cli-verify-'));
const paths = await writePki(join(dir, 'pki'));
after(() => rmSync(dir, { recursive: true, force: true }));
const ca = ['--ca', paths.root.cert];

const servers = {};
before(async () => {
  servers.good = await startTlsServer({ cert: [pki.leaf, pki.intermediate] });
  servers.appended = await startTlsServer({ cert: [pki.leaf, pki.intermediate, pki.intermediate2] });
  servers.rogue = await startTlsServer({ cert: [pki.rogueLeaf, pki.rogueIntermediate, pki.rogueRoot] });
  servers.expired = await startTlsServer({ cert: [pki.expiredLeaf, pki.intermediate] });
  servers.v6 = await startIpv6TlsServer([pki.leaf, pki.intermediate]);
  const closed = await startPlainTcpServer('silent');
  servers.refusedPort = closed.port;
  await closed.close();
});
after(() => Promise.all(Object.values(servers).filter((s) => typeof s === 'object').map((s) => s.close())));

const target = (name) => `127.0.0.1:${servers[name].port}`;

describe('certpin verify --pin', () => {
  test('exit 0 when a pin of the verified chain matches; the intermediate or the leaf, any spelling', async () => {
    const spellings = [pki.intermediate.pin, pki.leaf.pin.replace('sha256/', 'sha256//'), `pin-sha256="${pki.root.pin.slice(7)}"`];
    for (const pin of spellings) {
      const result = await runMain(['verify', target('good'), '--pin', pin, ...ca]);
      assert.equal(result.code, 0, `${pin}: ${result.stdout}${result.stderr}`);
      assert.match(result.stdout, new RegExp(`^OK\\s+127\\.0\\.0\\.1:${servers.good.port}\\s+matched sha256/`));
      assert.equal(result.stderr, '');
    }
  });

  test("curl's habits: a ;-separated --pin list (sha256//A;sha256//B) and a key or certificate file", async () => {
    const list = `${pki.rogueIntermediate.pin.replace('sha256/', 'sha256//')};${pki.intermediate.pin.replace('sha256/', 'sha256//')}`;
    const fromList = await runMain(['verify', target('good'), '--pin', list, ...ca]);
    assert.equal(fromList.code, 0, fromList.stderr);
    assert.match(fromList.stdout, new RegExp(`matched ${pki.intermediate.pin.replace(/[+/]/g, '\\$&')}`));
    const onlyWrong = await runMain(['verify', target('good'), '--pin', `${pki.rogueIntermediate.pin};${pki.intermediate2.pin}`, ...ca]);
    assert.equal(onlyWrong.code, 1);
    // a public key file (what curl --pinnedpubkey reads), a private key, a certificate
    const publicKey = join(dir, 'intermediate.pub.pem');
    writeFileSync(publicKey, pki.intermediate.cert.publicKey.export({ type: 'spki', format: 'pem' }));
    const privateKey = join(dir, 'leaf.key');
    writeFileSync(privateKey, pki.leaf.keyPem);
    const certificate = join(dir, 'intermediate.crt');
    writeFileSync(certificate, pki.intermediate.pem);
    for (const file of [publicKey, privateKey, certificate]) {
      const result = await runMain(['verify', target('good'), '--pin', file, ...ca]);
      assert.equal(result.code, 0, `${file}: ${result.stdout}${result.stderr}`);
    }
    const rogueCert = join(dir, 'rogue.crt');
    writeFileSync(rogueCert, pki.rogueIntermediate.pem);
    assert.equal((await runMain(['verify', target('good'), '--pin', rogueCert, ...ca])).code, 1);
    assertOneLineError(await runMain(['verify', target('good'), '--pin', join(dir, 'no-such.pem'), ...ca]), { pattern: /neither a pin .* nor a file/ });
    assertOneLineError(await runMain(['verify', target('good'), '--pin', `${pki.intermediate.pin};sha256/short`, ...ca]), { pattern: /sha256\/short/ });
  });

  test('exit 1 and the PinMismatchError message when no pin matches', async () => {
    const result = await runCli(['verify', target('good'), '--pin', pki.rogueIntermediate.pin, '--pin', pki.intermediate2.pin, ...ca]);
    assert.equal(result.code, 1, result.stderr);
    const expected = [
      'Certificate pinning failure for 127.0.0.1',
      '  Peer certificate chain:',
      `    ${pki.leaf.pin} CN=api.example.test, O=certpin tests`,
      `    ${pki.intermediate.pin} CN=certpin Test Intermediate`,
      `    ${pki.root.pin} CN=certpin Test Root`,
      '  Pinned certificates for 127.0.0.1:',
      `    ${pki.rogueIntermediate.pin}`,
      `    ${pki.intermediate2.pin}`,
    ].join('\n');
    assert.ok(result.stdout.includes(expected), result.stdout);
    assert.match(result.stdout, /^FAIL/);
  });

  test('a pinned certificate appended off the proven path does not count (CVE-2016-2402)', async () => {
    const result = await runMain(['verify', '--json', target('appended'), '--pin', pki.intermediate2.pin, ...ca]);
    assert.equal(result.code, 1, result.stderr);
    const [entry] = JSON.parse(result.stdout).results;
    assert.equal(entry.ok, false);
    assert.equal(entry.matched, null);
    assert.ok(!entry.chain.some((c) => c.pin === pki.intermediate2.pin));
  });

  test('exit 1 when standard validation fails, even with the server\'s own pin', async () => {
    const cases = [
      ['rogue', pki.rogueLeaf.pin, /self-signed certificate in certificate chain/],
      ['expired', pki.expiredLeaf.pin, /certificate has expired/],
    ];
    for (const [name, pin, reason] of cases) {
      const result = await runMain(['verify', '--json', target(name), '--pin', pin, ...ca]);
      assert.equal(result.code, 1, `${name}: ${result.stdout}${result.stderr}`);
      const [entry] = JSON.parse(result.stdout).results;
      assert.equal(entry.ok, false);
      assert.match(entry.error, reason);
    }
    const wrongName = await runMain(['verify', target('good'), '--servername', 'other.example.org', '--pin', pki.leaf.pin, ...ca]);
    assert.equal(wrongName.code, 1, wrongName.stderr);
    assert.match(wrongName.stdout, /other\.example\.org/);
    const noCa = await runMain(['verify', target('good'), '--pin', pki.leaf.pin]);
    assert.equal(noCa.code, 1, 'the test root is not one of Node\'s roots');
    assert.match(noCa.stdout, /unable to get local issuer certificate/);
  });

  test('--json: {"results":[{target, host, ok, matched, chain, error}]}', async () => {
    const result = await runMain(['verify', '--json', target('good'), `[::1]:${servers.v6.port}`, '--pin', pki.intermediate.pin, ...ca]);
    assert.equal(result.code, 0, result.stderr);
    const { results } = JSON.parse(result.stdout);
    assert.equal(results.length, 2);
    for (const field of ['target', 'host', 'ok', 'matched', 'chain', 'error']) assert.ok(field in results[0], field);
    assert.deepEqual(results.map((r) => [r.target, r.host, r.ok, r.matched, r.error]), [
      [target('good'), '127.0.0.1', true, pki.intermediate.pin, null],
      [`[::1]:${servers.v6.port}`, '::1', true, pki.intermediate.pin, null],
    ]);
    assert.deepEqual(results[0].chain.map((c) => c.pin), [pki.leaf.pin, pki.intermediate.pin, pki.root.pin]);
    assert.equal(results[0].chain[0].subject, 'CN=api.example.test, O=certpin tests');
  });

  test('hostnames with --resolve: pins apply to the name', async () => {
    const port = servers.good.port;
    const result = await runMain(['verify', `https://api.example.test:${port}/`, '--resolve', `api.example.test:${port}:127.0.0.1`, '--pin', pki.leaf.pin, ...ca]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  test('exit 2 when unreachable: one stderr line per server; the worst exit wins', async () => {
    const refused = await runMain(['verify', `127.0.0.1:${servers.refusedPort}`, '--pin', pki.leaf.pin, ...ca]);
    assertOneLineError(refused, { code: 2, pattern: /connection refused by 127\.0\.0\.1/, stdoutAllowed: true });
    const mixed = await runCli(['verify', '--json', target('good'), target('rogue'), 'no-such-host.invalid:443', '--pin', pki.leaf.pin, ...ca]);
    assert.equal(mixed.code, 2);
    const { results } = JSON.parse(mixed.stdout);
    assert.deepEqual(results.map((r) => r.ok), [true, false, false]);
    assert.match(results[2].error, /cannot resolve host "no-such-host\.invalid"/);
  });
});

describe('certpin verify --config', () => {
  function pinFile(name, hosts) {
    const path = join(dir, name);
    writeFileSync(path, `${JSON.stringify({ version: 1, settings: { unpinned: 'allow', pinLevel: 'intermediate' }, hosts }, null, 2)}\n`);
    return path;
  }

  test('every host entry of the file at its port; exit 0 when all match', async () => {
    const path = pinFile('good.json', {
      '127.0.0.1': { port: servers.good.port, pins: [{ pin: pki.intermediate.pin, status: 'active' }, { pin: pki.intermediate2.pin, status: 'backup' }] },
      '::1': { port: servers.v6.port, pins: [pki.leaf.pin] },
    });
    const result = await runMain(['verify', '--config', path, '--json', ...ca]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
    const { results } = JSON.parse(result.stdout);
    assert.deepEqual(results.map((r) => [r.host, r.ok, r.matched]), [['127.0.0.1', true, pki.intermediate.pin], ['::1', true, pki.leaf.pin]]);
  });

  test('named hosts, only trusted statuses count, exit 1 on a mismatch', async () => {
    const path = pinFile('pending.json', {
      'api.example.test': { port: servers.good.port, pins: [{ pin: pki.intermediate.pin, status: 'pending_review' }, { pin: pki.rogueIntermediate.pin, status: 'backup' }] },
    });
    const result = await runMain(['verify', '--config', path, 'api.example.test', '--resolve', `api.example.test:${servers.good.port}:127.0.0.1`, ...ca]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /Certificate pinning failure for api\.example\.test/);
    assert.match(result.stdout, new RegExp(`Pinned certificates for api\\.example\\.test:\\n {4}${pki.rogueIntermediate.pin.replace(/[+/]/g, '\\$&')}\\n`));
  });

  test('a report-only host that mismatches still exits 1: verify reports what it sees', async () => {
    const path = pinFile('report-only.json', { '127.0.0.1': { port: servers.good.port, enforce: false, pins: [pki.rogueLeaf.pin] } });
    const result = await runMain(['verify', '--config', path, ...ca]);
    assert.equal(result.code, 1, result.stdout + result.stderr);
    assert.match(result.stdout, /Certificate pinning failure for 127\.0\.0\.1/);
  });

  test('a bad pin file or a missing one: one line, exit 2', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, '{"version":1,"hosts":{"a.example":{"pins":["sha256/abc"]}}}');
    assertOneLineError(await runMain(['verify', '--config', bad]), { pattern: /bad\.json.*sha256\/abc/ });
    assertOneLineError(await runMain(['verify', '--config', join(dir, 'none.json')]), { pattern: /none\.json: no such file/ });
    assertOneLineError(await runMain(['verify', '--config', bad, '--pin', pki.leaf.pin]), { pattern: /either --pin or --config/ });
  });
});

describe('certpin verify --resolve with * hosts and several addresses', () => {
  // A man in the middle at the first address: his chain comes from a CA the client trusts (it is in the
  // --ca bundle), so standard validation alone accepts it; the real server is at the second address.
  const s = {};
  let bothRoots;
  before(async () => {
    s.mitm = await startTlsServer({ cert: [pki.rogueLeaf, pki.rogueIntermediate] });
    s.real = await startIpv6TlsServer([pki.leaf, pki.intermediate], { port: s.mitm.port });
    await refusedIpv6Port(servers.good.port);
    bothRoots = join(dir, 'both-roots.pem');
    writeFileSync(bothRoots, `${pki.root.pem.trim()}\n${pki.rogueRoot.pem.trim()}\n`);
  });
  after(() => Promise.all(Object.values(s).map((server) => server.close())));
  const host = (port) => `api.example.test:${port}`;

  test('a MITM at the first address: exit 1, nothing sent, and the second address is never tried', async () => {
    const Q = s.mitm.port;
    const resolve = ['--resolve', `api.example.test:${Q}:127.0.0.1,[::1]`];
    // Control: the attack is real; unpinned, the MITM's chain passes standard validation.
    const control = await runMain(['pins', '--json', host(Q), ...resolve, '--ca', bothRoots]);
    const [seen] = JSON.parse(control.stdout).results;
    assert.equal(seen.trusted, true, seen.error);
    assert.equal(seen.chain[0].pin, pki.rogueLeaf.pin);
    const connectionsBefore = s.real.connections();

    const pinned = await runMain(['verify', '--json', host(Q), ...resolve, '--pin', pki.intermediate.pin, '--ca', bothRoots]);
    assert.equal(pinned.code, 1, pinned.stdout + pinned.stderr);
    const [entry] = JSON.parse(pinned.stdout).results;
    assert.equal(entry.outcome, 'mismatch');
    assert.match(entry.error, /Certificate pinning failure for api\.example\.test/);
    assert.equal(s.mitm.bytesReceived(), 0, 'zero application bytes to the MITM');
    assert.equal(s.real.connections(), connectionsBefore, 'a pin failure is not a reason to try the next address');

    // And the check can pass: with the real server first, the same pin matches.
    const real = await runMain(['verify', host(Q), '--resolve', `api.example.test:${Q}:[::1],127.0.0.1`, '--pin', pki.intermediate.pin, '--ca', bothRoots]);
    assert.equal(real.code, 0, real.stdout + real.stderr);
  });

  test('a refused first address gives way to the next; * and a named host over *', async () => {
    const P = servers.good.port;
    const runs = [
      [`api.example.test:${P}:[::1],127.0.0.1`],
      [`*:${P}:127.0.0.1`],
      [`*:${P}:[::1]`, `api.example.test:${P}:127.0.0.1`],
      [`api.example.test:${P}:127.0.0.1`, `*:${P}:[::1]`],
    ];
    for (const entries of runs) {
      const result = await runMain(['verify', host(P), ...entries.flatMap((e) => ['--resolve', e]), '--pin', pki.leaf.pin, ...ca]);
      assert.equal(result.code, 0, `${entries}: ${result.stdout}${result.stderr}`);
    }
    const refused = await runMain(['verify', host(P), '--resolve', `*:${P}:[::1]`, '--pin', pki.leaf.pin, ...ca]);
    assertOneLineError(refused, { code: 2, pattern: /connection refused by api\.example\.test:\d+ \(\[::1\]\)/, stdoutAllowed: true });
  });

  test('--config with *: every entry of the pin file goes where * says', async () => {
    const path = join(dir, 'star.json');
    writeFileSync(path, JSON.stringify({ version: 1, hosts: { 'api.example.test': { port: servers.good.port, pins: [pki.intermediate.pin] } } }));
    const result = await runMain(['verify', '--config', path, '--resolve', `*:${servers.good.port}:[::1],127.0.0.1`, ...ca]);
    assert.equal(result.code, 0, result.stdout + result.stderr);
  });

  test('an IP target sent elsewhere by * is checked, and its pins looked up, as that IP (as curl does)', async () => {
    const P = servers.good.port;
    const elsewhere = await runMain(['verify', '--json', `192.0.2.1:${P}`, '--resolve', `*:${P}:127.0.0.1`, '--pin', pki.leaf.pin, ...ca]);
    assert.equal(elsewhere.code, 1, elsewhere.stdout + elsewhere.stderr);
    const [entry] = JSON.parse(elsewhere.stdout).results;
    assert.equal(entry.outcome, 'untrusted');
    assert.match(entry.error, /192\.0\.2\.1/);
    // 127.0.0.1 served from [::1]: the pin file's entry for 127.0.0.1 applies, not one for ::1.
    const path = join(dir, 'ip.json');
    writeFileSync(path, JSON.stringify({ version: 1, hosts: { '127.0.0.1': { port: s.real.port, pins: [pki.intermediate.pin] } } }));
    const byIp = await runMain(['verify', '--json', '--config', path, '--resolve', `*:${s.real.port}:[::1]`, ...ca]);
    assert.equal(byIp.code, 0, byIp.stdout + byIp.stderr);
    assert.equal(JSON.parse(byIp.stdout).results[0].matched, pki.intermediate.pin);
  });
});
