// `certpin pins`: what a user copies into a pin file. Checked against the tools users compare it with:
// openssl computes the same pins from files, and real curl accepts the printed pin as --pinnedpubkey
// for the same server (and refuses another). In this process through main() (runMain); the binary runs
// for the pin compared with curl's and for standard input.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createCsr } from '../../build/src/lib/x509.js';
import { chainPem, makePki, writePki } from '../support/pki.mjs';
import { startHttpsServer, startTlsServer } from '../support/servers.mjs';
import { assertOneLineError, refusedIpv6Port, runCli, runMain, runProgram, startIpv6TlsServer } from '../support/cli.mjs';

const pki = await makePki();
const dir = mkdtempSync(join(tmpdir(), 'certpin-cli-pins-'));
const paths = await writePki(join(dir, 'pki'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name, content) {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

/** The pin openssl computes, piped the way curl's documentation tells users to. */
async function opensslPin(args) {
  const spkiPem = await runBinary('openssl', args);
  const der = await runBinary('openssl', ['pkey', '-pubin', '-outform', 'DER'], spkiPem);
  const digest = await runBinary('openssl', ['dgst', '-sha256', '-binary'], der);
  const b64 = await runBinary('openssl', ['enc', '-base64', '-A'], digest);
  return `sha256/${b64.toString('latin1').trim()}`;
}

/** Runs a program on bytes; a missing program or a failure fails the test. */
function runBinary(command, args, input) {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const chunks = [];
    let stderr = '';
    child.stdout.on('data', (chunk) => chunks.push(chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    child.on('error', (error) => reject(new Error(`cannot run ${command}: ${error.message}; it must be installed for this test`)));
    child.on('close', (code) => (code === 0 ? resolve(Buffer.concat(chunks)) : reject(new Error(`${command} ${args.join(' ')} exited ${code}: ${stderr}`))));
    if (input !== undefined) child.stdin.end(input);
  });
}

const pinsOf = (stdout) => [...stdout.matchAll(/sha256\/[A-Za-z0-9+/]{43}=/g)].map((m) => m[0]);

describe('certpin pins on files', () => {
  test('pins agree with openssl for certificates, keys and CSRs', async () => {
    const csrPath = file('leaf.csr', createCsr('CN=csr.example.test', pki.rsaLeaf.key));
    const expectations = [
      [paths.leaf.cert, ['x509', '-in', paths.leaf.cert, '-pubkey', '-noout']],
      [paths.rsaLeaf.cert, ['x509', '-in', paths.rsaLeaf.cert, '-pubkey', '-noout']],
      [paths.ed25519Leaf.cert, ['x509', '-in', paths.ed25519Leaf.cert, '-pubkey', '-noout']],
      [paths.ecP384Leaf.key, ['pkey', '-in', paths.ecP384Leaf.key, '-pubout']],
      [csrPath, ['req', '-in', csrPath, '-pubkey', '-noout']],
    ];
    for (const [path, args] of expectations) {
      const expected = await opensslPin(args);
      const result = await runMain(['pins', path]);
      assert.equal(result.code, 0, `${path}: ${result.stderr}`);
      assert.deepEqual(pinsOf(result.stdout), [expected], path);
    }
  });

  test('a bundle: every certificate with role, subject, issuer, validity and pin, in text and JSON', async () => {
    const bundle = file('bundle.pem', chainPem(pki.leaf, pki.intermediate, pki.root));
    const text = await runMain(['pins', bundle]);
    assert.equal(text.code, 0, text.stderr);
    assert.equal(text.stderr, '');
    assert.deepEqual(pinsOf(text.stdout), [pki.leaf.pin, pki.intermediate.pin, pki.root.pin]);
    for (const fragment of ['leaf', 'intermediate', 'root', 'CN=api.example.test, O=certpin tests', 'issuer', 'CN=certpin Test Intermediate', 'days left', new Date(pki.leaf.cert.validTo).toISOString().slice(0, 10)]) {
      assert.ok(text.stdout.includes(fragment), `${fragment} in\n${text.stdout}`);
    }
    assert.ok(!text.stdout.includes('\u001b['), 'no colours when stdout is not a terminal');

    const json = await runMain(['pins', '--json', bundle, paths.leaf.key]);
    assert.equal(json.code, 0, json.stderr);
    const { results } = JSON.parse(json.stdout);
    assert.equal(results.length, 2);
    assert.deepEqual(Object.keys(results[0]).slice(0, 6), ['target', 'host', 'port', 'trusted', 'error', 'chain']);
    assert.equal(results[0].target, bundle);
    assert.equal(results[0].host, null);
    assert.equal(results[0].port, null);
    assert.deepEqual(results[0].chain.map((c) => c.role), ['leaf', 'intermediate', 'root']);
    assert.deepEqual(Object.keys(results[0].chain[0]), ['role', 'subject', 'issuer', 'notBefore', 'notAfter', 'daysLeft', 'pin', 'fingerprint256']);
    assert.equal(results[0].chain[0].fingerprint256, pki.leaf.cert.fingerprint256);
    assert.deepEqual(results[1].chain.map((c) => [c.role, c.pin]), [['key', pki.leaf.pin]]);
  });

  test('help: `certpin help pins` and `certpin pins --help` print the same text', async () => {
    const a = await runMain(['help', 'pins']);
    const b = await runMain(['pins', '--help']);
    assert.equal(a.code, 0);
    assert.equal(b.code, 0);
    assert.equal(a.stdout, b.stdout);
    assert.match(a.stdout, /^Usage: certpin pins TARGET/);
    assert.match(a.stdout, /--resolve HOST:PORT:ADDR/);
    const general = await runMain(['help']);
    assert.match(general.stdout, /pins\s+show the certificates/);
    assert.match(general.stdout, /verify\s+/);
  });
});

describe('certpin pins on servers', () => {
  const servers = {};
  before(async () => {
    servers.https = await startHttpsServer({ cert: [pki.leaf, pki.intermediate] });
    servers.appended = await startTlsServer({ cert: [pki.leaf, pki.intermediate, pki.intermediate2] });
    servers.rogue = await startTlsServer({ cert: [pki.rogueLeaf, pki.rogueIntermediate, pki.rogueRoot] });
    servers.v6 = await startIpv6TlsServer([pki.leaf, pki.intermediate]);
  });
  after(() => Promise.all(Object.values(servers).map((s) => s.close())));

  test('the printed leaf pin is the one real curl pins the same server with', async () => {
    const port = servers.https.port;
    const resolve = `api.example.test:${port}:127.0.0.1`;
    const result = await runCli(['pins', `api.example.test:${port}`, '--ca', paths.root.cert, '--resolve', resolve]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^api\\.example\\.test:${port}  trusted`));
    const [leafPin] = pinsOf(result.stdout);
    assert.equal(leafPin, pki.leaf.pin);

    const curl = (pin) => runProgram('curl', ['-sS', '--max-time', '10', '--cacert', paths.root.cert, '--resolve', resolve, '--pinnedpubkey', pin, `https://api.example.test:${port}/`]);
    const accepted = await curl(leafPin.replace('sha256/', 'sha256//'));
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.equal(accepted.stdout, 'ok');
    const refused = await curl(pki.rogueLeaf.pin.replace('sha256/', 'sha256//'));
    assert.equal(refused.code, 90, `curl exits 90 (CURLE_SSL_PINNEDPUBKEYNOTMATCH): ${refused.stderr}`);
    assert.equal(servers.https.requests.length, 1, 'only the pinned request reached the server');
  });

  test('a certificate appended off the proven path is shown apart, never in the chain', async () => {
    const result = await runMain(['pins', '--json', `127.0.0.1:${servers.appended.port}`, '--ca', paths.root.cert]);
    assert.equal(result.code, 0, result.stderr);
    const [entry] = JSON.parse(result.stdout).results;
    assert.equal(entry.trusted, true);
    assert.equal(entry.host, '127.0.0.1');
    assert.equal(entry.port, servers.appended.port);
    assert.deepEqual(entry.chain.map((c) => c.pin), [pki.leaf.pin, pki.intermediate.pin, pki.root.pin]);
    assert.deepEqual(entry.unproven.map((c) => c.pin), [pki.intermediate2.pin]);

    const text = await runMain(['pins', `127.0.0.1:${servers.appended.port}`, '--ca', paths.root.cert]);
    const [proven, offPath] = text.stdout.split('not on the proven path');
    assert.ok(offPath, text.stdout);
    assert.ok(!proven.includes(pki.intermediate2.pin) && offPath.includes(pki.intermediate2.pin), text.stdout);
  });

  test('an untrusted server: the chain as served, trusted false and the reason; exit 0', async () => {
    const result = await runMain(['pins', '--json', `127.0.0.1:${servers.rogue.port}`, '--ca', paths.root.cert]);
    assert.equal(result.code, 0, result.stderr);
    const [entry] = JSON.parse(result.stdout).results;
    assert.equal(entry.trusted, false);
    assert.match(entry.error, /self-signed certificate in certificate chain/);
    assert.deepEqual(entry.chain.map((c) => c.pin), [pki.rogueLeaf.pin, pki.rogueIntermediate.pin, pki.rogueRoot.pin]);
    const text = await runMain(['pins', `127.0.0.1:${servers.rogue.port}`, '--ca', paths.root.cert]);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /untrusted: self-signed certificate in certificate chain/);
  });

  test('an IPv6 target, [::1]:port', async () => {
    const result = await runMain(['pins', '--json', `[::1]:${servers.v6.port}`, '--ca', paths.root.cert]);
    assert.equal(result.code, 0, result.stderr);
    const [entry] = JSON.parse(result.stdout).results;
    assert.equal(entry.host, '::1');
    assert.equal(entry.trusted, true, entry.error);
    assert.equal(entry.chain[0].pin, pki.leaf.pin);
    const text = await runMain(['pins', `[::1]:${servers.v6.port}`, '--ca', paths.root.cert]);
    assert.match(text.stdout, new RegExp(`^\\[::1\\]:${servers.v6.port}  trusted`));
  });

  // Concurrency and streaming are proved by events in streaming.test.mjs, not by timing.
  test('several targets in order, one failure not hiding the rest', async () => {
    const target = `127.0.0.1:${servers.https.port}`;
    const withMissing = await runMain(['pins', target, join(dir, 'missing.pem'), target, '--ca', paths.root.cert]);
    assert.equal(withMissing.code, 2);
    assert.equal(pinsOf(withMissing.stdout).filter((p) => p === pki.leaf.pin).length, 2, withMissing.stdout);
    assert.match(withMissing.stderr, /^certpin: cannot read .*missing\.pem: no such file\n$/);
  });
});

describe('certpin pins --resolve, read as curl reads it (and checked against curl)', () => {
  // `https` serves the real chain on 127.0.0.1:P and nothing listens on [::1]:P; `rogue` serves another
  // CA's chain on 127.0.0.1:Q with the real chain on [::1]:Q behind it.
  const s = {};
  before(async () => {
    s.https = await startHttpsServer({ cert: [pki.leaf, pki.intermediate] });
    await refusedIpv6Port(s.https.port);
    s.rogue = await startHttpsServer({ cert: [pki.rogueLeaf, pki.rogueIntermediate] });
    s.behindRogue = await startIpv6TlsServer([pki.leaf, pki.intermediate], { port: s.rogue.port });
  });
  after(() => Promise.all(Object.values(s).map((server) => server.close())));

  const pinsJson = async (...args) => {
    const result = await runMain(['pins', '--json', ...args, '--ca', paths.root.cert]);
    assert.equal(result.code, 0, result.stderr);
    return JSON.parse(result.stdout).results[0];
  };
  /** curl with the same trust and --resolve entries; stdout is the body, a newline, the address curl connected to. */
  const curl = (url, ...resolves) => runProgram('curl', ['-sS', '--max-time', '10', '--cacert', paths.root.cert, ...resolves.flatMap((r) => ['--resolve', r]), '-w', '\n%{remote_ip}', url]);

  test('* for any host on a port: the same server as curl reaches', async () => {
    const P = s.https.port;
    const entry = await pinsJson(`api.example.test:${P}`, '--resolve', `*:${P}:127.0.0.1`);
    assert.equal(entry.trusted, true, entry.error);
    assert.equal(entry.address, '127.0.0.1');
    assert.equal(entry.chain[0].pin, pki.leaf.pin);
    const viaCurl = await curl(`https://api.example.test:${P}/`, `*:${P}:127.0.0.1`);
    assert.equal(viaCurl.code, 0, viaCurl.stderr);
    assert.equal(viaCurl.stdout, 'ok\n127.0.0.1');
  });

  test('a named host wins over *, whatever the order, as in curl', async () => {
    const P = s.https.port;
    const entries = [`*:${P}:[::1]`, `api.example.test:${P}:127.0.0.1`];
    for (const order of [entries, [...entries].reverse()]) {
      const entry = await pinsJson(`api.example.test:${P}`, ...order.flatMap((r) => ['--resolve', r]));
      assert.equal(entry.trusted, true, `${order}: ${entry.error}`);
      assert.equal(entry.address, '127.0.0.1');
      const viaCurl = await curl(`https://api.example.test:${P}/`, ...order);
      assert.equal(viaCurl.stdout, 'ok\n127.0.0.1', viaCurl.stderr);
    }
  });

  test('several addresses in order: past a refused one to the next, as curl', async () => {
    const P = s.https.port;
    const resolve = `api.example.test:${P}:[::1],127.0.0.1`;
    const entry = await pinsJson(`api.example.test:${P}`, '--resolve', resolve);
    assert.equal(entry.trusted, true, entry.error);
    assert.equal(entry.address, '127.0.0.1');
    const viaCurl = await curl(`https://api.example.test:${P}/`, resolve);
    assert.equal(viaCurl.stdout, 'ok\n127.0.0.1', viaCurl.stderr);
  });

  test('a bad certificate at the first address is the answer, not a reason to try the next: curl stops there too', async () => {
    const Q = s.rogue.port;
    const resolve = `api.example.test:${Q}:127.0.0.1,[::1]`;
    const entry = await pinsJson(`api.example.test:${Q}`, '--resolve', resolve);
    assert.equal(entry.trusted, false);
    assert.equal(entry.chain[0].pin, pki.rogueLeaf.pin);
    assert.equal(s.behindRogue.connections(), 0, 'certpin never tried the second address');
    const viaCurl = await curl(`https://api.example.test:${Q}/`, resolve);
    assert.equal(viaCurl.code, 60, `curl: CURLE_PEER_FAILED_VERIFICATION, not the second address: ${viaCurl.stdout} ${viaCurl.stderr}`);
    assert.equal(s.rogue.requests.length, 0);
  });

  test('* covers an IP target too, still checked as that IP, as curl does', async () => {
    const P = s.https.port;
    const entry = await pinsJson(`192.0.2.1:${P}`, '--resolve', `*:${P}:127.0.0.1`);
    assert.equal(entry.address, '127.0.0.1');
    assert.equal(entry.trusted, false);
    assert.match(entry.error, /192\.0\.2\.1/);
    const viaCurl = await curl(`https://192.0.2.1:${P}/`, `*:${P}:127.0.0.1`);
    assert.equal(viaCurl.code, 60, viaCurl.stderr);
    assert.match(viaCurl.stderr, /192\.0\.2\.1/);
  });

  test('IPv6 addresses in brackets', async () => {
    const Q = s.behindRogue.port;
    const entry = await pinsJson(`api.example.test:${Q}`, '--resolve', `api.example.test:${Q}:[::1]`);
    assert.equal(entry.trusted, true, entry.error);
    assert.equal(entry.address, '::1');
  });

  test('forms certpin does not take are refused: exit 2 and one line, before any connection', async () => {
    const forms = [
      ['+api.example.test:443:127.0.0.1', /\+HOST form .*not supported/],
      ['-api.example.test:443', /-HOST:PORT form .*not supported/],
      ['*.example.test:443:127.0.0.1', /only \* on its own/],
      ['api.example.test:443:127.0.0.1,', /an empty address/],
      ['::1:443:127.0.0.1', /IPv6 host goes in brackets/],
      ['api.example.test:443:localhost', /"localhost" is not an IP address/],
    ];
    const before = s.https.connections();
    for (const [form, why] of forms) {
      // A valid entry beside the bad one: the command would connect if the bad one were skipped.
      assertOneLineError(await runMain(['pins', `api.example.test:${s.https.port}`, '--resolve', `api.example.test:${s.https.port}:127.0.0.1`, `--resolve=${form}`]), { pattern: why });
    }
    assert.equal(s.https.connections(), before, 'nothing connected');
  });
});

describe('certpin pins - (standard input)', () => {
  /** Runs the CLI with `input` on its standard input. */
  const withStdin = (args, input) => runCli(args, { input });

  test('reads a file target from stdin, as a pipe from openssl gives it', async () => {
    const result = await withStdin(['pins', '-', '--json'], chainPem(pki.leaf, pki.intermediate));
    assert.equal(result.code, 0, result.stderr);
    const [entry] = JSON.parse(result.stdout).results;
    assert.equal(entry.target, '-');
    assert.deepEqual(entry.chain.map((c) => c.pin), [pki.leaf.pin, pki.intermediate.pin]);
    const key = await withStdin(['pins', '-'], pki.leaf.keyPem);
    assert.equal(key.code, 0, key.stderr);
    assert.ok(key.stdout.includes(pki.leaf.pin));
    const twice = await withStdin(['pins', '-', '-'], pki.leaf.pem);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /standard input\) can be given once/);
    const expiry = await withStdin(['expiry', '-', '--json'], pki.leaf.pem);
    assert.equal(JSON.parse(expiry.stdout).results[0].target, '-');
  });
});
